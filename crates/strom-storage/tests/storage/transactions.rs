//! Transactions on the partition side: transactional batches open a transaction per producer,
//! COMMIT / ABORT markers end it, the last stable offset stops at the earliest open one, aborted
//! transactions land in the `.txnindex` of the marker's segment; all of it survives a clean
//! restart, a crash (rebuilt from the log), a follower's byte-for-byte copy and truncation.

use std::fs;

use strom_storage::batch::ControlMarker;
use strom_storage::{AbortedTxn, AppendError, LogConfig, PartitionLog};

use crate::common::*;

const COMMIT: ControlMarker = ControlMarker {
    commit: true,
    coordinator_epoch: 0,
};
const ABORT: ControlMarker = ControlMarker {
    commit: false,
    coordinator_epoch: 0,
};

fn txn_batch(log: &mut PartitionLog, pid: i64, epoch: i16, seq: i32, count: usize) -> i64 {
    let b = Spec::new(count, NOW, "t")
        .transactional(pid, epoch, seq)
        .encode();
    log.append_as_leader(&b, NOW, 0).unwrap().base_offset
}

fn marker(log: &mut PartitionLog, pid: i64, epoch: i16, m: ControlMarker) -> i64 {
    log.append_txn_marker(pid, epoch, m, 0, NOW)
        .unwrap()
        .base_offset
}

fn end(log: &PartitionLog) -> i64 {
    log.log_end_offset()
}

#[test]
fn lso_follows_open_transactions_and_aborts_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    log.append(&batch(2, NOW, "plain"), NOW).unwrap(); // 0..1
    assert_eq!(log.last_stable_offset(end(&log)), 2);

    let first1 = txn_batch(&mut log, 1, 0, 0, 3); // 2..4
    let first2 = txn_batch(&mut log, 2, 0, 0, 2); // 5..6
    txn_batch(&mut log, 1, 0, 3, 1); // 7
    assert_eq!((first1, first2), (2, 5));
    assert_eq!(log.last_stable_offset(end(&log)), 2);
    // Bounded by the high watermark the caller passes.
    assert_eq!(log.last_stable_offset(1), 1);
    assert_eq!(log.ongoing_transactions(), vec![(2, 1), (5, 2)]);

    let m1 = marker(&mut log, 1, 0, COMMIT); // 8
    assert_eq!(m1, 8);
    // Until the marker is below the high watermark, the transaction is not stable yet.
    assert_eq!(log.last_stable_offset(8), 2);
    assert_eq!(log.last_stable_offset(9), 5);
    let m2 = marker(&mut log, 2, 0, ABORT); // 9
    assert_eq!(log.last_stable_offset(end(&log)), 10);
    assert!(log.ongoing_transactions().is_empty());

    let aborted = AbortedTxn {
        producer_id: 2,
        first_offset: 5,
        last_offset: m2,
        last_stable_offset: 10,
    };
    assert_eq!(log.aborted_transactions(0, 10), vec![aborted]);
    assert_eq!(log.aborted_transactions(9, 10), vec![aborted]);
    assert!(log.aborted_transactions(10, 20).is_empty());
    assert!(log.aborted_transactions(0, 5).is_empty());

    // An open transaction of another producer is the LSO recorded with an abort.
    txn_batch(&mut log, 3, 0, 0, 1); // 10
    txn_batch(&mut log, 4, 0, 0, 1); // 11
    let m4 = marker(&mut log, 4, 0, ABORT); // 12
    assert_eq!(
        log.aborted_transactions(11, 13).last().copied(),
        Some(AbortedTxn {
            producer_id: 4,
            first_offset: 11,
            last_offset: m4,
            last_stable_offset: 10,
        })
    );

    // A marker of a transaction without data here completes nothing.
    marker(&mut log, 5, 0, ABORT);
    assert_eq!(log.aborted_transactions(0, 100).len(), 2);
    assert_eq!(log.last_stable_offset(end(&log)), 10);
}

