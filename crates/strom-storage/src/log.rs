//! PartitionLog: the log of one partition, a directory of segments (all sealed but the last, the
//! active one) plus checkpoints (`recovery-point`, `log-start-offset`, `leader-epoch-checkpoint`)
//! and producer snapshots.
//!
//! Owns offset assignment, producer validation, segment rolling, reads across segments, ListOffsets
//! lookups, DeleteRecords, retention, compaction (choosing and swapping in the segments the
//! cleaner rewrites; the rewriting itself is `cleaner.rs`), the flush policy and recovery at open.
//! For replication it owns the storage half: stamping leader epochs on leader appends, appending
//! a leader's batches byte-for-byte on a follower, the leader epoch cache (`epoch.rs`) and
//! truncation. It does not own the replication protocol, ISR or the high watermark (callers pass
//! `max_offset` to reads and decide where to truncate), nor locking: it is `&mut self` for changes
//! and `&self` for reads, and the broker wraps it as it sees fit.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, TMP_SUFFIX};
use crate::cleaner::{self, CompactionStats};
use crate::config::{LogConfig, TimestampType};
use crate::epoch::LeaderEpochCache;
use crate::error::{AppendError, ReadError, StorageError};
use crate::producer_state::{Check, ProducerStateManager};
use crate::segment::{
    segment_file, ActiveSegment, FileSlice, LoadMode, SealedSegment, Segment, INDEX_EXT, LOG_EXT,
    TIME_INDEX_EXT,
};

/// Result of a successful [`PartitionLog::append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record (for a duplicate: of the original batch).
    pub base_offset: i64,
    pub last_offset: i64,
    /// The stamped time when the log uses LogAppendTime, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was already in the log (idempotent retry): nothing was appended.
    pub duplicate: bool,
    /// Records appended by this call (0 for a duplicate).
    pub records: u64,
}

/// Result of [`PartitionLog::read`]: whole stored batches, byte-for-byte.
#[derive(Clone, Debug)]
pub struct FetchData {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// What [`PartitionLog::read_slice`] returns.
#[derive(Clone, Debug)]
pub struct FetchSlice {
    pub records: Option<FileSlice>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// See [`PartitionLog::sync_handle`].
#[derive(Debug)]
pub struct SyncHandle {
    end: i64,
    file: std::fs::File,
}

impl SyncHandle {
    /// Every offset below this is durable once [`SyncHandle::sync`] returns.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// fdatasync of the active segment's log file.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// A (timestamp, offset) pair answering ListOffsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// The log of one partition. See the crate docs for the on-disk layout.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Oldest first; contiguous with each other and with `active`.
    sealed: VecDeque<SealedSegment>,
    active: ActiveSegment,
    log_start_offset: i64,
    /// Everything below this offset is known to be fsynced.
    recovery_point: i64,
    producers: ProducerStateManager,
    /// Mirrors `leader-epoch-checkpoint`, which is rewritten whenever this changes.
    epochs: LeaderEpochCache,
    unflushed_records: u64,
    last_flush_ms: i64,
    /// Latest `now_ms` seen, for operations that take no clock (DeleteRecords rolling).
    last_now_ms: i64,
}

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
                    remove_if_exists(&segment_file(&dir, base, ext))?;
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

