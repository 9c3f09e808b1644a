//! Records as the client's callers see them, and their conversion to and from v2 record batches: encoding is
//! strom-protocol's one batch encoder (`strom_protocol::records`, which also defines [`OwnedRecord`]); decoding
//! goes through kafka-protocol's `RecordBatchDecoder`. Does not frame requests or pick partitions.
//!
//! The decoder side reads three fields of each batch header itself (length, last offset delta, max timestamp) only
//! to find where batches end, to step past batches whose tail records were compacted away, and to report
//! LogAppendTime timestamps; the records themselves are always decoded by kafka-protocol.

use bytes::{Buf, Bytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder, TimestampType};
use strom_protocol::clock::now_ms;
use strom_protocol::records::encode_record_batch;
pub use strom_protocol::records::OwnedRecord;

use crate::error::ClientError;

/// A record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub offset: i64,
    /// Create time, or the broker's append time when `timestamp_type` is `LogAppend`.
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Offset of the v2 batch header fields read directly (see the module doc).
const BATCH_LENGTH_END: usize = 12; // base offset (8) + batch length (4)
const MAGIC_OFFSET: usize = 16;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const BATCH_HEADER_SIZE: usize = 61;

/// Encodes `records` into one v2 record batch as produced (offsets relative from 0, no producer id, base
/// sequence -1); records without a timestamp get the current time.
pub fn encode_batch(
    records: &[OwnedRecord],
    compression: Compression,
) -> Result<Bytes, ClientError> {
    if records.is_empty() {
        return Err(ClientError::InvalidArgument(
            "cannot produce an empty batch".into(),
        ));
    }
    encode_record_batch(records, compression, now_ms())
        .map_err(|e| ClientError::encode("record batch", e))
}

/// Records decoded from a fetch response's `records` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DecodedRecords {
    pub(crate) records: Vec<ConsumedRecord>,
    /// The offset to fetch next: one past the last complete batch (never less than the requested offset).
    pub(crate) next_offset: i64,
}

fn peek_i32(buf: &[u8], at: usize) -> i32 {
    (&buf[at..at + 4]).get_i32()
}

fn peek_i64(buf: &[u8], at: usize) -> i64 {
    (&buf[at..at + 8]).get_i64()
}

/// Decodes every complete batch in `data`, dropping control records and records below `fetch_offset` (a fetch
/// may start inside a compressed batch). A truncated batch at the end — brokers cut the response at `max_bytes`
/// — is ignored, and the next fetch starts at it.
pub(crate) fn decode_fetched(
    mut data: Bytes,
    fetch_offset: i64,
) -> Result<DecodedRecords, ClientError> {
    let mut out = DecodedRecords {
        records: Vec::new(),
        next_offset: fetch_offset,
    };
    while data.len() >= BATCH_LENGTH_END {
        let base_offset = peek_i64(&data, 0);
        let batch_length = peek_i32(&data, 8);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(ClientError::decode(
                "record batch",
                format!("negative batch length {batch_length}"),
            ));
        };
        let total = BATCH_LENGTH_END + batch_length;
        if data.len() < total {
            break;
        }
        if total < BATCH_HEADER_SIZE {
            return Err(ClientError::decode(
                "record batch",
                format!("batch of {total} bytes is shorter than a v2 header"),
            ));
        }
        let magic = data[MAGIC_OFFSET];
        if magic != 2 {
            return Err(ClientError::decode(
                "record batch",
                format!("unsupported message format v{magic}"),
            ));
        }
        let last_offset_delta = peek_i32(&data, LAST_OFFSET_DELTA_OFFSET);
        let max_timestamp = peek_i64(&data, MAX_TIMESTAMP_OFFSET);
        let mut batch = data.split_to(total);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::decode("record batch", format!("{e:#}")))?;
        for record in set.records {
            if record.control || record.offset < fetch_offset {
                continue;
            }
            let timestamp = match record.timestamp_type {
                TimestampType::LogAppend => max_timestamp,
                TimestampType::Creation => record.timestamp,
            };
            out.records.push(ConsumedRecord {
                offset: record.offset,
                timestamp,
                timestamp_type: record.timestamp_type,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
        out.next_offset = out
            .next_offset
            .max(base_offset + i64::from(last_offset_delta) + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn rec(key: Option<&str>, value: &str) -> OwnedRecord {
        OwnedRecord {
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"v"))),
                ("null".into(), None),
            ],
            timestamp: Some(1_700_000_000_000),
        }
    }

    /// A batch as the broker would store it: the producer's batch with its base offset rewritten.
    fn at_offset(batch: &Bytes, base_offset: i64) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[0..8].copy_from_slice(&base_offset.to_be_bytes());
        b.freeze()
    }

    fn values(decoded: &DecodedRecords) -> Vec<(i64, String)> {
        decoded
            .records
            .iter()
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip_every_compression() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let input = vec![rec(Some("k1"), "a"), rec(None, "b"), rec(Some("k3"), "c")];
            let batch = encode_batch(&input, compression).unwrap();
            let infos = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
            assert_eq!(infos.len(), 1, "{compression:?}: one batch");
            assert_eq!(infos[0].base_sequence, -1);
            assert_eq!(infos[0].producer_id, -1);
            assert_eq!(infos[0].compression, compression);

            let decoded = decode_fetched(at_offset(&batch, 100), 0).unwrap();
            assert_eq!(
                values(&decoded),
                vec![(100, "a".into()), (101, "b".into()), (102, "c".into())]
            );
            assert_eq!(decoded.next_offset, 103);
            let first = &decoded.records[0];
            assert_eq!(first.key.as_deref(), Some(&b"k1"[..]));
            assert_eq!(first.timestamp, 1_700_000_000_000);
            assert_eq!(first.headers, input[0].headers);
            assert_eq!(decoded.records[1].key, None);
        }
    }

    #[test]
    fn skips_records_below_fetch_offset_and_truncated_tail() {
        let b1 = at_offset(
            &encode_batch(&[rec(None, "a"), rec(None, "b")], Compression::Lz4).unwrap(),
            10,
        );
        let b2 = at_offset(
            &encode_batch(&[rec(None, "c")], Compression::None).unwrap(),
            12,
        );
        let b3 = at_offset(
            &encode_batch(&[rec(None, "d")], Compression::None).unwrap(),
            13,
        );
        let mut data = BytesMut::new();
        data.put_slice(&b1);
        data.put_slice(&b2);
        data.put_slice(&b3[..b3.len() - 5]);
        let decoded = decode_fetched(data.freeze(), 11).unwrap();
        assert_eq!(values(&decoded), vec![(11, "b".into()), (12, "c".into())]);
        assert_eq!(decoded.next_offset, 13);
    }

    #[test]
    fn empty_and_header_fragment_decode_to_nothing() {
        assert_eq!(
            decode_fetched(Bytes::new(), 5).unwrap(),
            DecodedRecords {
                records: vec![],
                next_offset: 5
            }
        );
        assert_eq!(
            decode_fetched(Bytes::from_static(&[0, 0, 0]), 5)
                .unwrap()
                .next_offset,
            5
        );
    }

    #[test]
    fn corrupt_batch_is_an_error() {
        let batch = encode_batch(&[rec(None, "a")], Compression::None).unwrap();
        let mut bad = BytesMut::from(&batch[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            decode_fetched(bad.freeze(), 0),
            Err(ClientError::Decode { .. })
        ));
        assert!(encode_batch(&[], Compression::None).is_err());
    }
}
