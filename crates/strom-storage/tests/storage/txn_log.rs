//! The log side of transactions and producer state, as Kafka's `UnifiedLog` /
//! `ProducerStateManager` / log cleaner do it: retention and DeleteRecords never take the log start
//! past the high watermark and do not wait for open transactions (the LSO is clamped to the log
//! start, the transaction stays open until its marker); the cleaner drops a marker only once no
//! data of its transaction is left and its KIP-534 delete horizon passed; producer ids expire after
//! `producer.id.expiration.ms` unless a transaction is open.

use strom_storage::batch::{self, BatchHeader, ControlMarker};
use strom_storage::{AppendError, CleanupPolicy, LogConfig, PartitionLog};

use crate::common::*;

const COMMIT: ControlMarker = ControlMarker {
    commit: true,
    coordinator_epoch: 0,
};
const ABORT: ControlMarker = ControlMarker {
    commit: false,
    coordinator_epoch: 0,
};
const DAY_MS: i64 = 86_400_000;

/// Every batch gets its own segment.
fn one_batch_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 1,
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

fn txn(log: &mut PartitionLog, pid: i64, seq: i32, count: usize, tag: &str) -> i64 {
    let b = Spec::new(count, NOW, tag)
        .transactional(pid, 0, seq)
        .encode();
    log.append_as_leader(&b, NOW, 0).unwrap().base_offset
}

fn marker(log: &mut PartitionLog, pid: i64, m: ControlMarker, now_ms: i64) -> i64 {
    log.append_txn_marker(pid, 0, m, 0, now_ms)
        .unwrap()
        .base_offset
}

fn plain(log: &mut PartitionLog, count: usize, tag: &str) {
    log.append(&batch(count, NOW, tag), NOW).unwrap();
}

/// Every stored batch header from log start to log end (compacted logs have gaps).
fn headers(log: &PartitionLog) -> Vec<BatchHeader> {
    let mut out: Vec<BatchHeader> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let before = out.len();
        for item in batch::iter_batches(&data.records) {
            let (h, _) = item.unwrap();
            if h.last_offset() >= offset {
                out.push(h);
            }
        }
        assert!(out.len() > before, "nothing read at {offset}");
        offset = out.last().unwrap().last_offset() + 1;
    }
    out
}

#[test]
fn retention_never_passes_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        ..one_batch_segments()
    };
    let mut log = open(dir.path(), config, true);
    for i in 0..5 {
        log.append(&batch(1, NOW - 100_000, &format!("old{i}")), NOW)
            .unwrap();
    }
    // Everything is past retention, but only segments ending at or below the high watermark go.
    assert_eq!(log.enforce_retention(NOW, 2).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.enforce_retention(NOW, 2).unwrap(), 0);
    // With the high watermark at the log end, the expired active segment is rolled and goes too.
    assert_eq!(log.enforce_retention(NOW, 5).unwrap(), 3);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
}

#[test]
fn size_retention_never_passes_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 0,
        ..one_batch_segments()
    };
    let mut log = open(dir.path(), config, true);
    for i in 0..4 {
        plain(&mut log, 1, &format!("r{i}"));
    }
    assert_eq!(log.enforce_retention(NOW, 1).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 1);
}

#[test]
fn delete_records_past_an_open_transaction_keeps_it_open_and_clamps_the_lso() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), one_batch_segments(), true);
    plain(&mut log, 2, "p"); // 0..1
    let first = txn(&mut log, 7, 0, 2, "open"); // 2..3
    plain(&mut log, 3, "q"); // 4..6
    assert_eq!(first, 2);
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), 2);

    // Kafka lets DeleteRecords (and retention) pass an open transaction's first offset; the LSO
    // then is the log start, never below it.
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.last_stable_offset(end), 5);
    assert_eq!(log.ongoing_transactions(), vec![(2, 7)]);

    // The transaction is still open: its ABORT completes it, indexes it from its first offset, and
    // the LSO moves to the end.
    let m = marker(&mut log, 7, ABORT, NOW);
    assert_eq!(m, 7);
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), end);
    assert!(log.ongoing_transactions().is_empty());
    let aborted = log.aborted_transactions(5, end);
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (7, 2));
    assert_eq!(aborted[0].last_offset, 7);

    // The same after a restart (the open transaction came back from the producer snapshot).
    drop(log);
    let mut log = open(dir.path(), one_batch_segments(), false);
    assert_eq!(log.log_start_offset(), 5);
    assert_eq!(log.last_stable_offset(8), 8);
}

#[test]
fn retention_past_an_open_transaction_clamps_the_lso_and_keeps_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        ..one_batch_segments()
    };
    let mut log = open(dir.path(), config, true);
    let b = Spec::new(1, NOW - 100_000, "open")
        .transactional(3, 0, 0)
        .encode();
    log.append_as_leader(&b, NOW, 0).unwrap(); // 0
    log.append(&batch(1, NOW - 100_000, "old"), NOW).unwrap(); // 1
    log.append(&batch(1, NOW, "new"), NOW).unwrap(); // 2
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), 0);
    assert_eq!(log.enforce_retention(NOW, end).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.last_stable_offset(end), 2);
    assert_eq!(log.ongoing_transactions(), vec![(0, 3)]);
    marker(&mut log, 3, COMMIT, NOW);
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), end);
}

