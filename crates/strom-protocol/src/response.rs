//! Response encoding: size prefix, response header (v0 or flexible v1 as the API version requires), body.
//! The kafka-protocol encoders already omit tagged fields that hold their default, which old librdkafka
//! (2.0.x, Debian 12's kcat) needs.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

/// Appends one framed response to `out`.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<()> {
    let start = out.len();
    let result = encode_at(out, start, api_key, version, correlation_id, body);
    if result.is_err() {
        // Never leave half a response behind: the caller may still flush earlier responses.
        out.truncate(start);
    }
    result
}

fn encode_at(
    out: &mut BytesMut,
    start: usize,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<()> {
    out.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(out, api_key.response_header_version(version))?;
    body.encode(out, version)?;
    let size = i32::try_from(out.len() - start - 4)?;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_v0_has_plain_header() {
        let mut out = BytesMut::new();
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default().with_error_code(35));
        encode_response(&mut out, ApiKey::ApiVersions, 0, 9, &body).unwrap();
        // size=10: correlation id (4), error code (2), empty array (4).
        assert_eq!(out.as_ref(), &[0, 0, 0, 10, 0, 0, 0, 9, 0, 35, 0, 0, 0, 0]);
    }
}
