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
//!
//! `PartitionLog`'s `impl` is split across the files of this module deliberately, one file per
//! job, so that each later feature lands in one of them (Kafka keeps the same jobs in
//! `UnifiedLog`, `LogLoader` and `LogCleaner`):
//! - this file: the type, its fields, small accessors, reads (fetch, ListOffsets lookups) and the
//!   flush policy (flush, group-commit sync handles, close);
//! - `open.rs`: opening and crash recovery (segments, producer state, the leader epoch cache);
//! - `append.rs`: the producer append, the leader append (stamps the leader epoch) and the
//!   follower's replicated append, which share one roll-and-epoch-and-write step, and rolling;
//! - `truncate.rs`: the leader epoch cache's upkeep (OffsetsForLeaderEpoch, epoch assignment
//!   when becoming leader) and follower truncation (`truncate_to`,
//!   `truncate_fully_and_start_at`);
//! - `retention.rs`: deleting whole segments from the front: retention by time and size, and
//!   DeleteRecords (log start offset moves);
//! - `compact.rs`: log compaction (choosing segments and swapping in what the cleaner rewrote).
//!
//! The child files only add methods to [`PartitionLog`] and import it from here; this file
//! imports nothing from them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::checkpoint::{self, RECOVERY_POINT_FILE};
use crate::config::LogConfig;
use crate::epoch::LeaderEpochCache;
use crate::error::{ReadError, StorageError};
use crate::index::TimestampOffset;
use crate::producer_state::ProducerStateManager;
use crate::segment::{ActiveSegment, FileSlice, SealedSegment, Segment};
use crate::txn_index::{AbortedTxn, TxnIndex};

mod append;
mod compact;
mod open;
mod retention;
mod truncate;

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
    /// Aborted transactions per segment (`.txnindex` files).
    txn_index: TxnIndex,
    /// Mirrors `leader-epoch-checkpoint`, which is rewritten whenever this changes.
    epochs: LeaderEpochCache,
    unflushed_records: u64,
    last_flush_ms: i64,
    /// Latest `now_ms` seen, for operations that take no clock (DeleteRecords rolling).
    last_now_ms: i64,
    /// The latest delete horizon the cleaner stamped on a marker in its last pass (Kafka's
    /// `latestDeleteHorizon`): once passed, the cleaner runs even without dirty data.
    latest_delete_horizon: Option<i64>,
}

impl PartitionLog {
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

    /// The last stable offset given the partition's `high_watermark` (Kafka's `lastStableOffset`):
    /// the first offset of the earliest transaction that is open (or whose marker is not yet below
    /// the high watermark), never below the log start, else the high watermark. What
    /// read_committed consumers may read up to. Without transactions this is the high watermark
    /// after one check.
    pub fn last_stable_offset(&mut self, high_watermark: i64) -> i64 {
        if !self.producers.has_unstable() {
            return high_watermark;
        }
        match self.producers.first_unstable_offset(high_watermark) {
            Some(first) => first.max(self.log_start_offset).min(high_watermark),
            None => high_watermark,
        }
    }

    /// The aborted transactions a read_committed fetch of `[from, upper)` must be told about
    /// (Kafka's `collectAbortedTransactions`): those whose ABORT marker is at or after `from` and
    /// whose first offset is below `upper`, oldest marker first.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        if self.txn_index.is_empty() {
            return Vec::new();
        }
        let from_segment = self
            .segments()
            .nth(self.locate(from))
            .map_or(i64::MIN, Segment::base_offset);
        self.txn_index.collect(from_segment, from, upper)
    }

    /// Open transactions in this partition: (first offset, producer id), oldest first.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.producers.ongoing_txns().collect()
    }

    /// Whether `producer_id` at `producer_epoch` has an open transaction in this partition: its next
    /// transactional batch needs no KIP-890 verification (Kafka's `hasOngoingTransaction`).
    pub fn has_ongoing_transaction(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producers.has_ongoing_txn(producer_id, producer_epoch)
    }

    /// The producers of this partition with their epochs, sequences, timestamps, coordinator epochs
    /// and open transactions (DescribeProducers), by producer id.
    pub fn active_producers(&self) -> Vec<crate::ActiveProducer> {
        self.producers.active_producers()
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

    /// ListOffsets MAX_TIMESTAMP (Kafka 3.8+): the largest timestamp and the offset of the first
    /// record carrying it (not the last offset of its batch). None when no batch has a timestamp.
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, StorageError> {
        let mut best: Option<(i64, &Segment)> = None;
        for seg in self.segments() {
            if seg.max_timestamp() >= 0 && best.is_none_or(|(ts, _)| seg.max_timestamp() > ts) {
                best = Some((seg.max_timestamp(), seg));
            }
        }
        let Some((timestamp, seg)) = best else {
            return Ok(None);
        };
        Ok(Some(TimestampOffset {
            timestamp,
            offset: seg.offset_of_max_timestamp_record()?,
        }))
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
        self.txn_index.sync(self.active.segment().base_offset())?;
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
