//! The one v2 record-batch encoder: records a writer owns (key, value, headers, timestamp) become one record
//! batch through kafka-protocol's `RecordBatchEncoder`, as a producer without idempotence writes it. It serves
//! the client's produce requests and a broker appending records of its own (the group coordinator's
//! `__consumer_offsets` batches) alike. Does not decode batches, assign offsets or stamp leader epochs: the
//! partition leader's log rewrites the base offset and the partition leader epoch when it appends.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

use crate::error::EncodeError;

/// A record to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Header keys must be unique within a record (kafka-protocol keeps headers in a map).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Create time in ms since the epoch; `None` means the `now_ms` given to [`encode_record_batch`].
    pub timestamp: Option<i64>,
}

/// Encodes `records` into one v2 record batch: offsets relative from 0, CreateTime timestamps (`now_ms` for
/// records without one), no producer id or epoch, base sequence -1 (NO_SEQUENCE) and no partition leader
/// epoch. An empty `records` is [`EncodeError::EmptyBatch`]: a batch holds at least one record.
pub fn encode_record_batch(
    records: &[OwnedRecord],
    compression: Compression,
    now_ms: i64,
) -> Result<Bytes, EncodeError> {
    encode_batch(records, compression, now_ms, None)
}

/// [`encode_record_batch`] as a transactional batch of producer `producer_id` / `producer_epoch`, with no
/// sequence (-1): how a coordinator writes a transaction's records on the producer's behalf (Kafka's
/// transactional offset commits in `__consumer_offsets`).
pub fn encode_transactional_record_batch(
    records: &[OwnedRecord],
    compression: Compression,
    now_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<Bytes, EncodeError> {
    encode_batch(
        records,
        compression,
        now_ms,
        Some((producer_id, producer_epoch)),
    )
}

fn encode_batch(
    records: &[OwnedRecord],
    compression: Compression,
    now_ms: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, EncodeError> {
    if records.is_empty() {
        return Err(EncodeError::EmptyBatch);
    }
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: producer.map_or(NO_PRODUCER_ID, |p| p.0),
            producer_epoch: producer.map_or(NO_PRODUCER_EPOCH, |p| p.1),
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever `offset - sequence` changes and writes
            // `first.sequence` as the base sequence, so `offset - 1` keeps one batch with base sequence -1
            // (NO_SEQUENCE), as a non-idempotent producer sends.
            sequence: i as i32 - 1,
            timestamp: r.timestamp.unwrap_or(now_ms),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(EncodeError::codec)?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn one_batch_as_a_plain_producer_writes_it() {
        let records = vec![
            OwnedRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"a")),
                headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
                timestamp: Some(1_700_000_000_000),
            },
            OwnedRecord {
                value: None,
                ..OwnedRecord::default()
            },
        ];
        for compression in [Compression::None, Compression::Lz4] {
            let batch = encode_record_batch(&records, compression, 42).unwrap();
            let infos = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
            assert_eq!(infos.len(), 1, "{compression:?}: one batch");
            assert_eq!(infos[0].base_sequence, -1);
            assert_eq!(infos[0].producer_id, NO_PRODUCER_ID);
            assert_eq!(infos[0].compression, compression);
            let set = RecordBatchDecoder::decode(&mut batch.clone()).unwrap();
            let got: Vec<_> = set
                .records
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (
                        0,
                        1_700_000_000_000,
                        Some(Bytes::from_static(b"k")),
                        Some(Bytes::from_static(b"a"))
                    ),
                    (1, 42, None, None),
                ]
            );
            assert_eq!(set.records[0].headers.len(), 1);
        }
    }

    #[test]
    fn empty_batch_is_refused() {
        assert!(matches!(
            encode_record_batch(&[], Compression::None, 0),
            Err(EncodeError::EmptyBatch)
        ));
    }
}
