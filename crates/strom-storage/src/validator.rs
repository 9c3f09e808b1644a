//! Kafka's `LogValidator` for a producer's batches, the part that needs more than the framing
//! `batch.rs` checks: every record of a compacted log has a key; with CreateTime, every record's
//! timestamp is within `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` of
//! the broker's clock; a producer does not send LogAppendTime batches where Kafka refuses them;
//! and batches not in the topic's `compression.type` are written again in it. Refused records are
//! named one by one (KIP-467): INVALID_TIMESTAMP when any of a batch's errors is a timestamp,
//! else INVALID_RECORD, as Kafka's `processRecordErrors` decides; the first batch with errors
//! refuses the whole request.
//!
//! Cost: the common case decodes nothing. Timestamps of an uncompressed batch are checked on the
//! span of deltas `batch::validate` found while it walked the records anyway, and those of a
//! compressed one on its header's `maxTimestamp` while `message.timestamp.before.max.ms` is
//! unbounded (its default): a compressed batch is decompressed only when the topic compacts, has
//! a lower timestamp bound, has another codec, or the header check fails (then the records say
//! which ones are bad). Recompression works on the records section as bytes: a v2 batch's records
//! are the same bytes compressed or not, so the section is decompressed and compressed again and
//! the header keeps its offsets, timestamps and producer fields (Kafka keeps them too).

use std::borrow::Cow;
use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codecs, Compressor, Decompressor};

use crate::batch::{self, BatchHeader, DeltaSpan, RecordIter, HEADER_LEN};
use crate::config::{Compression, LogConfig, TimestampType};
use crate::error::{AppendError, RecordError};

/// One batch of a produce as `append.rs` found it: position in the request, header, and the span
/// of its timestamp deltas (uncompressed batches only).
pub(crate) type Batch = (usize, BatchHeader, Option<DeltaSpan>);

/// Validates the records of every batch in `records` (see the module doc) and returns the batches
/// rewritten in the topic's codec when any needed it; None keeps `records` as they are. `tp`
/// names the partition (`topic-partition`) in the messages.
pub(crate) fn validate_records(
    records: &[u8],
    batches: &[Batch],
    config: &LogConfig,
    now_ms: i64,
    tp: &str,
) -> Result<Option<Vec<u8>>, AppendError> {
    let mut rewritten: Option<Vec<u8>> = None;
    for &(pos, header, span) in batches {
        let bytes = &records[pos..pos + header.total_len()];
        let target = config
            .compression
            .codec()
            .filter(|codec| *codec != header.compression() && !header.is_control());
        let keyed = config.cleanup_policy.compacts() && !header.is_control();
        let timestamps_ok =
            header.is_control() || timestamps_surely_valid(&header, span, config, now_ms);
        if target.is_none() && !keyed && timestamps_ok {
            if let Some(out) = rewritten.as_mut() {
                out.extend_from_slice(bytes);
            }
            continue;
        }
        let section = records_section(&header, bytes)?;
        check_records(&header, &section, config, keyed, now_ms, tp)?;
        if let Some(codec) = target {
            let out = rewritten.get_or_insert_with(|| {
                let mut out = Vec::with_capacity(records.len());
                out.extend_from_slice(&records[..pos]);
                out
            });
            let start = out.len();
            let compressed = compress(config.compression, &section)?;
            batch::write_with_records(out, bytes, codec, &compressed);
            let size = out.len() - start;
            if size > config.max_message_bytes as usize {
                return Err(AppendError::RecordTooLarge {
                    size,
                    max: config.max_message_bytes,
                });
            }
        } else if let Some(out) = rewritten.as_mut() {
            out.extend_from_slice(bytes);
        }
    }
    Ok(rewritten)
}

/// Whether the batch's timestamps pass without looking at its records: always on LogAppendTime
/// topics (the broker stamps them) unless the producer marked the batch LogAppendTime; for an
/// uncompressed batch, its smallest and largest record timestamps are in range; for a compressed
/// one, its `maxTimestamp` is, and there is no lower bound.
fn timestamps_surely_valid(
    header: &BatchHeader,
    span: Option<DeltaSpan>,
    config: &LogConfig,
    now_ms: i64,
) -> bool {
    if header.timestamp_type() == TimestampType::LogAppendTime {
        return false;
    }
    if config.message_timestamp_type == TimestampType::LogAppendTime {
        return true;
    }
    let within = |ts: i64| timestamp_in_range(ts, now_ms, config);
    match span {
        Some(span) => {
            within(header.base_timestamp.saturating_add(span.min))
                && within(header.base_timestamp.saturating_add(span.max))
        }
        None => config.message_timestamp_before_max_ms == i64::MAX && within(header.max_timestamp),
    }
}

