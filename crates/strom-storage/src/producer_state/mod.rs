//! Producer state of one partition (Kafka's `ProducerStateManager` / `ProducerAppendInfo`): per
//! producer id, the current epoch, the last five batches (sequence range, offsets, max timestamp),
//! the coordinator epoch of its last transaction marker and the first offset of its open
//! transaction; Kafka's duplicate / sequence / epoch / transaction-state rules; the open
//! transactions of the partition (first offset → producer) and the completed ones whose marker is
//! not yet below the high watermark, which together give the first unstable offset (the LSO); and
//! the snapshot files `<20-digit offset>.snapshot` (JSON; state as of that log offset); producer-id
//! expiry (Kafka's `removeExpiredProducers`: a producer idle for `producer.id.expiration.ms`, by the
//! timestamp of its last batch or marker, is forgotten unless it has an open transaction) and what a
//! log start move does (Kafka's `onLogStartOffsetIncremented`: completed transactions whose marker
//! is below the new log start are forgotten; producers and open transactions are kept, the log
//! clamps the LSO to its start).
//!
//! Does not do the aborted-transaction index (`txn_index.rs`; the log writes an entry for each
//! aborted [`CompletedTxn`] this returns). Validation is staged in a [`ProducerAppend`] so a
//! rejected multi-batch append leaves the state untouched.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::batch::{BatchHeader, ControlMarker};
use crate::error::AppendError;
use crate::txn_index::AbortedTxn;

mod snapshot;

/// Kafka keeps the metadata of the last five batches per producer for duplicate detection
/// (`max.in.flight.requests.per.connection` may be at most 5 with idempotence).
const CACHED_BATCHES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMetadata>,
    /// Coordinator epoch of the last transaction marker (-1: none); a marker from an older
    /// coordinator is fenced. Absent in snapshots written before transactions.
    #[serde(default = "no_coordinator_epoch")]
    pub(crate) coordinator_epoch: i32,
    /// First offset of this producer's open transaction in this partition.
    #[serde(default)]
    pub(crate) txn_first_offset: Option<i64>,
    /// Max timestamp of the producer's last batch or marker (Kafka's `lastTimestamp`), what
    /// producer-id expiry measures idleness by. -1 in snapshots written before expiry existed (then
    /// taken from the last cached batch at load).
    #[serde(default = "no_timestamp")]
    pub(crate) last_timestamp: i64,
}

fn no_coordinator_epoch() -> i32 {
    -1
}

fn no_timestamp() -> i64 {
    -1
}

/// Who appends, which decides what is checked (Kafka's `AppendOrigin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A producer: epoch, sequence and transaction-state rules, duplicates detected.
    Client,
    /// The broker's own appends (transaction markers, transactional offset commits): epoch and
    /// coordinator-epoch rules only.
    Coordinator,
    /// A follower copying its leader, or recovery: nothing is refused.
    Replication,
}

/// A transaction that a marker ended (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    /// The marker's offset.
    pub(crate) last_offset: i64,
    pub(crate) aborted: bool,
}

impl CompletedTxn {
    /// The aborted-transaction index entry of this transaction, completed with the LSO `lso`.
    pub(crate) fn index_entry(&self, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: self.producer_id,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            last_stable_offset: lso,
        }
    }
}

impl ProducerEntry {
    fn new(producer_id: i64, epoch: i16) -> Self {
        ProducerEntry {
            producer_id,
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    fn find_duplicate(&self, h: &BatchHeader) -> Option<BatchMetadata> {
        if h.producer_epoch != self.epoch {
            return None;
        }
        let last_seq = h.last_sequence();
        self.batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
            .copied()
    }

    /// Kafka `ProducerAppendInfo.checkProducerEpoch` + `checkSequence` for client appends.
    fn validate(&self, h: &BatchHeader) -> Result<(), AppendError> {
        if h.producer_epoch < self.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: self.producer_id,
                current: self.epoch,
                got: h.producer_epoch,
            });
        }
        if h.base_sequence < 0 {
            // No sequence (e.g. a control batch): only the epoch is checked.
            return Ok(());
        }
        if h.producer_epoch > self.epoch {
            if h.base_sequence != 0 {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: self.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(());
        }
        if let Some(last) = self.batches.back() {
            let expected = if last.last_seq == i32::MAX {
                0
            } else {
                last.last_seq + 1
            };
            if h.base_sequence != expected {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: self.producer_id,
                    expected,
                    got: h.base_sequence,
                });
            }
        }
        Ok(())
    }

    /// Records an appended batch (assumed valid): a newer epoch resets the cached batches.
    fn record(&mut self, h: &BatchHeader, first_offset: i64) {
        if h.producer_epoch > self.epoch {
            self.epoch = h.producer_epoch;
            self.batches.clear();
        } else if h.producer_epoch < self.epoch {
            return;
        }
        self.last_timestamp = h.max_timestamp;
        if h.base_sequence < 0 {
            return;
        }
        self.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset,
            last_offset: first_offset + i64::from(h.last_offset_delta),
            max_timestamp: h.max_timestamp,
        });
        while self.batches.len() > CACHED_BATCHES {
            self.batches.pop_front();
        }
    }
}

