//! The broker side of the group coordinator (Kafka's `GroupCoordinatorService`): one
//! `strom_group::GroupCoordinator` for the groups this broker coordinates (those whose `__consumer_offsets`
//! partition it leads, as in Kafka), behind a plain mutex taken for one operation at a time and never across
//! an `.await`. Owns what the pure state machine does not: the clock, the oneshot channels on which delayed
//! JoinGroup/SyncGroup requests wait, the timer task (sessions, rebalance timeouts, initial delay, offset
//! expiry), the settings of `__consumer_offsets`, and appending the coordinator's records to it as v2 batches
//! through the partition layer. The wire format of each API lives in `api/<api>.rs`. KIP-848
//! (ConsumerGroupHeartbeat) groups go through the same state machine via [`GroupCoordinatorService::with`];
//! the ConsumerGroup* records the coordinator queues (`GroupCoordinator::take_records`) are appended like any
//! other, so after a restart members carry on with their member ids, epochs and assignments.
//!
//! `GroupCoordinatorService`'s `impl` is split on purpose: this file serves requests and persists records;
//! `group_coordinator/load.rs` follows leadership of `__consumer_offsets` partitions (load a partition's
//! groups when it arrives, forget them when it leaves) and answers which broker coordinates a group. Creating
//! the topic on first use is the broker's (`Broker::ensure_offsets_topic`, as Kafka's request layer does it);
//! this service only says how it is configured ([`GroupCoordinatorService::offsets_topic`]).
//!
//! `__consumer_offsets` is created as Kafka creates it: `cleanup.policy=compact`, so the cleaner keeps the latest
//! record of each key (tombstones for `delete.retention.ms`); loading replays what is left, last record of a
//! key winning.

mod load;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use strom_group::{
    CommitOffsets, Effects, Error, GroupConfig, GroupCoordinator, JoinGroup, JoinResult,
    MigrationPolicy, Record, Reply, SyncGroup, SyncResult, Token, TopicMeta, TopicPartitionResult,
};
use strom_metadata::NewTopic;
use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::records::Compression;
use strom_protocol::records::{
    encode_record_batch, encode_transactional_record_batch, OwnedRecord,
};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

use crate::config::BrokerConfig;
use crate::error_code::{self, Code};
use crate::partition::{AppendOrigin, DelayedProduce, ReplicaManager};
use crate::periodic::spawn_periodic;

/// Kafka's internal topic for group metadata and committed offsets.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// How often the state machine's timers are checked.
const TICK: Duration = Duration::from_millis(100);
/// Kafka's `offsets.topic.segment.bytes` default: the offsets topic rolls small segments.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

enum Waiter {
    Join(oneshot::Sender<Result<JoinResult, Error>>),
    Sync(oneshot::Sender<Result<SyncResult, Error>>),
}

struct Inner {
    coordinator: GroupCoordinator,
    /// `__consumer_offsets` partitions this broker leads and has loaded.
    owned: BTreeSet<i32>,
    waiters: HashMap<Token, Waiter>,
    next_token: Token,
}

/// The group coordinator of this broker.
pub(crate) struct GroupCoordinatorService {
    inner: Mutex<Inner>,
    /// Where `__consumer_offsets` lives: the coordinator appends to its partitions and loads them.
    replicas: Arc<ReplicaManager>,
    num_partitions: i32,
    replication_factor: i16,
    retention_check_interval_ms: i64,
    commit_timeout: Duration,
    stop: watch::Sender<bool>,
}

