//! The records the coordinator persists in `__consumer_offsets`, in Kafka's own key/value formats so a
//! Kafka tool could read the topic: OffsetCommitKey (key version 1) with OffsetCommitValue v3, and
//! GroupMetadataKey (key version 2) with GroupMetadataValue v3 (classic groups). A record without a value is
//! a tombstone. Older value versions (0..=3) are read too.
//!
//! KIP-848 consumer groups use Kafka's key types 3..=8 with Kafka's key layouts (`i16` type, group id, and
//! for per-member records the member id): ConsumerGroupMetadata (3), ConsumerGroupPartitionMetadata (4),
//! ConsumerGroupMemberMetadata (5), ConsumerGroupTargetAssignmentMetadata (6),
//! ConsumerGroupTargetAssignmentMember (7), ConsumerGroupCurrentMemberAssignment (8). Their values use
//! Strom's own non-flexible encoding under value version [`STROM_CONSUMER_VALUE_VERSION`] (big-endian
//! fields, `i16`-length strings, `i32` counts, topic ids as 16 bytes); a value of another version (one
//! written by Kafka) is skipped at replay rather than misread. Also owns which partition a group lives in
//! (`partition_for`, Kafka's `abs(groupId.hashCode) % partitions`), and [`TopicMeta`], the topic metadata a
//! ConsumerGroupPartitionMetadata record holds. Does not append or read logs.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::assignor::Assignment;
use crate::error::RecordError;

/// Kafka's OffsetCommitKey version (0 and 1 share a layout).
const OFFSET_KEY_VERSION: i16 = 1;
/// Kafka's GroupMetadataKey version.
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;
/// The value version of Strom's encoding of the KIP-848 records (key types 3..=8). Kafka's own versions of
/// these values start at 0 and are flexible; this one is deliberately far from them.
pub const STROM_CONSUMER_VALUE_VERSION: i16 = 0x5300;
const CONSUMER_METADATA_KEY: i16 = 3;
const CONSUMER_PARTITION_METADATA_KEY: i16 = 4;
const CONSUMER_MEMBER_KEY: i16 = 5;
const CONSUMER_TARGET_METADATA_KEY: i16 = 6;
const CONSUMER_TARGET_MEMBER_KEY: i16 = 7;
const CONSUMER_CURRENT_ASSIGNMENT_KEY: i16 = 8;

/// A topic as the broker's metadata knows it: what a consumer group's subscription resolves to, and what
/// ConsumerGroupPartitionMetadata records persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
}

/// Which KIP-848 record of a consumer group (the key beyond the group id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsumerKey {
    /// ConsumerGroupMetadata (3).
    Metadata,
    /// ConsumerGroupPartitionMetadata (4).
    PartitionMetadata,
    /// ConsumerGroupMemberMetadata (5).
    Member(String),
    /// ConsumerGroupTargetAssignmentMetadata (6).
    TargetMetadata,
    /// ConsumerGroupTargetAssignmentMember (7).
    TargetMember(String),
    /// ConsumerGroupCurrentMemberAssignment (8).
    CurrentAssignment(String),
}

/// A KIP-848 member's subscription and client details (ConsumerGroupMemberMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Vec<String>,
    pub server_assignor: Option<String>,
    /// Set for a member that joined through the classic protocol (JoinGroup) while the group is a consumer
    /// group (Kafka's `ClassicMemberMetadata`). Written after the other fields, so values of members without
    /// it read as before.
    pub classic: Option<ClassicMemberValue>,
}

/// A classic-protocol member of a consumer group: its session timeout and the protocols it sent in
/// JoinGroup (name and ConsumerProtocolSubscription bytes), in its order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicMemberValue {
    pub session_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
}

/// A KIP-848 member's reconciliation state (ConsumerGroupCurrentMemberAssignmentValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

/// The value of a KIP-848 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerValue {
    /// The group epoch and the assignor that computed the target.
    Metadata {
        epoch: i32,
        assignor: String,
    },
    /// The subscribed topics' metadata as of the last check.
    PartitionMetadata(Vec<TopicMeta>),
    Member(ConsumerMemberValue),
    /// The epoch of the target assignment.
    TargetMetadata {
        assignment_epoch: i32,
    },
    TargetMember(Assignment),
    CurrentAssignment(CurrentAssignmentValue),
}