/// Kafka's `recordHasInvalidTimestamp`, negated, without its `long` overflow.
fn timestamp_in_range(ts: i64, now_ms: i64, config: &LogConfig) -> bool {
    let diff = i128::from(now_ms) - i128::from(ts);
    diff <= i128::from(config.message_timestamp_before_max_ms)
        && -diff <= i128::from(config.message_timestamp_after_max_ms)
}

/// The records section of a whole batch, decompressed when the batch is compressed.
fn records_section<'a>(
    header: &BatchHeader,
    bytes: &'a [u8],
) -> Result<Cow<'a, [u8]>, AppendError> {
    let compressed = &bytes[HEADER_LEN..];
    let mut buf = Bytes::copy_from_slice(compressed);
    let take = |b: &mut Bytes| Ok(b.to_vec());
    let section = match header.compression() {
        0 => return Ok(Cow::Borrowed(compressed)),
        1 => codecs::Gzip::decompress(&mut buf, take),
        2 => codecs::Snappy::decompress(&mut buf, take),
        3 => codecs::Lz4::decompress(&mut buf, take),
        4 => codecs::Zstd::decompress(&mut buf, take),
        other => {
            return Err(AppendError::CorruptMessage(format!(
                "unknown compression codec {other}"
            )))
        }
    };
    section
        .map(Cow::Owned)
        .map_err(|e| AppendError::CorruptMessage(format!("cannot decompress record batch: {e}")))
}

/// Walks one batch's records (its uncompressed section) with Kafka's per-record checks: the key
/// first (when `keyed`), then the timestamp. Also checks that a compressed batch holds the records
/// its header counts, as the walk of `batch::validate` does for uncompressed ones.
fn check_records(
    header: &BatchHeader,
    section: &[u8],
    config: &LogConfig,
    keyed: bool,
    now_ms: i64,
    tp: &str,
) -> Result<(), AppendError> {
    let log_append_batch = header.timestamp_type() == TimestampType::LogAppendTime;
    let create_time = config.message_timestamp_type == TimestampType::CreateTime;
    let mut errors = Vec::new();
    let mut timestamp_error = false;
    let mut count: i64 = 0;
    for (index, record) in RecordIter::new(section).enumerate() {
        let record = record.map_err(|e| AppendError::CorruptMessage(e.to_string()))?;
        count += 1;
        let batch_index = i32::try_from(index).unwrap_or(i32::MAX);
        if keyed && record.key_null {
            errors.push(RecordError {
                batch_index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition {tp}."
                ),
            });
            continue;
        }
        // A LogAppendTime batch's records all carry its maxTimestamp (Kafka's `DefaultRecord`).
        let timestamp = if log_append_batch {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(record.timestamp_delta)
        };
        let message = if create_time && timestamp != -1 {
            (!timestamp_in_range(timestamp, now_ms, config)).then(|| {
                // Kafka's message, bounds computed in Java's wrapping `long` arithmetic.
                format!(
                    "Timestamp {timestamp} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                    header.base_offset.wrapping_add(i64::from(record.offset_delta)),
                    now_ms.wrapping_sub(config.message_timestamp_before_max_ms),
                    now_ms.wrapping_add(config.message_timestamp_after_max_ms),
                )
            })
        } else if log_append_batch {
            Some(
                "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
                    .to_string(),
            )
        } else {
            None
        };
        if let Some(message) = message {
            timestamp_error = true;
            errors.push(RecordError {
                batch_index,
                message,
            });
        }
    }
    if header.compression() != 0 && count != i64::from(header.records_count) {
        return Err(AppendError::CorruptMessage(format!(
            "records section holds {count} records, header says {}",
            header.records_count
        )));
    }
    match (errors.is_empty(), timestamp_error) {
        (true, _) => Ok(()),
        (false, true) => Err(AppendError::InvalidTimestamp(errors)),
        (false, false) => Err(AppendError::InvalidRecord(errors)),
    }
}

