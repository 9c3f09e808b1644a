//! The broker side of the group coordinator: one `strom_group::GroupCoordinator` for the groups this broker
//! coordinates (those whose `__consumer_offsets` partition it leads, as in Kafka; `on_role_change` loads a
//! partition's groups when leadership arrives and forgets them when it leaves), behind a plain mutex taken for one operation at a time and never across an
//! `.await`. Owns what the pure state machine does not: the clock, the oneshot channels on which delayed
//! JoinGroup/SyncGroup requests wait, the timer task (sessions, rebalance timeouts, initial delay, offset
//! expiry), creating `__consumer_offsets` on first use, appending the coordinator's records to it as v2
//! batches, and replaying it at start-up. The wire format of each API lives in `api/<api>.rs`. KIP-848
//! (ConsumerGroupHeartbeat) groups go through the same state machine via [`Groups::with`]; the ConsumerGroup*
//! records the coordinator queues (`GroupCoordinator::take_records`) are appended like any other, so after
//! a restart members carry on with their member ids, epochs and assignments.
//!
//! `__consumer_offsets` is created as Kafka creates it: `cleanup.policy=compact`, so the cleaner keeps the latest
//! record of each key (tombstones for `delete.retention.ms`); start-up replays what is left, last record of a
//! key winning.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use strom_group::{
    CommitOffsets, Effects, Error, GroupConfig, GroupCoordinator, JoinGroup, JoinResult, Record,
    Reply, SyncGroup, SyncResult, Token, TopicPartitionResult,
};
use strom_metadata::{NewTopic, TopicError};
use strom_protocol::kafka_protocol::records::{
    Compression, Record as KafkaRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error_code::{self, Code};
use crate::partition::{Partition, Role};
use strom_protocol::clock::now_ms;

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
pub(crate) struct Groups {
    inner: Mutex<Inner>,
    num_partitions: i32,
    replication_factor: i16,
    retention_check_interval_ms: i64,
    commit_timeout: Duration,
    /// Serialises creation of the offsets topic.
    create_lock: tokio::sync::Mutex<()>,
    stop: watch::Sender<bool>,
}

impl Groups {
    pub(crate) fn new(config: &BrokerConfig) -> Groups {
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
            ..GroupConfig::default()
        };
        let (stop, _) = watch::channel(false);
        Groups {
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(group_config),
                owned: BTreeSet::new(),
                waiters: HashMap::new(),
                next_token: 1,
            }),
            num_partitions: config.offsets_topic_num_partitions.max(1),
            replication_factor: config.offsets_topic_replication_factor,
            retention_check_interval_ms: config.offsets_retention_check_interval_ms.max(100),
            commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms.max(1) as u64),
            create_lock: tokio::sync::Mutex::new(()),
            stop,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replays `__consumer_offsets` (when it exists) and starts the timer task. Called once the partition
    /// logs are open.
    pub(crate) fn start(broker: &Arc<Broker>) {
        let mut stop = broker.groups.stop.subscribe();
        let b = Arc::clone(broker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_expiry = now_ms() + b.groups.retention_check_interval_ms;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let now = now_ms();
                        let mut inner = b.groups.lock();
                        let fx = inner.coordinator.tick(now);
                        b.groups.apply(&b, &mut inner, fx, now);
                        if now >= next_expiry {
                            next_expiry = now + b.groups.retention_check_interval_ms;
                            let records = inner.coordinator.expire_offsets(now);
                            if !records.is_empty() {
                                info!(records = records.len(), "expired committed offsets");
                                if let Err(code) = b.groups.persist(&b, &records, now) {
                                    warn!("persisting expired offsets failed: {code:?}");
                                }
                            }
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    /// Stops the timer task and answers every waiting JoinGroup/SyncGroup (their senders are dropped, which
    /// the handlers turn into COORDINATOR_NOT_AVAILABLE).
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.lock().waiters.clear();
    }

    /// Leadership of a `__consumer_offsets` partition changed: load its groups when this broker now leads it,
    /// forget them otherwise (clients get NOT_COORDINATOR and look the coordinator up again).
    pub(crate) fn on_role_change(&self, partition: &Partition, role: Role) {
        if partition.topic != OFFSETS_TOPIC {
            return;
        }
        let index = partition.index;
        if role == Role::Leader {
            self.load(partition);
            self.lock().owned.insert(index);
            info!(
                partition = index,
                "coordinating the groups of {OFFSETS_TOPIC} partition"
            );
        } else {
            let mut inner = self.lock();
            if inner.owned.remove(&index) {
                let n = self.num_partitions;
                let dropped = inner
                    .coordinator
                    .unload(|group| strom_group::partition_for(group, n) != index);
                // Waiting JoinGroup/SyncGroup calls of moved groups get COORDINATOR_NOT_AVAILABLE and retry.
                inner.waiters.clear();
                info!(
                    partition = index,
                    groups = dropped,
                    "no longer coordinating {OFFSETS_TOPIC} partition"
                );
            }
        }
    }

    /// NOT_COORDINATOR unless this broker coordinates `group_id` (leads its `__consumer_offsets` partition).
    pub(crate) fn check_coordinator(&self, group_id: &str) -> Result<(), Code> {
        let index = strom_group::partition_for(group_id, self.num_partitions);
        if self.lock().owned.contains(&index) {
            Ok(())
        } else {
            Err(Code::NotCoordinator)
        }
    }

    /// The broker coordinating `group_id`: the leader of its `__consumer_offsets` partition.
    pub(crate) fn coordinator_of(
        &self,
        image: &strom_metadata::MetadataImage,
        group_id: &str,
    ) -> Result<(i32, String, i32), Code> {
        let index = strom_group::partition_for(group_id, self.num_partitions);
        let leader = image
            .topic(OFFSETS_TOPIC)
            .and_then(|t| t.partitions.get(&index))
            .map_or(-1, |p| p.leader);
        image
            .brokers
            .get(&leader)
            .filter(|b| !b.fenced)
            .map(|b| (b.node_id, b.host.clone(), b.port))
            .ok_or(Code::CoordinatorNotAvailable)
    }

    /// Replays one partition of `__consumer_offsets` into the state machine, in log order.
    fn load(&self, partition: &Partition) {
        let index = partition.index;
        let now = now_ms();
        let mut inner = self.lock();
        let mut loaded = 0usize;
        {
            let guard = partition.lock();
            let Some(log) = guard.as_ref() else {
                return;
            };
            let end = log.log_end_offset();
            let mut offset = log.log_start_offset();
            while offset < end {
                let data = match log.read(offset, 1 << 20, end, true) {
                    Ok(d) => d,
                    Err(e) => {
                        error!(
                            partition = index,
                            offset, "reading {OFFSETS_TOPIC} failed: {e}"
                        );
                        break;
                    }
                };
                if data.records.is_empty() {
                    break;
                }
                let mut buf = data.records;
                let before = offset;
                while !buf.is_empty() {
                    let set = match RecordBatchDecoder::decode(&mut buf) {
                        Ok(set) => set,
                        Err(e) => {
                            error!(
                                partition = index,
                                offset, "undecodable batch in {OFFSETS_TOPIC}: {e}"
                            );
                            break;
                        }
                    };
                    for r in set.records {
                        offset = offset.max(r.offset + 1);
                        let Some(key) = r.key.as_deref() else {
                            continue;
                        };
                        match Record::decode(key, r.value.as_deref()) {
                            Ok(Some(record)) => {
                                inner.coordinator.replay(&record, now);
                                loaded += 1;
                            }
                            Ok(None) => {}
                            Err(e) => warn!(
                                partition = index,
                                offset = r.offset,
                                "skipping unreadable record: {e}"
                            ),
                        }
                    }
                }
                if offset <= before {
                    // An undecodable batch: skip nothing silently, but do not loop forever.
                    break;
                }
            }
        }
        if loaded > 0 {
            info!(
                records = loaded,
                "loaded group metadata and committed offsets"
            );
        }
    }

    /// Creates `__consumer_offsets` when it does not exist yet (Kafka does this on the first
    /// FindCoordinator). COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub(crate) async fn ensure_offsets_topic(&self, broker: &Broker) -> Result<(), Code> {
        if broker.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let _guard = self.create_lock.lock().await;
        if broker.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let topic = NewTopic {
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
        };
        match broker.create_topic(&topic).await {
            Ok(_) | Err(TopicError::TopicAlreadyExists(_)) => {
                info!(partitions = self.num_partitions, "created {OFFSETS_TOPIC}");
                Ok(())
            }
            Err(e) => {
                error!("cannot create {OFFSETS_TOPIC}: {e}");
                Err(Code::CoordinatorNotAvailable)
            }
        }
    }

    /// JoinGroup; waits until the rebalance completes. `None` when the coordinator stopped meanwhile.
    pub(crate) async fn join(
        &self,
        broker: &Broker,
        req: JoinGroup,
    ) -> Option<Result<JoinResult, Error>> {
        self.delayed(broker, Waiter::Join, |c, token, now| {
            c.join_group(token, req, now)
        })
        .await
    }

    /// SyncGroup; followers wait for the leader's assignment.
    pub(crate) async fn sync(
        &self,
        broker: &Broker,
        req: SyncGroup,
    ) -> Option<Result<SyncResult, Error>> {
        self.delayed(broker, Waiter::Sync, |c, token, now| {
            c.sync_group(token, req, now)
        })
        .await
    }

    /// Runs an operation whose answer may come later (when a rebalance completes): registers a waiter under a
    /// fresh token, applies the operation's effects, then awaits the answer outside the lock.
    async fn delayed<T>(
        &self,
        broker: &Broker,
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
            self.apply(broker, &mut inner, fx, now);
            rx
        };
        rx.await.ok()
    }

    /// Runs a non-waiting operation on the state machine with the clock, and applies its effects.
    pub(crate) fn with<T>(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Effects),
    ) -> T {
        let now = now_ms();
        let mut inner = self.lock();
        let (out, fx) = f(&mut inner.coordinator, now);
        self.apply(broker, &mut inner, fx, now);
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
        broker: &Broker,
        req: &CommitOffsets,
    ) -> Vec<(TopicPartitionResult, Option<Code>)> {
        let (results, persisted) = {
            let now = now_ms();
            let mut inner = self.lock();
            let (results, records) = inner.coordinator.commit_offsets(req, now);
            let persisted = if records.is_empty() {
                Ok(Vec::new())
            } else {
                self.persist(broker, &records, now)
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

    /// Appends records, applies them (offset deletion, group deletion), and waits for the in-sync replicas.
    pub(crate) async fn persist_and_replay(
        &self,
        broker: &Broker,
        records: &[Record],
    ) -> Result<(), Code> {
        let appended = {
            let now = now_ms();
            let mut inner = self.lock();
            let appended = self.persist(broker, records, now)?;
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
    async fn replicated(&self, appended: Vec<Appended>) -> Result<(), Code> {
        for a in appended {
            a.partition
                .wait_for_high_watermark(a.log_end, a.leader_epoch, self.commit_timeout)
                .await
                .map_err(|code| match code {
                    Code::NotLeaderOrFollower => Code::NotCoordinator,
                    _ => Code::CoordinatorNotAvailable,
                })?;
        }
        Ok(())
    }

    /// Persists an operation's records and hands out its replies.
    fn apply(&self, broker: &Broker, inner: &mut Inner, fx: Effects, now: i64) {
        if !fx.records.is_empty() {
            if let Err(code) = self.persist(broker, &fx.records, now) {
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

    /// Appends records to their groups' partitions of `__consumer_offsets`, one v2 batch per partition; returns
    /// what to wait for before the records count as committed.
    fn persist(
        &self,
        broker: &Broker,
        records: &[Record],
        now: i64,
    ) -> Result<Vec<Appended>, Code> {
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
            let batch = encode_batch(&records, now)?;
            let Some(partition) = broker.replicas.get(OFFSETS_TOPIC, index) else {
                warn!(partition = index, "{OFFSETS_TOPIC} partition is not hosted");
                return Err(Code::CoordinatorNotAvailable);
            };
            let mut guard = partition.lock();
            let Some(log) = guard.as_mut() else {
                return Err(Code::CoordinatorNotAvailable);
            };
            let leader_epoch = {
                let state = partition.state();
                if state.role != Role::Leader {
                    return Err(Code::NotCoordinator);
                }
                state.leader_epoch
            };
            if let Err(e) = log.append_as_leader(&batch, now, leader_epoch.max(0)) {
                return Err(error_code::append_error(&e));
            }
            let log_end = log.log_end_offset();
            drop(guard);
            partition.after_leader_append(broker.node_id(), log_end);
            appended.push(Appended {
                partition,
                log_end,
                leader_epoch,
            });
        }
        broker.replicas.notify_data_arrived();
        Ok(appended)
    }
}

/// Records appended to a `__consumer_offsets` partition as its leader: committed once the high watermark
/// reaches `log_end` in the same leader epoch.
struct Appended {
    partition: Arc<Partition>,
    log_end: i64,
    leader_epoch: i32,
}

fn encode_batch(records: &[&Record], now: i64) -> Result<Bytes, Code> {
    let records: Vec<KafkaRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| KafkaRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(r.key()),
            value: r.value(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| {
        error!("encoding a {OFFSETS_TOPIC} batch failed: {e}");
        Code::UnknownServerError
    })?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    //! The glue through a real broker on a temp dir: a delayed JoinGroup completed by a second member's
    //! join, an offset commit appended to `__consumer_offsets`, and a restart that replays it.
    use super::*;
    use strom_group::{CommitPartition, Protocol};

    async fn start(dir: &std::path::Path) -> Arc<Broker> {
        let mut config = BrokerConfig::default();
        config.set("log.dirs", dir.to_str().unwrap()).unwrap();
        config.set("group.initial.rebalance.delay.ms", "0").unwrap();
        config.set("offsets.topic.num.partitions", "4").unwrap();
        Broker::start(config).await.unwrap()
    }

    fn join(member_id: &str) -> JoinGroup {
        JoinGroup {
            group_id: "g".into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: String::new(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: Bytes::from_static(b"m"),
            }],
            require_known_member_id: false,
        }
    }

    fn sync_req(group: &str, generation_id: i32, member_id: &str) -> SyncGroup {
        SyncGroup {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        }
    }

    fn commit_req(
        group: &str,
        generation_id: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> CommitOffsets {
        CommitOffsets {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: 0,
                offset: 5,
                leader_epoch: -1,
                metadata: None,
            }],
        }
    }

    /// The Kafka code of a group operation's outcome (0 for success).
    fn code<T>(r: Result<T, Error>) -> i16 {
        r.err().map_or(0, |e| error_code::group_error(&e).code())
    }

    async fn commit_code(groups: &Groups, broker: &Broker, req: &CommitOffsets) -> i16 {
        groups.commit(broker, req).await[0]
            .1
            .map_or(0, |c| c.code())
    }

    fn heartbeat_code(
        groups: &Groups,
        broker: &Broker,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        code(groups.with(broker, |c, now| {
            let r = c.heartbeat(group, member_id, instance, generation_id, now);
            (r, Effects::default())
        }))
    }

    /// Stale generations, unknown and fenced members get Kafka's codes on SyncGroup, Heartbeat and
    /// OffsetCommit, and none of it disturbs another group.
    #[tokio::test]
    async fn stale_unknown_and_fenced_members_are_refused_and_other_groups_carry_on() {
        const ILLEGAL_GENERATION: i16 = 22;
        const UNKNOWN_MEMBER_ID: i16 = 25;
        const FENCED_INSTANCE_ID: i16 = 82;
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let groups = &broker.groups;
        groups.ensure_offsets_topic(&broker).await.unwrap();

        // Another group, stable at generation 1, checked after every step.
        let mut other = join("");
        other.group_id = "other".into();
        let o = groups.join(&broker, other).await.unwrap().unwrap();
        let synced = groups
            .sync(&broker, sync_req("other", 1, &o.member_id))
            .await;
        assert_eq!(code(synced.unwrap()), 0);
        let other_ok = async |step: &str| {
            let hb = heartbeat_code(groups, &broker, "other", &o.member_id, None, 1);
            let commit =
                commit_code(groups, &broker, &commit_req("other", 1, &o.member_id, None)).await;
            assert_eq!((hb, commit), (0, 0), "other group disturbed after {step}");
        };

        // g: a alone at generation 1, then a and b at generation 2.
        let a = groups.join(&broker, join("")).await.unwrap().unwrap();
        assert_eq!(
            code(
                groups
                    .sync(&broker, sync_req("g", 1, &a.member_id))
                    .await
                    .unwrap()
            ),
            0
        );
        let b_join = {
            let broker = Arc::clone(&broker);
            tokio::spawn(async move { broker.groups.join(&broker, join("")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a2 = groups
            .join(&broker, join(&a.member_id))
            .await
            .unwrap()
            .unwrap();
        let b = b_join.await.unwrap().unwrap().unwrap();
        assert_eq!((a2.generation_id, b.generation_id), (2, 2));
        let b_sync = {
            let broker = Arc::clone(&broker);
            let member_id = b.member_id.clone();
            tokio::spawn(async move {
                broker
                    .groups
                    .sync(&broker, sync_req("g", 2, &member_id))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            code(
                groups
                    .sync(&broker, sync_req("g", 2, &a.member_id))
                    .await
                    .unwrap()
            ),
            0
        );
        assert_eq!(code(b_sync.await.unwrap().unwrap()), 0);
        other_ok("the rebalance").await;

        // Generation 1 is over.
        let stale_sync = groups
            .sync(&broker, sync_req("g", 1, &a.member_id))
            .await
            .unwrap();
        assert_eq!(code(stale_sync), ILLEGAL_GENERATION);
        assert_eq!(
            heartbeat_code(groups, &broker, "g", &a.member_id, None, 1),
            ILLEGAL_GENERATION
        );
        assert_eq!(
            commit_code(groups, &broker, &commit_req("g", 1, &a.member_id, None)).await,
            ILLEGAL_GENERATION
        );
        // Members the group never had.
        let unknown_sync = groups
            .sync(&broker, sync_req("g", 2, "nobody"))
            .await
            .unwrap();
        assert_eq!(code(unknown_sync), UNKNOWN_MEMBER_ID);
        assert_eq!(
            heartbeat_code(groups, &broker, "g", "nobody", None, 2),
            UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            commit_code(groups, &broker, &commit_req("g", 2, "nobody", None)).await,
            UNKNOWN_MEMBER_ID
        );
        // The current generation still works.
        assert_eq!(
            heartbeat_code(groups, &broker, "g", &b.member_id, None, 2),
            0
        );
        assert_eq!(
            commit_code(groups, &broker, &commit_req("g", 2, &b.member_id, None)).await,
            0
        );
        other_ok("stale requests").await;

        // b leaves; its later commit is refused.
        let left = groups.with(&broker, |c, now| {
            c.leave_group(
                "g",
                &[strom_group::LeaveMember {
                    member_id: b.member_id.clone(),
                    group_instance_id: None,
                }],
                now,
            )
        });
        assert_eq!(left, vec![Ok(())]);
        assert_eq!(
            commit_code(groups, &broker, &commit_req("g", 2, &b.member_id, None)).await,
            UNKNOWN_MEMBER_ID
        );
        other_ok("a leave").await;

        // Static membership: a restarted instance fences the member id it replaced.
        let mut s1 = join("");
        s1.group_id = "static".into();
        s1.group_instance_id = Some("i".into());
        let first = groups.join(&broker, s1.clone()).await.unwrap().unwrap();
        let mut sync = sync_req("static", 1, &first.member_id);
        sync.group_instance_id = Some("i".into());
        assert_eq!(code(groups.sync(&broker, sync).await.unwrap()), 0);
        let second = groups.join(&broker, s1).await.unwrap().unwrap();
        assert_ne!(second.member_id, first.member_id);
        assert_eq!(
            second.generation_id, 1,
            "a static rejoin does not rebalance"
        );
        assert_eq!(
            heartbeat_code(groups, &broker, "static", &first.member_id, Some("i"), 1),
            FENCED_INSTANCE_ID
        );
        assert_eq!(
            commit_code(
                groups,
                &broker,
                &commit_req("static", 1, &first.member_id, Some("i"))
            )
            .await,
            FENCED_INSTANCE_ID
        );
        assert_eq!(
            commit_code(
                groups,
                &broker,
                &commit_req("static", 1, &second.member_id, Some("i"))
            )
            .await,
            0
        );
        other_ok("fencing").await;
        broker.shutdown().await;
    }

    #[tokio::test]
    async fn rebalance_commit_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let groups = &broker.groups;
        groups.ensure_offsets_topic(&broker).await.unwrap();
        let a = groups.join(&broker, join("")).await.unwrap().unwrap();
        assert_eq!(a.generation_id, 1);
        // b's join parks until a rejoins.
        let b_join = {
            let broker = Arc::clone(&broker);
            tokio::spawn(async move { broker.groups.join(&broker, join("")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!b_join.is_finished());
        let a2 = groups
            .join(&broker, join(&a.member_id))
            .await
            .unwrap()
            .unwrap();
        let b = b_join.await.unwrap().unwrap().unwrap();
        assert_eq!((a2.generation_id, b.generation_id), (2, 2));
        assert_eq!(a2.members.len(), 2);
        // b's sync parks until the leader syncs.
        let b_sync = {
            let broker = Arc::clone(&broker);
            let member_id = b.member_id.clone();
            tokio::spawn(async move {
                let req = SyncGroup {
                    group_id: "g".into(),
                    generation_id: 2,
                    member_id,
                    group_instance_id: None,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: Vec::new(),
                };
                broker.groups.sync(&broker, req).await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let leader_sync = SyncGroup {
            group_id: "g".into(),
            generation_id: 2,
            member_id: a.member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![
                (a.member_id.clone(), Bytes::from_static(b"for-a")),
                (b.member_id.clone(), Bytes::from_static(b"for-b")),
            ],
        };
        let mine = groups.sync(&broker, leader_sync).await.unwrap().unwrap();
        assert_eq!(mine.assignment, Bytes::from_static(b"for-a"));
        let theirs = b_sync.await.unwrap().unwrap().unwrap();
        assert_eq!(theirs.assignment, Bytes::from_static(b"for-b"));
        let commit = CommitOffsets {
            group_id: "g".into(),
            generation_id: 2,
            member_id: b.member_id.clone(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: 0,
                offset: 17,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        let results = groups.commit(&broker, &commit).await;
        assert_eq!(results[0].1, None);
        broker.shutdown().await;
        drop(broker);

        let broker = start(dir.path()).await;
        let offsets = broker.groups.read(|c| c.fetch_offsets("g", None));
        assert_eq!(offsets.len(), 1);
        assert_eq!(offsets[0].2.as_ref().map(|v| v.offset), Some(17));
        let d = broker.groups.read(|c| c.describe_group("g")).unwrap();
        assert_eq!(d.state, strom_group::GroupState::Stable);
        assert_eq!(d.members.len(), 2);
        broker.shutdown().await;
    }
}
