//! The transaction coordinator's operations (Kafka's `TransactionCoordinator`, and the cache half of its
//! `TransactionStateManager`): one [`TxnMetadata`] per transactional id this broker coordinates, and the
//! rules of InitProducerId, AddPartitionsToTxn (also its KIP-890 `VerifyOnly` form and AddOffsetsToTxn),
//! EndTxn, DescribeTransactions, ListTransactions, the timeout of open transactions and the expiry of idle
//! transactional ids. Each operation answers at once or prepares a [`TxnTransit`] for the broker to persist;
//! [`TxnCoordinator::complete`] applies it afterwards. Which partitions of `__transaction_state` this broker
//! leads, the clock, and the WriteTxnMarkers sends are the broker's.

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::metadata::{epoch_exhausted, TxnMetadata, TxnTransit};
use crate::record::TxnRecord;
use crate::state::{TopicPartition, TxnResult, TxnState};
use crate::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

/// The coordinator's settings (Kafka's `TransactionStateManagerConfig`).
#[derive(Clone, Debug)]
pub struct TxnConfig {
    /// Kafka `transaction.max.timeout.ms`: the longest transaction timeout a producer may ask for. 15 minutes.
    pub max_timeout_ms: i32,
    /// Kafka `transactional.id.expiration.ms`: an idle transactional id is removed after this. 7 days.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
        }
    }
}

/// A producer id and epoch as a producer names them (KIP-360 recovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// What InitProducerId does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitPlan {
    /// Persist the change, then answer with its producer id and epoch.
    Persist(TxnTransit),
    /// A transaction is open: persist its abort with the producer fenced (PrepareAbort, bumped epoch), then
    /// answer CONCURRENT_TRANSACTIONS (the producer retries once the abort completed) and write the markers.
    FenceAndAbort(TxnTransit),
}

/// What EndTxn does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndTxnPlan {
    /// A retry of a completed EndTxn: answer success with this producer id and epoch.
    Done {
        producer_id: i64,
        producer_epoch: i16,
    },
    /// Persist PrepareCommit/PrepareAbort; [`TxnCoordinator::complete`] then hands out the markers.
    Persist(TxnTransit),
}

/// The markers to write once a PrepareCommit/PrepareAbort is persisted, and the completion to persist after
/// (Kafka's `PendingCompleteTxn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerPlan {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub result: TxnResult,
    pub partitions: BTreeSet<TopicPartition>,
    /// CompleteCommit/CompleteAbort, pending until persisted.
    pub complete: TxnTransit,
}

/// A transaction open for longer than its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOut {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// DescribeTransactions' view of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnDescription {
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_timestamp: i64,
    pub partitions: BTreeSet<TopicPartition>,
}

/// ListTransactions' filters (empty = any).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// Only transactions running longer than this (ms); negative = any (ListTransactions v1).
    pub min_duration_ms: i64,
}

/// ListTransactions' view of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// The transactions this broker coordinates.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
}

