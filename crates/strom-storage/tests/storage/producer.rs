//! Idempotent producers: duplicates, sequence gaps, fencing, and state that survives clean and
//! unclean restarts (snapshots + replay of batch headers).

use strom_storage::{AppendError, AppendInfo, PartitionLog};

use crate::common::*;

fn idem(
    log: &mut PartitionLog,
    pid: i64,
    epoch: i16,
    seq: i32,
    count: usize,
) -> Result<AppendInfo, AppendError> {
    let b = Spec::new(count, NOW, &format!("p{pid}e{epoch}s{seq}"))
        .idempotent(pid, epoch, seq)
        .encode();
    log.append(&b, NOW)
}

fn outcome(r: Result<AppendInfo, AppendError>) -> String {
    match r {
        Ok(i) if i.duplicate => format!("dup {}..{}", i.base_offset, i.last_offset),
        Ok(i) => format!("ok {}..{}", i.base_offset, i.last_offset),
        Err(AppendError::OutOfOrderSequence {
            producer_id,
            expected,
            got,
        }) => {
            format!("out-of-order pid={producer_id} expected={expected} got={got}")
        }
        Err(AppendError::InvalidProducerEpoch {
            producer_id,
            current,
            got,
        }) => {
            format!("fenced pid={producer_id} current={current} got={got}")
        }
        Err(e) => format!("error {e}"),
    }
}

/// Runs (pid, epoch, seq, count) appends and returns one outcome line per append.
fn run(log: &mut PartitionLog, steps: &[(i64, i16, i32, usize)]) -> Vec<String> {
    steps
        .iter()
        .map(|&(pid, epoch, seq, count)| outcome(idem(log, pid, epoch, seq, count)))
        .collect()
}

#[test]
fn sequence_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    let got = run(
        &mut log,
        &[
            (7, 0, 0, 3),
            (7, 0, 3, 2),
            (7, 0, 0, 3), // retry of the first batch
            (7, 0, 3, 2), // retry of the second
            (8, 0, 0, 1), // another producer interleaves
            (7, 0, 6, 1), // gap
            (7, 0, 4, 1), // overlap that is not a cached batch
            (7, 0, 5, 1),
            (7, 1, 3, 1), // new epoch must start at 0
            (7, 1, 0, 2),
            (7, 0, 6, 1), // fenced
            (7, 1, 2, 1),
            (9, 4, 77, 1), // unknown producer: any sequence
        ],
    );
    assert_eq!(
        got,
        [
            "ok 0..2",
            "ok 3..4",
            "dup 0..2",
            "dup 3..4",
            "ok 5..5",
            "out-of-order pid=7 expected=5 got=6",
            "out-of-order pid=7 expected=5 got=4",
            "ok 6..6",
            "out-of-order pid=7 expected=0 got=3",
            "ok 7..8",
            "fenced pid=7 current=1 got=0",
            "ok 9..9",
            "ok 10..10",
        ]
    );
    assert_eq!(log.log_end_offset(), 11);
}

#[test]
fn duplicate_in_multi_batch_call_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    let b0 = Spec::new(2, NOW, "a").idempotent(1, 0, 0).encode();
    let b1 = Spec::new(2, NOW, "b").idempotent(1, 0, 2).encode();
    log.append(&b0, NOW).unwrap();
    let info = log.append(&[b1.clone(), b0].concat(), NOW).unwrap();
    assert!(info.duplicate);
    assert_eq!(
        (info.base_offset, info.last_offset, info.records),
        (0, 1, 0)
    );
    assert_eq!(log.log_end_offset(), 2);
    // The staged b1 was discarded with the call, so b1 alone is still in sequence.
    assert_eq!(outcome(log.append(&b1, NOW)), "ok 2..3");
}

const HISTORY: &[(i64, i16, i32, usize)] = &[
    (1, 0, 0, 3),
    (2, 5, 10, 2),
    (1, 0, 3, 3),
    (1, 0, 6, 3),
    (2, 5, 12, 1),
    (1, 0, 9, 3),
    (1, 0, 12, 3),
    (1, 0, 15, 3),
];

fn after_restart(log: &mut PartitionLog) -> Vec<String> {
    run(
        log,
        &[
            (1, 0, 15, 3), // cached duplicate
            (1, 0, 9, 3),  // older cached duplicate
            (1, 0, 19, 1), // gap
            (2, 4, 13, 1), // fenced
            (2, 5, 12, 1), // duplicate
            (1, 0, 18, 1),
            (2, 5, 13, 1),
        ],
    )
}

const AFTER_RESTART: &[&str] = &[
    "dup 18..20",
    "dup 12..14",
    "out-of-order pid=1 expected=18 got=19",
    "fenced pid=2 current=5 got=4",
    "dup 11..11",
    "ok 21..21",
    "ok 22..22",
];

#[test]
fn producer_state_survives_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = strom_storage::LogConfig {
        segment_bytes: 300,
        ..small_config()
    };
    let mut log = open(dir.path(), config.clone(), false);
    run(&mut log, HISTORY);
    assert!(log.segment_count() > 1);
    log.close().unwrap();
    let mut log = open(dir.path(), config, true);
    assert_eq!(after_restart(&mut log), AFTER_RESTART);
}

#[test]
fn producer_state_survives_unclean_restart() {
    for segment_bytes in [1 << 20, 1024, 200] {
        let dir = tempfile::tempdir().unwrap();
        let config = strom_storage::LogConfig {
            segment_bytes,
            ..small_config()
        };
        let mut log = open(dir.path(), config.clone(), false);
        run(&mut log, HISTORY);
        drop(log); // crash: no close, no final snapshot
        let mut log = open(dir.path(), config.clone(), false);
        assert_eq!(
            after_restart(&mut log),
            AFTER_RESTART,
            "segment_bytes {segment_bytes}"
        );
        // And once more, from a snapshot taken after the restart plus replay.
        drop(log);
        let mut log = open(dir.path(), config, false);
        assert_eq!(outcome(idem(&mut log, 1, 0, 19, 1)), "ok 23..23");
    }
}

#[test]
fn producer_state_rebuilt_without_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    run(&mut log, HISTORY);
    log.close().unwrap();
    for f in files(dir.path()) {
        if f.ends_with(".snapshot") {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
    }
    let mut log = open(dir.path(), small_config(), true);
    assert_eq!(after_restart(&mut log), AFTER_RESTART);
}
