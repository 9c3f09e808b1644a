//! The partition layer (Kafka's `ReplicaManager` and `Partition`; Redpanda's `cluster::partition`): the
//! partitions this broker hosts, each with its log and its replication state, and every step that touches
//! them. Request handlers, the replica fetcher, the group coordinator and the broker's background tasks call
//! one method per step and get a result or a [`PartitionError`]; they never see a lock.
//!
//! Each partition has two locks, private to this module, always taken in this order when both are needed: the
//! log, then the replication state. Neither is held across an `.await`. The replication state says whether
//! this broker leads the partition (and then tracks every follower's log end offset, the ISR and the high
//! watermark) or follows it (and then the replica fetcher appends what the leader sends). `broker.rs` decides
//! the role from the metadata image ([`Partition::apply_leadership`]).
//!
//! `Partition`'s `impl` is split on purpose, one file per side of the protocol, each using this file's
//! private fields: `leader.rs` (append as leader and what the answer waits for, reads and offset lookups
//! served by the leader, the high-watermark and durability waits), `follower.rs` (what the replica fetcher
//! needs: its fetch position, replicated appends, truncation), `isr.rs` (ISR shrink/expand and the
//! AlterPartition proposal). `state.rs` is the replication state itself. This file holds the partition's
//! lifecycle (open, role changes, config, retention, flush, close) and the [`ReplicaManager`] map with the
//! data-arrived signal.

mod follower;
mod isr;
mod leader;
mod state;
mod verification;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strom_storage::{AppendError, LogConfig, PartitionLog, StorageError};
use thiserror::Error;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info};
use uuid::Uuid;

pub(crate) use follower::{FollowerAppend, OffsetOutOfRangeStep};
pub(crate) use leader::{
    AppendOrigin, DelayedProduce, FetchIsolation, FetchPartition, FollowerFetchUpdates,
};
pub(crate) use state::Role;
use state::{FollowerProgress, LeaderHwChange, ReplicaState};
pub(crate) use verification::TxnAppendCheck;