impl TxnCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator {
            config,
            txns: HashMap::new(),
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// InitProducerId with a transactional id (Kafka's `handleInitProducerId` and
    /// `prepareInitProducerIdTransit`). `new_producer_id` allocates a producer id when one is needed.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        now: i64,
        new_producer_id: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<InitPlan, Error> {
        if transactional_id.is_empty() {
            return Err(Error::InvalidRequest("empty transactional id"));
        }
        // Kafka's strings hold at most 32767 bytes (its request parser refuses longer ones); the id is the key of
        // its `__transaction_state` records, which must hold it whole.
        if transactional_id.len() > i16::MAX as usize {
            return Err(Error::InvalidRequest(
                "transactional id longer than 32767 bytes",
            ));
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(Error::InvalidTransactionTimeout {
                timeout_ms,
                max: self.config.max_timeout_ms,
            });
        }
        if !self.txns.contains_key(transactional_id) {
            let producer_id = new_producer_id().ok_or(Error::ProducerIdUnavailable)?;
            self.txns.insert(
                transactional_id.to_owned(),
                TxnMetadata::new(transactional_id, producer_id, timeout_ms, now),
            );
        }
        let Some(txn) = self.txns.get_mut(transactional_id) else {
            return Err(Error::ProducerIdUnavailable);
        };
        if txn.pending.is_some() {
            return Err(Error::ConcurrentTransactions);
        }
        // A producer naming its id and epoch is fenced unless the metadata was just created (recovery from
        // UNKNOWN_PRODUCER_ID), the id is the current one (the epoch is checked by the bump), or it is the
        // previous id with an exhausted epoch (a retry of a rotation whose answer was lost).
        let valid = expected.is_none_or(|e| {
            txn.producer_epoch == NO_PRODUCER_EPOCH
                || e.producer_id == txn.producer_id
                || (e.producer_id == txn.previous_producer_id && epoch_exhausted(e.epoch))
        });
        if !valid {
            return Err(Error::ProducerFenced);
        }
        match txn.state {
            TxnState::PrepareAbort | TxnState::PrepareCommit => Err(Error::ConcurrentTransactions),
            TxnState::CompleteAbort | TxnState::CompleteCommit | TxnState::Empty => {
                if txn.epoch_exhausted() && expected.is_none_or(|e| e.epoch == txn.producer_epoch) {
                    let producer_id = new_producer_id().ok_or(Error::ProducerIdUnavailable)?;
                    txn.prepare_producer_id_rotation(
                        producer_id,
                        timeout_ms,
                        now,
                        expected.is_some(),
                    )
                    .map(InitPlan::Persist)
                } else {
                    txn.prepare_increment_epoch(timeout_ms, expected.map(|e| e.epoch), now)
                        .map(InitPlan::Persist)
                }
            }
            TxnState::Ongoing => txn
                .prepare_fence_and_abort(now)
                .map(InitPlan::FenceAndAbort),
            TxnState::Dead | TxnState::PrepareEpochFence => {
                Err(Error::InvalidTxnState(txn.state.name()))
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn (Kafka's `handleAddPartitionsToTransaction`): `None` when every
    /// partition is already in the open transaction. `client_transaction_version` is 2 when a partition leader
    /// adds the partition for a KIP-890 part 2 producer (AddPartitionsToTxn v4+ without `VerifyOnly`), which
    /// the transaction's records then carry.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        client_transaction_version: i16,
        now: i64,
    ) -> Result<Option<TxnTransit>, Error> {
        let txn = self.owned_txn(transactional_id, producer_id)?;
        if txn.producer_epoch != producer_epoch {
            return Err(Error::ProducerFenced);
        }
        if txn.pending.is_some()
            || matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return Err(Error::ConcurrentTransactions);
        }
        if txn.state == TxnState::Ongoing && partitions.is_subset(&txn.partitions) {
            return Ok(None);
        }
        txn.prepare_add_partitions(partitions, client_transaction_version, now)
            .map(Some)
    }

    /// AddPartitionsToTxn v4+ with `VerifyOnly` (KIP-890 part 1, from a partition leader): for each
    /// partition, whether the open transaction has it (`false` = TRANSACTION_ABORTABLE).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
    ) -> Result<Vec<(TopicPartition, bool)>, Error> {
        if transactional_id.is_empty() {
            return Err(Error::InvalidRequest("empty transactional id"));
        }
        let txn = self
            .txns
            .get(transactional_id)
            .ok_or(Error::InvalidProducerIdMapping)?;
        if txn.producer_id != producer_id {
            return Err(Error::InvalidProducerIdMapping);
        }
        if txn.producer_epoch != producer_epoch {
            return Err(Error::ProducerFenced);
        }
        if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(Error::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|tp| (tp.clone(), txn.partitions.contains(tp)))
            .collect())
    }

