//! Request decoding: header first (api key, version, correlation id, client id), then the body with the
//! codec of that version. The version check happens before the body is touched, against the table the
//! broker passes in, so a codec never sees a version the broker does not serve.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::error::DecodeError;

/// A decoded request.
#[derive(Debug)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub body: RequestKind,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// What a complete frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    Request(Box<Request>),
    /// ApiVersions at a version we do not serve. KIP-511: answer with ApiVersions v0 carrying
    /// UNSUPPORTED_VERSION and our version table, so the client can retry at a version we share.
    UnsupportedApiVersions {
        header: RequestHeader,
    },
}

/// Decodes one frame. `supported` returns the inclusive version range served for an API, or `None` when
/// the API is not served at all.
pub fn decode_request(
    frame: Bytes,
    supported: impl Fn(ApiKey) -> Option<(i16, i16)>,
) -> Result<Decoded, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TooShort { len: frame.len() });
    }
    let mut peek = &frame[..4];
    let raw_key = peek.get_i16();
    let api_version = peek.get_i16();
    let api_key =
        ApiKey::try_from(raw_key).map_err(|()| DecodeError::UnknownApiKey { api_key: raw_key })?;
    let mut buf = frame;
    let header_version = api_key.request_header_version(api_version);
    let header =
        guarded(|| RequestHeader::decode(&mut buf, header_version)).map_err(DecodeError::Header)?;
    let in_range = supported(api_key).is_some_and(|(min, max)| (min..=max).contains(&api_version));
    if !in_range {
        if api_key == ApiKey::ApiVersions {
            return Ok(Decoded::UnsupportedApiVersions { header });
        }
        return Err(DecodeError::UnsupportedVersion {
            api_key: raw_key,
            api_version,
        });
    }
    let body =
        guarded(|| RequestKind::decode(api_key, &mut buf, api_version)).map_err(|reason| {
            DecodeError::Body {
                api: api_name(api_key),
                version: api_version,
                reason,
            }
        })?;
    Ok(Decoded::Request(Box::new(Request {
        header,
        api_key,
        body,
    })))
}

/// Runs a codec call, turning both its errors and any panic into a message. The codecs check lengths
/// before reading, but a frame is attacker-controlled, so a bug there must cost one connection, not the broker.
fn guarded<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("codec panicked".to_string()),
    }
}

/// Kafka's name for an API, for logs and errors.
pub fn api_name(key: ApiKey) -> &'static str {
    // `ApiKey`'s Debug is the Kafka name; keep a static str for error values without allocating per call.
    macro_rules! names {
        ($($k:ident),* $(,)?) => {
            match key { $(ApiKey::$k => stringify!($k),)* _ => "Other" }
        };
    }
    names!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        SaslHandshake,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        AlterConfigs,
        CreatePartitions,
        IncrementalAlterConfigs,
        DescribeCluster,
        DeleteGroups,
        OffsetDelete,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
    use proptest::prelude::*;

    fn all_versions(key: ApiKey) -> Option<(i16, i16)> {
        let r = key.valid_versions();
        Some((r.min, r.max))
    }

    fn frame<T: Encodable + HeaderVersion>(key: ApiKey, version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        header.encode(&mut buf, T::header_version(version)).unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_metadata() {
        let body = MetadataRequest::default();
        let decoded = decode_request(frame(ApiKey::Metadata, 12, &body), all_versions).unwrap();
        let Decoded::Request(req) = decoded else {
            panic!("expected a request")
        };
        assert_eq!(req.header.correlation_id, 7);
        assert!(matches!(req.body, RequestKind::Metadata(_)));
    }

    #[test]
    fn unsupported_api_versions_is_answered() {
        let f = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        let decoded = decode_request(f, |_| Some((0, 2))).unwrap();
        assert!(matches!(decoded, Decoded::UnsupportedApiVersions { .. }));
    }

    #[test]
    fn unsupported_other_version_is_fatal() {
        let f = frame(ApiKey::Metadata, 12, &MetadataRequest::default());
        let err = decode_request(f, |_| Some((0, 4))).unwrap_err();
        assert_eq!(err.to_string(), "api key 3 version 12 is not supported");
    }

    #[test]
    fn unknown_key_and_short_frames() {
        let err = decode_request(
            Bytes::from_static(&[0x27, 0x0f, 0, 0, 0, 0, 0, 1]),
            all_versions,
        );
        assert_eq!(err.unwrap_err().to_string(), "unknown api key 9999");
        let err = decode_request(Bytes::from_static(&[0, 3]), all_versions);
        assert_eq!(
            err.unwrap_err().to_string(),
            "request of 2 bytes is too short for a request header"
        );
    }

    #[test]
    fn huge_array_count_is_an_error_not_an_abort() {
        // Metadata v1: header v1, then a topics array announcing i32::MAX entries with no bytes behind it.
        let mut buf = BytesMut::new();
        buf.put_i16(3);
        buf.put_i16(1);
        buf.put_i32(1);
        buf.put_i16(-1);
        buf.put_i32(i32::MAX);
        let err = decode_request(buf.freeze(), all_versions).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Body {
                    api: "Metadata",
                    ..
                }
            ),
            "{err}"
        );
    }

    proptest! {
        // Whatever the bytes, decoding returns (never panics, never aborts on a huge allocation).
        #[test]
        fn arbitrary_bodies_never_panic(key in 0i16..80, version in 0i16..20, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::new();
            buf.put_i16(key);
            buf.put_i16(version);
            buf.put_i32(1);
            buf.put_i16(-1);
            buf.put_slice(&body);
            let _ = decode_request(buf.freeze(), all_versions);
        }

        // Truncating a valid request anywhere gives an error, not a panic.
        #[test]
        fn truncated_requests_fail_cleanly(cut in 0usize..40, version in 4i16..=12) {
            let body = MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(StrBytes::from_static_str("topic-a").into())),
            ]));
            let f = frame(ApiKey::Metadata, version, &body);
            let cut = cut.min(f.len());
            let _ = decode_request(f.slice(..cut), all_versions);
        }
    }
}