/// Compresses a records section with the topic's codec and level (Kafka's `compression.<codec>.level`).
fn compress(target: Compression, section: &[u8]) -> Result<Vec<u8>, AppendError> {
    let failed = |e: std::io::Error| AppendError::Io(e);
    match target {
        Compression::Producer | Compression::Uncompressed => Ok(section.to_vec()),
        Compression::Gzip { level } => {
            // -1 is zlib's default level (6), as Java's `Deflater.DEFAULT_COMPRESSION`.
            let level = u32::try_from(level).map_or(flate2::Compression::default(), |l| {
                flate2::Compression::new(l.min(9))
            });
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
            encoder.write_all(section).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Compression::Snappy => {
            // Kafka's framing (xerial's snappy-java blocks), as the Java client writes it.
            let mut out = BytesMut::new();
            codecs::Snappy::compress(&mut out, |b: &mut BytesMut| {
                b.put_slice(section);
                Ok(())
            })
            .map_err(|e| AppendError::CorruptMessage(format!("snappy compression failed: {e}")))?;
            Ok(out.to_vec())
        }
        Compression::Lz4 { level } => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(u32::try_from(level).unwrap_or(9))
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())
                .map_err(failed)?;
            encoder.write_all(section).map_err(failed)?;
            let (out, result) = encoder.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        Compression::Zstd { level } => zstd::bulk::compress(section, level).map_err(failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression as Codec, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType as RecordTimestampType,
    };

    const NOW: i64 = 1_700_000_000_000;

    fn record(offset: i64, timestamp: i64, key: Option<&'static str>) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: RecordTimestampType::Creation,
            offset,
            // What the decoder gives a batch without a producer: base sequence -1 plus the delta
            // (the encoder keeps records in one batch while offset - sequence stays the same).
            sequence: offset as i32 - 1,
            timestamp,
            key: key.map(|k| Bytes::from_static(k.as_bytes())),
            value: Some(Bytes::from(format!("value-{offset}"))),
            headers: Default::default(),
        }
    }

    fn encode(records: &[Record], codec: Codec) -> Vec<u8> {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records,
            &RecordEncodeOptions {
                version: 2,
                compression: codec,
            },
        )
        .expect("encodes");
        buf.to_vec()
    }

    /// Runs the validator over `bytes` the way `append.rs` does.
    fn run(bytes: &[u8], config: &LogConfig) -> Result<Option<Vec<u8>>, AppendError> {
        let mut batches = Vec::new();
        let mut pos = 0;
        for item in batch::iter_batches(bytes) {
            let (h, b) = item.expect("a batch");
            let span = batch::validate(&h, b, config.max_message_bytes).expect("valid");
            batches.push((pos, h, span));
            pos += b.len();
        }
        validate_records(bytes, &batches, config, NOW, "t-0")
    }

    fn decode(bytes: Vec<u8>) -> (u8, Vec<Record>) {
        let header = BatchHeader::parse(&bytes).expect("header");
        assert!(batch::verify_crc(&bytes), "CRC of the rewritten batch");
        let mut buf = Bytes::from(bytes);
        let set = RecordBatchDecoder::decode(&mut buf).expect("decodes");
        (header.compression(), set.records)
    }

    #[test]
    fn producer_compression_keeps_batches_as_sent() {
        let bytes = encode(&[record(0, NOW, None), record(1, NOW, None)], Codec::Lz4);
        assert_eq!(run(&bytes, &LogConfig::default()).expect("valid"), None);
    }

    #[test]
    fn recompresses_into_every_codec_keeping_records() {
        let records = [record(0, NOW - 5, Some("a")), record(1, NOW, None)];
        for source in [
            Codec::None,
            Codec::Lz4,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Zstd,
        ] {
            let bytes = encode(&records, source);
            for (target, codec) in [
                (Compression::Uncompressed, 0),
                (Compression::Gzip { level: -1 }, 1),
                (Compression::Gzip { level: 9 }, 1),
                (Compression::Snappy, 2),
                (Compression::Lz4 { level: 9 }, 3),
                (Compression::Zstd { level: 3 }, 4),
            ] {
                let config = LogConfig {
                    compression: target,
                    ..LogConfig::default()
                };
                let out = run(&bytes, &config).expect("valid");
                if source as u8 == codec {
                    assert_eq!(out, None, "{source:?} is already {target:?}");
                    continue;
                }
                let (stored, decoded) = decode(out.expect("rewritten"));
                assert_eq!(stored, codec, "{source:?} -> {target:?}");
                assert_eq!(decoded.len(), 2);
                assert_eq!(decoded[0].timestamp, NOW - 5);
                assert_eq!(decoded[0].key.as_deref(), Some(&b"a"[..]));
                assert_eq!(decoded[1].value.as_deref(), Some(&b"value-1"[..]));
                assert_eq!(decoded[1].offset, 1);
            }
        }
    }

    #[test]
    fn rewritten_batch_over_max_message_bytes_is_refused() {
        let records: Vec<Record> = (0..50).map(|i| record(i, NOW, None)).collect();
        let bytes = encode(&records, Codec::Zstd);
        let config = LogConfig {
            compression: Compression::Uncompressed,
            max_message_bytes: u32::try_from(bytes.len()).expect("small"),
            ..LogConfig::default()
        };
        assert!(matches!(
            run(&bytes, &config),
            Err(AppendError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn timestamps_out_of_range_are_named_per_record() {
        let config = LogConfig {
            message_timestamp_before_max_ms: 1000,
            message_timestamp_after_max_ms: 1000,
            ..LogConfig::default()
        };
        for codec in [Codec::None, Codec::Gzip] {
            let bytes = encode(
                &[
                    record(0, NOW, None),
                    record(1, NOW - 5000, None),
                    record(2, NOW + 500, None),
                    record(3, NOW + 5000, None),
                ],
                codec,
            );
            let Err(AppendError::InvalidTimestamp(errors)) = run(&bytes, &config) else {
                panic!("{codec:?}: expected INVALID_TIMESTAMP");
            };
            let indexes: Vec<i32> = errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, [1, 3], "{codec:?}");
            assert!(errors[0]
                .message
                .contains("of message with offset 1 is out of range"));
        }
    }

    #[test]
    fn default_bounds_refuse_only_the_far_future() {
        let config = LogConfig::default();
        let old = encode(&[record(0, 1, None)], Codec::None);
        assert_eq!(run(&old, &config).expect("old timestamps pass"), None);
        let missing = encode(&[record(0, -1, None)], Codec::Lz4);
        assert_eq!(run(&missing, &config).expect("no timestamp passes"), None);
        for codec in [Codec::None, Codec::Lz4] {
            let future = encode(&[record(0, NOW + 3_600_001, None)], codec);
            assert!(matches!(
                run(&future, &config),
                Err(AppendError::InvalidTimestamp(e)) if e.len() == 1
            ));
        }
        let log_append = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let future = encode(&[record(0, NOW + 3_600_001, None)], Codec::None);
        assert_eq!(
            run(&future, &log_append).expect("stamped by the broker"),
            None
        );
    }

    #[test]
    fn producer_log_append_time_batches_are_refused_on_log_append_time_topics() {
        let mut bytes = encode(&[record(0, NOW, None), record(1, NOW, None)], Codec::None);
        bytes[22] |= 1 << 3; // attributes (bytes 21..23, big-endian): the LogAppendTime bit
        batch::recompute_crc(&mut bytes);
        // A CreateTime topic checks the batch's maxTimestamp as every record's timestamp (Kafka's
        // `DefaultRecord.timestamp` of a LogAppendTime batch): in range, so accepted as sent.
        assert_eq!(run(&bytes, &LogConfig::default()).expect("in range"), None);
        let log_append = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let Err(AppendError::InvalidTimestamp(errors)) = run(&bytes, &log_append) else {
            panic!("expected INVALID_TIMESTAMP");
        };
        assert_eq!(errors.len(), 2);
        assert!(errors[0]
            .message
            .contains("Producer should not set timestamp type to LogAppendTime"));
    }

    #[test]
    fn keyless_records_of_compacted_logs_come_before_timestamps() {
        let config = LogConfig {
            cleanup_policy: crate::CleanupPolicy::Compact,
            ..LogConfig::default()
        };
        let bytes = encode(
            &[record(0, NOW, Some("k")), record(1, NOW, None)],
            Codec::Snappy,
        );
        let Err(AppendError::InvalidRecord(errors)) = run(&bytes, &config) else {
            panic!("expected INVALID_RECORD");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].batch_index, 1);
        // A keyless record with a bad timestamp is reported for its key; a keyed one with a bad
        // timestamp makes the whole answer INVALID_TIMESTAMP.
        let bytes = encode(
            &[record(0, NOW + 7_200_000, Some("k")), record(1, NOW, None)],
            Codec::None,
        );
        let Err(AppendError::InvalidTimestamp(errors)) = run(&bytes, &config) else {
            panic!("expected INVALID_TIMESTAMP");
        };
        assert_eq!(errors.len(), 2);
    }
}
