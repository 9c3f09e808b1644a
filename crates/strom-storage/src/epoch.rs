//! The leader epoch cache of one partition (Kafka's `LeaderEpochFileCache`, KIP-101 / KIP-279):
//! for every leader epoch seen in the log, the offset of its first batch, oldest first, and its
//! `leader-epoch-checkpoint` file (Kafka's text format: `0`, the entry count, then one
//! `<epoch> <start offset>` line per entry).
//!
//! Owns the entry rules (epochs strictly increase, start offsets never decrease), the
//! `end_offset_for` lookup that answers OffsetsForLeaderEpoch, and reading/writing the file. Does
//! not decide when to assign, truncate or persist: PartitionLog does that on appends, truncation,
//! log-start moves and open, and rebuilds the cache from batch headers when the file is missing
//! or unreadable.

use std::fs;
use std::io;
use std::path::Path;

use crate::checkpoint;
use crate::error::StorageError;

pub(crate) const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// Kafka's checkpoint file version line.
const CHECKPOINT_VERSION: i64 = 0;
/// Kafka's `UNDEFINED_EPOCH` / `UNDEFINED_EPOCH_OFFSET`.
const UNDEFINED: (i32, i64) = (-1, -1);

/// `(epoch, start_offset)` pairs, oldest first: epochs strictly increasing, start offsets
/// non-decreasing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub(crate) fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Whether [`LeaderEpochCache::assign`] would record `epoch`: it is not negative and newer
    /// than the latest epoch.
    pub(crate) fn is_new_epoch(&self, epoch: i32) -> bool {
        epoch >= 0 && self.latest_epoch().is_none_or(|latest| epoch > latest)
    }

    /// Records that `epoch` starts at `start_offset` when it is newer than the latest epoch
    /// (Kafka `assign`); negative epochs (batches that carry none) are ignored. Entries that
    /// start at or after `start_offset` no longer hold and are dropped first. True when changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if !self.is_new_epoch(epoch) {
            return false;
        }
        self.entries.retain(|e| e.1 < start_offset);
        self.entries.push((epoch, start_offset));
        true
    }

    /// Drops entries whose start offset is >= `end_offset` (Kafka `truncateFromEnd`): the log
    /// was cut there. True when changed.
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.1 < end_offset);
        self.entries.len() != before
    }

    /// The log start moved to `start_offset` (Kafka `truncateFromStart`): entries that start
    /// below it are dropped except the newest of them, which now starts at `start_offset`.
    /// True when changed.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self.entries.partition_point(|e| e.1 < start_offset);
        if below == 0 {
            return false;
        }
        // Keep the last entry that starts below the new log start: its epoch covers it.
        self.entries.drain(..below - 1);
        if self.entries.get(1).is_some_and(|e| e.1 == start_offset) {
            // The next epoch starts exactly there; the older one covers nothing any more.
            self.entries.remove(0);
        } else if let Some(first) = self.entries.first_mut() {
            first.1 = start_offset;
        }
        true
    }

    pub(crate) fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka `LeaderEpochFileCache.endOffsetFor`: the largest epoch <= `requested` and the
    /// offset where the next higher epoch starts (`log_end` for the latest epoch). `(-1, -1)` for
    /// an undefined request, an empty cache or an epoch above every known one. A request below
    /// the first known epoch answers `(requested, first start offset)`.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested == UNDEFINED.0 {
            return UNDEFINED;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end);
        }
        let higher = self.entries.partition_point(|e| e.0 <= requested);
        let Some(&(_, higher_start)) = self.entries.get(higher) else {
            return UNDEFINED;
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            None => (requested, higher_start),
            Some((floor_epoch, _)) => (floor_epoch, higher_start),
        }
    }

    /// Writes the checkpoint file atomically.
    pub(crate) fn write(&self, dir: &Path) -> io::Result<()> {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        checkpoint::write_atomic(&dir.join(LEADER_EPOCH_CHECKPOINT_FILE), text.as_bytes())
    }

    /// Reads the checkpoint file: `Ok(None)` when it does not exist, `Corrupt` when it is not
    /// Kafka's format or its entries break the ordering rules.
    pub(crate) fn read(dir: &Path) -> Result<Option<LeaderEpochCache>, StorageError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let corrupt = |why: String| StorageError::Corrupt(format!("{}: {why}", path.display()));
        let text = match fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".to_string()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut lines = text.lines();
        let version = lines.next().map(str::trim);
        if version != Some("0") {
            return Err(corrupt(format!("unsupported version line {version:?}")));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| corrupt("missing or bad entry count".to_string()))?;
        let mut cache = LeaderEpochCache::default();
        for line in lines.by_ref().take(count) {
            let mut fields = line.split_whitespace();
            let entry = match (fields.next(), fields.next(), fields.next()) {
                (Some(e), Some(o), None) => e.parse::<i32>().ok().zip(o.parse::<i64>().ok()),
                _ => None,
            };
            let Some((epoch, start)) = entry else {
                return Err(corrupt(format!("bad entry line {line:?}")));
            };
            let ordered = cache
                .entries
                .last()
                .is_none_or(|&(e, s)| epoch > e && start >= s);
            if epoch < 0 || start < 0 || !ordered {
                return Err(corrupt(format!("entry {epoch} {start} out of order")));
            }
            cache.entries.push((epoch, start));
        }
        if cache.entries.len() != count || lines.any(|l| !l.trim().is_empty()) {
            return Err(corrupt(format!("expected {count} entries")));
        }
        Ok(Some(cache))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, o) in entries {
            assert!(c.assign(e, o));
        }
        c
    }

    /// The cases of Kafka's `LeaderEpochFileCacheTest` for `endOffsetFor`.
    #[test]
    fn end_offset_for_kafka_cases() {
        let leo = 100;
        assert_eq!(cache(&[]).end_offset_for(0, leo), (-1, -1));
        assert_eq!(cache(&[]).end_offset_for(-1, leo), (-1, -1));
        let c = cache(&[(2, 6), (3, 8), (4, 11)]);
        assert_eq!(c.end_offset_for(4, leo), (4, leo), "latest epoch: log end");
        assert_eq!(c.end_offset_for(-1, leo), (-1, -1), "undefined epoch");
        assert_eq!(c.end_offset_for(3, leo), (3, 11));
        assert_eq!(c.end_offset_for(5, leo), (-1, -1), "above the latest");
        assert_eq!(
            cache(&[(5, 11), (6, 12)]).end_offset_for(4, leo),
            (4, 11),
            "below the first epoch"
        );
        assert_eq!(
            cache(&[(0, 10), (2, 13), (4, 17)]).end_offset_for(1, leo),
            (0, 13),
            "no exact epoch: the floor and the next start"
        );
        assert_eq!(cache(&[(2, 100)]).end_offset_for(3, leo), (-1, -1));
        assert_eq!(cache(&[(2, 6)]).end_offset_for(2, leo), (2, leo));
    }

    #[test]
    fn assign_and_truncate() {
        let mut c = cache(&[(0, 0), (2, 10)]);
        assert!(!c.assign(2, 15), "same epoch keeps its first offset");
        assert!(!c.assign(1, 20), "older epoch ignored");
        assert!(!c.assign(-1, 20), "no epoch");
        assert!(
            c.assign(5, 10),
            "a newer epoch at the same offset replaces the older"
        );
        assert_eq!(c.entries(), &[(0, 0), (5, 10)]);
        assert!(c.truncate_from_end(10));
        assert_eq!(c.entries(), &[(0, 0)]);
        assert!(!c.truncate_from_end(10));

        let mut c = cache(&[(0, 0), (1, 5), (3, 9)]);
        assert!(!c.truncate_from_start(0));
        assert!(c.truncate_from_start(7));
        assert_eq!(c.entries(), &[(1, 7), (3, 9)]);
        assert!(c.truncate_from_start(9));
        assert_eq!(c.entries(), &[(3, 9)]);
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries(), &[(3, 12)]);
    }

    #[test]
    fn file_round_trip_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LeaderEpochCache::read(dir.path()).unwrap(), None);
        let c = cache(&[(0, 0), (3, 42)]);
        c.write(dir.path()).unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        assert_eq!(fs::read_to_string(&path).unwrap(), "0\n2\n0 0\n3 42\n");
        assert_eq!(LeaderEpochCache::read(dir.path()).unwrap(), Some(c));
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0 0\n1 1\n",
            "0\n2\n3 0\n1 5\n",
            "0\n1\nx 0\n",
            "0\n1\n0 0 0\n",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    LeaderEpochCache::read(dir.path()),
                    Err(StorageError::Corrupt(_))
                ),
                "{bad:?}"
            );
        }
    }
}
