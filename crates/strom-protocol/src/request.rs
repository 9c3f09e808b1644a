//! Requests both ways. Decoding (the broker's side): header first (api key, version, correlation id, client id),
//! then the body with the codec of that version. The version check happens before the body is touched, against
//! the table the broker passes in, so a codec never sees a version the broker does not serve. Encoding (the
//! client's side): one size-prefixed frame of header and body. Also Kafka's name of every API, for logs and
//! errors on both sides. Version negotiation is not here: the broker's table and the client's ranges are theirs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::error::{DecodeError, EncodeError};

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
fn guarded<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("codec panicked".to_string()),
    }
}

/// A complete request frame as a client sends it: 4-byte big-endian size, header, body. The header version
/// follows from the request type and `version`, as the broker's [`decode_request`] expects it.
pub fn encode_request_frame<R: Encodable + HeaderVersion>(
    header: &RequestHeader,
    body: &R,
    version: i16,
) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    header
        .encode(&mut buf, R::header_version(version))
        .map_err(EncodeError::codec)?;
    body.encode(&mut buf, version).map_err(EncodeError::codec)?;
    let size =
        i32::try_from(buf.len() - 4).map_err(|_| EncodeError::TooLarge { what: "request" })?;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Kafka's name for an API (`ApiKey`'s variant name, e.g. `FindCoordinator`), for logs and errors of the
/// broker and the client alike.
pub fn api_name(key: ApiKey) -> &'static str {
    // `ApiKey`'s Debug is the Kafka name; a static str keeps error values free of a per-call allocation. The
    // match is exhaustive, so a kafka-protocol upgrade that adds an API fails to compile here until it is named.
    macro_rules! names {
        ($($k:ident),* $(,)?) => {
            match key { $(ApiKey::$k => stringify!($k),)* }
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
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        WriteTxnMarkers,
        TxnOffsetCommit,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeConfigs,
        AlterConfigs,
        AlterReplicaLogDirs,
        DescribeLogDirs,
        SaslAuthenticate,
        CreatePartitions,
        CreateDelegationToken,
        RenewDelegationToken,
        ExpireDelegationToken,
        DescribeDelegationToken,
        DeleteGroups,
        ElectLeaders,
        IncrementalAlterConfigs,
        AlterPartitionReassignments,
        ListPartitionReassignments,
        OffsetDelete,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        Vote,
        BeginQuorumEpoch,
        EndQuorumEpoch,
        DescribeQuorum,
        AlterPartition,
        UpdateFeatures,
        Envelope,
        FetchSnapshot,
        DescribeCluster,
        DescribeProducers,
        BrokerRegistration,
        BrokerHeartbeat,
        UnregisterBroker,
        DescribeTransactions,
        ListTransactions,
        AllocateProducerIds,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
        ControllerRegistration,
        GetTelemetrySubscriptions,
        PushTelemetry,
        AssignReplicasToDirs,
        ListConfigResources,
        DescribeTopicPartitions,
        ShareGroupHeartbeat,
        ShareGroupDescribe,
        ShareFetch,
        ShareAcknowledge,
        AddRaftVoter,
        RemoveRaftVoter,
        UpdateRaftVoter,
        InitializeShareGroupState,
        ReadShareGroupState,
        WriteShareGroupState,
        DeleteShareGroupState,
        ReadShareGroupStateSummary,
        DescribeShareGroupOffsets,
        AlterShareGroupOffsets,
        DeleteShareGroupOffsets,
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

    /// A frame as `decode_request` gets it: without the size prefix.
    fn frame<T: Encodable + HeaderVersion>(key: ApiKey, version: i16, body: &T) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        encode_request_frame(&header, body, version)
            .unwrap()
            .slice(4..)
    }

    #[test]
    fn api_names_are_kafka_names() {
        for key in ApiKey::iter() {
            assert_eq!(api_name(key), format!("{key:?}"));
        }
    }

    /// What a client frames, the broker's decoder reads back: header, then body, nothing left over.
    #[test]
    fn encoded_request_frames_decode() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("strom-cli")));
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strom-client"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let mut frame = encode_request_frame(&header, &req, 3).unwrap();
        let size = frame.get_i32();
        assert_eq!(size as usize, frame.len());
        let Decoded::Request(decoded) = decode_request(frame, all_versions).unwrap() else {
            panic!("expected a request")
        };
        assert_eq!(decoded.header, header);
        assert!(matches!(decoded.body, RequestKind::ApiVersions(ref r) if *r == req));
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
