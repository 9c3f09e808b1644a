//! One transactional id's metadata and its state machine (Kafka's `TransactionMetadata`): each change is
//! prepared as a [`TxnTransit`] — the whole new metadata, checked against the state's legal predecessors and
//! recorded as the pending state so no second change can start — and applied by [`TxnMetadata::complete`]
//! once its record is persisted. The rules of who may ask for which change live in `coordinator.rs`.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::record::TxnValue;
use crate::state::{TopicPartition, TxnState};
use crate::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

/// `transaction.version` 2 (KIP-890 part 2): the epoch is bumped at the end of every transaction.
pub(crate) const TV_2: i16 = 2;

/// Kafka's `TransactionMetadata.isEpochExhausted`: the last epochs are kept for the fence and the bump.
pub(crate) fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The target of one state change: the metadata as it will be once its record is persisted (Kafka's
/// `TxnTransitMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnTransit {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    pub start_timestamp: i64,
    pub last_update_timestamp: i64,
    pub client_transaction_version: i16,
}

impl TxnTransit {
    /// The `__transaction_state` value of this change.
    pub fn to_value(&self) -> TxnValue {
        TxnValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: if self.state == TxnState::Empty {
                BTreeSet::new()
            } else {
                self.partitions.clone()
            },
            last_update_timestamp: self.last_update_timestamp,
            start_timestamp: self.start_timestamp,
            client_transaction_version: self.client_transaction_version,
        }
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump: a retried InitProducerId / EndTxn with it is recognised (KIP-360).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions of the open transaction; while markers are written, those still without one.
    pub partitions: BTreeSet<TopicPartition>,
    pub start_timestamp: i64,
    pub last_update_timestamp: i64,
    pub client_transaction_version: i16,
    /// The state a prepared, not yet persisted change leads to.
    pub pending: Option<TxnState>,
    /// A fence's bumped epoch may not have reached the log: the next fence does not bump again.
    pub failed_epoch_fence: bool,
    /// The pending change is a fence (InitProducerId over an open transaction, or a timeout).
    pub(crate) fencing: bool,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: a fresh producer id, no epoch yet.
    pub(crate) fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_timestamp: -1,
            last_update_timestamp: now,
            client_transaction_version: 0,
            pending: None,
            failed_epoch_fence: false,
            fencing: false,
        }
    }

    /// The metadata as loaded from its record (the last epoch is not persisted).
    pub(crate) fn from_value(transactional_id: &str, v: &TxnValue) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_owned(),
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            next_producer_id: v.next_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: if v.state == TxnState::Empty {
                BTreeSet::new()
            } else {
                v.partitions.clone()
            },
            start_timestamp: v.start_timestamp,
            last_update_timestamp: v.last_update_timestamp,
            client_transaction_version: v.client_transaction_version,
            pending: None,
            failed_epoch_fence: false,
            fencing: false,
        }
    }

    pub(crate) fn supports_epoch_bump(&self) -> bool {
        self.client_transaction_version >= TV_2
    }

    pub(crate) fn epoch_exhausted(&self) -> bool {
        epoch_exhausted(self.producer_epoch)
    }

    pub(crate) fn has_pending_transaction(&self) -> bool {
        matches!(
            self.state,
            TxnState::Ongoing | TxnState::PrepareAbort | TxnState::PrepareCommit
        )
    }

    /// InitProducerId over an open transaction, or its timeout: the producer's epoch is bumped (once, even
    /// when an earlier fence failed to persist) and the transaction moves to PrepareAbort with it (Kafka's
    /// `prepareFenceProducerEpoch` followed by the abort in `endTransaction`).
    pub(crate) fn prepare_fence_and_abort(&mut self, now: i64) -> Result<TxnTransit, Error> {
        if self.state != TxnState::Ongoing || self.pending.is_some() {
            return Err(Error::InvalidTxnState(self.state.name()));
        }
        if self.producer_epoch == i16::MAX {
            return Err(Error::InvalidTxnState("epoch exhausted"));
        }
        if !self.failed_epoch_fence {
            self.producer_epoch += 1;
        }
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
        let transit = self.transition(Target {
            state: TxnState::PrepareAbort,
            producer_id: self.producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch: self.producer_epoch,
            last_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            partitions: self.partitions.clone(),
            start_timestamp: self.start_timestamp,
            now,
            // A fence aborts without a second (KIP-890) bump: the fenced producer never learns either epoch.
            client_transaction_version: 0,
        })?;
        self.fencing = true;
        Ok(transit)
    }

    /// InitProducerId: bump the epoch (Kafka's `prepareIncrementProducerEpoch`), with KIP-360's rules for a
    /// producer that names its current id and epoch.
    pub(crate) fn prepare_increment_epoch(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now: i64,
    ) -> Result<TxnTransit, Error> {
        if self.epoch_exhausted() {
            return Err(Error::InvalidTxnState("epoch exhausted"));
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last_epoch) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            // A retry of a bump whose answer was lost: answer the current epoch again.
            Some(e) if e == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Err(Error::ProducerFenced),
        };
        self.transition(Target {
            state: TxnState::Empty,
            producer_id: self.producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch,
            last_epoch,
            timeout_ms,
            partitions: BTreeSet::new(),
            start_timestamp: -1,
            now,
            client_transaction_version: 0,
        })
    }

    /// InitProducerId when the epoch is exhausted: a new producer id at epoch 0.
    pub(crate) fn prepare_producer_id_rotation(
        &mut self,
        new_producer_id: i64,
        timeout_ms: i32,
        now: i64,
        record_last_epoch: bool,
    ) -> Result<TxnTransit, Error> {
        if self.has_pending_transaction() {
            return Err(Error::InvalidTxnState(self.state.name()));
        }
        self.transition(Target {
            state: TxnState::Empty,
            producer_id: new_producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch: 0,
            last_epoch: if record_last_epoch {
                self.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            },
            timeout_ms,
            partitions: BTreeSet::new(),
            start_timestamp: -1,
            now,
            client_transaction_version: 0,
        })
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is (or stays) Ongoing with more partitions; it
    /// starts now when none was open.
    pub(crate) fn prepare_add_partitions(
        &mut self,
        added: &BTreeSet<TopicPartition>,
        client_transaction_version: i16,
        now: i64,
    ) -> Result<TxnTransit, Error> {
        let start_timestamp = match self.state {
            TxnState::Empty | TxnState::CompleteAbort | TxnState::CompleteCommit => now,
            _ => self.start_timestamp,
        };
        let partitions = self.partitions.union(added).cloned().collect();
        self.transition(Target {
            state: TxnState::Ongoing,
            producer_id: self.producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch: self.producer_epoch,
            last_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            partitions,
            start_timestamp,
            now,
            client_transaction_version,
        })
    }

    /// EndTxn: PrepareCommit or PrepareAbort; a KIP-890 part 2 client's epoch is bumped here.
    pub(crate) fn prepare_abort_or_commit(
        &mut self,
        state: TxnState,
        client_transaction_version: i16,
        next_producer_id: i64,
        now: i64,
    ) -> Result<TxnTransit, Error> {
        let (epoch, last_epoch) = if client_transaction_version >= TV_2 {
            (self.producer_epoch.saturating_add(1), self.producer_epoch)
        } else {
            (self.producer_epoch, self.last_producer_epoch)
        };
        self.transition(Target {
            state,
            producer_id: self.producer_id,
            next_producer_id,
            epoch,
            last_epoch,
            timeout_ms: self.timeout_ms,
            partitions: self.partitions.clone(),
            start_timestamp: self.start_timestamp,
            now,
            client_transaction_version,
        })
    }

    /// Every marker is written: CompleteCommit or CompleteAbort, with the new producer id when the bump
    /// overflowed.
    pub(crate) fn prepare_complete(&mut self, now: i64) -> Result<TxnTransit, Error> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => return Err(Error::InvalidTxnState(other.name())),
        };
        self.failed_epoch_fence = false;
        let (producer_id, epoch) =
            if self.supports_epoch_bump() && self.next_producer_id != NO_PRODUCER_ID {
                (self.next_producer_id, 0)
            } else {
                (self.producer_id, self.producer_epoch)
            };
        self.transition(Target {
            state,
            producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch,
            last_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            partitions: BTreeSet::new(),
            start_timestamp: self.start_timestamp,
            now,
            client_transaction_version: self.client_transaction_version,
        })
    }

    /// `transactional.id.expiration.ms` passed: the id is removed (its tombstone persisted).
    pub(crate) fn prepare_dead(&mut self) -> Result<TxnTransit, Error> {
        self.transition(Target {
            state: TxnState::Dead,
            producer_id: self.producer_id,
            next_producer_id: NO_PRODUCER_ID,
            epoch: self.producer_epoch,
            last_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            partitions: BTreeSet::new(),
            start_timestamp: self.start_timestamp,
            now: self.last_update_timestamp,
            client_transaction_version: 0,
        })
    }

    fn transition(&mut self, t: Target) -> Result<TxnTransit, Error> {
        if let Some(pending) = self.pending {
            debug_assert!(false, "preparing {} while {pending} is pending", t.state);
            return Err(Error::ConcurrentTransactions);
        }
        if t.producer_id < 0 || (t.state != TxnState::Dead && t.epoch < 0) {
            return Err(Error::InvalidTxnState("illegal producer id or epoch"));
        }
        if !t.state.valid_previous().contains(&self.state) {
            return Err(Error::InvalidTxnState(self.state.name()));
        }
        self.pending = Some(t.state);
        Ok(TxnTransit {
            producer_id: t.producer_id,
            previous_producer_id: self.producer_id,
            next_producer_id: t.next_producer_id,
            producer_epoch: t.epoch,
            last_producer_epoch: t.last_epoch,
            timeout_ms: t.timeout_ms,
            state: t.state,
            partitions: t.partitions,
            start_timestamp: t.start_timestamp,
            last_update_timestamp: t.now,
            client_transaction_version: t.client_transaction_version,
        })
    }

    /// Applies a persisted change (Kafka's `completeTransitionTo`, with its consistency checks).
    pub(crate) fn complete(&mut self, t: &TxnTransit) -> Result<(), Error> {
        if self.pending != Some(t.state) {
            return Err(Error::InvalidTxnState("no such pending change"));
        }
        match t.state {
            TxnState::Empty => {
                let bump_ok = t.producer_epoch == self.producer_epoch.saturating_add(1)
                    || (t.producer_epoch == 0 && t.producer_id != self.producer_id);
                if (self.producer_epoch != t.producer_epoch && !bump_ok)
                    || !t.partitions.is_empty()
                    || t.start_timestamp != -1
                {
                    return Err(Error::InvalidTxnState("inconsistent InitProducerId"));
                }
                self.timeout_ms = t.timeout_ms;
                self.producer_epoch = t.producer_epoch;
                self.last_producer_epoch = t.last_producer_epoch;
                self.producer_id = t.producer_id;
                self.previous_producer_id = t.previous_producer_id;
            }
            TxnState::Ongoing => {
                if !self.valid_epoch(t)
                    || !self.partitions.is_subset(&t.partitions)
                    || self.timeout_ms != t.timeout_ms
                {
                    return Err(Error::InvalidTxnState("inconsistent AddPartitions"));
                }
                self.start_timestamp = t.start_timestamp;
                self.partitions.extend(t.partitions.iter().cloned());
            }
            TxnState::PrepareAbort | TxnState::PrepareCommit => {
                if !self.valid_epoch(t)
                    || self.partitions != t.partitions
                    || self.timeout_ms != t.timeout_ms
                    || self.start_timestamp != t.start_timestamp
                {
                    return Err(Error::InvalidTxnState("inconsistent EndTxn"));
                }
                if t.client_transaction_version >= TV_2 {
                    self.producer_epoch = t.producer_epoch;
                    self.last_producer_epoch = t.last_producer_epoch;
                    self.next_producer_id = t.next_producer_id;
                }
            }
            TxnState::CompleteAbort | TxnState::CompleteCommit => {
                if !self.valid_epoch(t)
                    || self.timeout_ms != t.timeout_ms
                    || t.start_timestamp == -1
                {
                    return Err(Error::InvalidTxnState("inconsistent completion"));
                }
                self.start_timestamp = t.start_timestamp;
                self.partitions.clear();
                if t.client_transaction_version >= TV_2 {
                    self.producer_epoch = t.producer_epoch;
                    self.last_producer_epoch = t.last_producer_epoch;
                    self.previous_producer_id = t.previous_producer_id;
                    self.producer_id = t.producer_id;
                    self.next_producer_id = t.next_producer_id;
                }
            }
            TxnState::PrepareEpochFence | TxnState::Dead => {
                return Err(Error::InvalidTxnState(t.state.name()));
            }
        }
        self.client_transaction_version = t.client_transaction_version;
        self.last_update_timestamp = t.last_update_timestamp;
        self.pending = None;
        self.fencing = false;
        self.state = t.state;
        Ok(())
    }

    /// Kafka's `validProducerEpoch`: the change was prepared for this producer id and epoch.
    fn valid_epoch(&self, t: &TxnTransit) -> bool {
        let tv2 = t.client_transaction_version >= TV_2;
        let overflow_complete = tv2
            && matches!(t.state, TxnState::CompleteCommit | TxnState::CompleteAbort)
            && t.producer_epoch == 0;
        let epoch = if overflow_complete
            || (tv2 && matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
        {
            t.last_producer_epoch
        } else {
            t.producer_epoch
        };
        let producer_id = if overflow_complete {
            t.previous_producer_id
        } else {
            t.producer_id
        };
        epoch == self.producer_epoch && producer_id == self.producer_id
    }
}

/// The fields a transition sets (Kafka's `prepareTransitionTo` arguments).
struct Target {
    state: TxnState,
    producer_id: i64,
    next_producer_id: i64,
    epoch: i16,
    last_epoch: i16,
    timeout_ms: i32,
    partitions: BTreeSet<TopicPartition>,
    start_timestamp: i64,
    now: i64,
    client_transaction_version: i16,
}
