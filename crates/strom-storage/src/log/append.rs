//! Appending to a partition log: the producer append ([`PartitionLog::append`]), the same on a
//! replica leader, which stamps the leader epoch ([`PartitionLog::append_as_leader`]), and the
//! follower's append of a leader's batches byte-for-byte ([`PartitionLog::append_replicated`]);
//! plus segment rolling. Part of [`PartitionLog`]'s `impl`, split by job across `log/` (see
//! `log/mod.rs`).
//!
//! The two paths differ in what they check and how they assign offsets; once their batches are
//! final they share one step, `PartitionLog::roll_and_write`: the roll decision, the leader
//! epoch cache update (persisted before the data, Kafka's order), the write, and putting the
//! cache back when the write fails. Not here: batch parsing and validation (`batch.rs`),
//! idempotent-producer rules (`producer_state/`), the flush policy (`log/mod.rs`).

use std::io;

use super::{AppendInfo, PartitionLog};
use crate::batch::{self, BatchHeader, ControlMarker};
use crate::checkpoint::{self, RECOVERY_POINT_FILE};
use crate::config::TimestampType;
use crate::error::{AppendError, StorageError};
use crate::producer_state::{Check, CompletedTxn, Origin};
use crate::segment::ActiveSegment;
use crate::validator;

impl PartitionLog {
    /// Validates and appends one or more v2 batches as sent by a producer; all or nothing. See the
    /// crate's API notes: offsets are assigned by rewriting `base_offset`, LogAppendTime logs
    /// stamp `max_timestamp` (and recompute the CRC), batches in another codec than a
    /// `compression.type` other than `producer` are recompressed (`validator.rs`), the bytes are
    /// otherwise stored as sent. A
    /// duplicate idempotent batch appends nothing and reports the original offsets. Applies the
    /// flush policy afterwards.
    ///
    /// Each batch keeps the `partitionLeaderEpoch` it arrived with and the leader epoch cache is
    /// not touched: this is the path of a log that is not replicated. A replica leader uses
    /// [`PartitionLog::append_as_leader`].
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo, AppendError> {
        self.append_validated(records, now_ms, None, Origin::Client)
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
        self.append_validated(records, now_ms, Some(leader_epoch), Origin::Client)
    }

    /// [`PartitionLog::append_as_leader`] for the broker's own batches (Kafka's
    /// `AppendOrigin.COORDINATOR`): the group coordinator's records, including transactional
    /// offset commits stamped with a producer's id and epoch. Only producer and coordinator epochs
    /// are checked, not sequences.
    pub fn append_as_coordinator(
        &mut self,
        records: &[u8],
        now_ms: i64,
        leader_epoch: i32,
    ) -> Result<AppendInfo, AppendError> {
        self.append_validated(records, now_ms, Some(leader_epoch), Origin::Coordinator)
    }

