//! ApiVersions: the served version table, taken from `dispatch::SUPPORTED`. Also the KIP-511 fallback: an
//! ApiVersions at a version we do not serve is answered at v0 with UNSUPPORTED_VERSION and the table.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use strom_protocol::kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ResponseKind,
};

use super::RequestContext;
use crate::dispatch::SUPPORTED;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=4;

pub(crate) fn handle(
    _ctx: &RequestContext<'_>,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(table())
}

/// The v0 answer to an ApiVersions version we do not serve.
pub(crate) fn unsupported_version() -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(table()),
    )
}

fn table() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
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
    use strom_protocol::kafka_protocol::messages::ApiKey;

    #[test]
    fn served_versions_are_within_what_the_codec_knows() {
        for (key, versions) in SUPPORTED {
            let codec = key.valid_versions();
            assert!(
                codec.min <= *versions.start() && *versions.end() <= codec.max,
                "{key:?} {versions:?} vs {codec}"
            );
        }
        assert!(table()
            .iter()
            .any(|v| v.api_key == ApiKey::ApiVersions as i16));
    }
}
