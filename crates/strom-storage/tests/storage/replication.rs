//! Replication storage: leader epoch stamping, the leader epoch cache and its checkpoint file,
//! byte-for-byte follower appends, producer state carried to a new leader, and truncation.

use std::fs;
use std::path::Path;

use strom_storage::batch::{self, iter_batches};
use strom_storage::{AppendError, LogConfig, PartitionLog, StorageError, TimestampType};

use crate::common::*;

const EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// Every stored byte of the log, from log start, read back through the fetch path.
fn all_bytes(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        assert!(!data.records.is_empty(), "empty read at {offset}");
        for item in iter_batches(&data.records) {
            let (h, _) = item.unwrap();
            offset = h.last_offset() + 1;
        }
        out.extend_from_slice(&data.records);
    }
    out
}

/// (base offset, partition leader epoch, CRC ok) of every stored batch.
fn headers(log: &PartitionLog) -> Vec<(i64, i32, bool)> {
    let bytes = all_bytes(log);
    iter_batches(&bytes)
        .map(|item| {
            let (h, b) = item.unwrap();
            (
                h.base_offset,
                h.partition_leader_epoch,
                batch::verify_crc(b),
            )
        })
        .collect()
}

/// A leader log with batches of 3 records appended at epochs 0, 0, 2, 5 (offsets 0, 3, 6, 9).
fn leader_with_epochs(dir: &Path, config: LogConfig) -> PartitionLog {
    let mut log = open(dir, config, false);
    for (i, epoch) in [0, 0, 2, 5].into_iter().enumerate() {
        log.append_as_leader(&batch(3, NOW + i as i64, &format!("e{epoch}")), NOW, epoch)
            .unwrap();
    }
    log
}

fn epoch_file(dir: &Path) -> String {
    fs::read_to_string(dir.join(EPOCH_FILE)).unwrap()
}

/// Feeds `follower` everything `leader` has beyond the follower's log end, one leader batch per
/// `append_replicated` (so both make the same roll decisions).
fn replicate(leader: &PartitionLog, follower: &mut PartitionLog) {
    while follower.log_end_offset() < leader.log_end_offset() {
        let data = leader
            .read(follower.log_end_offset(), 1, i64::MAX, true)
            .unwrap();
        follower.append_replicated(&data.records, NOW).unwrap();
    }
}

#[test]
fn leader_append_stamps_epoch_outside_the_crc() {
    for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            message_timestamp_type: timestamp_type,
            ..small_config()
        };
        let mut log = open(dir.path(), config, false);
        let mut two = batch(2, NOW, "a");
        two.extend(batch(3, NOW, "b"));
        let info = log.append_as_leader(&two, NOW + 5, 7).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (0, 4));
        log.append(&batch(1, NOW, "plain"), NOW).unwrap();
        // The encoder writes epoch 0; plain `append` keeps it.
        assert_eq!(
            headers(&log),
            [(0, 7, true), (2, 7, true), (5, 0, true)],
            "{timestamp_type:?}"
        );
        assert_eq!(values(&log), ["a-0", "a-1", "b-0", "b-1", "b-2", "plain-0"]);
        assert_eq!(
            log.epoch_entries(),
            [(7, 0)],
            "plain append leaves the cache"
        );
    }
}

#[test]
fn epoch_cache_after_leader_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_with_epochs(dir.path(), small_config());
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9)]);
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(epoch_file(dir.path()), "0\n3\n0 0\n2 6\n5 9\n");
    let got: Vec<(i32, (i32, i64))> = [-1, 0, 1, 2, 3, 4, 5, 6]
        .into_iter()
        .map(|e| (e, log.end_offset_for_epoch(e)))
        .collect();
    assert_eq!(
        got,
        [
            (-1, (-1, -1)),
            (0, (0, 6)),
            (1, (0, 6)),
            (2, (2, 9)),
            (3, (2, 9)),
            (4, (2, 9)),
            (5, (5, 12)),
            (6, (-1, -1)),
        ]
    );

    let empty_dir = tempfile::tempdir().unwrap();
    let empty = open(empty_dir.path(), small_config(), false);
    assert_eq!(empty.latest_epoch(), None);
    assert_eq!(empty.end_offset_for_epoch(0), (-1, -1));
    assert!(!empty_dir.path().join(EPOCH_FILE).exists());
}

