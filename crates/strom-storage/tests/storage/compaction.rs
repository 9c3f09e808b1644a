//! Log compaction: which records survive (latest per key, tombstones until `delete.retention.ms`),
//! offsets kept with gaps, compressed batches, the active segment left alone, the skip rules
//! (`min.cleanable.dirty.ratio`, `min.compaction.lag.ms`), keyless records refused, and crash
//! safety of the `.cleaned` / `.swap` files.

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KTimestampType,
};
use strom_storage::batch::{iter_batches, BatchHeader};
use strom_storage::{AppendError, CleanupPolicy, LogConfig, PartitionLog};

use crate::common::*;

const OLD: i64 = NOW - 1_000;

/// One batch of `(key, value)` records (None = null), timestamps `ts`, `ts+1`, ...
fn kv(records: &[(Option<&str>, Option<&str>)], ts: i64, compression: Compression) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: KTimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: ts + i as i64,
            key: k.map(|k| Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            headers: [("h".to_string().into(), Some(Bytes::from(format!("hdr{i}"))))]
                .into_iter()
                .collect(),
        })
        .collect();
    let mut buf = Vec::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf
}

/// `"k=v"` items; `"k="` is a tombstone.
fn parse(items: &str) -> Vec<(Option<&str>, Option<&str>)> {
    items
        .split_whitespace()
        .map(|item| {
            let (k, v) = item.split_once('=').unwrap();
            (Some(k), (!v.is_empty()).then_some(v))
        })
        .collect()
}

fn compact_config() -> LogConfig {
    LogConfig {
        // Every batch gets its own segment (an empty segment never rolls).
        segment_bytes: 1,
        index_interval_bytes: 1,
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 10_000,
        ..LogConfig::default()
    }
}

/// Appends one batch per `&str` (space-separated `k=v` records) with timestamps `ts`.
fn log_with(
    dir: &Path,
    config: LogConfig,
    batches: &[&str],
    ts: i64,
    c: Compression,
) -> PartitionLog {
    let mut log = open(dir, config, false);
    for b in batches {
        log.append(&kv(&parse(b), ts, c), NOW).unwrap();
    }
    log
}

/// The whole log from log start as `offset:key=value` (`key=` for a tombstone), checking that
/// offsets strictly increase and every record header survived.
fn dump(log: &PartitionLog) -> String {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let mut last = -1;
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let mut buf = data.records.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        let records: Vec<Record> = sets
            .into_iter()
            .flat_map(|s| s.records)
            .filter(|r| r.offset >= offset)
            .collect();
        assert!(!records.is_empty(), "empty read at {offset}");
        for r in records {
            assert!(r.offset > last, "offsets go backwards at {}", r.offset);
            assert_eq!(r.headers.len(), 1, "record header lost");
            last = r.offset;
            let s = |b: Option<Bytes>| {
                b.map_or(String::new(), |b| String::from_utf8(b.to_vec()).unwrap())
            };
            out.push(format!("{}:{}={}", r.offset, s(r.key), s(r.value)));
        }
        offset = last + 1;
    }
    out.join(" ")
}

