//! ListOffsets by timestamp and MAX_TIMESTAMP against a brute-force model of the appended batches,
//! before and after reopening (indexes loaded from disk or rebuilt).

use kafka_protocol::records::Compression;
use strom_storage::{LogConfig, PartitionLog, TimestampOffset, TimestampType};

use crate::common::*;

/// (base offset, record timestamps, compressed)
type Model = Vec<(i64, Vec<i64>, bool)>;

fn oracle(model: &Model, target: i64) -> Option<TimestampOffset> {
    for (base, ts, compressed) in model {
        let max = *ts.iter().max().unwrap();
        if max < target {
            continue;
        }
        if *compressed {
            return Some(TimestampOffset {
                timestamp: max,
                offset: *base,
            });
        }
        let i = ts.iter().position(|t| *t >= target).unwrap();
        return Some(TimestampOffset {
            timestamp: ts[i],
            offset: base + i as i64,
        });
    }
    None
}

fn oracle_max(model: &Model) -> Option<TimestampOffset> {
    let mut best: Option<TimestampOffset> = None;
    for (base, ts, _) in model {
        let max = *ts.iter().max().unwrap();
        if best.is_none_or(|b| max > b.timestamp) {
            // Kafka 3.8+: the first record carrying the max, not the batch's last offset.
            let at = ts.iter().position(|t| *t == max).unwrap();
            best = Some(TimestampOffset {
                timestamp: max,
                offset: base + at as i64,
            });
        }
    }
    best
}

fn build(dir: &std::path::Path) -> (PartitionLog, Model) {
    let mut log = open(dir, small_config(), false);
    let mut model = Model::new();
    let mut seed: u64 = 7;
    for i in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let count = 1 + (seed >> 60) as usize % 4;
        // Mostly rising timestamps with some stragglers from the past.
        let ts = if i % 7 == 3 {
            1000 + (seed >> 40) as i64 % 500
        } else {
            1000 + i * 20
        };
        let compressed = i % 5 == 4;
        let mut spec = Spec::new(count, ts, &format!("b{i}"));
        if compressed {
            spec = spec.compressed(Compression::Snappy);
        }
        let info = log.append(&spec.encode(), NOW).unwrap();
        model.push((
            info.base_offset,
            (0..count as i64).map(|j| ts + j).collect(),
            compressed,
        ));
    }
    assert!(log.segment_count() > 3);
    (log, model)
}

fn check(log: &PartitionLog, model: &Model) {
    for target in (900..2300)
        .step_by(7)
        .chain([i64::MIN, 0, 1000, 2180, 2181, i64::MAX])
    {
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            oracle(model, target),
            "ts {target}"
        );
    }
    assert_eq!(log.max_timestamp().unwrap(), oracle_max(model));
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = build(dir.path());
    check(&log, &model);
    log.close().unwrap();
    let log = open(dir.path(), small_config(), true);
    check(&log, &model);
    drop(log);
    let log = open(dir.path(), small_config(), false);
    check(&log, &model);
    drop(log);
    // Without index files the indexes are rebuilt from the log.
    for f in files(dir.path()) {
        if f.ends_with("index") {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
    }
    let log = open(dir.path(), small_config(), true);
    check(&log, &model);
}

#[test]
fn offset_for_timestamp_respects_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    log.append(&batch(5, 100, "a"), NOW).unwrap();
    log.append(&batch(5, 200, "b"), NOW).unwrap();
    log.delete_records_before(2).unwrap();
    assert_eq!(
        log.offset_for_timestamp(0).unwrap(),
        Some(TimestampOffset {
            timestamp: 102,
            offset: 2
        })
    );
    assert_eq!(
        log.offset_for_timestamp(150).unwrap(),
        Some(TimestampOffset {
            timestamp: 200,
            offset: 5
        })
    );
    assert_eq!(log.offset_for_timestamp(205).unwrap(), None);
}

#[test]
fn empty_log_and_log_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    log.append(&batch(3, 5, "a"), 1000).unwrap();
    log.append(&batch(3, 5, "b"), 2000).unwrap();
    assert_eq!(
        log.offset_for_timestamp(1500).unwrap(),
        Some(TimestampOffset {
            timestamp: 2000,
            offset: 3
        })
    );
    assert_eq!(
        log.max_timestamp().unwrap(),
        // LogAppendTime: every record carries the batch's timestamp, so the batch's first record.
        Some(TimestampOffset {
            timestamp: 2000,
            offset: 3
        })
    );
}