        let mut log = PartitionLog {
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

    fn load_producer_state(&mut self) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        let (from, mut producers) = match ProducerStateManager::load_latest(&self.dir, log_end)? {
            Some((offset, state)) => (offset, state),
            None => (i64::MIN, ProducerStateManager::default()),
        };
        for seg in self.segments() {
            if seg.next_offset() > from {
                seg.headers_from(from.max(seg.base_offset()), &mut |h| producers.replay(h))?;
            }
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
                seg.headers_from(seg.base_offset(), &mut |h| {
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

    /// Persists the epoch cache after a change.
    fn save_epochs(&self) -> Result<(), StorageError> {
        Ok(self.epochs.write(&self.dir)?)
    }

    /// Puts back the epoch cache of before a failed append (best effort: the append already
    /// failed with an I/O error, and reopening drops entries beyond the log end anyway).
    fn restore_epochs(&mut self, previous: LeaderEpochCache) {
        self.epochs = previous;
        if let Err(e) = self.save_epochs() {
            tracing::error!(dir = %self.dir.display(), error = %e, "could not restore the leader epoch checkpoint");
        }
    }

    /// Applies a log start offset move to the epoch cache (Kafka `truncateFromStart`).
    fn epochs_after_log_start_move(&mut self) -> Result<(), StorageError> {
        if self.epochs.truncate_from_start(self.log_start_offset) {
            self.save_epochs()?;
        }
        Ok(())
    }

    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.sealed
            .iter()
            .map(SealedSegment::segment)
            .chain(std::iter::once(self.active.segment()))
    }

    /// Index (in `segments()` order) of the segment that would hold `offset`.
    fn locate(&self, offset: i64) -> usize {
        if self.active.segment().base_offset() <= offset {
            return self.sealed.len();
        }
        self.sealed
            .partition_point(|s| s.segment().base_offset() <= offset)
            .saturating_sub(1)
    }

    /// Validates and appends one or more v2 batches as sent by a producer; all or nothing. See the
    /// crate's API notes: offsets are assigned by rewriting `base_offset`, LogAppendTime logs
    /// stamp `max_timestamp` (and recompute the CRC), the bytes are otherwise stored as sent. A
    /// duplicate idempotent batch appends nothing and reports the original offsets. Applies the
    /// flush policy afterwards.
    ///
    /// Each batch keeps the `partitionLeaderEpoch` it arrived with and the leader epoch cache is
    /// not touched: this is the path of a log that is not replicated. A replica leader uses
    /// [`PartitionLog::append_as_leader`].
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo, AppendError> {
        self.append_validated(records, now_ms, None)
    }

    /// [`PartitionLog::append`] on the leader of a replicated partition: additionally stamps
    /// `partitionLeaderEpoch` (outside the CRC, so CreateTime batches are still written without
    /// a copy) of every batch with `leader_epoch`, and when `leader_epoch` is newer than the
    /// cache's latest epoch records that it starts at the first appended offset (persisted in
    /// `leader-epoch-checkpoint` before the data is written). A duplicate idempotent batch
    /// changes nothing. Checking that `leader_epoch` is the partition's current epoch is the
    /// caller's job; an older or negative epoch is stamped but not recorded.
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        now_ms: i64,
        leader_epoch: i32,
    ) -> Result<AppendInfo, AppendError> {
        self.append_validated(records, now_ms, Some(leader_epoch))
    }

    /// The producer append path; `leader_epoch` is Some on a replica leader (see
    /// [`PartitionLog::append_as_leader`]).
    fn append_validated(
        &mut self,
        records: &[u8],
        now_ms: i64,
        leader_epoch: Option<i32>,
    ) -> Result<AppendInfo, AppendError> {
        self.last_now_ms = now_ms;
        if records.is_empty() {
            return Err(AppendError::CorruptMessage("empty record set".to_string()));
        }
        let mut batches: Vec<(usize, BatchHeader)> = Vec::new();
        let mut pos = 0;
        for item in batch::iter_batches(records) {
            let (h, bytes) = item?;
            batch::validate(&h, bytes, self.config.max_message_bytes)?;
            batches.push((pos, h));
            pos += bytes.len();
        }
        if self.config.cleanup_policy.compacts() {
            cleaner::all_records_keyed(records).map_err(AppendError::CorruptMessage)?;
        }

        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let log_start_offset = self.log_start_offset;
        let mut next = self.log_end_offset();
        let mut pending = self.producers.begin_append();
        for (_, h) in batches.iter_mut() {
            h.base_offset = next;
            if let Some(epoch) = leader_epoch {
                h.partition_leader_epoch = epoch;
            }
            if log_append_time {
                h.max_timestamp = now_ms;
                h.attributes |= 1 << 3;
            }
            if let Check::Duplicate(original) = pending.check(h, next)? {
                return Ok(AppendInfo {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time: if log_append_time {
                        original.max_timestamp
                    } else {
                        -1
                    },
                    log_start_offset,
                    duplicate: true,
                    records: 0,
                });
            }
            next = h.last_offset() + 1;
        }
        let staged = pending.into_staged();

        // CreateTime batches are written as sent except for their 8-byte base offset (and on a leader
        // the 4-byte leader epoch), which the CRC does not cover: a vectored write of (new base offset,
        // rest of the batch) pairs — or (base offset, length, epoch, rest) — avoids copying the request.
        // LogAppendTime rewrites CRC-covered fields, so those batches are patched in a copy.
        let patched: Vec<u8>;
        let base_offsets: Vec<[u8; 8]>;
        let epoch_bytes: [u8; 4];
        let mut slices: Vec<io::IoSlice<'_>> = Vec::with_capacity(batches.len() * 4);
        if log_append_time {
            let mut bytes = records.to_vec();
            for (pos, h) in &batches {
                let b = &mut bytes[*pos..*pos + h.total_len()];
                batch::set_base_offset(b, h.base_offset);
                if let Some(epoch) = leader_epoch {
                    batch::set_partition_leader_epoch(b, epoch);
                }
                batch::set_log_append_time(b, now_ms);
            }
            patched = bytes;
            slices.push(io::IoSlice::new(&patched));
        } else {
            base_offsets = batches
                .iter()
                .map(|(_, h)| h.base_offset.to_be_bytes())
                .collect();
            epoch_bytes = leader_epoch.unwrap_or(0).to_be_bytes();
            for ((pos, h), base) in batches.iter().zip(&base_offsets) {
                let b = &records[*pos..*pos + h.total_len()];
                slices.push(io::IoSlice::new(base));
                if leader_epoch.is_some() {
                    slices.push(io::IoSlice::new(&b[8..batch::LEADER_EPOCH_OFFSET]));
                    slices.push(io::IoSlice::new(&epoch_bytes));
                    slices.push(io::IoSlice::new(&b[batch::LEADER_EPOCH_OFFSET + 4..]));
                } else {
                    slices.push(io::IoSlice::new(&b[8..]));
                }
            }
        }
        if self.active.should_roll(
            records.len() as u64,
            next - 1,
            self.config.segment_bytes,
            self.config.segment_ms,
            now_ms,
        ) {
            self.roll(now_ms).map_err(io::Error::from)?;
        }
        // The cache entry is durable before the data it describes (Kafka's order); an entry whose
        // data never made it is dropped again at open.
        let previous_epochs = match (leader_epoch, batches.first()) {
            (Some(epoch), Some((_, first))) => {
                let previous = self.epochs.clone();
                if self.epochs.assign(epoch, first.base_offset) {
                    if let Err(e) = self.save_epochs() {
                        self.epochs = previous;
                        return Err(io::Error::from(e).into());
                    }
                    Some(previous)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Err(e) = self.active.append(
            &mut slices,
            records.len(),
            &batches,
            self.config.index_interval_bytes,
        ) {
            if let Some(previous) = previous_epochs {
                self.restore_epochs(previous);
            }
            return Err(e.into());
        }
        self.producers.commit(staged);

        let records_appended: u64 = batches
            .iter()
            .map(|(_, h)| h.records_count.max(0) as u64)
            .sum();
        self.unflushed_records += records_appended;
        let info = AppendInfo {
            base_offset: batches.first().map_or(next, |(_, h)| h.base_offset),
            last_offset: next - 1,
            log_append_time: if log_append_time { now_ms } else { -1 },
            log_start_offset,
            duplicate: false,
            records: records_appended,
        };
        self.maybe_flush(now_ms).map_err(io::Error::from)?;
        Ok(info)
    }

    /// The follower's append: `records` are whole batches copied from the leader's log, offsets
    /// and leader epochs already set, and are stored byte-for-byte. Checks framing, CRC, codec
    /// and record framing (no `max.message.bytes`, no key rules of compacted logs, no producer
    /// sequence or epoch checks: the leader made them). The first batch must start at the log end
    /// offset and each batch right after the previous one, else [`AppendError::OffsetMismatch`];
    /// a log whose `cleanup.policy` compacts accepts forward gaps (records the leader's cleaner
    /// removed), never overlaps. Rolls segments like `append`, replays the batches into producer
    /// state (so a later leader detects retries of them as duplicates), assigns each batch's
    /// `partitionLeaderEpoch` in the epoch cache when it is newer than the latest, and applies the
    /// flush policy. Empty `records` is a no-op returning `records: 0`, `base_offset` = log end
    /// and `last_offset` = log end - 1. `log_append_time` is always -1 (the leader stamped it).
    pub fn append_replicated(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.last_now_ms = now_ms;
        let log_start_offset = self.log_start_offset;
        let log_end = self.log_end_offset();
        let allow_gaps = self.config.cleanup_policy.compacts();
        let mut batches: Vec<(usize, BatchHeader)> = Vec::new();
        let mut pos = 0;
        let mut expected = log_end;
        for item in batch::iter_batches(records) {
            let (h, bytes) = item?;
            batch::validate_replicated(&h, bytes)?;
            if h.base_offset != expected && !(allow_gaps && h.base_offset > expected) {
                return Err(AppendError::OffsetMismatch {
                    expected,
                    actual: h.base_offset,
                });
            }
            expected = h.last_offset() + 1;
            batches.push((pos, h));
            pos += bytes.len();
        }
        let Some(&(_, first)) = batches.first() else {
            return Ok(AppendInfo {
                base_offset: log_end,
                last_offset: log_end - 1,
                log_append_time: -1,
                log_start_offset,
                duplicate: false,
                records: 0,
            });
        };
        if self.active.should_roll(
            records.len() as u64,
            expected - 1,
            self.config.segment_bytes,
            self.config.segment_ms,
            now_ms,
        ) {
            self.roll(now_ms).map_err(io::Error::from)?;
        }
        let previous = self.epochs.clone();
        let mut epochs_changed = false;
        for (_, h) in &batches {
            epochs_changed |= self.epochs.assign(h.partition_leader_epoch, h.base_offset);
        }
        if epochs_changed {
            if let Err(e) = self.save_epochs() {
                self.epochs = previous;
                return Err(io::Error::from(e).into());
            }
        }
        let mut slices = [io::IoSlice::new(records)];
        if let Err(e) = self.active.append(
            &mut slices,
            records.len(),
            &batches,
            self.config.index_interval_bytes,
        ) {
            if epochs_changed {
                self.restore_epochs(previous);
            }
            return Err(e.into());
        }
        for (_, h) in &batches {
            self.producers.replay(h);
        }
        let records_appended: u64 = batches
            .iter()
            .map(|(_, h)| h.records_count.max(0) as u64)
            .sum();
        self.unflushed_records += records_appended;
        let info = AppendInfo {
            base_offset: first.base_offset,
            last_offset: expected - 1,
            log_append_time: -1,
            log_start_offset,
            duplicate: false,
            records: records_appended,
        };
        self.maybe_flush(now_ms).map_err(io::Error::from)?;
        Ok(info)
    }

    /// The newest leader epoch in the epoch cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// The leader epoch cache: (epoch, start offset) pairs, oldest first.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs.entries().to_vec()
    }

    /// OffsetsForLeaderEpoch (Kafka `LeaderEpochFileCache.endOffsetFor`): `(epoch, end offset)`
    /// where epoch is the largest known epoch <= `requested` and end offset is where the next
    /// higher epoch starts, or the log end offset when `requested` is the latest epoch.
    /// `(-1, -1)` for `requested == -1`, an empty cache, or an epoch above the latest. Below the
    /// first known epoch: `(requested, first entry's start offset)`.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        self.epochs.end_offset_for(requested, self.log_end_offset())
    }

    /// Records that `leader_epoch` starts at the log end offset, if it is newer than the latest
    /// epoch (Kafka's `maybeAssignEpochStartOffset` when a replica becomes leader), so that
    /// followers asking for an older epoch learn where it ended before anything is appended in
    /// the new one. Persisted; true when the cache changed. Note that an entry starting at the
    /// log end is dropped at the next open if nothing was appended in between (as in Kafka);
    /// the new leader assigns it again.
    pub fn assign_leader_epoch(&mut self, leader_epoch: i32) -> Result<bool, StorageError> {
        let changed = self.epochs.assign(leader_epoch, self.log_end_offset());
        if changed {
            self.save_epochs()?;
        }
        Ok(changed)
    }

    /// Follower truncation (Kafka `truncateTo`): removes every batch that holds an offset at or
    /// above `offset` — a batch straddling `offset` goes whole — and returns the new log end
    /// offset (<= `offset`). No-op returning the log end when `offset` >= log end;
    /// [`StorageError::TruncateBelowLogStart`] when `offset` < log start (use
    /// [`PartitionLog::truncate_fully_and_start_at`]). If the batch holding the log start itself
    /// goes, the log is left empty at the log start offset.
    ///
    /// Order on disk: the recovery point is lowered first; later segments are unlinked newest
    /// first (a crash leaves a contiguous prefix of the log); the segment holding `offset` is cut,
    /// fsynced and its indexes rewritten; then the epoch cache, cleaner checkpoint and producer
    /// snapshots above the new end are dropped and producer state is rebuilt from the newest
    /// remaining snapshot plus the headers after it. After an I/O error the log must be
    /// reopened.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, StorageError> {
        let log_end = self.log_end_offset();
        if offset >= log_end {
            return Ok(log_end);
        }
        if offset < self.log_start_offset {
            return Err(StorageError::TruncateBelowLogStart {
                offset,
                log_start: self.log_start_offset,
            });
        }
        if self.recovery_point > offset {
            self.recovery_point = offset;
            checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), offset)?;
        }
        let idx = self.locate(offset);
        let now_ms = self.last_now_ms;
        let index_interval = self.config.index_interval_bytes;
        if idx < self.sealed.len() {
            self.active.segment().delete_files()?;
            for s in self.sealed.iter().skip(idx + 1).rev() {
                s.segment().delete_files()?;
            }
            checkpoint::sync_dir(&self.dir)?;
            let mut tail = self.sealed.split_off(idx);
            let Some(keep) = tail.pop_front() else {
                return Err(StorageError::Corrupt(format!(
                    "{}: no segment holds offset {offset}",
                    self.dir.display()
                )));
            };
            let mut seg = keep.into_segment();
            seg.truncate_to(offset, index_interval)?;
            self.active = ActiveSegment::from_loaded(seg, now_ms)?;
        } else {
            self.active.truncate_to(offset, index_interval, now_ms)?;
        }
        let new_end = self.log_end_offset();
        tracing::info!(dir = %self.dir.display(), offset, new_end, old_end = log_end, "truncated log");
        if new_end < self.log_start_offset {
            let start = self.log_start_offset;
            self.truncate_fully_and_start_at(start)?;
            return Ok(start);
        }
        // The remaining segments are all fsynced: sealed ones when they were sealed, the cut one
        // just now.
        self.recovery_point = new_end;
        checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), new_end)?;
        self.unflushed_records = 0;
        if self.epochs.truncate_from_end(new_end) {
            self.save_epochs()?;
        }
        if cleaner::read_checkpoint(&self.dir) > new_end {
            cleaner::write_checkpoint(&self.dir, new_end)?;
        }
        // Drops the snapshots above the new end and replays the headers after the newest one left.
        self.load_producer_state()?;
        Ok(new_end)
    }

    /// Deletes every segment and starts an empty log whose log start and log end offsets are
    /// `offset` (Kafka `truncateFullyAndStartAt`, for a follower whose log end is below the
    /// leader's log start, or whose log start falls inside the leader's first batch). `offset`
    /// may be below the current log start. Clears the epoch cache, producer state and its
    /// snapshots, and moves the checkpoints to `offset`. After an I/O error the log must be
    /// reopened.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot start a log at negative offset {offset}"),
            )));
        }
        self.active.segment().delete_files()?;
        for s in self.sealed.iter().rev() {
            s.segment().delete_files()?;
        }
        checkpoint::sync_dir(&self.dir)?;
        self.sealed.clear();
        self.active = ActiveSegment::create(&self.dir, offset, self.last_now_ms)?;
        self.log_start_offset = offset;
        checkpoint::write_offset(&self.dir.join(LOG_START_OFFSET_FILE), offset)?;
        self.recovery_point = offset;
        checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), offset)?;
        self.unflushed_records = 0;
        self.epochs.clear();
        self.save_epochs()?;
        if cleaner::read_checkpoint(&self.dir) != i64::MIN {
            cleaner::write_checkpoint(&self.dir, offset)?;
        }
        ProducerStateManager::delete_snapshots_from(&self.dir, i64::MIN)?;
        self.producers = ProducerStateManager::default();
        tracing::info!(dir = %self.dir.display(), offset, "truncated log fully");
        Ok(())
    }

    /// Whole batches starting with the one containing `offset`, at most `max_bytes` in total except
    /// that with `min_one` the first batch is returned whole whatever its size (KIP-74). Batches
    /// whose base offset is >= `max_offset` (exclusive bound, e.g. the high watermark) are left
    /// out. Data comes from one segment with one positional read. `offset == log_end` (or >=
    /// `max_offset`) gives empty records; below log start or above log end is out of range.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<FetchData, ReadError> {
        let slice = self.read_slice(offset, max_bytes, max_offset, min_one)?;
        let records = match &slice.records {
            Some(records) => records.read_to_bytes()?,
            None => Bytes::new(),
        };
        Ok(FetchData {
            records,
            log_start_offset: slice.log_start_offset,
            log_end_offset: slice.log_end_offset,
        })
    }

    /// [`PartitionLog::read`] without the copy: where the batches lie in a segment file, for
    /// `sendfile`. `records` is None when there is nothing to return.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<FetchSlice, ReadError> {
        let log_start_offset = self.log_start_offset;
        let log_end_offset = self.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                requested: offset,
                log_start: log_start_offset,
                log_end: log_end_offset,
            });
        }
        let mut records = None;
        if offset < log_end_offset && offset < max_offset {
            for seg in self.segments().skip(self.locate(offset)) {
                if let Some(slice) = seg.read(offset, max_bytes, max_offset, min_one)? {
                    records = (!slice.is_empty()).then_some(slice);
                    break;
                }
            }
        }
        Ok(FetchSlice {
            records,
            log_start_offset,
            log_end_offset,
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active.segment().next_offset()
    }

    /// Bytes in all segment log files (indexes not counted).
    pub fn size_bytes(&self) -> u64 {
        self.segments().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.sealed.len() + 1
    }

    /// ListOffsets by timestamp: the earliest record at or after log start whose timestamp is >=
    /// `ts`. Exact for uncompressed CreateTime batches; for compressed or LogAppendTime batches it
    /// is the batch's first offset (clamped to log start) with the batch's max timestamp. The
    /// special timestamps -1 / -2 / -3 are the caller's (use log_end / log_start /
    /// [`PartitionLog::max_timestamp`]).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, StorageError> {
        let log_start = self.log_start_offset;
        for seg in self.segments() {
            if let Some(found) = seg.find_timestamp(ts, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: the largest batch max timestamp and the last offset of the
    /// first batch that carried it. None when no batch has a timestamp.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let mut best: Option<TimestampOffset> = None;
        for seg in self.segments() {
            if seg.max_timestamp() >= 0 && best.is_none_or(|b| seg.max_timestamp() > b.timestamp) {
                best = Some(TimestampOffset {
                    timestamp: seg.max_timestamp(),
                    offset: seg.offset_of_max_timestamp(),
                });
            }
        }
        best
    }

    /// DeleteRecords: moves log start up to `offset` (clamped to log end; never moves it back),
    /// persists it, and deletes segments entirely below it. If that is the whole active segment, an
    /// empty segment is rolled first so it can go too. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        let target = offset.min(self.log_end_offset());
        if target > self.log_start_offset {
            self.log_start_offset = target;
            checkpoint::write_offset(&self.dir.join(LOG_START_OFFSET_FILE), target)?;
            self.epochs_after_log_start_move()?;
        }
        if self.active.segment().size() > 0 && self.log_end_offset() <= self.log_start_offset {
            self.roll(self.last_now_ms)?;
        }
        let mut deleted = 0;
        while self
            .sealed
            .front()
            .is_some_and(|s| s.segment().next_offset() <= self.log_start_offset)
        {
            self.delete_oldest_segment()?;
            deleted += 1;
        }
        if deleted > 0 {
            self.after_segment_deletion()?;
        }
        Ok(self.log_start_offset)
    }

    /// Time and size retention (Kafka `retention.ms`, `retention.bytes`): deletes whole segments,
    /// oldest first. An entirely expired active segment is rolled first so it can be deleted; size
    /// retention never deletes the active segment. Moves log start to the first remaining segment.
    /// Returns how many segments were deleted. Segment files are deleted at once (no
    /// `file.delete.delay.ms`). Note: does not know the high watermark. Does nothing unless
    /// `cleanup.policy` includes `delete`.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        self.last_now_ms = now_ms;
        if !self.config.cleanup_policy.deletes() {
            return Ok(0);
        }
        let mut deleted = 0;
        let retention_ms = self.config.retention_ms;
        if retention_ms >= 0 {
            loop {
                if let Some(oldest) = self.sealed.front() {
                    if now_ms.saturating_sub(oldest.segment().retention_timestamp()?) > retention_ms
                    {
                        self.delete_oldest_segment()?;
                        deleted += 1;
                        continue;
                    }
                } else if self.active.segment().size() > 0
                    && now_ms.saturating_sub(self.active.segment().retention_timestamp()?)
                        > retention_ms
                {
                    self.roll(now_ms)?;
                    continue;
                }
                break;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            while let Some(oldest) = self.sealed.front() {
                let size = oldest.segment().size() as i64;
                if excess - size < 0 {
                    break;
                }
                excess -= size;
                self.delete_oldest_segment()?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.after_segment_deletion()?;
        }
        Ok(deleted)
    }

    /// Log compaction (Kafka `cleanup.policy=compact`): rewrites the oldest sealed segments whose
    /// records are all older than `min.compaction.lag.ms`, keeping per key only its latest record
    /// in the whole log (active segment included) and dropping tombstones whose batch is older
    /// than `delete.retention.ms`. The active segment is never touched; offsets never change
    /// (compacted logs have gaps). Skipped when the policy does not compact, or when the bytes
    /// past `cleaner-offset-checkpoint` are less than `min.cleanable.dirty.ratio` of the
    /// cleanable bytes. Each segment is swapped in crash-safely (see `cleaner.rs`). Producer
    /// state and its snapshots are left as they are.
    pub fn compact(&mut self, now_ms: i64) -> Result<CompactionStats, StorageError> {
        self.last_now_ms = now_ms;
        let mut stats = CompactionStats::default();
        if !self.config.cleanup_policy.compacts() {
            return Ok(stats);
        }
        let lag_limit = now_ms.saturating_sub(self.config.min_compaction_lag_ms.max(0));
        let cleanable = self
            .sealed
            .iter()
            .take_while(|s| s.segment().max_timestamp() <= lag_limit)
            .count();
        let clean_point = cleaner::read_checkpoint(&self.dir);
        let (mut dirty, mut total) = (0u64, 0u64);
        for s in self.sealed.iter().take(cleanable) {
            total += s.segment().size();
            if s.segment().next_offset() > clean_point {
                dirty += s.segment().size();
            }
        }
        if cleanable == 0
            || (total > 0
                && (dirty as f64) / (total as f64) < self.config.min_cleanable_dirty_ratio)
        {
            stats.skipped = true;
            return Ok(stats);
        }

        let mut map = cleaner::OffsetMap::new();
        for seg in self.segments() {
            cleaner::add_to_offset_map(&mut map, &seg.read_all()?)?;
        }
        let horizon = now_ms.saturating_sub(self.config.delete_retention_ms.max(0));
        let mut cleaned_to = clean_point;
        for i in 0..cleanable {
            let (base, next_base, bytes, mtime_ms) = {
                let seg = self.sealed[i].segment();
                let next_base = self
                    .sealed
                    .get(i + 1)
                    .map_or(self.active.segment().base_offset(), |s| {
                        s.segment().base_offset()
                    });
                let bytes = seg.read_all()?;
                (
                    seg.base_offset(),
                    next_base,
                    bytes,
                    seg.retention_timestamp()?,
                )
            };
            let cleaned = cleaner::clean_segment(&bytes, &map, horizon)?;
            stats.segments_cleaned += 1;
            stats.records_read += cleaned.records_read;
            stats.records_kept += cleaned.records_kept;
            stats.bytes_before += bytes.len() as u64;
            stats.bytes_after += cleaned.bytes.len() as u64;
            cleaned_to = next_base;
            if cleaned.bytes == bytes {
                continue;
            }
            cleaner::swap_in(&self.dir, base, &cleaned.bytes, mtime_ms)?;
            let mut loaded = Segment::open(
                &self.dir,
                base,
                Some(next_base),
                LoadMode::Trust,
                self.config.index_interval_bytes,
            )?;
            loaded.segment.extend_next_offset(next_base);
            self.sealed[i] = SealedSegment::from_loaded(loaded.segment)?;
            tracing::debug!(
                dir = %self.dir.display(),
                base_offset = base,
                records_read = cleaned.records_read,
                records_kept = cleaned.records_kept,
                "cleaned segment"
            );
        }
        if cleaned_to > clean_point {
            cleaner::write_checkpoint(&self.dir, cleaned_to)?;
        }
        Ok(stats)
    }

    fn delete_oldest_segment(&mut self) -> Result<(), StorageError> {
        if let Some(seg) = self.sealed.pop_front() {
            let seg = seg.into_segment();
            tracing::debug!(dir = %self.dir.display(), base_offset = seg.base_offset(), "deleting segment");
            seg.delete()?;
        }
        Ok(())
    }

    fn after_segment_deletion(&mut self) -> Result<(), StorageError> {
        let first_base = self
            .sealed
            .front()
            .map_or(self.active.segment().base_offset(), |s| {
                s.segment().base_offset()
            });
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            self.epochs_after_log_start_move()?;
        }
        ProducerStateManager::prune_snapshots(&self.dir, first_base)?;
        Ok(())
    }

    /// Seals the active segment (fsynced) and starts an empty one at log end; writes a producer
    /// snapshot and moves the recovery point to the new segment's base.
    fn roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let new_base = self.log_end_offset();
        self.active.prepare_seal()?;
        let fresh = ActiveSegment::create(&self.dir, new_base, now_ms)?;
        let old = std::mem::replace(&mut self.active, fresh);
        self.sealed.push_back(old.seal());
        self.producers.write_snapshot(&self.dir, new_base)?;
        // Everything appended so far is in the fsynced old segment.
        self.unflushed_records = 0;
        if new_base > self.recovery_point {
            self.recovery_point = new_base;
            checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), new_base)?;
        }
        tracing::debug!(dir = %self.dir.display(), base_offset = new_base, "rolled segment");
        Ok(())
    }

    /// For group commit: a handle that fsyncs the data of everything appended so far, to be used
    /// without holding the log (appends go on while it syncs). Only the active segment's file is
    /// synced: a roll fsyncs the segment it seals. Indexes and the recovery point are not touched
    /// (recovery rebuilds them past the recovery point, checking CRCs).
    pub fn sync_handle(&self) -> Result<SyncHandle, StorageError> {
        Ok(SyncHandle {
            end: self.log_end_offset(),
            file: self.active.segment().clone_file()?,
        })
    }

    /// fsyncs the active segment and its indexes and moves the recovery point to log end.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        self.active.flush()?;
        checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), log_end)?;
        self.recovery_point = log_end;
        self.unflushed_records = 0;
        Ok(())
    }

    /// Kafka `flush.messages` / `flush.ms`: flushes when enough records are unflushed or the last
    /// flush is old enough. `append` calls this itself; call it periodically too.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.last_now_ms = now_ms;
        if self.unflushed_records == 0 {
            return Ok(());
        }
        let by_count = self.unflushed_records >= self.config.flush_messages.max(1) as u64;
        let by_time = now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms;
        if by_count || by_time {
            self.flush()?;
            self.last_flush_ms = now_ms;
        }
        Ok(())
    }

    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Flushes and writes a producer-state snapshot at log end, so the next open needs no replay.
    /// After this (and `LogManager::mark_clean_shutdown`) the dir counts as cleanly closed.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.flush()?;
        self.producers
            .write_snapshot(&self.dir, self.log_end_offset())?;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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
            remove_if_exists(&entry.path())?;
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
            INDEX_EXT | TIME_INDEX_EXT => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            remove_if_exists(&path)?;
        }
    }
    Ok(bases)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