#[test]
fn latest_record_per_key_survives() {
    // (batches, one per segment; the last is the active segment), log after compaction
    let cases: &[(&[&str], &str)] = &[
        (
            &["a=a0", "b=b1", "a=a2", "c=c3", "b=b4", "z=z5"],
            "2:a=a2 3:c=c3 4:b=b4 5:z=z5",
        ),
        // One batch holding several versions is rewritten, offsets kept.
        (
            &["a=a0 b=b1 a=a2 c=c3 b=b4", "z=z5"],
            "2:a=a2 3:c=c3 4:b=b4 5:z=z5",
        ),
        // A key rewritten in the active segment drops the older copies in sealed ones.
        (&["a=a0 b=b1", "a=a2"], "1:b=b1 2:a=a2"),
        // The active segment itself is never cleaned.
        (&["a=a0", "a=a1 a=a2"], "1:a=a1 2:a=a2"),
        // Nothing to drop.
        (&["a=a0", "b=b1", "c=c2"], "0:a=a0 1:b=b1 2:c=c2"),
    ];
    for (batches, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with(
            dir.path(),
            compact_config(),
            batches,
            OLD,
            Compression::None,
        );
        let end = log.log_end_offset();
        let stats = log.compact(NOW).unwrap();
        assert!(!stats.skipped, "{batches:?}");
        assert_eq!(dump(&log), *want, "{batches:?}");
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(log.log_start_offset(), 0);
        // Appends continue after compaction, and the result survives a reopen (clean or not).
        log.append(&kv(&parse("y=y"), NOW, Compression::None), NOW)
            .unwrap();
        let want = format!("{want} {end}:y=y");
        assert_eq!(dump(&log), want);
        drop(log);
        for clean in [false, true] {
            let log = open(dir.path(), compact_config(), clean);
            assert_eq!(dump(&log), want, "reopened, clean={clean}");
        }
    }
}

#[test]
fn tombstones_are_kept_for_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(
        dir.path(),
        compact_config(),
        &["a=a0 b=b1", "a=", "z=z3"],
        OLD,
        Compression::None,
    );
    log.compact(NOW).unwrap();
    assert_eq!(dump(&log), "1:b=b1 2:a= 3:z=z3");
    // delete.retention.ms (10 s) after the tombstone's timestamp it goes too.
    log.compact(OLD + 5_000).unwrap();
    assert_eq!(dump(&log), "1:b=b1 2:a= 3:z=z3");
    log.compact(OLD + 20_000).unwrap();
    assert_eq!(dump(&log), "1:b=b1 3:z=z3");
}

#[test]
fn compressed_batches_survive_compaction() {
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with(
            dir.path(),
            compact_config(),
            &["a=a0 b=b1 a=a2 c=c3", "b=b4"],
            OLD,
            c,
        );
        log.compact(NOW).unwrap();
        assert_eq!(dump(&log), "2:a=a2 3:c=c3 4:b=b4", "{c:?}");
        let data = log.read(0, 1 << 20, i64::MAX, true).unwrap();
        let headers: Vec<BatchHeader> = iter_batches(&data.records).map(|b| b.unwrap().0).collect();
        assert_eq!(headers[0].compression(), c as u8, "{c:?} codec kept");
        assert_eq!(headers[0].base_offset, 2);
        assert_eq!(headers[0].records_count, 2);
        assert_eq!(headers[0].base_timestamp, OLD + 2);
    }
}

#[test]
fn skip_rules() {
    // min.compaction.lag.ms: the records are too new to clean.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_compaction_lag_ms: 60_000,
        ..compact_config()
    };
    let mut log = log_with(
        dir.path(),
        config,
        &["a=a0", "a=a1"],
        OLD,
        Compression::None,
    );
    assert!(log.compact(NOW).unwrap().skipped);
    assert_eq!(dump(&log), "0:a=a0 1:a=a1");
    assert!(!log.compact(NOW + 60_000).unwrap().skipped);
    assert_eq!(dump(&log), "1:a=a1");

    // min.cleanable.dirty.ratio: once cleaned, the log is not dirty enough until more is
    // written.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..compact_config()
    };
    let mut log = log_with(
        dir.path(),
        config.clone(),
        &["a=a0", "b=b1", "a=a2"],
        OLD,
        Compression::None,
    );
    assert_eq!(log.compact(NOW).unwrap().segments_cleaned, 2);
    assert!(log.compact(NOW).unwrap().skipped);
    drop(log);
    // The clean point is persisted in cleaner-offset-checkpoint.
    assert!(files(dir.path()).contains(&"cleaner-offset-checkpoint".to_string()));
    let mut log = open(dir.path(), config, true);
    assert!(log.compact(NOW).unwrap().skipped);
    for b in ["b=b3", "c=c4", "d=d5"] {
        log.append(&kv(&parse(b), OLD, Compression::None), NOW)
            .unwrap();
    }
    assert!(!log.compact(NOW).unwrap().skipped);
    assert_eq!(dump(&log), "2:a=a2 3:b=b3 4:c=c4 5:d=d5");

    // delete policy: compact() does nothing.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..compact_config()
    };
    let mut log = log_with(
        dir.path(),
        config,
        &["a=a0", "a=a1"],
        OLD,
        Compression::None,
    );
    assert_eq!(log.compact(NOW).unwrap().segments_cleaned, 0);
    assert_eq!(dump(&log), "0:a=a0 1:a=a1");
}