#[test]
fn transactional_rules_as_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    txn_batch(&mut log, 1, 3, 0, 2);
    // A plain batch while the producer's transaction is open: INVALID_TXN_STATE.
    let plain = Spec::new(1, NOW, "x").idempotent(1, 3, 2).encode();
    assert!(matches!(
        log.append_as_leader(&plain, NOW, 0),
        Err(AppendError::InvalidTxnState { producer_id: 1 })
    ));
    // Clients may not write control batches.
    let control = strom_storage::batch::encode_control_batch(1, 3, COMMIT, NOW);
    assert!(matches!(
        log.append_as_leader(&control, NOW, 0),
        Err(AppendError::ControlBatchFromClient)
    ));
    // A marker of an older producer epoch is fenced.
    assert!(matches!(
        log.append_txn_marker(1, 2, COMMIT, 0, NOW),
        Err(AppendError::InvalidProducerEpoch { .. })
    ));
    let with_epoch = |coordinator_epoch| ControlMarker {
        commit: true,
        coordinator_epoch,
    };
    log.append_txn_marker(1, 3, with_epoch(5), 0, NOW).unwrap();
    // A marker from an older coordinator is fenced.
    txn_batch(&mut log, 1, 3, 2, 1);
    assert!(matches!(
        log.append_txn_marker(1, 3, with_epoch(4), 0, NOW),
        Err(AppendError::TransactionCoordinatorFenced {
            current: 5,
            got: 4,
            ..
        })
    ));
    // KIP-890 part 2: the marker may carry the bumped epoch; the producer goes on at sequence 0.
    log.append_txn_marker(1, 4, with_epoch(5), 0, NOW).unwrap();
    txn_batch(&mut log, 1, 4, 0, 1);
    assert!(matches!(
        log.append_as_leader(
            &Spec::new(1, NOW, "t").transactional(1, 3, 1).encode(),
            NOW,
            0
        ),
        Err(AppendError::InvalidProducerEpoch { .. })
    ));
    // Retried transactional batches are duplicates as for idempotence.
    let b = Spec::new(1, NOW, "t").transactional(1, 4, 1).encode();
    let first = log.append_as_leader(&b, NOW, 0).unwrap();
    let again = log.append_as_leader(&b, NOW, 0).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.base_offset, first.base_offset);
}

/// Builds a log with a committed, an aborted and an open transaction over several segments.
fn mixed_log(log: &mut PartitionLog) -> (Vec<AbortedTxn>, i64) {
    for round in 0..6 {
        let pid = 10 + round;
        txn_batch(log, pid, 0, 0, 4);
        log.append(&Spec::new(3, NOW, "plain").padded(40).encode(), NOW)
            .unwrap();
        marker(log, pid, 0, if round % 2 == 0 { ABORT } else { COMMIT });
    }
    let open_first = txn_batch(log, 99, 0, 0, 2);
    (log.aborted_transactions(0, i64::MAX), open_first)
}

#[test]
fn index_and_open_transactions_survive_restart_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), true);
    let (aborted, open_first) = mixed_log(&mut log);
    assert_eq!(aborted.len(), 3);
    assert!(log.segment_count() > 2, "spans segments");
    let log_end = end(&log);
    log.close().unwrap();

    let mut log = open(dir.path(), small_config(), true);
    assert_eq!(log.aborted_transactions(0, i64::MAX), aborted);
    assert_eq!(log.last_stable_offset(log_end), open_first);
    // Each abort sits in the index of the segment holding its marker.
    let files: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.ends_with(".txnindex").then_some(n)
        })
        .collect();
    assert!(!files.is_empty());

    // A crash that lost every index file: reopening rebuilds them from the log.
    drop(log);
    for f in &files {
        fs::remove_file(dir.path().join(f)).unwrap();
    }
    for e in fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snapshot") {
            fs::remove_file(p).unwrap();
        }
    }
    let mut log = open(dir.path(), small_config(), false);
    assert_eq!(log.aborted_transactions(0, i64::MAX), aborted);
    assert_eq!(log.last_stable_offset(log_end), open_first);
    // Nothing is counted twice on another reopen.
    log.close().unwrap();
    let log = open(dir.path(), small_config(), false);
    assert_eq!(log.aborted_transactions(0, i64::MAX), aborted);
}

