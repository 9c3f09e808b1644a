//! The broker side of the transaction coordinator (Kafka's `TransactionCoordinator` wiring and the I/O half
//! of its `TransactionStateManager`): one `strom_txn::TxnCoordinator` for the transactional ids whose
//! `__transaction_state` partition this broker leads, behind a plain mutex never held across an `.await`.
//! Owns what the pure state machine does not: the clock, producer id allocation, the settings of
//! `__transaction_state`, appending each prepared change to it (acks=all: `transaction.state.log.min.isr`
//! replicas before the append, the whole ISR before the change is applied and answered), and the timer task
//! (transactions past their timeout are aborted with their producer fenced; idle transactional ids expire).
//!
//! `TxnCoordinatorService`'s `impl` is split on purpose: this file serves requests and persists changes;
//! `txn_coordinator/load.rs` follows leadership of `__transaction_state` partitions (load, resume the markers
//! of transactions left in PrepareCommit/PrepareAbort, forget) and answers FindCoordinator;
//! `txn_coordinator/markers.rs` writes the COMMIT/ABORT markers to the partition leaders with WriteTxnMarkers
//! and then persists the completion (Kafka's `TransactionMarkerChannelManager`), in tasks of their own so a
//! slow or unreachable leader never blocks the coordinator. The wire format of each API lives in
//! `api/<api>.rs`.

mod load;
mod markers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use strom_metadata::{MetadataImage, NewTopic};
use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::records::Compression;
use strom_protocol::records::{encode_record_batch, OwnedRecord};
use strom_txn::{
    EndTxnPlan, InitPlan, ListFilter, MarkerPlan, ProducerIdAndEpoch, TopicPartition, TxnConfig,
    TxnCoordinator, TxnDescription, TxnListing, TxnRecord, TxnResult, TxnTransit,
};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::BrokerConfig;
use crate::error_code::{self, Code};
use crate::group_coordinator::GroupCoordinatorService;
use crate::partition::{AppendOrigin, ReplicaManager};
use crate::periodic::spawn_periodic;
use crate::producer_id::ProducerIdManager;

pub(crate) use markers::MarkerChannel;

/// Kafka's internal topic for transaction metadata.
pub(crate) const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

struct Inner {
    coordinator: TxnCoordinator,
    /// `__transaction_state` partitions this broker leads and has loaded, with the coordinator epoch (the
    /// partition's leader epoch) they were loaded in.
    owned: BTreeMap<i32, i32>,
}

/// The transaction coordinator of this broker.
pub(crate) struct TxnCoordinatorService {
    inner: Mutex<Inner>,
    /// This broker's id: the markers of partitions it leads are written locally.
    node_id: i32,
    replicas: Arc<ReplicaManager>,
    /// For the markers written locally to `__consumer_offsets` (pending transactional offset commits).
    groups: Arc<GroupCoordinatorService>,
    producer_ids: Arc<ProducerIdManager>,
    /// The metadata image, for the markers' partition leaders.
    image: watch::Receiver<Arc<MetadataImage>>,
    markers: MarkerChannel,
    num_partitions: i32,
    replication_factor: i16,
    min_isr: i32,
    segment_bytes: i32,
    commit_timeout: Duration,
    abort_interval: Duration,
    expire_interval_ms: i64,
    stop: watch::Sender<bool>,
}