#[test]
fn stale_epoch_is_stamped_but_not_cached_and_assign_marks_new_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_with_epochs(dir.path(), small_config());
    log.append_as_leader(&batch(1, NOW, "old"), NOW, 3).unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9)]);
    assert_eq!(headers(&log).last(), Some(&(12, 3, true)));
    // A new leader marks its epoch at the log end before appending (KIP-279).
    assert!(log.assign_leader_epoch(8).unwrap());
    assert!(!log.assign_leader_epoch(8).unwrap());
    assert_eq!(log.end_offset_for_epoch(5), (5, 13));
    assert_eq!(log.end_offset_for_epoch(6), (5, 13));
    log.append_as_leader(&batch(1, NOW, "new"), NOW, 8).unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9), (8, 13)]);
}

#[test]
fn duplicate_leader_append_leaves_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    let b = Spec::new(2, NOW, "x").idempotent(7, 0, 0).encode();
    log.append_as_leader(&b, NOW, 1).unwrap();
    let retry = log.append_as_leader(&b, NOW, 3).unwrap();
    assert!(retry.duplicate);
    assert_eq!(log.epoch_entries(), [(1, 0)]);
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn epoch_cache_survives_reopen_and_is_rebuilt() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        leader_with_epochs(dir.path(), small_config())
            .close()
            .unwrap();
        let log = open(dir.path(), small_config(), clean);
        assert_eq!(
            log.epoch_entries(),
            [(0, 0), (2, 6), (5, 9)],
            "clean={clean}"
        );
        drop(log);

        fs::remove_file(dir.path().join(EPOCH_FILE)).unwrap();
        let log = open(dir.path(), small_config(), clean);
        assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9)], "rebuilt");
        assert_eq!(epoch_file(dir.path()), "0\n3\n0 0\n2 6\n5 9\n");
        drop(log);

        fs::write(dir.path().join(EPOCH_FILE), "0\n7\ngarbage").unwrap();
        let log = open(dir.path(), small_config(), clean);
        assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9)], "corrupt");
        assert_eq!(epoch_file(dir.path()), "0\n3\n0 0\n2 6\n5 9\n");
    }
}

#[test]
fn unclean_reopen_drops_epochs_of_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_with_epochs(dir.path(), LogConfig::default());
    drop(log);
    // Tear the last batch (epoch 5, offsets 9..11).
    let seg = dir.path().join(format!("{:020}.log", 0));
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 6)]);
    assert_eq!(epoch_file(dir.path()), "0\n2\n0 0\n2 6\n");
}

#[test]
fn unclean_reopen_adds_epochs_the_file_missed() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_with_epochs(dir.path(), LogConfig::default());
    drop(log);
    // As if the process died after writing data whose epoch entry never reached the file.
    fs::write(dir.path().join(EPOCH_FILE), "0\n1\n0 0\n").unwrap();
    let log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 6), (5, 9)]);
}

#[test]
fn log_start_moves_trim_the_epoch_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_with_epochs(dir.path(), small_config());
    log.delete_records_before(7).unwrap();
    assert_eq!(log.epoch_entries(), [(2, 7), (5, 9)]);
    assert_eq!(log.end_offset_for_epoch(1), (1, 7));
    drop(log);
    let log = open(dir.path(), small_config(), true);
    assert_eq!(log.epoch_entries(), [(2, 7), (5, 9)]);
}