/// One committed offset (OffsetCommitValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member as stored in GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A classic group's membership as of a generation (GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// One record of `__consumer_offsets`. `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Offset {
        group_id: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group_id: String,
        value: Option<GroupValue>,
    },
    /// A KIP-848 consumer group record (key types 3..=8).
    Consumer {
        group_id: String,
        key: ConsumerKey,
        value: Option<ConsumerValue>,
    },
}

impl Record {
    pub fn group_id(&self) -> &str {
        match self {
            Record::Offset { group_id, .. }
            | Record::Group { group_id, .. }
            | Record::Consumer { group_id, .. } => group_id,
        }
    }

    pub fn key(&self) -> Bytes {
        let mut buf = BytesMut::new();
        match self {
            Record::Offset {
                group_id,
                topic,
                partition,
                ..
            } => {
                buf.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut buf, group_id);
                put_str(&mut buf, topic);
                buf.put_i32(*partition);
            }
            Record::Group { group_id, .. } => {
                buf.put_i16(GROUP_KEY_VERSION);
                put_str(&mut buf, group_id);
            }
            Record::Consumer { group_id, key, .. } => {
                let (version, member) = match key {
                    ConsumerKey::Metadata => (CONSUMER_METADATA_KEY, None),
                    ConsumerKey::PartitionMetadata => (CONSUMER_PARTITION_METADATA_KEY, None),
                    ConsumerKey::Member(m) => (CONSUMER_MEMBER_KEY, Some(m)),
                    ConsumerKey::TargetMetadata => (CONSUMER_TARGET_METADATA_KEY, None),
                    ConsumerKey::TargetMember(m) => (CONSUMER_TARGET_MEMBER_KEY, Some(m)),
                    ConsumerKey::CurrentAssignment(m) => (CONSUMER_CURRENT_ASSIGNMENT_KEY, Some(m)),
                };
                buf.put_i16(version);
                put_str(&mut buf, group_id);
                if let Some(m) = member {
                    put_str(&mut buf, m);
                }
            }
        }
        buf.freeze()
    }

    /// The value bytes; `None` for a tombstone.
    pub fn value(&self) -> Option<Bytes> {
        let mut buf = BytesMut::new();
        match self {
            Record::Offset { value: None, .. }
            | Record::Group { value: None, .. }
            | Record::Consumer { value: None, .. } => return None,
            Record::Consumer { value: Some(v), .. } => {
                buf.put_i16(STROM_CONSUMER_VALUE_VERSION);
                encode_consumer_value(&mut buf, v);
            }
            Record::Offset { value: Some(v), .. } => {
                buf.put_i16(OFFSET_VALUE_VERSION);
                buf.put_i64(v.offset);
                buf.put_i32(v.leader_epoch);
                put_str(&mut buf, &v.metadata);
                buf.put_i64(v.commit_timestamp);
            }
            Record::Group { value: Some(v), .. } => {
                buf.put_i16(GROUP_VALUE_VERSION);
                put_str(&mut buf, &v.protocol_type);
                buf.put_i32(v.generation_id);
                put_nullable_str(&mut buf, v.protocol_name.as_deref());
                put_nullable_str(&mut buf, v.leader.as_deref());
                buf.put_i64(v.current_state_timestamp);
                buf.put_i32(i32::try_from(v.members.len()).unwrap_or(i32::MAX));
                for m in &v.members {
                    put_str(&mut buf, &m.member_id);
                    put_nullable_str(&mut buf, m.group_instance_id.as_deref());
                    put_str(&mut buf, &m.client_id);
                    put_str(&mut buf, &m.client_host);
                    buf.put_i32(m.rebalance_timeout_ms);
                    buf.put_i32(m.session_timeout_ms);
                    put_bytes(&mut buf, &m.subscription);
                    put_bytes(&mut buf, &m.assignment);
                }
            }
        }
        Some(buf.freeze())
    }

    /// Reads a record back. `Ok(None)` for a key this coordinator does not use (e.g. a share-group record
    /// or a KIP-848 value in Kafka's own encoding): replay skips it.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<Record>, RecordError> {
        let mut k = key;
        let key_version = get_i16(&mut k)?;
        match key_version {
            0 | 1 => {
                let group_id = get_str(&mut k)?;
                let topic = get_str(&mut k)?;
                let partition = get_i32(&mut k)?;
                let value = value
                    .map(|v| decode_offset_value(v, key_version))
                    .transpose()?;
                Ok(Some(Record::Offset {
                    group_id,
                    topic,
                    partition,
                    value,
                }))
            }
            2 => {
                let group_id = get_str(&mut k)?;
                let value = value
                    .map(|v| decode_group_value(v, key_version))
                    .transpose()?;
                Ok(Some(Record::Group { group_id, value }))
            }
            CONSUMER_METADATA_KEY..=CONSUMER_CURRENT_ASSIGNMENT_KEY => {
                let group_id = get_str(&mut k)?;
                let key = match key_version {
                    CONSUMER_METADATA_KEY => ConsumerKey::Metadata,
                    CONSUMER_PARTITION_METADATA_KEY => ConsumerKey::PartitionMetadata,
                    CONSUMER_MEMBER_KEY => ConsumerKey::Member(get_str(&mut k)?),
                    CONSUMER_TARGET_METADATA_KEY => ConsumerKey::TargetMetadata,
                    CONSUMER_TARGET_MEMBER_KEY => ConsumerKey::TargetMember(get_str(&mut k)?),
                    _ => ConsumerKey::CurrentAssignment(get_str(&mut k)?),
                };
                let value = match value {
                    None => None,
                    Some(mut v) => {
                        if get_i16(&mut v)? != STROM_CONSUMER_VALUE_VERSION {
                            return Ok(None);
                        }
                        Some(decode_consumer_value(&mut v, &key)?)
                    }
                };
                Ok(Some(Record::Consumer {
                    group_id,
                    key,
                    value,
                }))
            }
            v if v > 2 => Ok(None),
            v => Err(RecordError::UnknownKeyVersion(v)),
        }
    }
}

