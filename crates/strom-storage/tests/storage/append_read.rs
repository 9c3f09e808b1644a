//! Offsets, reads across segments, fetch limits (max_bytes, min_one, max_offset), the validation
//! failures of append, and LogAppendTime rewriting.

use kafka_protocol::records::Compression;
use strom_storage::batch::{self, BatchHeader};
use strom_storage::{AppendError, LogConfig, ReadError, TimestampType};

use crate::common::*;

#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    let mut expected = Vec::new();
    for i in 0..40 {
        let n = 1 + i % 4;
        let info = log
            .append(&batch(n, NOW + i as i64, &format!("b{i}")), NOW)
            .unwrap();
        assert_eq!(info.base_offset, expected.len() as i64);
        assert_eq!(info.last_offset, (expected.len() + n - 1) as i64);
        assert_eq!(info.records, n as u64);
        assert!(!info.duplicate);
        assert_eq!(info.log_append_time, -1);
        expected.extend((0..n).map(|j| format!("b{i}-{j}")));
    }
    assert!(log.segment_count() > 3, "{}", summary(&log));
    assert_eq!(log.log_end_offset(), expected.len() as i64);
    for max_bytes in [1, 100, 300, 5000] {
        let recs = read_all(&log, max_bytes);
        let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..expected.len() as i64).collect::<Vec<_>>());
        assert_eq!(
            recs.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
            expected
        );
    }
    // Survives a clean reopen, and a recovery reopen.
    let end = log.log_end_offset();
    let size = log.size_bytes();
    log.close().unwrap();
    for clean in [true, false] {
        let log = open(dir.path(), small_config(), clean);
        assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
        assert_eq!(values(&log), expected);
        log.close().unwrap();
    }
}

#[test]
fn stored_bytes_are_the_sent_bytes_except_base_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    log.append(&batch(3, NOW, "a"), NOW).unwrap();
    let sent = Spec::new(5, NOW, "z")
        .compressed(Compression::Gzip)
        .encode();
    log.append(&sent, NOW).unwrap();
    let got = log.read(3, 1 << 20, i64::MAX, true).unwrap().records;
    assert_eq!(got.len(), sent.len());
    assert_eq!(&got[8..], &sent[8..]);
    assert_eq!(BatchHeader::parse(&got).unwrap().base_offset, 3);
    assert!(batch::verify_crc(&got));
    let recs = decode(&got);
    assert_eq!(
        recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 7]
    );
}

#[test]
fn read_from_middle_of_batch_returns_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    for i in 0..10 {
        log.append(&batch(5, NOW, &format!("b{i}")), NOW).unwrap();
    }
    // (requested offset, first offset returned)
    for (offset, first) in [(0, 0), (3, 0), (4, 0), (5, 5), (22, 20), (49, 45)] {
        let data = log.read(offset, 1, i64::MAX, true).unwrap();
        let recs = decode(&data.records);
        assert_eq!(recs[0].offset, first, "offset {offset}");
        assert_eq!(recs.len(), 5, "min_one returns exactly the first batch");
        assert_eq!((data.log_start_offset, data.log_end_offset), (0, 50));
    }
}

#[test]
fn max_bytes_min_one_and_max_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    let batches: Vec<Vec<u8>> = (0..4).map(|i| batch(2, NOW, &format!("b{i}"))).collect();
    for b in &batches {
        log.append(b, NOW).unwrap();
    }
    let len = batches[0].len();
    let first_offsets =
        |offset: i64, max_bytes: usize, max_offset: i64, min_one: bool| -> Vec<i64> {
            let data = log.read(offset, max_bytes, max_offset, min_one).unwrap();
            assert_eq!(data.records.len() % len, 0, "whole batches only");
            decode(&data.records)
                .iter()
                .map(|r| r.offset)
                .filter(|o| o % 2 == 0)
                .collect()
        };
    // (offset, max_bytes, max_offset, min_one) -> base offsets of returned batches
    let cases: &[((i64, usize, i64, bool), &[i64])] = &[
        ((0, 1, i64::MAX, true), &[0]),
        ((0, 1, i64::MAX, false), &[]),
        ((0, 0, i64::MAX, true), &[0]),
        ((0, len, i64::MAX, false), &[0]),
        ((0, 2 * len - 1, i64::MAX, true), &[0]),
        ((0, 2 * len, i64::MAX, true), &[0, 2]),
        ((0, 3 * len + 5, i64::MAX, true), &[0, 2, 4]),
        ((2, 100 * len, i64::MAX, true), &[2, 4, 6]),
        // max_offset: batches whose base offset >= max_offset are left out; a straddling one stays.
        ((0, 100 * len, 4, true), &[0, 2]),
        ((0, 100 * len, 5, true), &[0, 2, 4]),
        ((0, 100 * len, 1, true), &[0]),
        ((4, 100 * len, 4, true), &[]),
        ((6, 100 * len, 4, true), &[]),
        ((8, 100 * len, i64::MAX, true), &[]),
    ];
    for ((offset, max_bytes, max_offset, min_one), want) in cases {
        assert_eq!(
            first_offsets(*offset, *max_bytes, *max_offset, *min_one),
            want.to_vec(),
            "read({offset}, {max_bytes}, {max_offset}, {min_one})"
        );
    }
}

