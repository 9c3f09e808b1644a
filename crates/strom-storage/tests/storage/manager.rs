//! LogManager: partition dir discovery, the clean-shutdown marker driving recovery, and topic
//! deletion by rename.

use std::fs;

use strom_storage::{LogConfig, LogManager, PartitionDir};

use crate::common::*;

#[test]
fn partition_dirs_are_parsed_at_the_last_dash() {
    let root = tempfile::tempdir().unwrap();
    for d in [
        "orders-0",
        "orders-11",
        "my-topic.v2-3",
        "__cluster_metadata-0",
        "not_a_partition",
        "x-y",
    ] {
        fs::create_dir(root.path().join(d)).unwrap();
    }
    fs::write(root.path().join("file-1"), b"").unwrap();
    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    let got: Vec<(String, i32)> = mgr
        .partition_dirs()
        .unwrap()
        .into_iter()
        .map(
            |PartitionDir {
                 topic,
                 partition,
                 path,
             }| {
                assert_eq!(path, mgr.partition_path(&topic, partition));
                (topic, partition)
            },
        )
        .collect();
    let want: Vec<(String, i32)> = [
        ("__cluster_metadata", 0),
        ("my-topic.v2", 3),
        ("orders", 0),
        ("orders", 11),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), *p))
    .collect();
    assert_eq!(got, want);
    assert_eq!(mgr.root(), root.path());
}

#[test]
fn clean_shutdown_marker_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    assert!(!mgr.was_clean_shutdown());
    let mut log = mgr
        .open_partition("t", 0, LogConfig::default(), NOW)
        .unwrap();
    log.append(&batch(2, NOW, "a"), NOW).unwrap();
    log.close().unwrap();
    mgr.mark_clean_shutdown().unwrap();
    drop(mgr);

    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    assert!(mgr.was_clean_shutdown());
    let log = mgr
        .open_partition("t", 0, LogConfig::default(), NOW)
        .unwrap();
    assert_eq!(log.log_end_offset(), 2);
    drop(log);
    drop(mgr);
    // The marker was consumed: a crash now counts as unclean.
    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    assert!(!mgr.was_clean_shutdown());
}

#[test]
fn delete_partition_and_leftovers() {
    let root = tempfile::tempdir().unwrap();
    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    let mut log = mgr
        .open_partition("a.b-c", 2, LogConfig::default(), NOW)
        .unwrap();
    log.append(&batch(5, NOW, "old"), NOW).unwrap();
    let other = mgr
        .open_partition("keep", 0, LogConfig::default(), NOW)
        .unwrap();
    mgr.delete_partition(log).unwrap();
    assert_eq!(files(root.path()), ["keep-0"]);
    // A new partition of the same name starts empty.
    let log = mgr
        .open_partition("a.b-c", 2, LogConfig::default(), NOW)
        .unwrap();
    assert_eq!(log.log_end_offset(), 0);
    drop((log, other));

    // A deletion interrupted after the rename is finished at the next open.
    fs::create_dir_all(root.path().join("gone-0.abc123-delete/sub")).unwrap();
    fs::write(
        root.path()
            .join("gone-0.abc123-delete/00000000000000000000.log"),
        b"x",
    )
    .unwrap();
    let mgr = LogManager::open(root.path().to_path_buf()).unwrap();
    assert_eq!(files(root.path()), ["a.b-c-2", "keep-0"]);
    assert_eq!(mgr.partition_dirs().unwrap().len(), 2);
}