/// All producers of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id (Kafka's `ongoingTxns`).
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker may still be at or above the high watermark: first
    /// offset → marker offset (Kafka's `unreplicatedTxns`). Not in snapshots: a snapshot is only
    /// read back at or below the high watermark.
    unreplicated: BTreeMap<i64, i64>,
}

/// One producer of a partition as DescribeProducers reports it (Kafka's `ProducerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Last sequence of its last batch (-1: none cached).
    pub last_sequence: i32,
    /// Max timestamp of its last batch or transaction marker (-1: none).
    pub last_timestamp: i64,
    /// Coordinator epoch of its last transaction marker (-1: none).
    pub coordinator_epoch: i32,
    /// First offset of its open transaction (-1: none open).
    pub current_txn_start_offset: i64,
}

/// Outcome of checking one batch of a pending append.
pub(crate) enum Check {
    Append,
    /// Already in the log: the original batch.
    Duplicate(BatchMetadata),
}

/// Validation of one append call against a staged copy of the touched producers.
pub(crate) struct ProducerAppend<'a> {
    state: &'a ProducerStateManager,
    staged: HashMap<i64, ProducerEntry>,
    /// Transactions begun by this append: (first offset, producer id).
    started: Vec<(i64, i64)>,
    completed: Vec<CompletedTxn>,
}

/// What a validated append changes, applied by [`ProducerStateManager::commit`].
pub(crate) struct Staged {
    entries: HashMap<i64, ProducerEntry>,
    started: Vec<(i64, i64)>,
    completed: Vec<CompletedTxn>,
}

impl Staged {
    /// The transactions this append's markers end, in log order.
    pub(crate) fn completed(&self) -> &[CompletedTxn] {
        &self.completed
    }
}