    /// Appends the control batch that ends `producer_id`'s transaction (WriteTxnMarkers on the
    /// partition leader, Kafka's `appendAsLeader` of an `EndTransactionMarker`): refused with
    /// [`AppendError::InvalidProducerEpoch`] when `producer_epoch` is older than the producer's,
    /// and [`AppendError::TransactionCoordinatorFenced`] when the marker's coordinator epoch is
    /// older than the last marker's. A newer epoch is taken (KIP-890 part 2 bumps it at the end
    /// of each transaction). The transaction's data, if any, stops holding back the LSO once the
    /// marker is below the high watermark; an ABORT writes an index entry.
    pub fn append_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        marker: ControlMarker,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        let batch = batch::encode_control_batch(producer_id, producer_epoch, marker, now_ms);
        self.append_validated(&batch, now_ms, Some(leader_epoch), Origin::Coordinator)
    }

    /// The producer append path; `leader_epoch` is Some on a replica leader (see
    /// [`PartitionLog::append_as_leader`]).
    fn append_validated(
        &mut self,
        records: &[u8],
        now_ms: i64,
        leader_epoch: Option<i32>,
        origin: Origin,
    ) -> Result<AppendInfo, AppendError> {
        self.last_now_ms = now_ms;
        if records.is_empty() {
            return Err(AppendError::CorruptMessage("empty record set".to_string()));
        }
        let mut checked: Vec<validator::Batch> = Vec::new();
        let mut markers: Vec<Option<ControlMarker>> = Vec::new();
        let mut pos = 0;
        for item in batch::iter_batches(records) {
            let (h, bytes) = item?;
            let span = batch::validate(&h, bytes, self.config.max_message_bytes)?;
            if h.is_control() {
                if origin == Origin::Client {
                    return Err(AppendError::ControlBatchFromClient);
                }
                // Markers are rare: only then is the per-batch list allocated.
                markers.resize(checked.len(), None);
                markers.push(batch::parse_control_marker(&h, bytes));
            }
            checked.push((pos, h, span));
            pos += bytes.len();
        }
        // Kafka's LogValidator: per-record checks, and the batches again in the topic's codec
        // when `compression.type` asks for another one (they replace the request's bytes).
        let tp = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let rewritten = validator::validate_records(records, &checked, &self.config, now_ms, &tp)?;
        let records: &[u8] = rewritten.as_deref().unwrap_or(records);
        let mut batches: Vec<(usize, BatchHeader)> = match &rewritten {
            None => checked.into_iter().map(|(pos, h, _)| (pos, h)).collect(),
            Some(bytes) => {
                let mut batches = Vec::with_capacity(checked.len());
                let mut pos = 0;
                for item in batch::iter_batches(bytes) {
                    let (h, b) = item?;
                    batches.push((pos, h));
                    pos += b.len();
                }
                batches
            }
        };

        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let log_start_offset = self.log_start_offset;
        let mut next = self.log_end_offset();
        let mut pending = self.producers.begin_append();
        for (i, (_, h)) in batches.iter_mut().enumerate() {
            h.base_offset = next;
            if let Some(epoch) = leader_epoch {
                h.partition_leader_epoch = epoch;
            }
            if log_append_time {
                h.max_timestamp = now_ms;
                h.attributes |= 1 << 3;
            }
            let marker = markers.get(i).copied().flatten();
            if let Check::Duplicate(original) = pending.check(h, next, marker, origin)? {
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
        // A replica leader's epoch starts at the first offset appended in it.
        let epoch_starts = leader_epoch
            .zip(batches.first())
            .map(|(epoch, (_, first))| (epoch, first.base_offset));
        let records_appended = self.roll_and_write(
            &mut slices,
            records.len(),
            &batches,
            next - 1,
            epoch_starts,
            now_ms,
        )?;
        let completed = staged.completed().to_vec();
        self.producers.commit(staged);
        self.complete_txns(&completed)?;

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
        // Every batch carries the epoch of the leader that wrote it.
        let epoch_starts = batches
            .iter()
            .map(|(_, h)| (h.partition_leader_epoch, h.base_offset));
        let records_appended = self.roll_and_write(
            &mut [io::IoSlice::new(records)],
            records.len(),
            &batches,
            expected - 1,
            epoch_starts,
            now_ms,
        )?;
        for (pos, h) in &batches {
            let marker = if h.is_control() {
                batch::parse_control_marker(h, &records[*pos..*pos + h.total_len()])
            } else {
                None
            };
            if let Some(txn) = self.producers.replay(h, marker) {
                self.complete_txns(&[txn])?;
            }
        }
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

    /// Applies transactions just ended by markers in the active segment (Kafka's order: the
    /// LSO at completion is computed, an aborted one is indexed, then it is completed).
    fn complete_txns(&mut self, completed: &[CompletedTxn]) -> Result<(), AppendError> {
        for txn in completed {
            let lso = self.producers.last_stable_offset_after(txn);
            if txn.aborted {
                let base = self.active.segment().base_offset();
                self.txn_index.append(base, txn.index_entry(lso))?;
            }
            self.producers.complete_txn(txn);
        }
        Ok(())
    }

    /// The step both append paths share once their batches are final (offsets assigned, leader
    /// epochs stamped, producer checks passed): rolls the active segment when `len` more bytes
    /// ending at `last_offset` would overflow it (`segment.bytes`, `segment.ms`, index limits);
    /// records in the leader epoch cache each `(epoch, start offset)` of `epoch_starts` that is
    /// newer than the latest, persisting the cache before the data it describes is written
    /// (Kafka's order; an entry whose data never made it is dropped again at open); writes `parts`
    /// (`len` bytes holding `batches`, each at its position) with one vectored write; and puts the
    /// cache back when that write fails. Returns the number of records written, which also count
    /// as unflushed. Producer state and the flush policy stay with the caller.
    fn roll_and_write(
        &mut self,
        parts: &mut [io::IoSlice<'_>],
        len: usize,
        batches: &[(usize, BatchHeader)],
        last_offset: i64,
        epoch_starts: impl IntoIterator<Item = (i32, i64)>,
        now_ms: i64,
    ) -> Result<u64, AppendError> {
        if self.active.should_roll(
            len as u64,
            last_offset,
            self.config.segment_bytes,
            self.config.segment_ms,
            now_ms,
        ) {
            self.roll(now_ms).map_err(io::Error::from)?;
        }
        // The cache is copied only when an epoch is new (rare), not on every append.
        let mut previous_epochs = None;
        for (epoch, start_offset) in epoch_starts {
            if self.epochs.is_new_epoch(epoch) {
                previous_epochs.get_or_insert_with(|| self.epochs.clone());
                self.epochs.assign(epoch, start_offset);
            }
        }
        // The cache entry is durable before the data it describes.
        let previous_epochs = match previous_epochs {
            Some(previous) => match self.save_epochs() {
                Ok(()) => Some(previous),
                Err(e) => {
                    self.epochs = previous;
                    return Err(io::Error::from(e).into());
                }
            },
            None => None,
        };
        if let Err(e) = self
            .active
            .append(parts, len, batches, self.config.index_interval_bytes)
        {
            if let Some(previous) = previous_epochs {
                self.restore_epochs(previous);
            }
            return Err(e.into());
        }
        let records: u64 = batches
            .iter()
            .map(|(_, h)| h.records_count.max(0) as u64)
            .sum();
        self.unflushed_records += records;
        Ok(records)
    }

    /// Seals the active segment (fsynced) and starts an empty one at log end; writes a producer
    /// snapshot and moves the recovery point to the new segment's base.
    pub(super) fn roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let new_base = self.log_end_offset();
        self.active.prepare_seal()?;
        let fresh = ActiveSegment::create(&self.dir, new_base, now_ms)?;
        self.txn_index.sync(self.active.segment().base_offset())?;
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
}
