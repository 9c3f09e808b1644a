//! The embedded consumer protocol (Kafka's `ConsumerProtocol`): the ConsumerProtocolSubscription a classic
//! member sends as JoinGroup metadata and the ConsumerProtocolAssignment it gets back in SyncGroup, each a
//! big-endian `i16` version followed by the body. Needed where the coordinator itself reads or writes them:
//! OffsetDelete's subscribed topics, and a group converting between the classic and the consumer protocol.
//! Malformed bytes read as `None`, never a panic.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use strom_protocol::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use strom_protocol::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use strom_protocol::kafka_protocol::protocol::{Decodable, Encodable};
use strom_protocol::str_bytes;

/// The highest version Kafka's `ConsumerProtocol` reads and writes.
const MAX_VERSION: i16 = 3;

/// The version prefix of embedded-protocol bytes, clamped to what Kafka writes (Kafka's
/// `ConsumerProtocol.deserializeVersion` plus its `checkAssignmentVersion`); 0 when absent.
pub(crate) fn version(bytes: &Bytes) -> i16 {
    if bytes.len() < 2 {
        return 0;
    }
    i16::from_be_bytes([bytes[0], bytes[1]]).clamp(0, MAX_VERSION)
}

/// Reads a ConsumerProtocolSubscription.
pub(crate) fn decode_subscription(bytes: &Bytes) -> Option<ConsumerProtocolSubscription> {
    if bytes.len() < 2 {
        return None;
    }
    let mut body = bytes.slice(2..);
    ConsumerProtocolSubscription::decode(&mut body, version(bytes)).ok()
}

/// Reads a ConsumerProtocolAssignment as topic name → partitions.
pub(crate) fn decode_assignment(bytes: &Bytes) -> Option<Vec<(String, BTreeSet<i32>)>> {
    if bytes.len() < 2 {
        return None;
    }
    let mut body = bytes.slice(2..);
    let a = ConsumerProtocolAssignment::decode(&mut body, version(bytes)).ok()?;
    Some(
        a.assigned_partitions
            .into_iter()
            .map(|tp| (tp.topic.to_string(), tp.partitions.into_iter().collect()))
            .collect(),
    )
}

/// Writes a ConsumerProtocolAssignment (no user data) in `version`.
pub(crate) fn encode_assignment(version: i16, partitions: &[(String, BTreeSet<i32>)]) -> Bytes {
    let version = version.clamp(0, MAX_VERSION);
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(topic, ps)| {
                TopicPartition::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    if assignment.encode(&mut buf, version).is_err() {
        // Cannot happen for a version in range; an empty assignment is still well formed.
        buf.truncate(2);
        let _ = ConsumerProtocolAssignment::default().encode(&mut buf, version);
    }
    buf.freeze()
}