fn decode_offset_value(mut v: &[u8], key_version: i16) -> Result<OffsetValue, RecordError> {
    let version = get_i16(&mut v)?;
    let offset = get_i64(&mut v)?;
    let leader_epoch = if version >= 3 { get_i32(&mut v)? } else { -1 };
    let metadata = get_str(&mut v)?;
    let commit_timestamp = get_i64(&mut v)?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownValueVersion(version, key_version));
    }
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

fn decode_group_value(mut v: &[u8], key_version: i16) -> Result<GroupValue, RecordError> {
    let version = get_i16(&mut v)?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownValueVersion(version, key_version));
    }
    let protocol_type = get_str(&mut v)?;
    let generation_id = get_i32(&mut v)?;
    let protocol_name = get_nullable_str(&mut v)?;
    let leader = get_nullable_str(&mut v)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut v)? } else { -1 };
    let count = get_i32(&mut v)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = get_str(&mut v)?;
        let group_instance_id = if version >= 3 {
            get_nullable_str(&mut v)?
        } else {
            None
        };
        let client_id = get_str(&mut v)?;
        let client_host = get_str(&mut v)?;
        let rebalance_timeout_ms = if version >= 1 {
            Some(get_i32(&mut v)?)
        } else {
            None
        };
        let session_timeout_ms = get_i32(&mut v)?;
        let subscription = get_bytes(&mut v)?;
        let assignment = get_bytes(&mut v)?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation_id,
        protocol_name,
        leader,
        current_state_timestamp,
        members,
    })
}

fn put_nullable_len(buf: &mut BytesMut, n: usize) {
    buf.put_i32(i32::try_from(n).unwrap_or(i32::MAX));
}

fn put_assignment(buf: &mut BytesMut, a: &Assignment) {
    put_nullable_len(buf, a.len());
    for (topic, partitions) in a {
        buf.put_slice(topic.as_bytes());
        put_nullable_len(buf, partitions.len());
        for p in partitions {
            buf.put_i32(*p);
        }
    }
}

