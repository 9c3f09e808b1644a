//! Crash recovery: torn or corrupt tails are cut at the last valid batch on an unclean open (and
//! obviously torn tails even on a clean one); appends continue at the right offset; broken index
//! files are rebuilt.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::*;

fn log_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| f.ends_with(".log"))
        .map(|f| dir.join(f))
        .collect()
}

fn append_to(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// A log of 12 batches of 3 records (offsets 0..36) over several segments, not closed.
fn crashed_log(dir: &Path) -> Vec<String> {
    let mut log = open(dir, small_config(), false);
    for i in 0..12 {
        log.append(
            &Spec::new(3, NOW + i, &format!("b{i}")).padded(40).encode(),
            NOW,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 2);
    let v = values(&log);
    drop(log);
    v
}

/// Damages the last segment with `damage`, reopens (clean or not) and describes the result.
fn check_recovery(damage: impl Fn(&Path), clean: bool) -> (String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path());
    let last = log_files(dir.path()).pop().unwrap();
    let size_before = fs::metadata(&last).unwrap().len();
    damage(&last);
    let mut log = open(dir.path(), small_config(), clean);
    let after = values(&log);
    assert_eq!(
        after[..],
        before[..after.len()],
        "surviving records are a prefix"
    );
    let cut = size_before - fs::metadata(&last).map(|m| m.len()).unwrap_or(0);
    // Appends continue right after the last valid batch.
    let end = log.log_end_offset();
    assert_eq!(
        log.append(&batch(1, NOW, "new"), NOW).unwrap().base_offset,
        end
    );
    log.close().unwrap();
    // A clean open trusts the indexes written after recovery: every offset still reads right.
    let log = open(dir.path(), small_config(), true);
    assert_eq!(values(&log).last().unwrap(), "new-0");
    assert_eq!(read_all(&log, 1).len(), after.len() + 1);
    (
        format!("{} lost_bytes={cut}", summary(&log)),
        before.len() - after.len(),
    )
}

#[test]
fn torn_and_corrupt_tails() {
    let cases: Vec<(&str, Box<dyn Fn(&Path)>, bool, usize)> = vec![
        ("nothing", Box::new(|_: &Path| {}), false, 0),
        (
            "garbage",
            Box::new(|p: &Path| {
                append_to(
                    p,
                    b"this is not a record batch at all, just junk!!!!!!!!!!!!!!!!!!!!!!",
                )
            }),
            false,
            0,
        ),
        (
            "few bytes",
            Box::new(|p: &Path| append_to(p, &[0, 0, 0])),
            false,
            0,
        ),
        (
            "half batch",
            Box::new(|p: &Path| {
                let b = batch(3, NOW, "torn");
                append_to(p, &b[..b.len() / 2]);
            }),
            false,
            0,
        ),
        (
            "half batch, clean open",
            Box::new(|p: &Path| {
                let b = batch(3, NOW, "torn");
                append_to(p, &b[..b.len() / 2]);
            }),
            true,
            0,
        ),
        (
            "zeroed tail",
            Box::new(|p: &Path| append_to(p, &[0u8; 200])),
            false,
            0,
        ),
        (
            "flipped byte in last batch",
            Box::new(|p: &Path| {
                let mut data = fs::read(p).unwrap();
                let at = data.len() - 10;
                data[at] ^= 0xff;
                fs::write(p, data).unwrap();
            }),
            false,
            3,
        ),
        (
            "last batch cut short",
            Box::new(move |p: &Path| {
                let len = fs::metadata(p).unwrap().len();
                OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(len - 1)
                    .unwrap();
            }),
            false,
            3,
        ),
    ];
    for (name, damage, clean, lost_records) in cases {
        let (summary, lost) = check_recovery(damage, clean);
        assert_eq!(lost, lost_records, "{name}: {summary}");
        assert!(
            summary.contains(&format!("end={}", 36 - lost_records + 1)),
            "{name}: {summary}"
        );
    }
}

#[test]
fn corruption_beyond_recovery_point_truncates_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path());
    let segments_before = log_files(dir.path()).len();
    // Without a recovery point everything is checked.
    fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let second = log_files(dir.path())[1].clone();
    let mut data = fs::read(&second).unwrap();
    let first_len = strom_storage::batch::BatchHeader::parse(&data)
        .unwrap()
        .total_len();
    data[first_len + 70] ^= 1; // inside the second batch of the second segment
    fs::write(&second, data).unwrap();
    let log = open(dir.path(), small_config(), false);
    assert_eq!(log.segment_count(), 2);
    assert!(segments_before > 2);
    assert_eq!(log_files(dir.path()).len(), 2);
    let after = values(&log);
    assert_eq!(after[..], before[..after.len()]);
    assert_eq!(fs::metadata(&second).unwrap().len() as usize, first_len);
}

#[test]
fn clean_open_trusts_sealed_segments() {
    // With a clean shutdown the sealed segments are not CRC-checked: a flipped value byte in an old
    // segment is served as is (consumers verify CRCs), and opening stays cheap.
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path());
    let log = open(dir.path(), small_config(), false);
    log.close().unwrap();
    let first = log_files(dir.path())[0].clone();
    let mut data = fs::read(&first).unwrap();
    data[100] ^= 1;
    fs::write(&first, data).unwrap();
    let log = open(dir.path(), small_config(), true);
    assert_eq!(log.log_end_offset(), before.len() as i64);
}

#[test]
fn broken_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path());
    let log = open(dir.path(), small_config(), false);
    log.close().unwrap();
    let damage: &[(&str, &[u8])] = &[
        (
            "00000000000000000000.index",
            b"\x00\x00\x00\x05\x00\x00\x00\x01",
        ), // points mid-batch
        ("00000000000000000000.timeindex", b"12345"), // not whole entries
    ];
    for (name, bytes) in damage {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let last_index = files(dir.path())
        .into_iter()
        .rfind(|f| f.ends_with(".index"))
        .unwrap();
    fs::write(dir.path().join(last_index), [0xffu8; 16]).unwrap();
    let log = open(dir.path(), small_config(), true);
    assert_eq!(values(&log), before);
    for offset in 0..before.len() as i64 {
        let recs = decode(&log.read(offset, 1, i64::MAX, true).unwrap().records);
        assert!(recs[0].offset <= offset && recs.last().unwrap().offset >= offset);
    }
    // The rebuilt index of the sealed segment was written back.
    let index = fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    assert_ne!(index, b"\x00\x00\x00\x05\x00\x00\x00\x01");
    assert_eq!(index.len() % 8, 0);
}

#[test]
fn leftover_temp_and_orphan_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path());
    fs::write(dir.path().join("recovery-point.tmp"), b"1").unwrap();
    fs::write(dir.path().join("00000000000000099999.index"), b"").unwrap();
    let log = open(dir.path(), small_config(), false);
    let names = files(dir.path());
    assert!(
        !names
            .iter()
            .any(|f| f.ends_with(".tmp") || f.starts_with("00000000000000099999")),
        "{names:?}"
    );
    assert_eq!(log.log_end_offset(), 36);
}
