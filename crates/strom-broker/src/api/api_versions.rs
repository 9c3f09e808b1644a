//! ApiVersions: the served version table, handed in by its owner (`dispatch::SUPPORTED`, which is built from
//! every handler's `VERSIONS`, so this file does not reach back into dispatch). Also the KIP-511 fallback: an
//! ApiVersions at a version we do not serve is answered at v0 with UNSUPPORTED_VERSION and the table.
//!
//! The gate of issue 22: the transaction APIs are served (so tests can drive them) but advertised only with
//! `transaction.apis.enable=true` until the whole of transactions works; clients then keep failing fast in
//! `init_transactions()` instead of meeting a half-done feature.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use strom_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind,
};

use super::RequestContext;

/// The served APIs and their versions.
pub(crate) type ServedApis = [(ApiKey, RangeInclusive<i16>)];

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=4;

/// The APIs of transactions (KIP-98), advertised only with `transaction.apis.enable`.
const TRANSACTION_APIS: &[ApiKey] = &[
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::WriteTxnMarkers,
    ApiKey::TxnOffsetCommit,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
];

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    _request: ApiVersionsRequest,
    served: &ServedApis,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_api_keys(table(served, ctx.broker.config.transaction_apis_enable))
}

/// The v0 answer to an ApiVersions version we do not serve.
pub(crate) fn unsupported_version(served: &ServedApis, transactions: bool) -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(table(served, transactions)),
    )
}

fn table(served: &ServedApis, transactions: bool) -> Vec<ApiVersion> {
    served
        .iter()
        .filter(|(key, _)| transactions || !TRANSACTION_APIS.contains(key))
        .map(|(key, versions)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*versions.start())
                .with_max_version(*versions.end())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_apis_are_advertised_only_when_enabled() {
        let served: &ServedApis = &[(ApiKey::Produce, 3..=11), (ApiKey::EndTxn, 0..=5)];
        let keys = |on| {
            table(served, on)
                .iter()
                .map(|v| v.api_key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(false), vec![ApiKey::Produce as i16]);
        assert_eq!(
            keys(true),
            vec![ApiKey::Produce as i16, ApiKey::EndTxn as i16]
        );
    }
}
