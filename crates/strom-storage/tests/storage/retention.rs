//! Time and size retention, DeleteRecords (persisted log start), a log whose segments are all
//! deleted, and the flush policy's effect on the recovery point.

use strom_storage::{LogConfig, PartitionLog, ReadError};

use crate::common::*;

const OLD: i64 = NOW - 100_000;

/// Batches of ~400 bytes, so a 1024-byte segment holds exactly two.
fn big(ts: i64, tag: &str) -> Vec<u8> {
    Spec::new(1, ts, tag).padded(380).encode()
}

fn config(retention_ms: i64, retention_bytes: i64) -> LogConfig {
    LogConfig {
        retention_ms,
        retention_bytes,
        ..small_config()
    }
}

/// Appends batches with the given timestamps (one record each).
fn log_with(dir: &std::path::Path, config: LogConfig, ts: &[i64]) -> PartitionLog {
    let mut log = open(dir, config, false);
    for (i, t) in ts.iter().enumerate() {
        log.append(&big(*t, &format!("r{i}")), NOW).unwrap();
    }
    log
}

#[test]
fn time_retention() {
    // (batch timestamps, summary after retention, segments deleted)
    let cases: &[(&[i64], &str, usize)] = &[
        (&[NOW; 6], "start=0 end=6 segments=3", 0),
        (
            &[OLD, OLD, OLD, OLD, OLD, NOW, NOW],
            "start=4 end=7 segments=2",
            2,
        ),
        (&[OLD, NOW, OLD, OLD, OLD], "start=0 end=5 segments=3", 0),
        // Entirely expired, active segment included: rolled and deleted, log end kept.
        (&[OLD, OLD, OLD], "start=3 end=3 segments=1", 2),
        (&[OLD], "start=1 end=1 segments=1", 1),
    ];
    for (ts, want, deleted) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with(dir.path(), config(1000, -1), ts);
        assert_eq!(
            log.enforce_retention(NOW, log.log_end_offset()).unwrap(),
            *deleted,
            "{ts:?}"
        );
        assert_eq!(summary(&log), *want, "{ts:?}");
        // Reads below the new start are out of range; the rest is intact.
        if log.log_start_offset() > 0 {
            assert!(matches!(
                log.read(0, 100, i64::MAX, true),
                Err(ReadError::OffsetOutOfRange { .. })
            ));
        }
        let start = log.log_start_offset() as usize;
        let want_values: Vec<String> = (start..ts.len()).map(|i| format!("r{i}-0")).collect();
        let got: Vec<String> = values(&log)
            .into_iter()
            .map(|v| v.trim_end_matches('.').to_string())
            .collect();
        assert_eq!(got, want_values);
        // Survives reopening, and appends continue at log end.
        log.close().unwrap();
        let mut log = open(dir.path(), config(1000, -1), true);
        assert_eq!(summary(&log), *want, "{ts:?} after reopen");
        assert_eq!(
            log.append(&big(NOW, "n"), NOW).unwrap().base_offset,
            ts.len() as i64
        );
    }
}

#[test]
fn unlimited_time_retention_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), config(-1, -1), &[0, 0, 0, 0, 0]);
    assert_eq!(log.enforce_retention(NOW, log.log_end_offset()).unwrap(), 0);
    assert_eq!(summary(&log), "start=0 end=5 segments=3");
}

#[test]
fn size_retention() {
    let batch_len = big(NOW, "r0").len() as i64;
    let segment = 2 * batch_len;
    // 7 batches: segments [0,1] [2,3] [4,5] [6] (active)
    let cases: &[(i64, &str)] = &[
        (-1, "start=0 end=7 segments=4"),
        (100 * segment, "start=0 end=7 segments=4"),
        // A segment goes only if what remains is still at least retention.bytes (Kafka).
        (5 * batch_len + 1, "start=0 end=7 segments=4"),
        (5 * batch_len, "start=2 end=7 segments=3"),
        (segment, "start=4 end=7 segments=2"),
        (batch_len, "start=6 end=7 segments=1"),
        (0, "start=6 end=7 segments=1"), // never the active segment
    ];
    for (bytes, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with(dir.path(), config(-1, *bytes), &[NOW; 7]);
        assert_eq!(log.size_bytes() as i64, 7 * batch_len);
        log.enforce_retention(NOW, log.log_end_offset()).unwrap();
        assert_eq!(summary(&log), *want, "retention.bytes {bytes}");
    }
}

#[test]
fn delete_records_before_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), config(-1, -1), &[NOW; 7]);
    // (requested, new log start, summary)
    let steps: &[(i64, i64, &str)] = &[
        (0, 0, "start=0 end=7 segments=4"),
        (1, 1, "start=1 end=7 segments=4"),
        (3, 3, "start=3 end=7 segments=3"),
        (2, 3, "start=3 end=7 segments=3"), // never moves back
        (6, 6, "start=6 end=7 segments=1"),
    ];
    for (offset, start, want) in steps {
        assert_eq!(log.delete_records_before(*offset).unwrap(), *start);
        assert_eq!(summary(&log), *want, "delete before {offset}");
    }
    drop(log);
    for clean in [false, true] {
        let log = open(dir.path(), config(-1, -1), clean);
        assert_eq!(summary(&log), "start=6 end=7 segments=1");
        assert!(matches!(
            log.read(5, 100, i64::MAX, true),
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        log.close().unwrap();
    }
}

#[test]
fn deleting_everything_keeps_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), config(-1, -1), &[NOW; 3]);
    assert_eq!(log.delete_records_before(1000).unwrap(), 3);
    assert_eq!(summary(&log), "start=3 end=3 segments=1");
    assert_eq!(log.size_bytes(), 0);
    assert!(log.read(3, 100, i64::MAX, true).unwrap().records.is_empty());
    drop(log);
    let mut log = open(dir.path(), config(-1, -1), false);
    assert_eq!(summary(&log), "start=3 end=3 segments=1");
    assert_eq!(log.append(&big(NOW, "x"), NOW).unwrap().base_offset, 3);
    let names = files(dir.path());
    assert!(
        names.contains(&"00000000000000000003.log".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"00000000000000000000.log".to_string()),
        "{names:?}"
    );
}

fn recovery_point(dir: &std::path::Path) -> Option<i64> {
    std::fs::read_to_string(dir.join("recovery-point"))
        .ok()
        .map(|s| s.trim().parse().unwrap())
}

#[test]
fn flush_policy_moves_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 3,
        flush_ms: 10_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    log.append(&batch(2, NOW, "a"), NOW).unwrap();
    assert_eq!(recovery_point(dir.path()), Some(0));
    log.append(&batch(1, NOW, "b"), NOW).unwrap();
    assert_eq!(
        recovery_point(dir.path()),
        Some(3),
        "flush.messages reached"
    );
    log.append(&batch(1, NOW, "c"), NOW + 1).unwrap();
    log.maybe_flush(NOW + 5_000).unwrap();
    assert_eq!(recovery_point(dir.path()), Some(3));
    log.maybe_flush(NOW + 10_000).unwrap();
    assert_eq!(recovery_point(dir.path()), Some(4), "flush.ms reached");
    log.append(&batch(1, NOW, "d"), NOW + 10_001).unwrap();
    log.flush().unwrap();
    assert_eq!(recovery_point(dir.path()), Some(5));
}
