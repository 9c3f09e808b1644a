//! Deleting whole segments from the front of a partition log: time and size retention (Kafka
//! `retention.ms` / `retention.bytes`, `cleanup.policy=delete`) and DeleteRecords (a log start
//! offset move, after which the segments entirely below it go); and producer-id expiry (Kafka's
//! `removeExpiredProducers`), the other thing that forgets old state. Part of [`PartitionLog`]'s
//! `impl`, split by job across `log/` (see `log/mod.rs`).
//!
//! As in Kafka (`UnifiedLog.deletableSegments` / `maybeIncrementLogStartOffset`), the log start
//! never passes the high watermark the caller passes: retention deletes only segments that end at
//! or below it. Open transactions do not hold the log start back: a transaction whose first offset
//! falls below the new log start stays open (its marker completes it as usual), the LSO is clamped
//! to the log start, and completed transactions whose marker is below it are forgotten
//! (`ProducerStateManager::on_log_start_offset_incremented`). Producer state is not removed with
//! segments, only by expiry.
//!
//! Not here: compaction (`compact.rs`), follower truncation from the end (`truncate.rs`).

use super::PartitionLog;
use crate::checkpoint::{self, LOG_START_OFFSET_FILE};
use crate::error::StorageError;
use crate::producer_state::ProducerStateManager;

impl PartitionLog {
    /// DeleteRecords: moves log start up to `offset` (clamped to log end; never moves it back),
    /// persists it, and deletes segments entirely below it. If that is the whole active segment, an
    /// empty segment is rolled first so it can go too. Returns the new log start offset. The caller
    /// refuses an offset above the high watermark (Kafka's OFFSET_OUT_OF_RANGE); an open
    /// transaction does not stop the move (see the module docs).
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        let target = offset.min(self.log_end_offset());
        if target > self.log_start_offset {
            self.log_start_offset = target;
            checkpoint::write_offset(&self.dir.join(LOG_START_OFFSET_FILE), target)?;
            self.epochs_after_log_start_move()?;
            self.producers.on_log_start_offset_incremented(target);
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
    /// oldest first, but only segments that end at or below `high_watermark` (Kafka's
    /// `deletableSegments`: the log start never passes the high watermark). An entirely expired
    /// active segment is rolled first so it can be deleted, once the high watermark is at the log
    /// end; size retention never deletes the active segment. Moves log start to the first
    /// remaining segment. Returns how many segments were deleted. Segment files are deleted at
    /// once (no `file.delete.delay.ms`). Does nothing unless `cleanup.policy` includes `delete`.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, StorageError> {
        self.last_now_ms = now_ms;
        if !self.config.cleanup_policy.deletes() {
            return Ok(0);
        }
        let mut deleted = 0;
        let retention_ms = self.config.retention_ms;
        if retention_ms >= 0 {
            loop {
                if let Some(oldest) = self.sealed.front() {
                    if self.segment_end(0) <= high_watermark
                        && now_ms.saturating_sub(oldest.segment().retention_timestamp()?)
                            > retention_ms
                    {
                        self.delete_oldest_segment()?;
                        deleted += 1;
                        continue;
                    }
                } else if self.active.segment().size() > 0
                    && self.log_end_offset() <= high_watermark
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
                if excess - size < 0 || self.segment_end(0) > high_watermark {
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

    /// Forgets producers idle for `expiration_ms` (Kafka's `producer.id.expiration.ms`, checked
    /// every `producer.id.expiration.check.interval.ms` by the broker), except those with an open
    /// transaction. A forgotten producer's next batch is accepted with any sequence, as for a
    /// producer never seen. Returns how many were removed.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers
            .remove_expired_producers(now_ms, expiration_ms)
    }

    /// The offset after sealed segment `i`: the next segment's base offset (or the active one's).
    fn segment_end(&self, i: usize) -> i64 {
        self.sealed
            .get(i + 1)
            .map_or(self.active.segment().base_offset(), |s| {
                s.segment().base_offset()
            })
    }

    fn delete_oldest_segment(&mut self) -> Result<(), StorageError> {
        if let Some(seg) = self.sealed.pop_front() {
            let seg = seg.into_segment();
            self.txn_index.remove_segment(seg.base_offset());
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
            self.producers.on_log_start_offset_incremented(first_base);
        }
        ProducerStateManager::prune_snapshots(&self.dir, first_base)?;
        Ok(())
    }
}