#[test]
fn replicated_append_keeps_bytes_and_checks_offsets() {
    let leader_dir = tempfile::tempdir().unwrap();
    let leader = leader_with_epochs(leader_dir.path(), LogConfig::default());
    let bytes = all_bytes(&leader);

    let dir = tempfile::tempdir().unwrap();
    let mut follower = open(dir.path(), LogConfig::default(), false);
    let empty = follower.append_replicated(&[], NOW).unwrap();
    assert_eq!(
        (empty.base_offset, empty.last_offset, empty.records),
        (0, -1, 0)
    );

    // The second half first: a gap.
    let (first_half, second_half) = {
        let mut it = iter_batches(&bytes);
        let a = it.next().unwrap().unwrap().1.len() + it.next().unwrap().unwrap().1.len();
        bytes.split_at(a)
    };
    assert!(matches!(
        follower.append_replicated(second_half, NOW),
        Err(AppendError::OffsetMismatch {
            expected: 0,
            actual: 6
        })
    ));
    let info = follower.append_replicated(first_half, NOW).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.records),
        (0, 5, 6)
    );
    // Overlap.
    assert!(matches!(
        follower.append_replicated(first_half, NOW),
        Err(AppendError::OffsetMismatch {
            expected: 6,
            actual: 0
        })
    ));
    // Corrupt CRC.
    let mut bad = second_half.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        follower.append_replicated(&bad, NOW),
        Err(AppendError::CorruptMessage(_))
    ));
    // A gap between batches of one call.
    let mut gappy = second_half.to_vec();
    let second = iter_batches(second_half).next().unwrap().unwrap().1.len();
    gappy[second..second + 8].copy_from_slice(&10i64.to_be_bytes());
    assert!(matches!(
        follower.append_replicated(&gappy, NOW),
        Err(AppendError::OffsetMismatch {
            expected: 9,
            actual: 10
        })
    ));
    assert_eq!(follower.log_end_offset(), 6);

    follower.append_replicated(second_half, NOW).unwrap();
    assert_eq!(all_bytes(&follower), bytes);
    assert_eq!(follower.epoch_entries(), [(0, 0), (2, 6), (5, 9)]);
    assert_eq!(epoch_file(dir.path()), epoch_file(leader_dir.path()));
}

#[test]
fn replicated_append_ignores_producer_limits() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default(), false);
    leader
        .append_as_leader(&Spec::new(20, NOW, "big").padded(100).encode(), NOW, 0)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 100,
        ..LogConfig::default()
    };
    let mut follower = open(dir.path(), config, false);
    follower
        .append_replicated(&all_bytes(&leader), NOW)
        .unwrap();
    assert_eq!(follower.log_end_offset(), 20);
}

#[test]
fn follower_segment_files_are_byte_identical() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_config(), false);
    let mut follower = open(follower_dir.path(), small_config(), false);
    for i in 0..40 {
        let spec = if i % 3 == 0 {
            Spec::new(2, NOW + i, &format!("i{i}")).idempotent(9, 0, (i / 3 * 2) as i32)
        } else {
            Spec::new(1 + i as usize % 4, NOW + i, &format!("n{i}")).padded(20)
        };
        leader
            .append_as_leader(&spec.encode(), NOW, (i / 10) as i32 * 2)
            .unwrap();
        if i % 7 == 0 {
            replicate(&leader, &mut follower);
        }
    }
    replicate(&leader, &mut follower);
    assert!(leader.segment_count() > 3, "{}", summary(&leader));
    assert_eq!(summary(&follower), summary(&leader));
    assert_eq!(follower.epoch_entries(), leader.epoch_entries());
    leader.close().unwrap();
    follower.close().unwrap();
    let names = files(leader_dir.path());
    assert_eq!(files(follower_dir.path()), names);
    for name in names {
        assert_eq!(
            fs::read(follower_dir.path().join(&name)).unwrap(),
            fs::read(leader_dir.path().join(&name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn follower_that_becomes_leader_keeps_producer_state() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_config(), false);
    let batches: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            Spec::new(2, NOW, &format!("s{i}"))
                .idempotent(7, 0, i * 2)
                .encode()
        })
        .collect();
    for b in &batches {
        leader.append_as_leader(b, NOW, 0).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut follower = open(dir.path(), small_config(), false);
    follower
        .append_replicated(&all_bytes(&leader), NOW)
        .unwrap();

    for reopen in [false, true] {
        if reopen {
            follower.close().unwrap();
            follower = open(dir.path(), small_config(), true);
        }
        // The producer retries its last batch against the new leader.
        let dup = follower.append_as_leader(&batches[2], NOW, 1).unwrap();
        assert!(dup.duplicate, "reopen={reopen}");
        assert_eq!((dup.base_offset, dup.last_offset), (4, 5));
        let gap = Spec::new(1, NOW, "gap").idempotent(7, 0, 9).encode();
        assert!(matches!(
            follower.append_as_leader(&gap, NOW, 1),
            Err(AppendError::OutOfOrderSequence {
                expected: 6,
                got: 9,
                ..
            })
        ));
    }
    let next = Spec::new(1, NOW, "next").idempotent(7, 0, 6).encode();
    let info = follower.append_as_leader(&next, NOW, 1).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (6, false));
    assert_eq!(follower.epoch_entries(), [(0, 0), (1, 6)]);
}