impl ProducerAppend<'_> {
    /// Checks batch `h` that would get base offset `first_offset` (`marker`: its transaction
    /// marker when it is a control batch), staging its effect on success.
    pub(crate) fn check(
        &mut self,
        h: &BatchHeader,
        first_offset: i64,
        marker: Option<ControlMarker>,
        origin: Origin,
    ) -> Result<Check, AppendError> {
        if h.producer_id < 0 {
            return Ok(Check::Append);
        }
        let entry = match self.staged.get(&h.producer_id) {
            Some(e) => Some(e),
            None => self.state.producers.get(&h.producer_id),
        };
        let mut entry = match entry {
            Some(e) => {
                if origin == Origin::Client {
                    if let Some(dup) = e.find_duplicate(h) {
                        return Ok(Check::Duplicate(dup));
                    }
                    e.validate(h)?;
                } else if origin == Origin::Coordinator && h.producer_epoch < e.epoch {
                    return Err(AppendError::InvalidProducerEpoch {
                        producer_id: e.producer_id,
                        current: e.epoch,
                        got: h.producer_epoch,
                    });
                }
                e.clone()
            }
            // A producer we know nothing about accepts any sequence (its state may have been
            // removed with old segments).
            None => ProducerEntry::new(h.producer_id, h.producer_epoch),
        };
        let last_offset = first_offset + i64::from(h.last_offset_delta);
        if h.is_control() {
            if let Some(marker) = marker {
                if entry.coordinator_epoch > marker.coordinator_epoch
                    && origin != Origin::Replication
                {
                    return Err(AppendError::TransactionCoordinatorFenced {
                        producer_id: h.producer_id,
                        current: entry.coordinator_epoch,
                        got: marker.coordinator_epoch,
                    });
                }
                // Only a transaction with data in this partition completes; a marker of an empty
                // one changes neither the LSO nor the index (Kafka's `appendEndTxnMarker`).
                if let Some(first) = entry.txn_first_offset.take() {
                    self.completed.push(CompletedTxn {
                        producer_id: h.producer_id,
                        first_offset: first,
                        last_offset,
                        aborted: !marker.commit,
                    });
                }
                entry.coordinator_epoch = marker.coordinator_epoch;
                entry.last_timestamp = h.max_timestamp;
                // A marker may carry a bumped epoch (KIP-890 part 2): the next batch of the
                // producer then starts the new epoch at sequence 0.
                if h.producer_epoch != entry.epoch {
                    entry.epoch = h.producer_epoch;
                    entry.batches.clear();
                }
            }
        } else {
            if entry.txn_first_offset.is_some() && !h.is_transactional() {
                if origin != Origin::Replication {
                    return Err(AppendError::InvalidTxnState {
                        producer_id: h.producer_id,
                    });
                }
            } else if entry.txn_first_offset.is_none() && h.is_transactional() {
                entry.txn_first_offset = Some(first_offset);
                self.started.push((first_offset, h.producer_id));
            }
            entry.record(h, first_offset);
        }
        self.staged.insert(h.producer_id, entry);
        Ok(Check::Append)
    }

    pub(crate) fn into_staged(self) -> Staged {
        Staged {
            entries: self.staged,
            started: self.started,
            completed: self.completed,
        }
    }
}

