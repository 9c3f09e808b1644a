//! `__transaction_state` records in Kafka's layout, so a log written by Kafka loads here and the other way
//! round: the key is `TransactionLogKey` v0 (version prefix, then the transactional id as a string); the
//! value is `TransactionLogValue` v1 as Kafka 4.x writes it with `transaction.version` ≥ 1 (flexible: compact
//! strings and arrays, tagged `PreviousProducerId` (0), `NextProducerId` (1) and `ClientTransactionVersion` (2),
//! omitted when they hold their defaults). Values of v0 (non-flexible) are read too. A null value is the
//! tombstone of an expired transactional id. Also which partition of the topic a transactional id lives in.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::RecordError;
use crate::state::{TopicPartition, TxnState};

/// `TransactionLogKey`'s only version.
const KEY_VERSION: i16 = 0;
/// The `TransactionLogValue` version written.
const VALUE_VERSION: i16 = 1;

const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;

/// The `__transaction_state` partition of a transactional id: Kafka's
/// `Utils.abs(transactionalId.hashCode) % partitions`, with Java's UTF-16 `String.hashCode`.
pub fn partition_for(transactional_id: &str, num_partitions: i32) -> i32 {
    let hash = transactional_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % num_partitions.max(1)
}

/// One record of `__transaction_state`: a transactional id and its metadata, or its tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRecord {
    pub transactional_id: String,
    /// `None`: the tombstone of an expired transactional id.
    pub value: Option<TxnValue>,
}

/// `TransactionLogValue`: what is persisted of a transaction (the last epoch is not: Kafka loads it as -1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Empty (and written as null) in state Empty.
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_timestamp: i64,
    pub start_timestamp: i64,
    /// The `transaction.version` the client used (0, or 2 for KIP-890 part 2 clients).
    pub client_transaction_version: i16,
}

impl TxnRecord {
    pub fn key(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(4 + self.transactional_id.len());
        buf.put_i16(KEY_VERSION);
        put_string(&mut buf, &self.transactional_id);
        buf.freeze()
    }

    pub fn value(&self) -> Option<Bytes> {
        self.value.as_ref().map(TxnValue::encode)
    }

    /// Reads a record; `Ok(None)` for a key version this broker does not know (Kafka skips those too).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<TxnRecord>, RecordError> {
        let mut k = key;
        let version = get_i16(&mut k)?;
        if version != KEY_VERSION {
            return Ok(None);
        }
        let transactional_id = get_string(&mut k)?;
        let value = value.map(TxnValue::decode).transpose()?;
        Ok(Some(TxnRecord {
            transactional_id,
            value,
        }))
    }
}