impl GroupCoordinatorService {
    pub(crate) fn new(
        config: &BrokerConfig,
        replicas: Arc<ReplicaManager>,
    ) -> GroupCoordinatorService {
        let group_config = GroupConfig {
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms.max(0),
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            offsets_retention_ms: config.offsets_retention_minutes.saturating_mul(60_000),
            consumer_session_timeout_ms: config.group_consumer_session_timeout_ms.max(1),
            consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms.max(1),
            consumer_assignors: config
                .group_consumer_assignors
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| strom_group::assignor::ASSIGNORS.contains(&s.as_str()))
                .collect(),
            consumer_migration_policy: MigrationPolicy::parse(
                &config.group_consumer_migration_policy,
            )
            .unwrap_or_else(|| {
                warn!(
                    value = %config.group_consumer_migration_policy,
                    "unknown group.consumer.migration.policy; using bidirectional"
                );
                MigrationPolicy::Bidirectional
            }),
            ..GroupConfig::default()
        };
        let (stop, _) = watch::channel(false);
        GroupCoordinatorService {
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(group_config),
                owned: BTreeSet::new(),
                waiters: HashMap::new(),
                next_token: 1,
            }),
            replicas,
            num_partitions: config.offsets_topic_num_partitions.max(1),
            replication_factor: config.offsets_topic_replication_factor,
            retention_check_interval_ms: config.offsets_retention_check_interval_ms.max(100),
            commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms.max(1) as u64),
            stop,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the timer task (sessions, rebalance timeouts, offset expiry). Called once the partition logs
    /// are open.
    pub(crate) fn start(self: &Arc<Self>) {
        let service = Arc::clone(self);
        let mut next_expiry = now_ms() + self.retention_check_interval_ms;
        spawn_periodic(
            "group-coordinator-timer",
            TICK,
            None,
            self.stop.subscribe(),
            move || {
                service.tick(&mut next_expiry);
                std::future::ready(())
            },
        );
    }

    /// One timer tick: the state machine's timers, and offset expiry when it is due.
    fn tick(&self, next_expiry: &mut i64) {
        let now = now_ms();
        let mut inner = self.lock();
        let fx = inner.coordinator.tick(now);
        self.apply(&mut inner, fx, now);
        if now >= *next_expiry {
            *next_expiry = now + self.retention_check_interval_ms;
            let records = inner.coordinator.expire_offsets(now);
            if !records.is_empty() {
                info!(records = records.len(), "expired committed offsets");
                if let Err(code) = self.persist(&records, now, None) {
                    warn!("persisting expired offsets failed: {code:?}");
                }
            }
        }
    }

    /// Stops the timer task and answers every waiting JoinGroup/SyncGroup (their senders are dropped, which
    /// the handlers turn into COORDINATOR_NOT_AVAILABLE).
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.lock().waiters.clear();
    }

    /// How `__consumer_offsets` is created (Kafka's `offsets.topic.*` settings and
    /// `groupMetadataTopicConfigs`): compacted, with small segments.
    pub(crate) fn offsets_topic(&self) -> NewTopic {
        NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: self.num_partitions,
            replication_factor: self.replication_factor,
            assignments: BTreeMap::new(),
            configs: BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                (
                    "segment.bytes".to_string(),
                    OFFSETS_SEGMENT_BYTES.to_string(),
                ),
            ]),
        }
    }

    /// JoinGroup; waits until the rebalance completes. `None` when the coordinator stopped meanwhile.
    /// `topics` looks a topic up in the request's metadata (a classic member of a consumer group subscribes
    /// by name).
    pub(crate) async fn join(
        &self,
        req: JoinGroup,
        topics: &(dyn Fn(&str) -> Option<TopicMeta> + Sync),
    ) -> Option<Result<JoinResult, Error>> {
        self.delayed(Waiter::Join, |c, token, now| {
            c.join_group(token, req, topics, now)
        })
        .await
    }

    /// SyncGroup; followers wait for the leader's assignment.
    pub(crate) async fn sync(&self, req: SyncGroup) -> Option<Result<SyncResult, Error>> {
        self.delayed(Waiter::Sync, |c, token, now| c.sync_group(token, req, now))
            .await
    }

    /// Runs an operation whose answer may come later (when a rebalance completes): registers a waiter under a
    /// fresh token, applies the operation's effects, then awaits the answer outside the lock.
    async fn delayed<T>(
        &self,
        waiter: impl FnOnce(oneshot::Sender<T>) -> Waiter,
        op: impl FnOnce(&mut GroupCoordinator, Token, i64) -> Effects,
    ) -> Option<T> {
        let rx = {
            let now = now_ms();
            let mut inner = self.lock();
            let token = inner.next_token;
            inner.next_token += 1;
            let (tx, rx) = oneshot::channel();
            inner.waiters.insert(token, waiter(tx));
            let fx = op(&mut inner.coordinator, token, now);
            self.apply(&mut inner, fx, now);
            rx
        };
        rx.await.ok()
    }

    /// Runs a non-waiting operation on the state machine with the clock, and applies its effects.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Effects)) -> T {
        let now = now_ms();
        let mut inner = self.lock();
        let (out, fx) = f(&mut inner.coordinator, now);
        self.apply(&mut inner, fx, now);
        out
    }

    /// Reads the state machine.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&GroupCoordinator) -> T) -> T {
        f(&self.lock().coordinator)
    }

    /// OffsetCommit: validates, appends the records and applies them, then answers once the in-sync replicas
    /// have them (a commit acknowledged by a coordinator that dies right after is not lost). Per-partition
    /// results.
    pub(crate) async fn commit(
        &self,
        req: &CommitOffsets,
    ) -> Vec<(TopicPartitionResult, Option<Code>)> {
        let (results, persisted) = {
            let now = now_ms();
            let mut inner = self.lock();
            let (results, records) = inner.coordinator.commit_offsets(req, now);
            let persisted = if records.is_empty() {
                Ok(Vec::new())
            } else {
                self.persist(&records, now, None)
            };
            if persisted.is_ok() {
                for r in &records {
                    inner.coordinator.replay(r, now);
                }
            }
            (results, persisted)
        };
        let persisted = match persisted {
            Ok(appended) => self.replicated(appended).await,
            Err(code) => Err(code),
        };
        commit_answers(results, persisted)
    }

    /// Appends records, applies them (offset deletion, group deletion), and waits for the in-sync replicas.
    pub(crate) async fn persist_and_replay(&self, records: &[Record]) -> Result<(), Code> {
        let appended = {
            let now = now_ms();
            let mut inner = self.lock();
            let appended = self.persist(records, now, None)?;
            for r in records {
                inner.coordinator.replay(r, now);
            }
            appended
        };
        self.replicated(appended).await
    }

    /// Waits until every in-sync replica holds the appended records, mapping failures as Kafka's group
    /// coordinator does: a lost leadership is NOT_COORDINATOR, too few replicas or a timeout
    /// COORDINATOR_NOT_AVAILABLE (the client retries either).
    async fn replicated(&self, appended: Vec<DelayedProduce>) -> Result<(), Code> {
        for a in appended {
            a.wait_replicated(self.commit_timeout)
                .await
                .map_err(|e| error_code::coordinator_append_error(&e))?;
        }
        Ok(())
    }

    /// Persists an operation's records and hands out its replies.
    fn apply(&self, inner: &mut Inner, fx: Effects, now: i64) {
        if !fx.records.is_empty() {
            if let Err(code) = self.persist(&fx.records, now, None) {
                // The group lives on in memory; only a restart before the next write would lose it.
                warn!("persisting group metadata failed: {code:?}");
            }
        }
        for reply in fx.replies {
            match reply {
                Reply::Join(token, result) => {
                    if let Some(Waiter::Join(tx)) = inner.waiters.remove(&token) {
                        let _ = tx.send(result);
                    }
                }
                Reply::Sync(token, result) => {
                    if let Some(Waiter::Sync(tx)) = inner.waiters.remove(&token) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
    }

    /// TxnOffsetCommit: validates (KIP-447), appends the offsets as a transactional batch of the producer (its
    /// epoch is checked by the log: a fenced producer gets INVALID_PRODUCER_EPOCH), keeps them pending until
    /// the transaction's marker reaches the group's partition ([`GroupCoordinatorService::on_txn_marker`]), and
    /// answers once the in-sync replicas have them.
    pub(crate) async fn txn_commit(
        &self,
        req: &CommitOffsets,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Vec<(TopicPartitionResult, Option<Code>)> {
        let (results, persisted) = {
            let now = now_ms();
            let mut inner = self.lock();
            let (results, records) = inner.coordinator.txn_commit_offsets(req, now);
            let persisted = if records.is_empty() {
                Ok(Vec::new())
            } else {
                self.persist(&records, now, Some((producer_id, producer_epoch)))
            };
            if persisted.is_ok() {
                for r in &records {
                    inner.coordinator.replay_txn_offset(r, producer_id);
                }
            }
            (results, persisted)
        };
        let persisted = match persisted {
            Ok(appended) => self.replicated(appended).await,
            Err(code) => Err(code),
        };
        commit_answers(results, persisted)
    }

    /// A transaction marker of `producer_id` was written to `__consumer_offsets` partition `index` (Kafka's
    /// `onTransactionCompleted`): the pending offsets of that partition's groups become committed (`commit`) or
    /// are dropped. Nothing when this broker does not coordinate the partition.
    pub(crate) fn on_txn_marker(&self, index: i32, producer_id: i64, commit: bool) {
        let mut inner = self.lock();
        if !inner.owned.contains(&index) {
            return;
        }
        let n = self.num_partitions;
        inner.coordinator.complete_txn(
            producer_id,
            commit,
            |group| strom_group::partition_for(group, n) == index,
            now_ms(),
        );
    }

    /// Whether an open transaction holds an offset of the group's partition (OffsetFetch `require_stable`).
    pub(crate) fn has_pending_txn_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> bool {
        self.lock()
            .coordinator
            .has_pending_txn_offset(group_id, topic, partition)
    }

    /// Appends records to their groups' partitions of `__consumer_offsets`, one v2 batch per partition (with
    /// `producer`, transactional batches of that producer id and epoch); returns what to wait for before the
    /// records count as committed.
    fn persist(
        &self,
        records: &[Record],
        now: i64,
        producer: Option<(i64, i16)>,
    ) -> Result<Vec<DelayedProduce>, Code> {
        let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
        for r in records {
            by_partition
                .entry(strom_group::partition_for(
                    r.group_id(),
                    self.num_partitions,
                ))
                .or_default()
                .push(r);
        }
        let mut appended = Vec::with_capacity(by_partition.len());
        for (index, records) in by_partition {
            let batch = encode_batch(&records, now, producer)?;
            let Some(partition) = self.replicas.get(OFFSETS_TOPIC, index) else {
                warn!(partition = index, "{OFFSETS_TOPIC} partition is not hosted");
                return Err(Code::CoordinatorNotAvailable);
            };
            let append = partition
                .append_records_to_leader(&batch, AppendOrigin::Coordinator, now)
                .map_err(|e| error_code::coordinator_append_error(&e))?;
            appended.extend(append.delayed);
        }
        self.replicas.notify_data_arrived();
        Ok(appended)
    }
}

/// The coordinator's records as v2 batches, one batch per record (each record is its own append unit, so a large
/// offset commit never makes one batch past the topic's `max.message.bytes`), through the one shared encoder.
fn encode_batch(
    records: &[&Record],
    now: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, Code> {
    let mut buf = BytesMut::new();
    for record in records {
        let one = OwnedRecord {
            key: Some(record.key()),
            value: record.value(),
            headers: Vec::new(),
            timestamp: Some(now),
        };
        let batch = match producer {
            None => encode_record_batch(&[one], Compression::None, now),
            Some((id, epoch)) => {
                encode_transactional_record_batch(&[one], Compression::None, now, id, epoch)
            }
        };
        let batch = batch.map_err(|e| {
            error!("encoding a {OFFSETS_TOPIC} batch failed: {e}");
            Code::UnknownServerError
        })?;
        buf.extend_from_slice(&batch);
    }
    Ok(buf.freeze())
}

/// Each partition's answer to an offset commit: its validation error, else how the append ended.
fn commit_answers(
    results: Vec<TopicPartitionResult>,
    persisted: Result<(), Code>,
) -> Vec<(TopicPartitionResult, Option<Code>)> {
    results
        .into_iter()
        .map(|r| {
            let code = match (&r.error, persisted) {
                (Some(e), _) => Some(error_code::group_error(e)),
                (None, Err(code)) => Some(code),
                (None, Ok(())) => None,
            };
            (r, code)
        })
        .collect()
}