    /// EndTxn from a client (Kafka's `endTransaction` with `isFromClient`). `client_transaction_version` is 2
    /// for EndTxn v5+ (KIP-890 part 2: the epoch is bumped with every transaction).
    #[allow(clippy::too_many_arguments)]
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TxnResult,
        client_transaction_version: i16,
        now: i64,
        new_producer_id: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<EndTxnPlan, Error> {
        if transactional_id.is_empty() {
            return Err(Error::InvalidRequest("empty transactional id"));
        }
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(Error::InvalidProducerIdMapping)?;
        let tv2 = txn.supports_epoch_bump();
        let retry_on_overflow = tv2
            && txn.previous_producer_id == producer_id
            && producer_epoch == i16::MAX - 1
            && txn.producer_epoch == 0;
        let retry_on_bump = tv2 && txn.producer_epoch == producer_epoch.saturating_add(1);
        let valid_epoch = if tv2 {
            match txn.state {
                TxnState::Ongoing
                | TxnState::Empty
                | TxnState::Dead
                | TxnState::PrepareEpochFence => producer_epoch == txn.producer_epoch,
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
                TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    retry_on_bump || retry_on_overflow
                }
            }
        } else {
            producer_epoch == txn.producer_epoch
        };
        if txn.producer_id != producer_id && !retry_on_overflow {
            return Err(Error::InvalidProducerIdMapping);
        }
        if !valid_epoch {
            return Err(Error::ProducerFenced);
        }
        if txn.pending.is_some() {
            return Err(Error::ConcurrentTransactions);
        }
        let done = EndTxnPlan::Done {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
        };
        match (txn.state, result) {
            (TxnState::Ongoing, _) => {
                let next_producer_id = if client_transaction_version >= 2 && txn.epoch_exhausted() {
                    new_producer_id().ok_or(Error::ProducerIdUnavailable)?
                } else {
                    NO_PRODUCER_ID
                };
                let state = match result {
                    TxnResult::Commit => TxnState::PrepareCommit,
                    TxnResult::Abort => TxnState::PrepareAbort,
                };
                txn.prepare_abort_or_commit(
                    state,
                    client_transaction_version,
                    next_producer_id,
                    now,
                )
                .map(EndTxnPlan::Persist)
            }
            (TxnState::CompleteCommit, TxnResult::Commit)
            | (TxnState::CompleteAbort, TxnResult::Abort) => Ok(done),
            (TxnState::PrepareCommit, TxnResult::Commit)
            | (TxnState::PrepareAbort, TxnResult::Abort) => Err(Error::ConcurrentTransactions),
            (state, _) => Err(Error::InvalidTxnState(state.name())),
        }
    }

    /// Applies a persisted change. A persisted PrepareCommit/PrepareAbort hands out the markers to write and
    /// prepares the completion (pending until the markers are written and it is persisted).
    pub fn complete(
        &mut self,
        transactional_id: &str,
        transit: &TxnTransit,
        now: i64,
    ) -> Result<Option<MarkerPlan>, Error> {
        let txn = self
            .txns
            .get_mut(transactional_id)
            .ok_or(Error::InvalidProducerIdMapping)?;
        txn.complete(transit)?;
        Self::marker_plan(txn, now)
    }

    fn marker_plan(txn: &mut TxnMetadata, now: i64) -> Result<Option<MarkerPlan>, Error> {
        let result = match txn.state {
            TxnState::PrepareCommit => TxnResult::Commit,
            TxnState::PrepareAbort => TxnResult::Abort,
            _ => return Ok(None),
        };
        let complete = txn.prepare_complete(now)?;
        Ok(Some(MarkerPlan {
            transactional_id: txn.transactional_id.clone(),
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            result,
            partitions: txn.partitions.clone(),
            complete,
        }))
    }

    /// A prepared change could not be persisted: it is dropped (a failed fence keeps its bumped epoch in
    /// memory, never handed out, and the next fence reuses it).
    pub fn fail(&mut self, transactional_id: &str, transit: &TxnTransit) {
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            if txn.pending == Some(transit.state) {
                if txn.fencing {
                    txn.failed_epoch_fence = true;
                }
                txn.pending = None;
                txn.fencing = false;
            }
        }
    }

    /// One partition has its marker: DescribeTransactions shows the partitions still waiting.
    pub fn marker_written(&mut self, transactional_id: &str, partition: &TopicPartition) {
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                txn.partitions.remove(partition);
            }
        }
    }

    /// Transactions open past their timeout (Kafka's `timedOutTransactions`).
    pub fn timed_out(&self, now: i64) -> Vec<TimedOut> {
        self.txns
            .values()
            .filter(|t| {
                t.pending.is_none()
                    && t.state == TxnState::Ongoing
                    && t.start_timestamp.saturating_add(i64::from(t.timeout_ms)) < now
            })
            .map(|t| TimedOut {
                transactional_id: t.transactional_id.clone(),
                producer_id: t.producer_id,
                producer_epoch: t.producer_epoch,
            })
            .collect()
    }

    /// Aborts a timed-out transaction, fencing its producer (Kafka's `abortTimedOutTransactions`): the
    /// PrepareAbort to persist, or `None` when it moved on meanwhile.
    pub fn abort_timed_out(&mut self, t: &TimedOut, now: i64) -> Option<TxnTransit> {
        let txn = self.txns.get_mut(&t.transactional_id)?;
        if txn.producer_id != t.producer_id
            || txn.pending.is_some()
            || txn.state != TxnState::Ongoing
        {
            return None;
        }
        txn.prepare_fence_and_abort(now).ok()
    }

    /// Transactional ids idle past `transactional.id.expiration.ms` (Kafka's `removeExpiredTransactionalIds`):
    /// each is prepared to die; the broker persists their tombstones and then calls [`Self::remove_dead`].
    pub fn expire(&mut self, now: i64) -> Vec<TxnRecord> {
        let cutoff = now.saturating_sub(self.config.id_expiration_ms);
        let mut tombstones = Vec::new();
        for txn in self.txns.values_mut() {
            if txn.pending.is_none()
                && txn.state.expiration_allowed()
                && txn.last_update_timestamp <= cutoff
                && txn.prepare_dead().is_ok()
            {
                tombstones.push(TxnRecord {
                    transactional_id: txn.transactional_id.clone(),
                    value: None,
                });
            }
        }
        tombstones
    }

    /// A tombstone is persisted: the transactional id is forgotten.
    pub fn remove_dead(&mut self, transactional_id: &str) {
        if self
            .txns
            .get(transactional_id)
            .is_some_and(|t| t.pending == Some(TxnState::Dead))
        {
            self.txns.remove(transactional_id);
        }
    }

    /// A tombstone could not be persisted: the id lives on.
    pub fn keep_dead(&mut self, transactional_id: &str) {
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            if txn.pending == Some(TxnState::Dead) {
                txn.pending = None;
            }
        }
    }

    /// DescribeTransactions: `None` for an unknown (or expiring) transactional id.
    pub fn describe(&self, transactional_id: &str) -> Option<TxnDescription> {
        let txn = self.txns.get(transactional_id)?;
        if txn.state == TxnState::Dead {
            return None;
        }
        Some(TxnDescription {
            state: txn.state,
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            timeout_ms: txn.timeout_ms,
            start_timestamp: txn.start_timestamp,
            partitions: txn.partitions.clone(),
        })
    }

    /// ListTransactions (Kafka's `listTransactionStates`): the matching transactions, and the state filters
    /// that name no state.
    pub fn list(&self, filter: &ListFilter, now: i64) -> (Vec<TxnListing>, Vec<String>) {
        let mut unknown = Vec::new();
        let mut states = Vec::new();
        for name in &filter.states {
            match TxnState::from_name(name) {
                Some(s) => states.push(s),
                None => unknown.push(name.clone()),
            }
        }
        let mut listed: Vec<TxnListing> = self
            .txns
            .values()
            .filter(|t| {
                t.state != TxnState::Dead
                    && (filter.producer_ids.is_empty()
                        || filter.producer_ids.contains(&t.producer_id))
                    && (filter.states.is_empty() || states.contains(&t.state))
                    && (filter.min_duration_ms < 0
                        || now.saturating_sub(t.start_timestamp) > filter.min_duration_ms)
            })
            .map(|t| TxnListing {
                transactional_id: t.transactional_id.clone(),
                producer_id: t.producer_id,
                state: t.state,
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (listed, unknown)
    }

    /// Loads one record of `__transaction_state` (the last record of a key wins; a tombstone removes it).
    pub fn replay(&mut self, record: &TxnRecord) {
        match &record.value {
            Some(v) => {
                self.txns.insert(
                    record.transactional_id.clone(),
                    TxnMetadata::from_value(&record.transactional_id, v),
                );
            }
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }

    /// After a load: the transactions of the loaded partition (`owned`) left in PrepareCommit/PrepareAbort by
    /// the previous coordinator, whose markers this one writes (Kafka's `loadTransactionsForTxnTopicPartition`).
    pub fn resume_prepared(&mut self, owned: impl Fn(&str) -> bool, now: i64) -> Vec<MarkerPlan> {
        let mut plans = Vec::new();
        for txn in self.txns.values_mut() {
            if owned(&txn.transactional_id) && txn.pending.is_none() {
                if let Ok(Some(plan)) = Self::marker_plan(txn, now) {
                    plans.push(plan);
                }
            }
        }
        plans
    }

    /// Forgets the transactions for which `keep` is false (leadership of their partition moved); returns how
    /// many.
    pub fn unload(&mut self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.txns.len();
        self.txns.retain(|id, _| keep(id));
        before - self.txns.len()
    }

    /// The transaction of `transactional_id` when `producer_id` is its producer.
    fn owned_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
    ) -> Result<&mut TxnMetadata, Error> {
        if transactional_id.is_empty() {
            return Err(Error::InvalidRequest("empty transactional id"));
        }
        match self.txns.get_mut(transactional_id) {
            Some(t) if t.producer_id == producer_id => Ok(t),
            _ => Err(Error::InvalidProducerIdMapping),
        }
    }
}

#[cfg(test)]
mod tests;
