//! Opening a partition log and recovering it after a crash (Kafka's `LogLoader`): listing and
//! loading the segments (CRC-checking those past the recovery point and cutting a torn tail),
//! then producer state from the newest snapshot plus a header scan, then the leader epoch cache.
//! Part of [`PartitionLog`]'s `impl`, split by job across `log/` (see `log/mod.rs`).
//!
//! Not here: checking one segment's files (that is `segment/load.rs`), and the truncation a
//! follower asks for (`truncate.rs`), which reuses `PartitionLog::load_producer_state`.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::PartitionLog;
use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, TMP_SUFFIX};
use crate::cleaner;
use crate::config::LogConfig;
use crate::epoch::LeaderEpochCache;
use crate::error::StorageError;
use crate::producer_state::ProducerStateManager;
use crate::segment::{
    segment_file, ActiveSegment, LoadMode, SealedSegment, Segment, INDEX_EXT, LOG_EXT,
    TIME_INDEX_EXT, TXN_INDEX_EXT,
};
use crate::txn_index::TxnIndex;

impl PartitionLog {
    /// Opens (creating if missing) the log in `dir`. With `clean_shutdown` false, every batch from
    /// the segment holding the recovery point onwards is CRC-checked and the log is cut at the
    /// first torn or corrupt batch (later segments are deleted); recovered segments are fsynced.
    /// Indexes are rebuilt where missing or inconsistent. Producer state comes from the newest
    /// snapshot plus a scan of the batch headers after it. The leader epoch cache comes from
    /// `leader-epoch-checkpoint` without the entries at or beyond the recovered log end (plus,
    /// after a crash, the epochs of the recovered batches); when that file is missing or
    /// unreadable it is rebuilt from the batch headers of the whole log.
    pub fn open(
        dir: PathBuf,
        config: LogConfig,
        now_ms: i64,
        clean_shutdown: bool,
    ) -> Result<PartitionLog, StorageError> {
        fs::create_dir_all(&dir)?;
        cleaner::recover_leftovers(&dir)?;
        let bases = list_segments(&dir)?;
        let log_start_checkpoint = checkpoint::read_offset(&dir.join(LOG_START_OFFSET_FILE))?;
        let recover_from = if clean_shutdown {
            None
        } else {
            let rp = match checkpoint::read_offset(&dir.join(RECOVERY_POINT_FILE)) {
                Ok(rp) => rp.unwrap_or(i64::MIN),
                Err(StorageError::Corrupt(reason)) => {
                    tracing::warn!(dir = %dir.display(), %reason, "unreadable recovery point; recovering the whole log");
                    i64::MIN
                }
                Err(e) => return Err(e),
            };
            // The segment holding the recovery point and all later ones.
            Some(bases.partition_point(|b| *b <= rp).saturating_sub(1))
        };

        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut truncated = false;
        for (i, &base) in bases.iter().enumerate() {
            if truncated {
                tracing::warn!(dir = %dir.display(), base_offset = base, "deleting segment after a truncated one");
                for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
                    checkpoint::remove_if_exists(&segment_file(&dir, base, ext))?;
                }
                continue;
            }
            let recover = recover_from.is_some_and(|first| i >= first);
            let mode = if recover {
                LoadMode::Recover
            } else {
                LoadMode::Trust
            };
            let mut loaded = Segment::open(
                &dir,
                base,
                bases.get(i + 1).copied(),
                mode,
                config.index_interval_bytes,
            )?;
            if recover {
                loaded.segment.sync_recovered()?;
            }
            truncated |= loaded.truncated_bytes.is_some();
            segments.push(loaded.segment);
        }

        let active = match segments.pop() {
            Some(seg) => ActiveSegment::from_loaded(seg, now_ms)?,
            None => ActiveSegment::create(&dir, log_start_checkpoint.unwrap_or(0).max(0), now_ms)?,
        };
        let sealed = segments
            .into_iter()
            .map(SealedSegment::from_loaded)
            .collect::<io::Result<VecDeque<_>>>()?;
        let first_base = sealed.front().map_or(active.segment().base_offset(), |s| {
            s.segment().base_offset()
        });
        let log_end = active.segment().next_offset();
        let log_start_offset = log_start_checkpoint
            .unwrap_or(first_base)
            .max(first_base)
            .min(log_end);