#[test]
fn compact_only_logs_skip_retention_and_compact_delete_does_both() {
    let batches = ["a=a0", "a=a1", "b=b2"];
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 100,
        ..compact_config()
    };
    let mut log = log_with(dir.path(), config.clone(), &batches, OLD, Compression::None);
    assert_eq!(log.enforce_retention(NOW, log.log_end_offset()).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);

    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::CompactDelete,
        ..config
    };
    let mut log = log_with(dir.path(), config, &batches, OLD, Compression::None);
    log.compact(NOW - 500).unwrap();
    assert_eq!(dump(&log), "1:a=a1 2:b=b2");
    assert!(log.enforce_retention(NOW, log.log_end_offset()).unwrap() > 0);
    assert_eq!(log.log_start_offset(), 3);
}

#[test]
fn keyless_records_are_refused_by_compacted_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config(), false);
    let keyless = kv(
        &[(Some("a"), Some("1")), (None, Some("2"))],
        NOW,
        Compression::None,
    );
    // INVALID_RECORD naming the keyless record by its index within the batch (KIP-467).
    match log.append(&keyless, NOW) {
        Err(AppendError::InvalidRecord(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].batch_index, 1);
            assert!(errors[0].message.starts_with(
                "Compacted topic cannot accept message without key in topic partition "
            ));
        }
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
    let gz = kv(&[(None, Some("2"))], NOW, Compression::Gzip);
    match log.append(&gz, NOW) {
        Err(AppendError::InvalidRecord(errors)) => assert_eq!(errors[0].batch_index, 0),
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
    assert_eq!(log.log_end_offset(), 0);

    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    log.append(&keyless, NOW).unwrap();
}

/// A crash between writing the cleaned file and committing it leaves the old segment; a crash
/// after the `.swap` rename is completed at open.
#[test]
fn crash_during_swap() {
    let batches = ["a=a0 b=b1", "a=a2", "c=c3"];
    let seg0 = "00000000000000000000.log";

    // The cleaned result, computed in a scratch dir.
    let scratch = tempfile::tempdir().unwrap();
    let mut log = log_with(
        scratch.path(),
        compact_config(),
        &batches,
        OLD,
        Compression::None,
    );
    log.compact(NOW).unwrap();
    let compacted = dump(&log);
    drop(log);
    let cleaned0 = std::fs::read(scratch.path().join(seg0)).unwrap();

    // Unfinished `.cleaned` file: removed, the log is as before.
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(
        dir.path(),
        compact_config(),
        &batches,
        OLD,
        Compression::None,
    );
    let before = dump(&log);
    drop(log);
    std::fs::write(dir.path().join(format!("{seg0}.cleaned")), b"half written").unwrap();
    let log = open(dir.path(), compact_config(), false);
    assert_eq!(dump(&log), before);
    assert!(!files(dir.path()).iter().any(|f| f.ends_with(".cleaned")));
    drop(log);

    // Committed `.swap` file (old indexes still there): the swap is completed.
    std::fs::write(dir.path().join(format!("{seg0}.swap")), &cleaned0).unwrap();
    let log = open(dir.path(), compact_config(), false);
    assert_eq!(dump(&log), compacted);
    assert!(!files(dir.path()).iter().any(|f| f.ends_with(".swap")));
    drop(log);
    let log = open(dir.path(), compact_config(), true);
    assert_eq!(dump(&log), compacted);
}