/// Why a partition step failed. `error_code.rs` turns each into its Kafka code; callers never pick codes.
#[derive(Debug, Error)]
pub(crate) enum PartitionError {
    /// The log was closed (shutdown) or deleted after the lookup.
    #[error("partition is closed")]
    Closed,
    #[error("this broker is not the partition's leader")]
    NotLeaderOrFollower,
    #[error("the request's leader epoch is older than the partition's")]
    FencedLeaderEpoch,
    #[error("the request's leader epoch is newer than the partition's")]
    UnknownLeaderEpoch,
    /// acks=all with fewer than `min.insync.replicas` in the ISR: nothing was appended.
    #[error("fewer in-sync replicas than min.insync.replicas")]
    NotEnoughReplicas,
    /// KIP-890: a transactional batch of a producer with no open transaction here, without the guard of a
    /// check the coordinator confirmed (Kafka's InvalidTxnStateException); nothing was appended.
    #[error("Record was not part of an ongoing transaction")]
    NotInTransaction,
    /// The records were appended, but the ISR shrank below `min.insync.replicas` before they were committed.
    #[error("appended, but the ISR shrank below min.insync.replicas")]
    NotEnoughReplicasAfterAppend,
    /// The high watermark did not pass the records in time.
    #[error("timed out waiting for the in-sync replicas")]
    RequestTimedOut,
    /// `write.caching=false`: the fsync before the answer failed (logged where it happened).
    #[error("fsync before the answer failed")]
    FsyncFailed,
    /// The log refused the batch; `log_start_offset` goes into the produce answer.
    #[error("{error}")]
    Append {
        error: AppendError,
        log_start_offset: i64,
    },
    /// DeleteRecords below zero or beyond the high watermark; `log_start_offset` is the answer's low watermark.
    #[error("offset out of range")]
    OffsetOutOfRange { log_start_offset: i64 },
    /// DeleteRecords on a log whose `cleanup.policy` is `compact` alone (Kafka's PolicyViolationException).
    #[error("{0}")]
    PolicyViolation(String),
    /// A ListOffsets timestamp below zero that names no offset spec.
    #[error("unknown offset spec {0}")]
    UnknownOffsetSpec(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One replica as DescribeLogDirs reports it ([`Partition::log_dir_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogDirReplica {
    /// The `log.dirs` entry holding the partition's dir.
    pub(crate) log_dir: PathBuf,
    pub(crate) size_bytes: u64,
    pub(crate) offset_lag: i64,
}

/// One hosted partition. The log sits behind a plain mutex: appends and reads are short, synchronous page
/// cache operations, and no guard is ever held across an `.await`.
pub(crate) struct Partition {
    pub(crate) topic: String,
    pub(crate) index: i32,
    pub(crate) topic_id: Uuid,
    /// This broker (Kafka's `localBrokerId`): left out when the ISR's log ends are compared.
    local_broker_id: i32,
    /// `None` once the partition was closed (shutdown) or deleted; requests then see it as gone.
    log: Mutex<Option<PartitionLog>>,
    state: Mutex<ReplicaState>,
    /// The high watermark (on a leader) as it moves, and any role change; acks=all waiters watch it.
    changed: watch::Sender<u64>,
    /// With `write.caching=false`: (leader epoch, offset) below which this leader's log is fsynced. Held
    /// by the one request that is fsyncing (group commit, `leader.rs`'s `wait_durable`).
    durable: tokio::sync::Mutex<(i32, i64)>,
    /// fsyncs done by `wait_durable` (group commit shows as fewer of them than acknowledged requests).
    durable_syncs: std::sync::atomic::AtomicU64,
    /// KIP-890 checks in progress per producer id (`verification.rs`); taken only under the log lock.
    verification: Mutex<HashMap<i64, verification::VerificationEntry>>,
}

impl Partition {
    fn new(
        topic: String,
        index: i32,
        topic_id: Uuid,
        log: PartitionLog,
        local_broker_id: i32,
    ) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            topic,
            index,
            topic_id,
            local_broker_id,
            log: Mutex::new(Some(log)),
            state: Mutex::new(ReplicaState::new()),
            changed,
            durable: tokio::sync::Mutex::new((-1, 0)),
            durable_syncs: std::sync::atomic::AtomicU64::new(0),
            verification: Mutex::new(HashMap::new()),
        }
    }

    /// Locks the log. A poisoned lock (a panic while appending) still gives access: the log's own state is
    /// updated only after each write succeeds, so it stays consistent.
    fn lock(&self) -> MutexGuard<'_, Option<PartitionLog>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the replication state (after the log, when both are needed).
    fn state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leader epoch this replica knows (the transaction coordinator's epoch for `__transaction_state`).
    pub(crate) fn leader_epoch(&self) -> i32 {
        self.state().leader_epoch
    }

    /// Removes the log for closing or deletion.
    pub(crate) fn take(&self) -> Option<PartitionLog> {
        let log = self.lock().take();
        self.state().role = Role::Offline;
        self.notify_changed();
        log
    }

    /// Wakes acks=all waiters of this partition.
    fn notify_changed(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies the image's view of this partition: leader, epochs, replicas, ISR (Kafka's `makeLeader` /
    /// `makeFollower`). Returns the new role when it changed (or the leader epoch did), so the caller can
    /// start or stop fetching.
    pub(crate) fn apply_leadership(
        &self,
        image: &strom_metadata::PartitionImage,
        min_insync_replicas: i32,
        now_ms: i64,
    ) -> Option<Role> {
        let local = self.local_broker_id;
        let role = if image.leader == local {
            Role::Leader
        } else if image.leader >= 0 && image.replicas.contains(&local) {
            Role::Follower {
                leader: image.leader,
            }
        } else {
            Role::Offline
        };
        let mut guard = self.lock();
        let log = guard.as_mut()?;
        let log_end = log.log_end_offset();
        let mut state = self.state();
        if role == Role::Leader && (state.role != role || state.leader_epoch != image.leader_epoch)
        {
            // Kafka's makeLeader: the new epoch starts at the current log end, so followers asking
            // OffsetForLeaderEpoch about the previous epoch get its end even before the first append.
            if let Err(e) = log.assign_leader_epoch(image.leader_epoch) {
                tracing::warn!(topic = %self.topic, partition = self.index, "recording leader epoch failed: {e}");
            }
        }
        drop(guard);
        state.min_insync_replicas = min_insync_replicas.max(1);
        let new_role = state.role != role || state.leader_epoch != image.leader_epoch;
        state.replicas = image.replicas.clone();
        state.isr = image.isr.clone();
        if state.partition_epoch != image.partition_epoch {
            state.isr_change_pending = None;
            state.proposed_isr.clear();
        }
        state.partition_epoch = image.partition_epoch;
        if new_role {
            state.role = role;
            state.leader_epoch = image.leader_epoch;
            state.followers.clear();
            state.isr_change_pending = None;
            state.proposed_isr.clear();
            if role == Role::Leader {
                state.leader_epoch_start_offset = log_end;
                for r in image.replicas.iter().filter(|r| **r != local) {
                    state.followers.insert(*r, FollowerProgress::new(now_ms));
                }
                // A follower's high watermark may trail; it is never above the log end.
                state.high_watermark = state.high_watermark.min(log_end);
            }
        }
        state.advance_high_watermark(local, log_end);
        drop(state);
        self.notify_changed();
        new_role.then_some(role)
    }

    /// What DescribeLogDirs reports of this replica (Kafka's `ReplicaManager.describeLogDirs`): the log dir it
    /// lives in (its partition dir's parent), its size (Kafka's `UnifiedLog.size`: the segments' log files)
    /// and its offset lag as Kafka's `getLogEndOffsetLag` computes it for a current (non-future) replica,
    /// `max(high watermark - log end offset, 0)`: 0 on a leader, and on a follower whatever its high
    /// watermark (the leader's, capped at this log's end) is ahead of its log. `None` once closed.
    pub(crate) fn log_dir_info(&self) -> Option<LogDirReplica> {
        let guard = self.lock();
        let log = guard.as_ref()?;
        let log_end = log.log_end_offset();
        let replica = LogDirReplica {
            log_dir: log
                .dir()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            size_bytes: log.size_bytes(),
            offset_lag: (self.state().high_watermark - log_end).max(0),
        };
        Some(replica)
    }

    /// The producers of this replica's log (DescribeProducers, served by leaders and followers alike as Kafka's
    /// `Partition.activeProducerState`). `None` once closed.
    pub(crate) fn active_producers(&self) -> Option<Vec<strom_storage::ActiveProducer>> {
        self.lock().as_ref().map(PartitionLog::active_producers)
    }

    /// Takes a changed topic config (the caller reconciles with the image); a no-op when it is unchanged.
    pub(crate) fn update_config(&self, config: &LogConfig) {
        if let Some(log) = self.lock().as_mut() {
            if log.config() != config {
                log.update_config(config.clone());
            }
        }
    }

    /// Deletes segments past retention and, for compacted topics, runs the log cleaner. The cleaner holds
    /// the log lock while it rewrites sealed segments, so produce and fetch on this partition wait for it.
    fn enforce_retention(&self, now_ms: i64) {
        let (topic, index) = (&self.topic, self.index);
        let mut guard = self.lock();
        let Some(log) = guard.as_mut() else { return };
        // As in Kafka, retention never moves the log start past the high watermark.
        let high_watermark = self.state().high_watermark;
        match log.enforce_retention(now_ms, high_watermark) {
            Ok(0) => {}
            Ok(n) => {
                info!(topic = %topic, partition = index, segments = n, log_start_offset = log.log_start_offset(), "retention deleted segments")
            }
            Err(e) => {
                error!(topic = %topic, partition = index, "retention failed: {e}")
            }
        }
        if log.config().cleanup_policy.compacts() {
            match log.compact(now_ms) {
                Ok(stats) if stats.segments_cleaned > 0 => {
                    info!(topic = %topic, partition = index, segments = stats.segments_cleaned, records_read = stats.records_read, records_kept = stats.records_kept, bytes_before = stats.bytes_before, bytes_after = stats.bytes_after, "compacted log")
                }
                Ok(_) => {}
                Err(e) => {
                    error!(topic = %topic, partition = index, "compaction failed: {e}")
                }
            }
        }
    }

    /// Forgets producer ids idle past `producer.id.expiration.ms` (Kafka's periodic
    /// `removeExpiredProducers`; never one with an open transaction).
    fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) {
        if let Some(log) = self.lock().as_mut() {
            let n = log.remove_expired_producers(now_ms, expiration_ms);
            if n > 0 {
                debug!(topic = %self.topic, partition = self.index, producers = n, "expired producer ids");
            }
        }
    }

    /// Flushes the log when `flush.ms` / `flush.messages` say it is due.
    fn maybe_flush(&self, now_ms: i64) {
        if let Some(log) = self.lock().as_mut() {
            if let Err(e) = log.maybe_flush(now_ms) {
                error!(topic = %self.topic, partition = self.index, "flush failed: {e}");
            }
        }
    }
}

/// All hosted partitions, keyed topic → partition so a lookup on the produce/fetch path borrows the
/// request's topic name instead of allocating a key.
pub(crate) struct ReplicaManager {
    local_broker_id: i32,
    partitions: RwLock<HashMap<String, HashMap<i32, Arc<Partition>>>>,
    /// Bumped after every append and high watermark move; fetches waiting for min_bytes watch it.
    data_arrived: watch::Sender<u64>,
    /// Wakes the ISR task (a follower caught up, so the ISR may grow).
    isr_wake: Arc<Notify>,
}

impl ReplicaManager {
    pub(crate) fn new(local_broker_id: i32) -> Self {
        let (data_arrived, _) = watch::channel(0);
        Self {
            local_broker_id,
            partitions: RwLock::new(HashMap::new()),
            data_arrived,
            isr_wake: Arc::new(Notify::new()),
        }
    }

    pub(crate) fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        map.get(topic)?.get(&index).cloned()
    }

    /// Hosts a partition whose log was just opened; its role comes with the next
    /// [`Partition::apply_leadership`].
    pub(crate) fn create_partition(
        &self,
        topic: String,
        index: i32,
        topic_id: Uuid,
        log: PartitionLog,
    ) -> Arc<Partition> {
        let partition = Arc::new(Partition::new(
            topic,
            index,
            topic_id,
            log,
            self.local_broker_id,
        ));
        let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        map.entry(partition.topic.clone())
            .or_default()
            .insert(partition.index, Arc::clone(&partition));
        partition
    }

    pub(crate) fn remove(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        let partitions = map.get_mut(topic)?;
        let removed = partitions.remove(&index);
        if partitions.is_empty() {
            map.remove(topic);
        }
        removed
    }

    pub(crate) fn all(&self) -> Vec<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        map.values().flat_map(|p| p.values().cloned()).collect()
    }

    /// Wakes parked fetches; call after an append or a high watermark move.
    pub(crate) fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }

    /// What the ISR task waits on besides its timer.
    pub(crate) fn isr_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.isr_wake)
    }

    /// After a Fetch request: wakes parked fetches when follower fetches moved a high watermark, and the ISR
    /// task when one may let a follower back in. Once per request, not per partition.
    pub(crate) fn complete_follower_fetches(&self, updates: FollowerFetchUpdates) {
        if updates.leader_hw_change == LeaderHwChange::Increased {
            self.notify_data_arrived();
        }
        if updates.isr_may_expand {
            self.isr_wake.notify_one();
        }
    }

    /// Retention and compaction for every hosted partition (the broker's retention task).
    pub(crate) fn enforce_retention(&self, now_ms: i64) {
        for p in self.all() {
            p.enforce_retention(now_ms);
        }
    }

    /// Producer-id expiry for every hosted partition (the broker's `producer.id.expiration.check.interval.ms` task).
    pub(crate) fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) {
        for p in self.all() {
            p.remove_expired_producers(now_ms, expiration_ms);
        }
    }

    /// Flushes every log that is due (the broker's flush task).
    pub(crate) fn flush_due(&self, now_ms: i64) {
        for p in self.all() {
            p.maybe_flush(now_ms);
        }
    }
}