impl TxnCoordinatorService {
    pub(crate) fn new(
        config: &BrokerConfig,
        replicas: Arc<ReplicaManager>,
        groups: Arc<GroupCoordinatorService>,
        producer_ids: Arc<ProducerIdManager>,
        image: watch::Receiver<Arc<MetadataImage>>,
    ) -> TxnCoordinatorService {
        let txn_config = TxnConfig {
            max_timeout_ms: config.transaction_max_timeout_ms.max(1),
            id_expiration_ms: i64::from(config.transactional_id_expiration_ms.max(1)),
        };
        let (stop, _) = watch::channel(false);
        TxnCoordinatorService {
            inner: Mutex::new(Inner {
                coordinator: TxnCoordinator::new(txn_config),
                owned: BTreeMap::new(),
            }),
            node_id: config.node_id,
            replicas,
            groups,
            producer_ids,
            image,
            markers: MarkerChannel::default(),
            num_partitions: config.transaction_state_log_num_partitions.max(1),
            replication_factor: config.transaction_state_log_replication_factor,
            min_isr: config.transaction_state_log_min_isr.max(1),
            segment_bytes: config.transaction_state_log_segment_bytes,
            commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms.max(1) as u64),
            abort_interval: Duration::from_millis(
                config
                    .transaction_abort_timed_out_transaction_cleanup_interval_ms
                    .max(1) as u64,
            ),
            expire_interval_ms: i64::from(
                config
                    .transaction_remove_expired_transaction_cleanup_interval_ms
                    .max(1),
            ),
            stop,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the timer task: timed-out transactions every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, expired ids every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub(crate) fn start(self: &Arc<Self>) {
        let service = Arc::clone(self);
        let mut next_expiry = now_ms() + self.expire_interval_ms;
        spawn_periodic(
            "txn-coordinator-timer",
            self.abort_interval,
            None,
            self.stop.subscribe(),
            move || {
                let service = Arc::clone(&service);
                let expire = now_ms() >= next_expiry;
                if expire {
                    next_expiry = now_ms() + service.expire_interval_ms;
                }
                async move {
                    service.abort_timed_out();
                    if expire {
                        service.expire_ids().await;
                    }
                }
            },
        );
    }

    /// Stops the timer task and the marker writers.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// How `__transaction_state` is created (Kafka's `transaction.state.log.*` settings and
    /// `transactionTopicConfigs`): compacted, uncompressed, `min.insync.replicas` from
    /// `transaction.state.log.min.isr`, no unclean leader election.
    pub(crate) fn transaction_state_topic(&self) -> NewTopic {
        NewTopic {
            name: TRANSACTION_STATE_TOPIC.to_string(),
            num_partitions: self.num_partitions,
            replication_factor: self.replication_factor,
            assignments: BTreeMap::new(),
            configs: BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("compression.type".to_string(), "uncompressed".to_string()),
                ("min.insync.replicas".to_string(), self.min_isr.to_string()),
                ("segment.bytes".to_string(), self.segment_bytes.to_string()),
                (
                    "unclean.leader.election.enable".to_string(),
                    "false".to_string(),
                ),
            ]),
        }
    }

    fn partition_of(&self, transactional_id: &str) -> i32 {
        strom_txn::partition_for(transactional_id, self.num_partitions)
    }

    /// The coordinator epoch when this broker coordinates `transactional_id`, else NOT_COORDINATOR.
    fn epoch_of(inner: &Inner, partition: i32) -> Result<i32, Code> {
        inner
            .owned
            .get(&partition)
            .copied()
            .ok_or(Code::NotCoordinator)
    }

    fn allocate_producer_id(&self) -> Option<i64> {
        match self.producer_ids.next() {
            Ok(id) => Some(id),
            Err(e) => {
                error!("allocating a producer id failed: {e}");
                None
            }
        }
    }

    /// InitProducerId with a transactional id: the producer id and its new epoch.
    pub(crate) async fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
    ) -> Result<(i64, i16), Code> {
        let partition = self.partition_of(transactional_id);
        let (plan, epoch) = {
            let mut inner = self.lock();
            let epoch = Self::epoch_of(&inner, partition)?;
            let plan = inner
                .coordinator
                .init_producer_id(
                    transactional_id,
                    timeout_ms,
                    expected,
                    now_ms(),
                    &mut || self.allocate_producer_id(),
                )
                .map_err(|e| error_code::txn_error(&e))?;
            (plan, epoch)
        };
        match plan {
            InitPlan::Persist(t) => {
                self.persist_transit(transactional_id, &t, partition, epoch)
                    .await?;
                info!(
                    transactional_id,
                    producer_id = t.producer_id,
                    producer_epoch = t.producer_epoch,
                    "initialised transactional producer"
                );
                Ok((t.producer_id, t.producer_epoch))
            }
            InitPlan::FenceAndAbort(t) => {
                // The open transaction is aborted first; the producer retries and then gets its epoch.
                info!(
                    transactional_id,
                    "fencing the previous producer and aborting its open transaction"
                );
                self.persist_transit(transactional_id, &t, partition, epoch)
                    .await?;
                Err(Code::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn (not VerifyOnly) and AddOffsetsToTxn; `client_transaction_version` 2 when a
    /// partition leader adds a partition for a KIP-890 part 2 producer.
    pub(crate) async fn add_partitions(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        client_transaction_version: i16,
    ) -> Result<(), Code> {
        let partition = self.partition_of(transactional_id);
        let (transit, epoch) = {
            let mut inner = self.lock();
            let epoch = Self::epoch_of(&inner, partition)?;
            let transit = inner
                .coordinator
                .add_partitions(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                    client_transaction_version,
                    now_ms(),
                )
                .map_err(|e| error_code::txn_error(&e))?;
            (transit, epoch)
        };
        match transit {
            None => Ok(()),
            Some(t) => {
                self.persist_transit(transactional_id, &t, partition, epoch)
                    .await
            }
        }
    }

    /// AddPartitionsToTxn with VerifyOnly (KIP-890 part 1): per partition, NONE or TRANSACTION_ABORTABLE.
    pub(crate) fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
    ) -> Result<Vec<(TopicPartition, Option<Code>)>, Code> {
        let inner = self.lock();
        Self::epoch_of(&inner, self.partition_of(transactional_id))?;
        let verified = inner
            .coordinator
            .verify_partitions(transactional_id, producer_id, producer_epoch, partitions)
            .map_err(|e| error_code::txn_error(&e))?;
        Ok(verified
            .into_iter()
            .map(|(tp, ok)| (tp, (!ok).then_some(Code::TransactionAbortable)))
            .collect())
    }

    /// EndTxn: persists PrepareCommit/PrepareAbort, answers, and leaves the markers to a writer task.
    pub(crate) async fn end_txn(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TxnResult,
        client_transaction_version: i16,
    ) -> Result<(i64, i16), Code> {
        let partition = self.partition_of(transactional_id);
        let (plan, epoch) = {
            let mut inner = self.lock();
            let epoch = Self::epoch_of(&inner, partition)?;
            let plan = inner
                .coordinator
                .end_txn(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    result,
                    client_transaction_version,
                    now_ms(),
                    &mut || self.allocate_producer_id(),
                )
                .map_err(|e| error_code::txn_error(&e))?;
            (plan, epoch)
        };
        match plan {
            EndTxnPlan::Done {
                producer_id,
                producer_epoch,
            } => Ok((producer_id, producer_epoch)),
            EndTxnPlan::Persist(t) => {
                self.persist_transit(transactional_id, &t, partition, epoch)
                    .await?;
                let inner = self.lock();
                inner
                    .coordinator
                    .get(transactional_id)
                    .map(|m| (m.producer_id, m.producer_epoch))
                    .ok_or(Code::NotCoordinator)
            }
        }
    }

    /// DescribeTransactions for one transactional id.
    pub(crate) fn describe(&self, transactional_id: &str) -> Result<TxnDescription, Code> {
        if transactional_id.is_empty() {
            return Err(Code::InvalidRequest);
        }
        let inner = self.lock();
        Self::epoch_of(&inner, self.partition_of(transactional_id))?;
        inner
            .coordinator
            .describe(transactional_id)
            .ok_or(Code::TransactionalIdNotFound)
    }

    /// ListTransactions over the transactions this broker coordinates.
    pub(crate) fn list(&self, filter: &ListFilter) -> (Vec<TxnListing>, Vec<String>) {
        self.lock().coordinator.list(filter, now_ms())
    }

    /// Persists a prepared change and applies it; a persisted PrepareCommit/PrepareAbort starts its markers.
    /// A failed append drops the change (the client retries).
    async fn persist_transit(
        self: &Arc<Self>,
        transactional_id: &str,
        transit: &TxnTransit,
        partition: i32,
        epoch: i32,
    ) -> Result<(), Code> {
        let record = TxnRecord {
            transactional_id: transactional_id.to_owned(),
            value: Some(transit.to_value()),
        };
        let persisted = self.persist(&[record], partition).await;
        let plan = {
            let mut inner = self.lock();
            if inner.owned.get(&partition) != Some(&epoch) {
                // Leadership moved meanwhile: the state was unloaded; the new coordinator loads the log.
                return Err(Code::NotCoordinator);
            }
            if let Err(code) = persisted {
                inner.coordinator.fail(transactional_id, transit);
                return Err(code);
            }
            match inner
                .coordinator
                .complete(transactional_id, transit, now_ms())
            {
                Ok(plan) => plan,
                Err(e) => {
                    error!(transactional_id, "applying a persisted change failed: {e}");
                    return Err(Code::UnknownServerError);
                }
            }
        };
        if let Some(plan) = plan {
            self.spawn_markers(plan, partition, epoch);
        }
        Ok(())
    }

    /// Appends records to one partition of `__transaction_state` as one uncompressed batch with acks=all,
    /// and waits until the in-sync replicas have it. Errors as Kafka's `appendTransactionToLog` maps them:
    /// lost leadership is NOT_COORDINATOR, too few replicas or a timeout COORDINATOR_NOT_AVAILABLE.
    async fn persist(&self, records: &[TxnRecord], partition: i32) -> Result<(), Code> {
        let now = now_ms();
        let batch = encode_batch(records, now)?;
        let Some(p) = self.replicas.get(TRANSACTION_STATE_TOPIC, partition) else {
            warn!(
                partition,
                "{TRANSACTION_STATE_TOPIC} partition is not hosted"
            );
            return Err(Code::NotCoordinator);
        };
        let appended = p
            .append_records_to_leader(&batch, AppendOrigin::Client { acks: -1 }, now)
            .map_err(|e| error_code::coordinator_append_error(&e))?;
        self.replicas.notify_data_arrived();
        if let Some(delayed) = appended.delayed {
            delayed
                .wait_replicated(self.commit_timeout)
                .await
                .map_err(|e| error_code::coordinator_append_error(&e))?;
            delayed
                .wait_durable()
                .await
                .map_err(|e| error_code::coordinator_append_error(&e))?;
        }
        Ok(())
    }

    /// Aborts the transactions open past their timeout, fencing their producers (Kafka's
    /// `abortTimedOutTransactions`).
    fn abort_timed_out(self: &Arc<Self>) {
        let now = now_ms();
        let due = {
            let inner = self.lock();
            inner.coordinator.timed_out(now)
        };
        for t in due {
            let partition = self.partition_of(&t.transactional_id);
            let prepared = {
                let mut inner = self.lock();
                let Ok(epoch) = Self::epoch_of(&inner, partition) else {
                    continue;
                };
                inner
                    .coordinator
                    .abort_timed_out(&t, now)
                    .map(|transit| (transit, epoch))
            };
            let Some((transit, epoch)) = prepared else {
                continue;
            };
            info!(
                transactional_id = %t.transactional_id,
                producer_id = t.producer_id,
                "aborting a transaction past its timeout"
            );
            let service = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(code) = service
                    .persist_transit(&t.transactional_id, &transit, partition, epoch)
                    .await
                {
                    warn!(transactional_id = %t.transactional_id, "aborting a timed-out transaction failed: {code:?}");
                }
            });
        }
    }

    /// Removes transactional ids idle past `transactional.id.expiration.ms`: their tombstones are persisted,
    /// then they are forgotten.
    async fn expire_ids(&self) {
        let tombstones = {
            let mut inner = self.lock();
            inner.coordinator.expire(now_ms())
        };
        let mut by_partition: BTreeMap<i32, Vec<TxnRecord>> = BTreeMap::new();
        for t in tombstones {
            by_partition
                .entry(self.partition_of(&t.transactional_id))
                .or_default()
                .push(t);
        }
        for (partition, records) in by_partition {
            let persisted = self.persist(&records, partition).await;
            let mut inner = self.lock();
            for r in &records {
                if persisted.is_ok() {
                    inner.coordinator.remove_dead(&r.transactional_id);
                } else {
                    inner.coordinator.keep_dead(&r.transactional_id);
                }
            }
            match persisted {
                Ok(()) => info!(
                    partition,
                    ids = records.len(),
                    "expired idle transactional ids"
                ),
                Err(code) => warn!(
                    partition,
                    "persisting expired transactional ids failed: {code:?}"
                ),
            }
        }
    }

    /// Starts writing a transaction's markers in a task of its own.
    fn spawn_markers(self: &Arc<Self>, plan: MarkerPlan, partition: i32, epoch: i32) {
        let service = Arc::clone(self);
        tokio::spawn(async move { service.write_markers(plan, partition, epoch).await });
    }
}

/// Records as one uncompressed v2 batch (Kafka's `TransactionLog.EnforcedCompression`), through the one
/// shared encoder.
fn encode_batch(records: &[TxnRecord], now: i64) -> Result<Bytes, Code> {
    let owned: Vec<OwnedRecord> = records
        .iter()
        .map(|r| OwnedRecord {
            key: Some(r.key()),
            value: r.value(),
            headers: Vec::new(),
            timestamp: Some(now),
        })
        .collect();
    encode_record_batch(&owned, Compression::None, now).map_err(|e| {
        error!("encoding a {TRANSACTION_STATE_TOPIC} batch failed: {e}");
        Code::UnknownServerError
    })
}