#[test]
fn out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    for i in 0..20 {
        log.append(&batch(3, NOW, &format!("b{i}")), NOW).unwrap();
    }
    log.delete_records_before(10).unwrap();
    for offset in [-1, 9, 61, 1000] {
        match log.read(offset, 100, i64::MAX, true) {
            Err(ReadError::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            }) => assert_eq!((requested, log_start, log_end), (offset, 10, 60)),
            other => panic!("read({offset}) gave {other:?}"),
        }
    }
    assert!(log
        .read(60, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    // Offset 10 is inside the batch 9..=11, which is returned whole.
    assert_eq!(
        decode(&log.read(10, 1, i64::MAX, true).unwrap().records)[0].offset,
        9
    );
}

fn rejected(records: &[u8], config: LogConfig) -> AppendError {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config, false);
    log.append(&batch(2, NOW, "ok"), NOW).unwrap();
    let err = log.append(records, NOW).unwrap_err();
    // Nothing from a rejected call is written, even the valid batches before the bad one.
    assert_eq!(summary(&log), "start=0 end=2 segments=1");
    assert_eq!(
        log.append(&batch(1, NOW, "after"), NOW)
            .unwrap()
            .base_offset,
        2
    );
    err
}

#[test]
fn invalid_batches_are_rejected() {
    let good = batch(3, NOW, "x");
    let with_good_first = |bad: Vec<u8>| [good.clone(), bad].concat();

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x40;

    let mut magic1 = good.clone();
    magic1[16] = 1;

    let mut count_mismatch = good.clone();
    put_i32(&mut count_mismatch, 57, 4);
    put_i32(&mut count_mismatch, 23, 3);
    fix_crc(&mut count_mismatch);

    let mut delta_mismatch = good.clone();
    put_i32(&mut delta_mismatch, 23, 5);
    fix_crc(&mut delta_mismatch);

    let mut zero_records = good.clone();
    put_i32(&mut zero_records, 57, 0);
    put_i32(&mut zero_records, 23, -1);
    fix_crc(&mut zero_records);

    let mut garbage_records = good.clone();
    garbage_records[61] = 0x7f; // first record claims a huge length
    fix_crc(&mut garbage_records);

    let mut bad_length = good.clone();
    put_i32(&mut bad_length, 8, 10);

    let truncated = good[..good.len() - 3].to_vec();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("crc", with_good_first(bad_crc), "CorruptMessage"),
        ("magic", magic1, "UnsupportedMagic(1)"),
        ("count", count_mismatch, "CorruptMessage"),
        // Kafka's LogValidator: INVALID_RECORD for a client batch whose count and offsets disagree.
        ("delta", delta_mismatch, "InvalidRecord([])"),
        ("zero", zero_records, "InvalidRecord([])"),
        ("records", garbage_records, "CorruptMessage"),
        ("length", bad_length, "CorruptMessage"),
        ("truncated", with_good_first(truncated), "CorruptMessage"),
        ("short", good[..20].to_vec(), "CorruptMessage"),
        ("empty", Vec::new(), "CorruptMessage"),
    ];
    for (name, records, want) in cases {
        let got = format!("{:?}", rejected(&records, LogConfig::default()));
        assert!(got.starts_with(want), "{name}: {got}");
    }
}

#[test]
fn too_large_batch_is_rejected() {
    let big = Spec::new(2, NOW, "big").padded(600).encode();
    let config = LogConfig {
        max_message_bytes: 1000,
        ..LogConfig::default()
    };
    match rejected(&big, config.clone()) {
        AppendError::RecordTooLarge { size, max } => assert_eq!((size, max), (big.len(), 1000)),
        other => panic!("{other:?}"),
    }
    // The limit is per batch: two batches below it in one call are fine.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config, false);
    let small = Spec::new(1, NOW, "s").padded(600).encode();
    assert!(small.len() <= 1000);
    assert_eq!(
        log.append(&[small.clone(), small].concat(), NOW)
            .unwrap()
            .last_offset,
        1
    );
}

#[test]
fn log_append_time_rewrites_max_timestamp_and_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    let now = NOW + 12345;
    let sent = [
        batch(3, 5, "a"),
        Spec::new(2, 5, "c").compressed(Compression::Lz4).encode(),
    ]
    .concat();
    let info = log.append(&sent, now).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.log_append_time),
        (0, 4, now)
    );
    let stored = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let mut n = 0;
    for item in batch::iter_batches(&stored) {
        let (h, bytes) = item.unwrap();
        assert!(batch::verify_crc(bytes));
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, now);
        assert_eq!(h.base_timestamp, 5, "base timestamp is kept");
        n += 1;
    }
    assert_eq!(n, 2);
    // Consumers take every record's timestamp from max_timestamp when bit 3 is set.
    assert_eq!(decode(&stored).len(), 5);
    assert_eq!(log.max_timestamp().unwrap().unwrap().timestamp, now);
}

#[test]
fn multiple_batches_in_one_call_get_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), false);
    log.append(&batch(1, NOW, "first"), NOW).unwrap();
    let call = [batch(2, NOW, "a"), batch(3, NOW, "b"), batch(1, NOW, "c")].concat();
    let info = log.append(&call, NOW).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.records),
        (1, 6, 6)
    );
    assert_eq!(
        values(&log),
        ["first-0", "a-0", "a-1", "b-0", "b-1", "b-2", "c-0"]
    );
}

#[test]
fn segment_ms_rolls_non_empty_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, false);
    log.append(&batch(1, NOW, "a"), NOW).unwrap();
    log.append(&batch(1, NOW, "b"), NOW + 1000).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch(1, NOW, "c"), NOW + 1001).unwrap();
    assert_eq!(summary(&log), "start=0 end=3 segments=2");
    assert_eq!(values(&log), ["a-0", "b-0", "c-0"]);
}

#[test]
fn logs_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<strom_storage::PartitionLog>();
    assert_send_sync::<strom_storage::LogManager>();
}
