//! ApiVersions: the served version table, handed in by its owner (`dispatch::SUPPORTED`, which is built from
//! every handler's `VERSIONS`, so this file does not reach back into dispatch). Also the KIP-511 fallback: an
//! ApiVersions at a version we do not serve is answered at v0 with UNSUPPORTED_VERSION and the table.

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

pub(crate) fn handle(
    _ctx: &RequestContext<'_>,
    _request: ApiVersionsRequest,
    served: &ServedApis,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(table(served))
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
