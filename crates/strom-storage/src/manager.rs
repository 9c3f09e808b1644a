//! LogManager: one data directory (a Kafka `log.dirs` entry) holding `<topic>-<partition>`
//! partition dirs, the `.strom_cleanshutdown` marker and topic deletion by rename.
//!
//! Owns only directory-level concerns. It does not keep the opened logs (the broker owns its
//! PartitionLogs and decides which partitions to open), and it does not filter partition dirs by
//! topic (e.g. `__cluster_metadata-0` is returned like any other).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::log::PartitionLog;

/// Written on clean shutdown, removed at open: its presence means the checkpoints can be trusted.
const CLEAN_SHUTDOWN_FILE: &str = ".strom_cleanshutdown";
/// Suffix of partition dirs being deleted.
const DELETE_SUFFIX: &str = "-delete";

/// A partition directory found in the data dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDir {
    pub topic: String,
    pub partition: i32,
    pub path: PathBuf,
}

/// One data directory.
#[derive(Debug)]
pub struct LogManager {
    root: PathBuf,
    clean_shutdown: bool,
    delete_counter: AtomicU64,
}

impl LogManager {
    /// Creates `root` if needed, reads and removes the clean-shutdown marker (so a crash from now
    /// on counts as unclean) and removes partition dirs left over from unfinished deletions.
    pub fn open(root: PathBuf) -> Result<LogManager, StorageError> {
        fs::create_dir_all(&root)?;
        let marker = root.join(CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        if clean_shutdown {
            fs::remove_file(&marker)?;
            checkpoint::sync_dir(&root)?;
        }
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            let is_deleted_dir = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(DELETE_SUFFIX));
            if is_deleted_dir && entry.file_type()?.is_dir() {
                tracing::info!(path = %entry.path().display(), "removing partially deleted partition dir");
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(LogManager {
            root,
            clean_shutdown,
            delete_counter: AtomicU64::new(0),
        })
    }

    /// Whether the previous run ended with [`LogManager::mark_clean_shutdown`].
    pub fn was_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// Every `<topic>-<partition>` directory (split at the last '-'; the partition must be a
    /// non-negative integer). Other entries are ignored. Sorted by topic, then partition.
    pub fn partition_dirs(&self) -> Result<Vec<PartitionDir>, StorageError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((topic, partition)) = parse_partition_dir(name) {
                out.push(PartitionDir {
                    topic: topic.to_string(),
                    partition,
                    path: entry.path(),
                });
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    pub fn partition_path(&self, topic: &str, partition: i32) -> PathBuf {
        self.root.join(format!("{topic}-{partition}"))
    }

    /// Opens (creating if missing) a partition log; recovery mode follows
    /// [`LogManager::was_clean_shutdown`].
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<PartitionLog, StorageError> {
        PartitionLog::open(
            self.partition_path(topic, partition),
            config,
            now_ms,
            self.clean_shutdown,
        )
    }

    /// Deletes a partition: renames its dir to `<topic>-<partition>.<unique>-delete` (so a new
    /// partition of the same name starts fresh at once), then removes it. A dir whose removal is
    /// interrupted is removed at the next [`LogManager::open`].
    pub fn delete_partition(&self, log: PartitionLog) -> Result<(), StorageError> {
        let dir = log.dir().to_path_buf();
        drop(log);
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StorageError::Corrupt(format!("bad partition dir {}", dir.display())))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.delete_counter.fetch_add(1, Ordering::Relaxed);
        let target = dir.with_file_name(format!("{name}.{nanos:x}{n:x}{DELETE_SUFFIX}"));
        fs::rename(&dir, &target)?;
        if let Some(parent) = target.parent() {
            checkpoint::sync_dir(parent)?;
        }
        match fs::remove_dir_all(&target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Writes the clean-shutdown marker. Call after every PartitionLog has been closed.
    pub fn mark_clean_shutdown(&self) -> Result<(), StorageError> {
        checkpoint::write_atomic(&self.root.join(CLEAN_SHUTDOWN_FILE), b"")?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `<topic>-<partition>` split at the last '-'.
fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || name.starts_with('.') {
        return None;
    }
    let number: i32 = partition.parse().ok()?;
    // Only the canonical spelling ("7", not "+7" or "07") names a partition dir.
    if number < 0 || number.to_string() != partition {
        return None;
    }
    Some((topic, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partition_dir_names() {
        let cases: &[(&str, Option<(&str, i32)>)] = &[
            ("orders-0", Some(("orders", 0))),
            ("my-topic.v2-17", Some(("my-topic.v2", 17))),
            ("__cluster_metadata-0", Some(("__cluster_metadata", 0))),
            ("orders-0.1a2b-delete", None),
            ("orders", None),
            ("-3", None),
            ("orders--1", Some(("orders-", 1))), // topic names may end with '-'
            ("orders-+1", None),
            ("orders-01", None),
            (".hidden-1", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse_partition_dir(name), *want, "{name}");
        }
    }
}
