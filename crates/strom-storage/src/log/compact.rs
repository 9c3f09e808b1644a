//! Log compaction of a partition log (`cleanup.policy=compact`): choosing which sealed segments
//! to clean (`min.compaction.lag.ms`, `min.cleanable.dirty.ratio`), building the key map over the
//! whole log, and swapping each cleaned segment in. Part of [`PartitionLog`]'s `impl`, split by
//! job across `log/` (see `log/mod.rs`).
//!
//! Not here: rewriting a segment's batches and the crash-safe file swap (`cleaner.rs`), and the
//! key check of appends to a compacted log (`validator.rs`, called by `append.rs`).

use super::PartitionLog;
use crate::cleaner::{self, CompactionStats};
use crate::error::StorageError;
use crate::segment::{LoadMode, SealedSegment, Segment};

impl PartitionLog {
    /// Log compaction (Kafka `cleanup.policy=compact`): rewrites the oldest sealed segments whose
    /// records are all older than `min.compaction.lag.ms`, keeping per key only its latest record
    /// in the whole log (active segment included) and dropping tombstones whose batch is older
    /// than `delete.retention.ms`. The active segment is never touched; offsets never change
    /// (compacted logs have gaps). Skipped when the policy does not compact, or when the bytes
    /// past `cleaner-offset-checkpoint` are less than `min.cleanable.dirty.ratio` of the
    /// cleanable bytes. Each segment is swapped in crash-safely (see `cleaner.rs`). Producer
    /// state and its snapshots are left as they are. With transactions (Kafka's cleaner rules):
    /// only segments below the first unstable offset are cleaned, aborted transactions' batches are
    /// removed and never shadow a committed value, open ones do not either, and a marker goes once
    /// no batch of its transaction is left and the KIP-534 delete horizon
    /// (`delete.retention.ms`) the cleaner stamped on it has passed (see `cleaner.rs`).
    pub fn compact(&mut self, now_ms: i64) -> Result<CompactionStats, StorageError> {
        self.last_now_ms = now_ms;
        let mut stats = CompactionStats::default();
        if !self.config.cleanup_policy.compacts() {
            return Ok(stats);
        }
        let lag_limit = now_ms.saturating_sub(self.config.min_compaction_lag_ms.max(0));
        // Nothing at or past the first open transaction is cleaned (Kafka's `firstUncleanableOffset`
        // stops at the first unstable offset; this log does not know the high watermark, so it stops at
        // the first undecided one).
        let first_unstable = self.producers.first_undecided_offset().unwrap_or(i64::MAX);
        let cleanable = self
            .sealed
            .iter()
            .take_while(|s| {
                s.segment().max_timestamp() <= lag_limit
                    && s.segment().next_offset() <= first_unstable
            })
            .count();
        let clean_point = cleaner::read_checkpoint(&self.dir);
        let (mut dirty, mut total) = (0u64, 0u64);
        for s in self.sealed.iter().take(cleanable) {
            total += s.segment().size();
            if s.segment().next_offset() > clean_point {
                dirty += s.segment().size();
            }
        }
        // Like Kafka's `grabFilthiestCompactedLog`, a log too clean to compact is still cleaned
        // once a delete horizon stamped by the last pass has passed, so the markers go.
        let horizon_due = self.latest_delete_horizon.is_some_and(|h| h <= now_ms);
        if cleanable == 0
            || (total > 0
                && !horizon_due
                && (dirty as f64) / (total as f64) < self.config.min_cleanable_dirty_ratio)
        {
            stats.skipped = true;
            return Ok(stats);
        }

        let aborted = self.txn_index.collect(i64::MIN, i64::MIN, i64::MAX);
        let txns = cleaner::TxnFilter {
            aborted: &aborted,
            first_unstable,
        };
        let mut map = cleaner::OffsetMap::new();
        let mut last_batches = cleaner::LastBatches::new();
        for seg in self.segments() {
            cleaner::add_to_offset_map(&mut map, &mut last_batches, &seg.read_all()?, &txns)?;
        }
        let mut markers = cleaner::MarkerCleaning::new(
            &last_batches,
            |pid| self.producers.epoch_of(pid),
            now_ms,
            self.config.delete_retention_ms,
        );
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
            let cleaned = cleaner::clean_segment(&bytes, &map, horizon, &txns, &mut markers)?;
            stats.segments_cleaned += 1;
            stats.records_read += cleaned.records_read;
            stats.records_kept += cleaned.records_kept;
            stats.bytes_before += bytes.len() as u64;
            stats.bytes_after += cleaned.bytes.len() as u64;
            cleaned_to = next_base;
            if cleaned.bytes == bytes {
                continue;
            }
            // The index loses the dropped ABORT markers' entries first: a crash in between leaves
            // a marker without its entry, harmless since no data of its transaction is left.
            self.txn_index
                .remove_markers(base, &cleaned.dropped_aborts)?;
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
        self.latest_delete_horizon = markers.latest_horizon();
        if cleaned_to > clean_point {
            cleaner::write_checkpoint(&self.dir, cleaned_to)?;
        }
        Ok(stats)
    }
}