        let txn_index = TxnIndex::load(&dir, bases.iter().copied())?;
        let mut log = PartitionLog {
            txn_index,
            dir,
            config,
            sealed,
            active,
            log_start_offset,
            recovery_point: log_end,
            producers: ProducerStateManager::default(),
            epochs: LeaderEpochCache::default(),
            unflushed_records: 0,
            last_flush_ms: now_ms,
            last_now_ms: now_ms,
            latest_delete_horizon: None,
        };
        log.load_producer_state()?;
        log.load_epoch_cache(recover_from.map(|i| bases.get(i).copied().unwrap_or(i64::MAX)))?;
        ProducerStateManager::prune_snapshots(&log.dir, first_base)?;
        if recover_from.is_some() {
            // Recovered segments were fsynced above.
            checkpoint::write_offset(&log.dir.join(RECOVERY_POINT_FILE), log_end)?;
        }
        Ok(log)
    }

    /// Producer state from the newest snapshot at or below the log end plus a replay of the
    /// batches after it. The aborted-transaction index entries past the snapshot are dropped and
    /// written again by the replay, so an index a crash left behind (or lost) is rebuilt.
    pub(super) fn load_producer_state(&mut self) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        let (from, mut producers) = match ProducerStateManager::load_latest(&self.dir, log_end)? {
            Some((offset, state)) => (offset, state),
            None => (i64::MIN, ProducerStateManager::default()),
        };
        self.txn_index.truncate_from(from)?;
        let mut aborted = Vec::new();
        for seg in self.segments() {
            if seg.next_offset() > from {
                let base = seg.base_offset();
                seg.headers_from(from.max(base), &mut |h, marker| {
                    if let Some(txn) = producers.replay(h, marker) {
                        let lso = producers.last_stable_offset_after(&txn);
                        producers.complete_txn(&txn);
                        if txn.aborted {
                            aborted.push((base, txn.index_entry(lso)));
                        }
                    }
                })?;
            }
        }
        for (base, txn) in aborted {
            self.txn_index.append(base, txn)?;
        }
        self.producers = producers;
        Ok(())
    }

    /// Loads the leader epoch cache at open. `recovered_from` is the base offset of the first
    /// segment recovery CRC-checked (None after a clean shutdown): the epochs of those batches are
    /// assigned again, as Kafka's `LogSegment.recover` does, in case the file lags the data.
    fn load_epoch_cache(&mut self, recovered_from: Option<i64>) -> Result<(), StorageError> {
        let (mut cache, mut changed, scan_from) = match LeaderEpochCache::read(&self.dir) {
            Ok(Some(cache)) => (cache, false, recovered_from),
            Ok(None) => {
                // Nothing to rebuild in an empty log; a log written before epochs were tracked is
                // scanned once and the result persisted, so later opens need no scan.
                let empty = self.segments().all(|s| s.size() == 0);
                (LeaderEpochCache::default(), !empty, Some(i64::MIN))
            }
            Err(StorageError::Corrupt(reason)) => {
                tracing::warn!(dir = %self.dir.display(), %reason, "unreadable leader epoch checkpoint; rebuilding it from the log");
                (LeaderEpochCache::default(), true, Some(i64::MIN))
            }
            Err(e) => return Err(e),
        };
        changed |= cache.truncate_from_end(self.log_end_offset());
        if let Some(from) = scan_from {
            for seg in self.segments().filter(|s| s.base_offset() >= from) {
                seg.headers_from(seg.base_offset(), &mut |h, _| {
                    changed |= cache.assign(h.partition_leader_epoch, h.base_offset);
                })?;
            }
        }
        changed |= cache.truncate_from_start(self.log_start_offset);
        self.epochs = cache;
        if changed {
            self.epochs.write(&self.dir)?;
        }
        Ok(())
    }
}

/// Base offsets of the segment files in `dir`, sorted; removes leftover temp files and index files
/// without a log file.
fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TMP_SUFFIX) {
            checkpoint::remove_if_exists(&entry.path())?;
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match ext {
            LOG_EXT => bases.push(base),
            INDEX_EXT | TIME_INDEX_EXT | TXN_INDEX_EXT => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            checkpoint::remove_if_exists(&path)?;
        }
    }
    Ok(bases)
}