impl TxnValue {
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(VALUE_VERSION);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.timeout_ms);
        buf.put_i8(self.state.id());
        if self.state == TxnState::Empty {
            put_uvarint(&mut buf, 0); // null array
        } else {
            let by_topic = group_by_topic(&self.partitions);
            put_uvarint(&mut buf, by_topic.len() as u32 + 1);
            for (topic, ids) in by_topic {
                put_compact_string(&mut buf, topic);
                put_uvarint(&mut buf, ids.len() as u32 + 1);
                for id in ids {
                    buf.put_i32(id);
                }
                put_uvarint(&mut buf, 0); // no tagged fields
            }
        }
        buf.put_i64(self.last_update_timestamp);
        buf.put_i64(self.start_timestamp);
        let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
        if self.previous_producer_id != -1 {
            tagged.push((
                TAG_PREVIOUS_PRODUCER_ID,
                self.previous_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if self.next_producer_id != -1 {
            tagged.push((
                TAG_NEXT_PRODUCER_ID,
                self.next_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if self.client_transaction_version != 0 {
            tagged.push((
                TAG_CLIENT_TRANSACTION_VERSION,
                self.client_transaction_version.to_be_bytes().to_vec(),
            ));
        }
        put_uvarint(&mut buf, tagged.len() as u32);
        for (tag, data) in tagged {
            put_uvarint(&mut buf, tag);
            put_uvarint(&mut buf, data.len() as u32);
            buf.put_slice(&data);
        }
        buf.freeze()
    }

    pub fn decode(value: &[u8]) -> Result<TxnValue, RecordError> {
        let mut b = value;
        let version = get_i16(&mut b)?;
        if !(0..=1).contains(&version) {
            return Err(RecordError::UnknownVersion {
                what: "TransactionLogValue",
                version,
            });
        }
        let flexible = version >= 1;
        let producer_id = get_i64(&mut b)?;
        let producer_epoch = get_i16(&mut b)?;
        let timeout_ms = get_i32(&mut b)?;
        let state_id = get_i8(&mut b)?;
        let state = TxnState::from_id(state_id).ok_or(RecordError::UnknownState(state_id))?;
        let topics = if flexible {
            get_uvarint(&mut b)? as i64 - 1
        } else {
            i64::from(get_i32(&mut b)?)
        };
        let mut partitions = BTreeSet::new();
        for _ in 0..topics.max(0) {
            let topic = if flexible {
                get_compact_string(&mut b)?
            } else {
                get_string(&mut b)?
            };
            let n = if flexible {
                get_uvarint(&mut b)? as i64 - 1
            } else {
                i64::from(get_i32(&mut b)?)
            };
            for _ in 0..n.max(0) {
                partitions.insert(TopicPartition::new(topic.clone(), get_i32(&mut b)?));
            }
            if flexible {
                skip_tagged_fields(&mut b)?;
            }
        }
        let last_update_timestamp = get_i64(&mut b)?;
        let start_timestamp = get_i64(&mut b)?;
        let mut value = TxnValue {
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch,
            timeout_ms,
            state,
            partitions,
            last_update_timestamp,
            start_timestamp,
            client_transaction_version: 0,
        };
        if flexible {
            let n = get_uvarint(&mut b)?;
            for _ in 0..n {
                let tag = get_uvarint(&mut b)?;
                let size = get_uvarint(&mut b)? as usize;
                if b.len() < size {
                    return Err(RecordError::Truncated);
                }
                let mut data = &b[..size];
                match tag {
                    TAG_PREVIOUS_PRODUCER_ID => value.previous_producer_id = get_i64(&mut data)?,
                    TAG_NEXT_PRODUCER_ID => value.next_producer_id = get_i64(&mut data)?,
                    TAG_CLIENT_TRANSACTION_VERSION => {
                        value.client_transaction_version = get_i16(&mut data)?
                    }
                    _ => {}
                }
                b.advance(size);
            }
        }
        Ok(value)
    }
}

fn group_by_topic(partitions: &BTreeSet<TopicPartition>) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
}

fn put_string(buf: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

fn put_compact_string(buf: &mut BytesMut, s: &str) {
    put_uvarint(buf, s.len() as u32 + 1);
    buf.put_slice(s.as_bytes());
}

fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn need(b: &[u8], n: usize) -> Result<(), RecordError> {
    if b.len() < n {
        Err(RecordError::Truncated)
    } else {
        Ok(())
    }
}

fn get_i8(b: &mut &[u8]) -> Result<i8, RecordError> {
    need(b, 1)?;
    Ok(b.get_i8())
}

fn get_i16(b: &mut &[u8]) -> Result<i16, RecordError> {
    need(b, 2)?;
    Ok(b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Result<i32, RecordError> {
    need(b, 4)?;
    Ok(b.get_i32())
}

fn get_i64(b: &mut &[u8]) -> Result<i64, RecordError> {
    need(b, 8)?;
    Ok(b.get_i64())
}

fn get_uvarint(b: &mut &[u8]) -> Result<u32, RecordError> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        need(b, 1)?;
        let byte = b.get_u8();
        v |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(RecordError::Truncated)
}

fn get_bytes_as_string(b: &mut &[u8], len: usize) -> Result<String, RecordError> {
    need(b, len)?;
    let s = std::str::from_utf8(&b[..len])
        .map_err(|_| RecordError::BadString)?
        .to_owned();
    b.advance(len);
    Ok(s)
}

fn get_string(b: &mut &[u8]) -> Result<String, RecordError> {
    let len = get_i16(b)?;
    get_bytes_as_string(b, usize::try_from(len).map_err(|_| RecordError::Truncated)?)
}

fn get_compact_string(b: &mut &[u8]) -> Result<String, RecordError> {
    let len = get_uvarint(b)?;
    let len = len.checked_sub(1).ok_or(RecordError::Truncated)?;
    get_bytes_as_string(b, len as usize)
}

fn skip_tagged_fields(b: &mut &[u8]) -> Result<(), RecordError> {
    let n = get_uvarint(b)?;
    for _ in 0..n {
        get_uvarint(b)?;
        let size = get_uvarint(b)? as usize;
        need(b, size)?;
        b.advance(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(state: TxnState) -> TxnValue {
        TxnValue {
            producer_id: 4000,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state,
            partitions: if state == TxnState::Empty {
                BTreeSet::new()
            } else {
                [("a", 0), ("a", 2), ("b", 1)]
                    .into_iter()
                    .map(|(t, p)| TopicPartition::new(t, p))
                    .collect()
            },
            last_update_timestamp: 1_700_000_000_500,
            start_timestamp: 1_700_000_000_000,
            client_transaction_version: 0,
        }
    }

    /// Java's `"txn-1".hashCode()` is 110_810_510 (`s[0]*31^(n-1) + … + s[n-1]`); 110810510 % 50 = 10.
    #[test]
    fn partition_is_java_hash_code_mod_partitions() {
        assert_eq!(partition_for("txn-1", 50), 10);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }

    /// The bytes Kafka's generated `TransactionLogValue` v1 writes for an Ongoing transaction with the tagged
    /// fields at their defaults: fixed fields, a compact array of (compact string, compact int array, no tags),
    /// two timestamps, an empty tag section.
    #[test]
    fn value_v1_layout_is_kafkas() {
        let mut v = value(TxnState::Ongoing);
        v.partitions = [TopicPartition::new("t", 1)].into_iter().collect();
        let bytes = v.encode();
        let expected: Vec<u8> = [
            &[0u8, 1][..],                       // version 1
            &4000i64.to_be_bytes(),              // producer id
            &3i16.to_be_bytes(),                 // epoch
            &60_000i32.to_be_bytes(),            // timeout
            &[1],                                // Ongoing
            &[2, 2, b't', 2, 0, 0, 0, 1, 0],     // [{ "t", [1] }]
            &1_700_000_000_500i64.to_be_bytes(), // last update
            &1_700_000_000_000i64.to_be_bytes(), // start
            &[0],                                // no tagged fields
        ]
        .concat();
        assert_eq!(bytes.as_ref(), expected.as_slice());
    }

    #[test]
    fn key_layout_is_kafkas() {
        let r = TxnRecord {
            transactional_id: "ab".into(),
            value: None,
        };
        assert_eq!(r.key().as_ref(), &[0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn values_round_trip_with_tagged_fields() {
        for state in TxnState::ALL {
            let mut v = value(state);
            assert_eq!(TxnValue::decode(&v.encode()), Ok(v.clone()), "{state}");
            v.previous_producer_id = 7;
            v.next_producer_id = 9;
            v.client_transaction_version = 2;
            assert_eq!(TxnValue::decode(&v.encode()), Ok(v), "{state} tagged");
        }
    }

    /// A v0 value as Kafka wrote it before transaction.version 1 (non-flexible).
    #[test]
    fn reads_v0_values() {
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        buf.put_i64(12);
        buf.put_i16(1);
        buf.put_i32(900);
        buf.put_i8(TxnState::PrepareCommit.id());
        buf.put_i32(1);
        put_string(&mut buf, "topic");
        buf.put_i32(2);
        buf.put_i32(0);
        buf.put_i32(5);
        buf.put_i64(20);
        buf.put_i64(10);
        let v = TxnValue::decode(&buf).unwrap();
        assert_eq!(v.producer_id, 12);
        assert_eq!(v.state, TxnState::PrepareCommit);
        assert_eq!(v.partitions.len(), 2);
        assert_eq!((v.last_update_timestamp, v.start_timestamp), (20, 10));
        assert_eq!(v.previous_producer_id, -1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(TxnValue::decode(&[0, 1, 2]), Err(RecordError::Truncated));
        assert!(matches!(
            TxnValue::decode(&[0, 9]),
            Err(RecordError::UnknownVersion { .. })
        ));
        assert_eq!(TxnRecord::decode(&[0, 7], None), Ok(None));
        let full = value(TxnState::Ongoing).encode();
        for cut in 0..full.len() {
            assert!(TxnValue::decode(&full[..cut]).is_err(), "cut at {cut}");
        }
    }
}
