//! The leader epoch cache's upkeep and follower truncation: OffsetsForLeaderEpoch answers,
//! assigning a new leader's epoch, persisting (and on a failed append restoring) the cache, and
//! cutting the log back for a follower ([`PartitionLog::truncate_to`], Kafka `truncateTo`) or
//! starting it over at an offset ([`PartitionLog::truncate_fully_and_start_at`]). Part of
//! [`PartitionLog`]'s `impl`, split by job across `log/` (see `log/mod.rs`).
//!
//! Not here: the cache's entry rules and file format (`epoch.rs`), deciding where a follower
//! truncates (the broker's replica fetcher), and moving the log start forward (DeleteRecords and
//! retention, `retention.rs`, which call `epochs_after_log_start_move`).

use std::io;

use super::PartitionLog;
use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::cleaner;
use crate::epoch::LeaderEpochCache;
use crate::error::StorageError;
use crate::producer_state::ProducerStateManager;
use crate::segment::ActiveSegment;

impl PartitionLog {
    /// Persists the epoch cache after a change.
    pub(super) fn save_epochs(&self) -> Result<(), StorageError> {
        Ok(self.epochs.write(&self.dir)?)
    }

    /// Puts back the epoch cache of before a failed append (best effort: the append already
    /// failed with an I/O error, and reopening drops entries beyond the log end anyway).
    pub(super) fn restore_epochs(&mut self, previous: LeaderEpochCache) {
        self.epochs = previous;
        if let Err(e) = self.save_epochs() {
            tracing::error!(dir = %self.dir.display(), error = %e, "could not restore the leader epoch checkpoint");
        }
    }

    /// Applies a log start offset move to the epoch cache (Kafka `truncateFromStart`).
    pub(super) fn epochs_after_log_start_move(&mut self) -> Result<(), StorageError> {
        if self.epochs.truncate_from_start(self.log_start_offset) {
            self.save_epochs()?;
        }
        Ok(())
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
        self.txn_index.truncate_from(new_end)?;
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
        self.txn_index.clear();
        tracing::info!(dir = %self.dir.display(), offset, "truncated log fully");
        Ok(())
    }
}
