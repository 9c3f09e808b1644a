//! ApiVersions: the served version table, handed in by its owner (`dispatch::SUPPORTED`, which is built from
//! every handler's `VERSIONS`, so this file does not reach back into dispatch). Also the KIP-511 fallback: an
//! ApiVersions at a version we do not serve is answered at v0 with UNSUPPORTED_VERSION and the table.
//!
//! v3+ also carries the cluster's feature flags (KIP-584), which `Admin.describeFeatures` and `kafka-features
//! describe` show and clients consult (a 4.x producer uses KIP-890 transactions only when `transaction.version` is
//! finalized at 2 or more). Strom's features are fixed by its code, not operator-chosen: `FEATURES` reports, as
//! supported range and finalized level, what this broker actually implements. UpdateFeatures is not served.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use strom_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind,
};

use super::{str_bytes, RequestContext};

/// The served APIs and their versions.
pub(crate) type ServedApis = [(ApiKey, RangeInclusive<i16>)];

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=4;

/// A feature flag: the levels this broker supports and the level the cluster runs at (0 = off).
struct Feature {
    name: &'static str,
    supported: RangeInclusive<i16>,
    finalized: i16,
}

/// Kafka's feature flags (`org.apache.kafka.server.common.Features` and `MetadataVersion`) as Strom implements them.
const FEATURES: &[Feature] = &[
    // 4.0-IV3 (level 25), the Kafka 4.0 metadata version: the APIs it gates are served at the versions Kafka 4.0
    // serves them (ListOffsets v10 is the last one it added). Strom cannot run at an older level, so the
    // supported range is that one level.
    Feature {
        name: "metadata.version",
        supported: 25..=25,
        finalized: 25,
    },
    // 1 = KIP-853 dynamic quorum membership (AddRaftVoter/RemoveRaftVoter): not served, the voters are static.
    Feature {
        name: "kraft.version",
        supported: 0..=0,
        finalized: 0,
    },
    // 1 = KIP-848 consumer groups (ConsumerGroupHeartbeat/Describe): served.
    Feature {
        name: "group.version",
        supported: 0..=1,
        finalized: 1,
    },
    // KIP-890 (Kafka's `TransactionVersion`): 1 = flexible `__transaction_state` records, which Strom writes;
    // 2 = the part-2 protocol, the level Kafka 4.x finalizes on new clusters: 4.x producers skip
    // AddPartitionsToTxn / AddOffsetsToTxn and rely on Produce v12 and TxnOffsetCommit v5 adding the partition
    // to the transaction on the partition leader's side (`txn_verification.rs`), and EndTxn v5 bumps the
    // epoch with every transaction. Older clients keep the part-1 protocol, which is still served.
    Feature {
        name: "transaction.version",
        supported: 0..=2,
        finalized: 2,
    },
    // 1 = KIP-966 eligible leader replicas: not implemented.
    Feature {
        name: "eligible.leader.replicas.version",
        supported: 0..=0,
        finalized: 0,
    },
    // 1 = KIP-932 share groups: not implemented.
    Feature {
        name: "share.version",
        supported: 0..=0,
        finalized: 0,
    },
];

/// The epoch of the finalized features: they never change, as if finalized by the first metadata record.
const FINALIZED_FEATURES_EPOCH: i64 = 0;

pub(crate) fn handle(
    _ctx: &RequestContext<'_>,
    _request: ApiVersionsRequest,
    served: &ServedApis,
) -> ApiVersionsResponse {
    with_features(ApiVersionsResponse::default().with_api_keys(table(served)))
}

/// The feature flags, supported and finalized (a feature off, at level 0, is not listed as finalized, as Kafka
/// does). Encoded from v3 on only (tagged fields).
fn with_features(response: ApiVersionsResponse) -> ApiVersionsResponse {
    response
        .with_supported_features(
            FEATURES
                .iter()
                .map(|f| {
                    SupportedFeatureKey::default()
                        .with_name(str_bytes(f.name))
                        .with_min_version(*f.supported.start())
                        .with_max_version(*f.supported.end())
                })
                .collect(),
        )
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(
            FEATURES
                .iter()
                .filter(|f| f.finalized > 0)
                .map(|f| {
                    FinalizedFeatureKey::default()
                        .with_name(str_bytes(f.name))
                        .with_min_version_level(f.finalized)
                        .with_max_version_level(f.finalized)
                })
                .collect(),
        )
}

/// The v0 answer to an ApiVersions version we do not serve.
pub(crate) fn unsupported_version(served: &ServedApis) -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(table(served)),
    )
}

fn table(served: &ServedApis) -> Vec<ApiVersion> {
    served
        .iter()
        .map(|(key, versions)| {
            // Kafka 4.x advertises Produce from v0 (KAFKA-18659: librdkafka before 2.0 detects its
            // features from that) but still refuses v0-v2 requests; so does Strom.
            let min = if *key == ApiKey::Produce {
                0
            } else {
                *versions.start()
            };
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(min)
                .with_max_version(*versions.end())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_api_is_advertised_with_its_versions() {
        let served: &ServedApis = &[(ApiKey::Produce, 3..=12), (ApiKey::EndTxn, 0..=5)];
        let rows: Vec<_> = table(served)
            .iter()
            .map(|v| (v.api_key, v.min_version, v.max_version))
            .collect();
        assert_eq!(
            rows,
            vec![
                (ApiKey::Produce as i16, 0, 12),
                (ApiKey::EndTxn as i16, 0, 5)
            ]
        );
    }
}