impl ProducerStateManager {
    pub(crate) fn begin_append(&self) -> ProducerAppend<'_> {
        ProducerAppend {
            state: self,
            staged: HashMap::new(),
            started: Vec::new(),
            completed: Vec::new(),
        }
    }

    /// Applies a validated append. Its completed transactions are not applied here: the log calls
    /// [`ProducerStateManager::last_stable_offset_after`] and then
    /// [`ProducerStateManager::complete_txn`] for each, writing the aborted ones to its index in
    /// between (Kafka's order).
    pub(crate) fn commit(&mut self, staged: Staged) {
        self.producers.extend(staged.entries);
        for (first, pid) in staged.started {
            self.ongoing.insert(first, pid);
        }
    }

    /// The LSO right after `txn` completes (Kafka's `lastStableOffset(completedTxn)`): the first
    /// offset of the earliest other open transaction, else the offset after the marker. Stored
    /// with an aborted transaction in the index.
    pub(crate) fn last_stable_offset_after(&self, txn: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, pid)| **pid != txn.producer_id)
            .map_or(txn.last_offset + 1, |(first, _)| *first)
    }

    /// Moves `txn` from the open transactions to those whose marker is not yet known to be below
    /// the high watermark.
    pub(crate) fn complete_txn(&mut self, txn: &CompletedTxn) {
        self.ongoing.remove(&txn.first_offset);
        self.unreplicated.insert(txn.first_offset, txn.last_offset);
    }

    /// Replays a batch found in the log (recovery, or a follower's append): nothing is refused.
    /// Returns the transaction its marker completed, if any; the caller applies it like an append's
    /// (index entry, then [`ProducerStateManager::complete_txn`]).
    pub(crate) fn replay(
        &mut self,
        h: &BatchHeader,
        marker: Option<ControlMarker>,
    ) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        if !h.is_transactional() {
            // The plain idempotent path, without staging.
            self.producers
                .entry(h.producer_id)
                .or_insert_with(|| ProducerEntry::new(h.producer_id, h.producer_epoch))
                .record(h, h.base_offset);
            return None;
        }
        let mut append = self.begin_append();
        // Replication refuses nothing.
        let _ = append.check(h, h.base_offset, marker, Origin::Replication);
        let staged = append.into_staged();
        let completed = staged.completed.first().copied();
        self.commit(staged);
        completed
    }

    /// The first offset no read_committed consumer may read past on its own account (Kafka's
    /// `firstUnstableOffset`): the earliest open transaction's first offset, or that of a
    /// completed one whose marker is not yet below `high_watermark`. Completed transactions whose
    /// marker is below it are forgotten here (Kafka's `onHighWatermarkUpdated`).
    pub(crate) fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        if !self.unreplicated.is_empty() {
            self.unreplicated.retain(|_, last| *last >= high_watermark);
        }
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first offset of the earliest open transaction (Kafka's `firstUndecidedOffset`).
    pub(crate) fn first_undecided_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The log start moved to `log_start` (Kafka's `onLogStartOffsetIncremented`): completed
    /// transactions whose marker is below it are forgotten. Producers and open transactions stay,
    /// even one whose first offset is now below the log start (the log's LSO is clamped to its
    /// start); producers leave only by expiry.
    pub(crate) fn on_log_start_offset_incremented(&mut self, log_start: i64) {
        self.unreplicated.retain(|_, last| *last >= log_start);
    }

    /// Forgets producers idle for at least `expiration_ms` at `now_ms` (Kafka's
    /// `removeExpiredProducers` with `producer.id.expiration.ms`), never one with an open
    /// transaction. Returns how many were removed.
    pub(crate) fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, p| {
            p.txn_first_offset.is_some() || now_ms.saturating_sub(p.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// The epoch of `producer_id` if it is known (not expired).
    pub(crate) fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|p| p.epoch)
    }

    /// True when some transaction is open or not yet stable (the LSO may lag the high watermark).
    pub(crate) fn has_unstable(&self) -> bool {
        !self.ongoing.is_empty() || !self.unreplicated.is_empty()
    }

    /// Open transactions: (first offset, producer id), oldest first.
    pub(crate) fn ongoing_txns(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(first, pid)| (*first, *pid))
    }

    /// Whether `producer_id` at `producer_epoch` has an open transaction in this partition (Kafka's
    /// `hasOngoingTransaction(producerId, producerEpoch)`).
    pub(crate) fn has_ongoing_txn(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.epoch == producer_epoch && e.txn_first_offset.is_some())
    }

    /// Every producer this partition knows (Kafka's `activeProducers`, for DescribeProducers), by
    /// producer id.
    pub(crate) fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut producers: Vec<ActiveProducer> = self
            .producers
            .values()
            .map(|p| ActiveProducer {
                producer_id: p.producer_id,
                producer_epoch: p.epoch,
                last_sequence: p.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: if p.last_timestamp >= 0 {
                    p.last_timestamp
                } else {
                    p.batches.back().map_or(-1, |b| b.max_timestamp)
                },
                coordinator_epoch: p.coordinator_epoch,
                current_txn_start_offset: p.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        producers.sort_by_key(|p| p.producer_id);
        producers
    }

    #[cfg(test)]
    pub(crate) fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::snapshot::{list_snapshots, snapshot_path};
    use super::*;
    use std::fs;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 7,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    fn append(
        state: &mut ProducerStateManager,
        h: BatchHeader,
        offset: i64,
    ) -> Result<Check, AppendError> {
        let mut a = state.begin_append();
        let r = a.check(&h, offset, None, Origin::Client)?;
        let staged = a.into_staged();
        state.commit(staged);
        Ok(r)
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStateManager::default();
        // Unknown producer: any sequence.
        assert!(matches!(
            append(&mut s, header(1, 0, 10, 3), 0),
            Ok(Check::Append)
        ));
        // Duplicate of the cached batch.
        match append(&mut s, header(1, 0, 10, 3), 99).unwrap() {
            Check::Duplicate(b) => assert_eq!((b.first_offset, b.last_offset), (0, 2)),
            Check::Append => panic!("expected duplicate"),
        }
        // Gap.
        assert!(matches!(
            append(&mut s, header(1, 0, 14, 1), 3),
            Err(AppendError::OutOfOrderSequence {
                expected: 13,
                got: 14,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, header(1, 0, 13, 1), 3),
            Ok(Check::Append)
        ));
        // New epoch must start at 0.
        assert!(matches!(
            append(&mut s, header(1, 1, 5, 1), 4),
            Err(AppendError::OutOfOrderSequence {
                expected: 0,
                got: 5,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, header(1, 1, 0, 1), 4),
            Ok(Check::Append)
        ));
        // Old epoch fenced.
        assert!(matches!(
            append(&mut s, header(1, 0, 14, 1), 5),
            Err(AppendError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        assert_eq!(s.get(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn only_five_batches_cached_and_wraparound() {
        let mut s = ProducerStateManager::default();
        for i in 0..7 {
            append(&mut s, header(2, 0, i, 1), i64::from(i)).unwrap();
        }
        let e = s.get(2).unwrap();
        assert_eq!(e.batches.len(), 5);
        assert_eq!(e.batches.front().unwrap().first_seq, 2);
        // The batch with seq 0 is no longer a recognised duplicate: out of order instead.
        assert!(append(&mut s, header(2, 0, 0, 1), 7).is_err());

        let mut s = ProducerStateManager::default();
        append(&mut s, header(3, 0, i32::MAX - 1, 2), 0).unwrap();
        assert!(matches!(
            append(&mut s, header(3, 0, 0, 1), 2),
            Ok(Check::Append)
        ));
    }

    #[test]
    fn staged_state_is_discarded_on_error() {
        let mut s = ProducerStateManager::default();
        append(&mut s, header(1, 0, 0, 1), 0).unwrap();
        let mut a = s.begin_append();
        assert!(a
            .check(&header(1, 0, 1, 1), 1, None, Origin::Client)
            .is_ok());
        // Second batch of the same call must follow the staged first one.
        assert!(a
            .check(&header(1, 0, 1, 1), 2, None, Origin::Client)
            .is_ok_and(|c| matches!(c, Check::Duplicate(_))));
        assert!(a
            .check(&header(1, 0, 5, 1), 2, None, Origin::Client)
            .is_err());
        drop(a);
        assert_eq!(s.get(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn snapshot_round_trip_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::default();
        append(&mut s, header(1, 3, 0, 2), 0).unwrap();
        s.write_snapshot(dir.path(), 2).unwrap();
        append(&mut s, header(1, 3, 2, 2), 2).unwrap();
        s.write_snapshot(dir.path(), 4).unwrap();
        s.write_snapshot(dir.path(), 9).unwrap();
        // 9 is beyond the log end: deleted; 4 is loaded.
        let (off, loaded) = ProducerStateManager::load_latest(dir.path(), 5)
            .unwrap()
            .unwrap();
        assert_eq!(off, 4);
        assert_eq!(loaded.get(1), s.get(1));
        assert_eq!(list_snapshots(dir.path()).unwrap().len(), 2);
        ProducerStateManager::prune_snapshots(dir.path(), 100).unwrap();
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![4]);
        fs::write(snapshot_path(dir.path(), 4), b"{").unwrap();
        assert!(ProducerStateManager::load_latest(dir.path(), 5)
            .unwrap()
            .is_none());
    }

    #[test]
    fn active_producers_report_sequence_timestamp_and_open_transaction() {
        let mut s = ProducerStateManager::default();
        append(&mut s, header(4, 0, 0, 3), 0).unwrap();
        let mut txn = header(5, 2, 0, 2);
        txn.attributes = 0x10;
        txn.max_timestamp = 11;
        append(&mut s, txn, 3).unwrap();
        let idle = ActiveProducer {
            producer_id: 4,
            producer_epoch: 0,
            last_sequence: 2,
            last_timestamp: 7,
            coordinator_epoch: -1,
            current_txn_start_offset: -1,
        };
        let open = ActiveProducer {
            producer_id: 5,
            producer_epoch: 2,
            last_sequence: 1,
            last_timestamp: 11,
            coordinator_epoch: -1,
            current_txn_start_offset: 3,
        };
        assert_eq!(s.active_producers(), vec![idle, open]);

        // The ABORT marker closes the transaction and brings its coordinator epoch and timestamp.
        let mut marker = header(5, 2, -1, 1);
        marker.attributes = 0x30;
        marker.max_timestamp = 20;
        let mut a = s.begin_append();
        let ended = ControlMarker {
            commit: false,
            coordinator_epoch: 3,
        };
        a.check(&marker, 5, Some(ended), Origin::Coordinator)
            .unwrap();
        let staged = a.into_staged();
        s.commit(staged);
        let closed = ActiveProducer {
            last_timestamp: 20,
            coordinator_epoch: 3,
            current_txn_start_offset: -1,
            ..open
        };
        assert_eq!(s.active_producers(), vec![idle, closed]);
    }
}