fn encode_consumer_value(buf: &mut BytesMut, v: &ConsumerValue) {
    match v {
        ConsumerValue::Metadata { epoch, assignor } => {
            buf.put_i32(*epoch);
            put_str(buf, assignor);
        }
        ConsumerValue::PartitionMetadata(topics) => {
            put_nullable_len(buf, topics.len());
            for t in topics {
                buf.put_slice(t.id.as_bytes());
                put_str(buf, &t.name);
                buf.put_i32(t.partitions);
            }
        }
        ConsumerValue::Member(m) => {
            put_nullable_str(buf, m.instance_id.as_deref());
            put_nullable_str(buf, m.rack_id.as_deref());
            put_str(buf, &m.client_id);
            put_str(buf, &m.client_host);
            buf.put_i32(m.rebalance_timeout_ms);
            put_nullable_len(buf, m.subscribed_topic_names.len());
            for name in &m.subscribed_topic_names {
                put_str(buf, name);
            }
            put_nullable_str(buf, m.server_assignor.as_deref());
            if let Some(c) = &m.classic {
                buf.put_i32(c.session_timeout_ms);
                put_nullable_len(buf, c.protocols.len());
                for (name, metadata) in &c.protocols {
                    put_str(buf, name);
                    put_bytes(buf, metadata);
                }
            }
        }
        ConsumerValue::TargetMetadata { assignment_epoch } => buf.put_i32(*assignment_epoch),
        ConsumerValue::TargetMember(a) => put_assignment(buf, a),
        ConsumerValue::CurrentAssignment(c) => {
            buf.put_i32(c.member_epoch);
            buf.put_i32(c.previous_member_epoch);
            buf.put_i8(c.state);
            put_assignment(buf, &c.assigned);
            put_assignment(buf, &c.pending_revocation);
        }
    }
}

/// A count read from a value; never sizes an allocation up front.
fn get_count(buf: &mut &[u8]) -> Result<usize, RecordError> {
    let n = get_i32(buf)?;
    usize::try_from(n).map_err(|_| RecordError::NegativeLength(n))
}

fn get_uuid(buf: &mut &[u8]) -> Result<Uuid, RecordError> {
    need(buf, 16)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid::from_bytes(id))
}

fn get_assignment(buf: &mut &[u8]) -> Result<Assignment, RecordError> {
    let mut a = Assignment::new();
    for _ in 0..get_count(buf)? {
        let topic = get_uuid(buf)?;
        let mut partitions = BTreeSet::new();
        for _ in 0..get_count(buf)? {
            partitions.insert(get_i32(buf)?);
        }
        a.insert(topic, partitions);
    }
    Ok(a)
}

fn decode_consumer_value(buf: &mut &[u8], key: &ConsumerKey) -> Result<ConsumerValue, RecordError> {
    Ok(match key {
        ConsumerKey::Metadata => ConsumerValue::Metadata {
            epoch: get_i32(buf)?,
            assignor: get_str(buf)?,
        },
        ConsumerKey::PartitionMetadata => {
            let mut topics = Vec::new();
            for _ in 0..get_count(buf)? {
                topics.push(TopicMeta {
                    id: get_uuid(buf)?,
                    name: get_str(buf)?,
                    partitions: get_i32(buf)?,
                });
            }
            ConsumerValue::PartitionMetadata(topics)
        }
        ConsumerKey::Member(_) => {
            let instance_id = get_nullable_str(buf)?;
            let rack_id = get_nullable_str(buf)?;
            let client_id = get_str(buf)?;
            let client_host = get_str(buf)?;
            let rebalance_timeout_ms = get_i32(buf)?;
            let mut subscribed_topic_names = Vec::new();
            for _ in 0..get_count(buf)? {
                subscribed_topic_names.push(get_str(buf)?);
            }
            let server_assignor = get_nullable_str(buf)?;
            let classic = if buf.is_empty() {
                None
            } else {
                let session_timeout_ms = get_i32(buf)?;
                let mut protocols = Vec::new();
                for _ in 0..get_count(buf)? {
                    protocols.push((get_str(buf)?, get_bytes(buf)?));
                }
                Some(ClassicMemberValue {
                    session_timeout_ms,
                    protocols,
                })
            };
            ConsumerValue::Member(ConsumerMemberValue {
                instance_id,
                rack_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                subscribed_topic_names,
                server_assignor,
                classic,
            })
        }
        ConsumerKey::TargetMetadata => ConsumerValue::TargetMetadata {
            assignment_epoch: get_i32(buf)?,
        },
        ConsumerKey::TargetMember(_) => ConsumerValue::TargetMember(get_assignment(buf)?),
        ConsumerKey::CurrentAssignment(_) => {
            let member_epoch = get_i32(buf)?;
            let previous_member_epoch = get_i32(buf)?;
            need(buf, 1)?;
            let state = buf.get_i8();
            ConsumerValue::CurrentAssignment(CurrentAssignmentValue {
                member_epoch,
                previous_member_epoch,
                state,
                assigned: get_assignment(buf)?,
                pending_revocation: get_assignment(buf)?,
            })
        }
    })
}