#[test]
fn producer_state_outlives_the_segments_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), one_batch_segments(), true);
    for seq in 0..3 {
        let b = Spec::new(1, NOW, "i").idempotent(9, 0, seq).encode();
        log.append(&b, NOW).unwrap();
    }
    plain(&mut log, 1, "tail");
    log.delete_records_before(3).unwrap();
    assert_eq!(log.log_start_offset(), 3);
    // Kafka keeps producer entries when the log start moves (KIP-360): a gap is still refused and
    // the next sequence accepted.
    let gap = Spec::new(1, NOW, "gap").idempotent(9, 0, 7).encode();
    assert!(matches!(
        log.append(&gap, NOW),
        Err(AppendError::OutOfOrderSequence {
            expected: 3,
            got: 7,
            ..
        })
    ));
    let next = Spec::new(1, NOW, "next").idempotent(9, 0, 3).encode();
    assert!(!log.append(&next, NOW).unwrap().duplicate);
}

#[test]
fn producer_ids_expire_unless_a_transaction_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    let first = Spec::new(2, NOW, "i").idempotent(1, 0, 0).encode();
    log.append(&first, NOW).unwrap();
    txn(&mut log, 2, 0, 1, "open");
    // Producer 3: a committed transaction; its marker's time counts as its last activity.
    txn(&mut log, 3, 0, 1, "done");
    marker(&mut log, 3, COMMIT, NOW + 10_000);

    // Batch timestamps are NOW..NOW+1: not idle long enough yet.
    assert_eq!(log.remove_expired_producers(NOW + DAY_MS - 1, DAY_MS), 0);
    let retry = log.append(&first, NOW + DAY_MS).unwrap();
    assert!(retry.duplicate, "{retry:?}");

    // Producer 1 expires (its last batch's max timestamp is NOW + 1); 2 has an open transaction
    // and 3's marker is newer.
    assert_eq!(log.remove_expired_producers(NOW + 1 + DAY_MS, DAY_MS), 1);
    // Forgotten: the same batch is no duplicate any more.
    let again = log.append(&first, NOW + DAY_MS).unwrap();
    assert!(!again.duplicate);

    // Producer 1 (again at NOW + 1) and producer 3 (marker at NOW + 10 s) expire; afterwards
    // producer 1's next batch may carry any sequence.
    assert_eq!(
        log.remove_expired_producers(NOW + 10_000 + DAY_MS, DAY_MS),
        2
    );
    let gap = Spec::new(1, NOW, "gap").idempotent(1, 0, 40).encode();
    log.append(&gap, NOW + DAY_MS).unwrap();
    // Producer 1 goes again; producer 2 stays however long its transaction is open.
    assert_eq!(log.remove_expired_producers(NOW + 100 * DAY_MS, DAY_MS), 1);
    assert_eq!(log.ongoing_transactions().len(), 1);
    let ooo = Spec::new(1, NOW, "x").transactional(2, 0, 5).encode();
    assert!(matches!(
        log.append_as_leader(&ooo, NOW, 0),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn producer_activity_survives_a_restart_for_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    let b = Spec::new(1, NOW, "i").idempotent(4, 0, 0).encode();
    log.append(&b, NOW).unwrap();
    log.close().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.remove_expired_producers(NOW + DAY_MS - 1, DAY_MS), 0);
    assert_eq!(log.remove_expired_producers(NOW + DAY_MS, DAY_MS), 1);
}

fn compacted(delete_retention_ms: i64) -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms,
        ..one_batch_segments()
    }
}

/// (base offset, is control, delete horizon) of every batch.
fn shape(log: &PartitionLog) -> Vec<(i64, bool, Option<i64>)> {
    headers(log)
        .iter()
        .map(|h| (h.base_offset, h.is_control(), h.delete_horizon_ms()))
        .collect()
}

