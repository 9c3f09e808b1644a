//! Which version of each Kafka API this client speaks, and the negotiation against a broker's ApiVersions answer.
//! Pure: no I/O. The caps are the versions whose request fields the helpers in `client.rs` fill in correctly and
//! that the unit tests encode; raising one means checking the builders for fields new in that version.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use kafka_protocol::messages::ApiKey;

/// APIs this client implements, with the versions it is prepared to use.
pub(crate) const CLIENT_VERSIONS: &[(ApiKey, RangeInclusive<i16>)] = &[
    (ApiKey::ApiVersions, 0..=3),
    (ApiKey::Metadata, 1..=12),
    (ApiKey::CreateTopics, 2..=7),
    (ApiKey::DeleteTopics, 1..=6),
    (ApiKey::CreatePartitions, 0..=3),
    (ApiKey::DescribeConfigs, 1..=4),
    (ApiKey::IncrementalAlterConfigs, 0..=1),
    (ApiKey::ListOffsets, 1..=9),
    // v13 names topics only by id; v12 is the last to carry names.
    (ApiKey::Produce, 3..=12),
    // v13+ names topics by id; `client.rs` drops to v12 when the broker reports no topic id.
    (ApiKey::Fetch, 4..=16),
    // Group admin calls (`client/groups.rs`), sent to the group coordinator.
    (ApiKey::FindCoordinator, 0..=6),
    (ApiKey::ListGroups, 0..=5),
    (ApiKey::DescribeGroups, 0..=6),
    // v1 cannot ask for all of a group's offsets (null topics); v2 can.
    (ApiKey::OffsetFetch, 2..=9),
    (ApiKey::OffsetCommit, 2..=9),
    (ApiKey::DeleteGroups, 0..=2),
    // Replica admin calls (`client/replicas.rs`); ElectLeaders v0 elects preferred leaders only.
    (ApiKey::ElectLeaders, 0..=2),
    (ApiKey::AlterPartitionReassignments, 0..=1),
    (ApiKey::ListPartitionReassignments, 0..=0),
    // Transactions (`client/transactions.rs`, and the broker's transaction coordinator writing markers).
    (ApiKey::WriteTxnMarkers, 1..=1),
    (ApiKey::DescribeTransactions, 0..=0),
    (ApiKey::ListTransactions, 0..=2),
    (ApiKey::DescribeProducers, 0..=0),
    // KIP-890 part 1: a partition leader's VerifyOnly check (batched, broker-to-coordinator versions only).
    (ApiKey::AddPartitionsToTxn, 4..=5),
];

/// The highest version inside both ranges, or `None` when they do not overlap.
pub(crate) fn negotiate(
    ours: &RangeInclusive<i16>,
    broker_min: i16,
    broker_max: i16,
) -> Option<i16> {
    let max = (*ours.end()).min(broker_max);
    let min = (*ours.start()).max(broker_min);
    (min <= max).then_some(max)
}

/// The version chosen per API for one broker connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct NegotiatedVersions {
    chosen: HashMap<i16, i16>,
}

impl NegotiatedVersions {
    /// Intersects the broker's advertised `(api_key, min, max)` list with `CLIENT_VERSIONS`.
    pub(crate) fn from_broker(advertised: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        let advertised: HashMap<i16, (i16, i16)> = advertised
            .into_iter()
            .map(|(key, min, max)| (key, (min, max)))
            .collect();
        let chosen = CLIENT_VERSIONS
            .iter()
            .filter_map(|(key, ours)| {
                let (min, max) = advertised.get(&(*key as i16))?;
                negotiate(ours, *min, *max).map(|v| (*key as i16, v))
            })
            .collect();
        NegotiatedVersions { chosen }
    }

    /// The version to use for `key`, if the broker and this client share one.
    pub(crate) fn get(&self, key: ApiKey) -> Option<i16> {
        self.chosen.get(&(key as i16)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_picks_highest_common_version() {
        assert_eq!(negotiate(&(4..=16), 4, 17), Some(16));
        assert_eq!(negotiate(&(4..=16), 0, 11), Some(11));
        assert_eq!(negotiate(&(3..=12), 0, 2), None);
        assert_eq!(negotiate(&(1..=6), 7, 9), None);
        assert_eq!(negotiate(&(0..=3), 0, 0), Some(0));
    }

    #[test]
    fn from_broker_ignores_unknown_and_missing_apis() {
        let v = NegotiatedVersions::from_broker([
            (ApiKey::Fetch as i16, 0, 17),
            (ApiKey::Produce as i16, 0, 2),
            (999, 0, 5),
        ]);
        assert_eq!(v.get(ApiKey::Fetch), Some(16));
        assert_eq!(v.get(ApiKey::Produce), None);
        assert_eq!(v.get(ApiKey::Metadata), None);
    }

    #[test]
    fn client_ranges_are_within_kafka_protocol() {
        for (key, ours) in CLIENT_VERSIONS {
            let valid = key.valid_versions();
            assert!(
                valid.min <= *ours.start() && *ours.end() <= valid.max,
                "{key:?} {ours:?} outside {valid}"
            );
        }
    }
}