/// The `__consumer_offsets` partition holding a group: Kafka's `Utils.abs(groupId.hashCode) % partitions`
/// with Java's `String.hashCode` over UTF-16 code units, so a group lands where Kafka would put it.
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % num_partitions.max(1)
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(i16::try_from(s.len()).unwrap_or(i16::MAX));
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
    buf.put_slice(b);
}

fn need(buf: &[u8], n: usize) -> Result<(), RecordError> {
    if buf.remaining() < n {
        Err(RecordError::Truncated)
    } else {
        Ok(())
    }
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, RecordError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, RecordError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, RecordError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_nullable_str(buf: &mut &[u8]) -> Result<Option<String>, RecordError> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    need(buf, len)?;
    let s = std::str::from_utf8(&buf[..len]).map_err(|_| RecordError::InvalidUtf8)?;
    let s = s.to_string();
    buf.advance(len);
    Ok(Some(s))
}

fn get_str(buf: &mut &[u8]) -> Result<String, RecordError> {
    get_nullable_str(buf)?.ok_or(RecordError::NegativeLength(-1))
}

fn get_bytes(buf: &mut &[u8]) -> Result<Bytes, RecordError> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    need(buf, len)?;
    let b = Bytes::copy_from_slice(&buf[..len]);
    buf.advance(len);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_kafka() {
        // Java: "my-group".hashCode() == -1906497762, so abs(...) % 50 == 12.
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("console-consumer-1", 50), 24);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java: Kafka maps it to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("zzzzzzzzzzzz", 50), 42);
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            Record::Offset {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(OffsetValue {
                    offset: 42,
                    leader_epoch: 7,
                    metadata: "meta".into(),
                    commit_timestamp: 1_700_000_000_000,
                }),
            },
            Record::Offset {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: None,
            },
            Record::Group {
                group_id: "g".into(),
                value: Some(GroupValue {
                    protocol_type: "consumer".into(),
                    generation_id: 4,
                    protocol_name: Some("range".into()),
                    leader: Some("m1".into()),
                    current_state_timestamp: 5,
                    members: vec![MemberValue {
                        member_id: "m1".into(),
                        group_instance_id: Some("i1".into()),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        rebalance_timeout_ms: 300_000,
                        session_timeout_ms: 45_000,
                        subscription: Bytes::from_static(b"sub"),
                        assignment: Bytes::from_static(b"asg"),
                    }],
                }),
            },
            Record::Group {
                group_id: "g".into(),
                value: None,
            },
        ];
        for r in records {
            let key = r.key();
            let value = r.value();
            let back = Record::decode(&key, value.as_deref()).unwrap();
            assert_eq!(back, Some(r));
        }
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        assert_eq!(Record::decode(&[], None), Err(RecordError::Truncated));
        assert_eq!(
            Record::decode(&[0, 1, 0, 9], None),
            Err(RecordError::Truncated)
        );
        assert_eq!(Record::decode(&[0, 9], None), Ok(None));
        assert_eq!(
            Record::decode(&[0xff, 0xff], None),
            Err(RecordError::UnknownKeyVersion(-1))
        );
        let key = Record::Group {
            group_id: "g".into(),
            value: None,
        }
        .key();
        assert!(Record::decode(&key, Some(&[0, 3, 0, 5, b'a'])).is_err());
    }
}