/// A leader with 30 batches of 2 records (offsets 0..60) over several segments, all at epoch 0.
fn thirty_batches(dir: &Path) -> PartitionLog {
    let mut log = open(dir, small_config(), false);
    for i in 0..30 {
        log.append_as_leader(
            &Spec::new(2, NOW + i, &format!("b{i}")).padded(30).encode(),
            NOW,
            0,
        )
        .unwrap();
    }
    log
}

fn expected_values(batches: usize) -> Vec<String> {
    (0..batches)
        .flat_map(|i| [format!("b{i}-0"), format!("b{i}-1")])
        .map(|v| format!("{v:.<30}"))
        .collect()
}

#[test]
fn truncate_within_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = thirty_batches(dir.path());
    let segments = log.segment_count();
    assert_eq!(log.truncate_to(100).unwrap(), 60, "beyond the end: no-op");
    assert_eq!(log.truncate_to(58).unwrap(), 58);
    assert_eq!(log.segment_count(), segments);
    assert_eq!(values(&log), expected_values(29));
    assert_eq!(
        log.max_timestamp().unwrap().unwrap().timestamp,
        NOW + 28 + 1
    );
}

#[test]
fn truncate_inside_a_batch_removes_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = thirty_batches(dir.path());
    assert_eq!(log.truncate_to(41).unwrap(), 40);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(values(&log), expected_values(20));
}

#[test]
fn truncate_across_segments_then_reopen() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = thirty_batches(dir.path());
        let before = log.segment_count();
        assert!(before >= 3);
        assert_eq!(log.truncate_to(11).unwrap(), 10);
        assert!(log.segment_count() < before);
        let after = summary(&log);
        assert_eq!(values(&log), expected_values(5));
        assert!(log
            .read(10, 1000, i64::MAX, true)
            .unwrap()
            .records
            .is_empty());
        assert!(log.read(11, 1000, i64::MAX, true).is_err());
        assert_eq!(
            log.offset_for_timestamp(NOW + 20).unwrap(),
            None,
            "no timestamp from the truncated batches"
        );
        if clean {
            log.close().unwrap();
        } else {
            drop(log);
        }
        let log = open(dir.path(), small_config(), clean);
        assert_eq!(summary(&log), after, "clean={clean}");
        assert_eq!(values(&log), expected_values(5));
        // No leftover files of the deleted segments.
        let logs = files(dir.path())
            .into_iter()
            .filter(|f| f.ends_with(".log"))
            .count();
        assert_eq!(logs, log.segment_count());
    }
}

#[test]
fn truncate_to_a_segment_base_then_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = thirty_batches(dir.path());
    // The base of the second segment: it stays as an empty active segment.
    let second_base = {
        let names = files(dir.path());
        let second = names.iter().filter(|f| f.ends_with(".log")).nth(1).unwrap();
        second[..20].parse::<i64>().unwrap()
    };
    assert_eq!(log.truncate_to(second_base).unwrap(), second_base);
    assert_eq!(log.segment_count(), 2);
    log.append(&batch(1, NOW, "after"), NOW).unwrap();
    assert_eq!(values(&log).last().unwrap(), "after-0");
    assert_eq!(log.log_end_offset(), second_base + 1);
}