#[test]
fn markers_go_once_their_data_is_gone_and_the_delete_horizon_passed() {
    let dir = tempfile::tempdir().unwrap();
    let retention = 60_000;
    let mut log = open(dir.path(), compacted(retention), true);
    // Producer 1 commits k0..k1, producer 2 aborts k0..k1, then plain k0..k1 supersede both; both
    // producers later write again, so neither marker is its producer's last batch.
    txn(&mut log, 1, 0, 2, "c"); // 0..1
    marker(&mut log, 1, COMMIT, NOW); // 2
    txn(&mut log, 2, 0, 2, "a"); // 3..4
    marker(&mut log, 2, ABORT, NOW); // 5
    plain(&mut log, 2, "p"); // 6..7
    txn(&mut log, 1, 2, 1, "c2"); // 8
    marker(&mut log, 1, COMMIT, NOW); // 9
    txn(&mut log, 2, 2, 1, "a2"); // 10
    marker(&mut log, 2, COMMIT, NOW); // 11
    plain(&mut log, 1, "tail"); // 12 (active segment after the roll)
    plain(&mut log, 1, "tail2"); // 13

    // Pass 1: the aborted data and the superseded committed data go; their markers stay, since
    // data of their transactions was in this pass.
    let t1 = NOW + 1_000;
    log.compact(t1).unwrap();
    let s = shape(&log);
    assert!(
        s.contains(&(2, true, None)) && s.contains(&(5, true, None)),
        "{s:?}"
    );
    assert!(!s.iter().any(|(o, _, _)| [0, 3, 4].contains(o)), "{s:?}");

    // Pass 2: no data of either transaction is left: both markers get a delete horizon.
    let t2 = NOW + 2_000;
    log.compact(t2).unwrap();
    let s = shape(&log);
    assert!(s.contains(&(2, true, Some(t2 + retention))), "{s:?}");
    assert!(s.contains(&(5, true, Some(t2 + retention))), "{s:?}");

    // Before the horizon they stay; from it on they go.
    log.compact(t2 + retention - 1).unwrap();
    let s = shape(&log);
    assert!(s.iter().any(|(o, _, _)| *o == 2), "{s:?}");
    let end = log.log_end_offset();
    let aborted_pids = |log: &PartitionLog| -> Vec<(i64, i64)> {
        log.aborted_transactions(0, end)
            .iter()
            .map(|t| (t.producer_id, t.last_offset))
            .collect()
    };
    assert_eq!(aborted_pids(&log), vec![(2, 5)]);
    log.compact(t2 + retention).unwrap();
    let s = shape(&log);
    assert!(!s.iter().any(|(o, _, _)| *o == 2 || *o == 5), "{s:?}");
    // The dropped ABORT marker's index entry went with it: a read_committed fetch is not told of
    // an aborted transaction whose marker it would never see.
    assert_eq!(aborted_pids(&log), vec![]);

    // Nothing aborted or superseded is readable, the latest value per key is.
    let mut vals = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let recs = decode(&log.read(offset, 1 << 20, i64::MAX, true).unwrap().records);
        let next = recs.last().map_or(log.log_end_offset(), |r| r.offset + 1);
        vals.extend(
            recs.into_iter()
                .filter(|r| r.offset >= offset && !r.value.starts_with('\0'))
                .map(|r| r.value),
        );
        offset = next;
    }
    assert_eq!(vals, vec!["p-1", "tail2-0"]);
    // 9 and 11 are their producers' last batches (producers still active): kept.
    let s = shape(&log);
    assert!(
        s.contains(&(9, true, None)) && s.contains(&(11, true, None)),
        "{s:?}"
    );
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), end);
}

#[test]
fn a_producers_last_marker_stays_while_the_producer_is_active() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(0), true);
    txn(&mut log, 5, 0, 1, "a"); // 0: k0
    marker(&mut log, 5, ABORT, NOW); // 1: producer 5's last batch
    plain(&mut log, 1, "p"); // 2: k0
    plain(&mut log, 1, "tail"); // 3
    for t in 1..5 {
        log.compact(NOW + t * 1_000).unwrap();
    }
    assert!(shape(&log).contains(&(1, true, None)), "{:?}", shape(&log));
    // Once the producer expired, the marker goes like any other.
    assert_eq!(log.remove_expired_producers(NOW + 2 * DAY_MS, DAY_MS), 1);
    log.compact(NOW + 2 * DAY_MS).unwrap();
    log.compact(NOW + 2 * DAY_MS + 1).unwrap();
    assert!(
        !shape(&log).iter().any(|(o, _, _)| *o == 1),
        "{:?}",
        shape(&log)
    );
}

#[test]
fn a_passed_delete_horizon_runs_the_cleaner_on_a_clean_log() {
    let dir = tempfile::tempdir().unwrap();
    let retention = 5_000;
    let config = LogConfig {
        // Never dirty enough once cleaned: only the delete horizon makes it run again.
        min_cleanable_dirty_ratio: 1.0,
        ..compacted(retention)
    };
    let mut log = open(dir.path(), config, true);
    marker(&mut log, 1, COMMIT, NOW); // 0: a transaction without data in this partition
    txn(&mut log, 1, 0, 1, "c"); // 1
    marker(&mut log, 1, COMMIT, NOW); // 2
    plain(&mut log, 1, "tail"); // 3
    let t1 = NOW + 1_000;
    assert!(!log.compact(t1).unwrap().skipped);
    assert!(shape(&log).contains(&(0, true, Some(t1 + retention))));
    assert!(log.compact(t1 + retention - 1).unwrap().skipped);
    assert!(!log.compact(t1 + retention).unwrap().skipped);
    let s = shape(&log);
    assert!(!s.iter().any(|(o, _, _)| *o == 0), "{s:?}");
    assert!(s.contains(&(2, true, None)), "{s:?}");
}