#[test]
fn follower_copy_and_truncation() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_config(), true);
    let (aborted, open_first) = mixed_log(&mut leader);
    let log_end = end(&leader);
    let data = leader.read(0, usize::MAX, log_end, true).unwrap();

    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path(), small_config(), true);
    let mut offset = 0;
    while offset < log_end {
        let chunk = leader.read(offset, 4096, log_end, true).unwrap();
        let info = follower.append_replicated(&chunk.records, NOW).unwrap();
        offset = info.last_offset + 1;
    }
    assert!(!data.records.is_empty());
    assert_eq!(follower.aborted_transactions(0, i64::MAX), aborted);
    assert_eq!(follower.last_stable_offset(log_end), open_first);

    // Truncating below the last abort's marker drops it and reopens that transaction.
    let last = *aborted.last().unwrap();
    follower.truncate_to(last.last_offset).unwrap();
    assert_eq!(
        follower.aborted_transactions(0, i64::MAX),
        aborted[..aborted.len() - 1].to_vec()
    );
    assert_eq!(
        follower.last_stable_offset(end(&follower)),
        last.first_offset
    );
    follower.truncate_fully_and_start_at(5).unwrap();
    assert!(follower.aborted_transactions(0, i64::MAX).is_empty());
    assert_eq!(follower.last_stable_offset(5), 5);
}

#[test]
fn compaction_removes_aborted_and_keeps_open_transactions_and_markers() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        // Every batch gets its own segment.
        segment_bytes: 1,
        index_interval_bytes: 1,
        cleanup_policy: strom_storage::CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, true);
    // Keys k0, k1 in each two-record batch.
    let txn2 = |log: &mut PartitionLog, pid: i64, tag: &str| {
        let b = Spec::new(2, NOW, tag).transactional(pid, 0, 0).encode();
        log.append_as_leader(&b, NOW, 0).unwrap();
    };
    txn2(&mut log, 1, "c1"); // 0..1
    marker(&mut log, 1, 0, COMMIT); // 2
    txn2(&mut log, 2, "ab"); // 3..4
    marker(&mut log, 2, 0, ABORT); // 5
    log.append(&Spec::new(1, NOW, "p").encode(), NOW).unwrap(); // 6: k0
    txn2(&mut log, 3, "op"); // 7..8, left open
    log.append(&Spec::new(1, NOW, "tail").encode(), NOW)
        .unwrap(); // 9: k0
    let stats = log.compact(NOW + 1_000).unwrap();
    assert!(stats.segments_cleaned > 0, "{stats:?}");
    // Compaction leaves gaps: read batch by batch.
    let mut all = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < end(&log) {
        let got = decode(&log.read(offset, 1 << 20, i64::MAX, true).unwrap().records);
        all.extend(got.into_iter().filter(|r| r.offset >= offset));
        offset = all.last().map_or(end(&log), |r| r.offset + 1);
    }
    let data: Vec<(i64, String)> = all
        .iter()
        .filter(|r| !r.value.starts_with('\0'))
        .map(|r| (r.offset, r.value.clone()))
        .collect();
    // The aborted values never shadowed c1's k1, the open transaction neither and it is not cleaned;
    // k0's latest is the tail.
    assert_eq!(
        data,
        vec![
            (1, "c1-1".to_string()),
            (7, "op-0".to_string()),
            (8, "op-1".to_string()),
            (9, "tail-0".to_string())
        ]
    );
    // Both markers stay, and the open transaction still holds the LSO.
    let markers = all.iter().filter(|r| r.value.starts_with('\0')).count();
    assert_eq!(markers, 2);
    assert_eq!(log.last_stable_offset(end(&log)), 7);
}