#[test]
fn truncate_drops_epochs_and_producer_state_beyond_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    for (i, epoch) in [0, 0, 2, 2, 5, 5].into_iter().enumerate() {
        let b = Spec::new(2, NOW, &format!("p{i}"))
            .idempotent(3, 0, i as i32 * 2)
            .padded(200)
            .encode();
        log.append_as_leader(&b, NOW, epoch).unwrap();
    }
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 4), (5, 8)]);
    assert!(log.segment_count() > 1);
    assert_eq!(log.truncate_to(6).unwrap(), 6);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 4)]);
    assert_eq!(epoch_file(dir.path()), "0\n2\n0 0\n2 4\n");
    // Sequence 6 was truncated: it is appended again, not a duplicate; sequence 4 still is one.
    let again = Spec::new(2, NOW, "again").idempotent(3, 0, 6).encode();
    let info = log.append_as_leader(&again, NOW, 6).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (6, false));
    let old = Spec::new(2, NOW, "p2").idempotent(3, 0, 4).encode();
    assert!(log.append_as_leader(&old, NOW, 6).unwrap().duplicate);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 4), (6, 6)]);
    // No producer snapshot above the new end survived the truncation.
    log.close().unwrap();
    let log = open(dir.path(), small_config(), true);
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 4), (6, 6)]);
}

#[test]
fn truncate_then_replicate_from_a_new_leader() {
    // The old leader wrote epoch 0 up to offset 60; the new leader (epoch 1) diverged at 40.
    let old_dir = tempfile::tempdir().unwrap();
    let mut old = thirty_batches(old_dir.path());
    let new_dir = tempfile::tempdir().unwrap();
    let mut new = open(new_dir.path(), small_config(), false);
    new.append_replicated(&all_bytes(&old), NOW).unwrap();
    new.truncate_to(40).unwrap();
    for i in 0..5 {
        new.append_as_leader(&batch(3, NOW + i, &format!("new{i}")), NOW, 1)
            .unwrap();
    }
    // KIP-101: the follower asks where its latest epoch ended and truncates there.
    let (epoch, end) = new.end_offset_for_epoch(old.latest_epoch().unwrap());
    assert_eq!((epoch, end), (0, 40));
    assert_eq!(old.truncate_to(end).unwrap(), 40);
    replicate(&new, &mut old);
    assert_eq!(all_bytes(&old), all_bytes(&new));
    assert_eq!(old.epoch_entries(), [(0, 0), (1, 40)]);
    assert_eq!(old.log_end_offset(), 55);
    drop(old);
    let old = open(old_dir.path(), small_config(), false);
    assert_eq!(all_bytes(&old), all_bytes(&new));
}

#[test]
fn truncate_below_log_start_and_fully() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = thirty_batches(dir.path());
    log.delete_records_before(20).unwrap();
    assert!(matches!(
        log.truncate_to(10),
        Err(StorageError::TruncateBelowLogStart {
            offset: 10,
            log_start: 20
        })
    ));
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(summary(&log), "start=100 end=100 segments=1");
    assert_eq!(log.epoch_entries(), []);
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_config(), false);
    leader.truncate_fully_and_start_at(100).unwrap();
    leader
        .append_as_leader(&batch(2, NOW, "x"), NOW, 4)
        .unwrap();
    log.append_replicated(&all_bytes(&leader), NOW).unwrap();
    assert_eq!(summary(&log), "start=100 end=102 segments=1");
    assert_eq!(log.epoch_entries(), [(4, 100)]);
    drop(log);
    let log = open(dir.path(), small_config(), false);
    assert_eq!(summary(&log), "start=100 end=102 segments=1");
    assert_eq!(log.epoch_entries(), [(4, 100)]);
    let snapshots = files(dir.path())
        .into_iter()
        .filter(|f| f.ends_with(".snapshot"))
        .count();
    assert_eq!(snapshots, 0);
}

#[test]
fn truncating_the_batch_holding_log_start_empties_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = thirty_batches(dir.path());
    log.delete_records_before(21).unwrap();
    assert_eq!(log.truncate_to(21).unwrap(), 21);
    assert_eq!(summary(&log), "start=21 end=21 segments=1");
}

#[test]
fn compacted_follower_accepts_forward_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: strom_storage::CleanupPolicy::Compact,
        ..small_config()
    };
    let mut follower = open(dir.path(), config, false);
    // A batch the leader's cleaner left starting at offset 5.
    let mut b = batch(2, NOW, "kept");
    b[0..8].copy_from_slice(&5i64.to_be_bytes());
    let info = follower.append_replicated(&b, NOW).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (5, 6));
    assert_eq!(follower.log_end_offset(), 7);
    assert!(matches!(
        follower.append_replicated(&b, NOW),
        Err(AppendError::OffsetMismatch {
            expected: 7,
            actual: 5
        })
    ));
}
