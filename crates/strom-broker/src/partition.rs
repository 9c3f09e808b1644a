//! The partitions this broker hosts (Kafka's ReplicaManager): a map from topic-partition to its log and its
//! replication state, and the "data arrived" signal that wakes parked fetches.
//!
//! Each partition has two locks, always taken in this order when both are needed: the log (`lock`) and the
//! replication state (`state`). Neither is held across an `.await`. The replication state says whether this
//! broker leads the partition (and then tracks every follower's log end offset, the ISR and the high
//! watermark) or follows it (and then the replica fetcher appends what the leader sends). `broker.rs` decides
//! the role from the metadata image; `replica_fetcher.rs` runs the follower side; `api/produce.rs` and
//! `api/fetch.rs` use the leader side.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use strom_storage::PartitionLog;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error_code::Code;

/// What this broker is for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Serves produce and fetch; tracks followers.
    Leader,
    /// Replicates from `leader`.
    Follower { leader: i32 },
    /// No leader is known (leader -1 in the image), or the partition was just opened.
    Offline,
}

/// A follower as the leader sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FollowerProgress {
    /// The follower's log end offset (its last fetch offset); -1 until it fetches in this leader epoch.
    pub(crate) log_end_offset: i64,
    /// Last time the follower had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    pub(crate) last_caught_up_ms: i64,
    /// Leader log end offset and time at the follower's previous fetch.
    last_fetch_leader_end: i64,
    last_fetch_ms: i64,
}

/// Replication state of one partition on this broker.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaState {
    pub(crate) role: Role,
    pub(crate) leader_epoch: i32,
    pub(crate) partition_epoch: i32,
    pub(crate) replicas: Vec<i32>,
    pub(crate) isr: Vec<i32>,
    /// Records below it are on every ISR member; consumers see nothing at or above it.
    pub(crate) high_watermark: i64,
    /// The log end offset when this broker became leader; a follower rejoins the ISR only past it.
    pub(crate) leader_epoch_start_offset: i64,
    pub(crate) followers: HashMap<i32, FollowerProgress>,
    /// Partition epoch an ISR change was proposed against and is not applied yet.
    pub(crate) isr_change_pending: Option<i32>,
    /// `min.insync.replicas` of the topic.
    pub(crate) min_insync_replicas: i32,
}

impl ReplicaState {
    fn new() -> ReplicaState {
        ReplicaState {
            role: Role::Offline,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            high_watermark: 0,
            leader_epoch_start_offset: 0,
            followers: HashMap::new(),
            isr_change_pending: None,
            min_insync_replicas: 1,
        }
    }

    /// Kafka's check of a client-supplied `current_leader_epoch` (-1 skips it).
    pub(crate) fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), Code> {
        if current_leader_epoch < 0 || current_leader_epoch == self.leader_epoch {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch {
            Err(Code::FencedLeaderEpoch)
        } else {
            Err(Code::UnknownLeaderEpoch)
        }
    }

    /// The leader's view: Ok when this broker leads in the client's epoch.
    pub(crate) fn check_leader(&self, current_leader_epoch: i32) -> Result<(), Code> {
        self.check_epoch(current_leader_epoch)?;
        if self.role == Role::Leader {
            Ok(())
        } else {
            Err(Code::NotLeaderOrFollower)
        }
    }

    /// Recomputes the leader's high watermark from the ISR's log end offsets; it never goes backwards.
    /// Returns whether it moved.
    fn advance_high_watermark(&mut self, node_id: i32, leader_end: i64) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let mut hw = leader_end;
        for member in &self.isr {
            if *member == node_id {
                continue;
            }
            let end = self.followers.get(member).map_or(-1, |f| f.log_end_offset);
            hw = hw.min(end);
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            true
        } else {
            false
        }
    }

    /// ISR members other than `node_id` that have not caught up within `lag_ms`.
    pub(crate) fn lagging(&self, node_id: i32, now_ms: i64, lag_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|m| *m != node_id)
            .filter(|m| {
                self.followers
                    .get(m)
                    .is_none_or(|f| now_ms - f.last_caught_up_ms > lag_ms)
            })
            .collect()
    }

    /// Replicas outside the ISR that caught up with the leader's high watermark in this epoch.
    pub(crate) fn caught_up_outside_isr(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.isr.contains(r))
            .filter(|r| {
                self.followers.get(r).is_some_and(|f| {
                    f.log_end_offset >= self.high_watermark
                        && f.log_end_offset >= self.leader_epoch_start_offset
                })
            })
            .collect()
    }
}

/// One hosted partition. The log sits behind a plain mutex: appends and reads are short, synchronous page
/// cache operations, and no guard is ever held across an `.await`.
pub(crate) struct Partition {
    pub(crate) topic: String,
    pub(crate) index: i32,
    pub(crate) topic_id: Uuid,
    /// `None` once the partition was closed (shutdown) or deleted; requests then see it as gone.
    log: Mutex<Option<PartitionLog>>,
    state: Mutex<ReplicaState>,
    /// The high watermark (on a leader) as it moves, and any role change; acks=all waiters watch it.
    changed: watch::Sender<u64>,
    /// With `write.caching=false`: (leader epoch, offset) below which this leader's log is fsynced. Held
    /// by the one request that is fsyncing (group commit, [`Partition::wait_durable`]).
    durable: tokio::sync::Mutex<(i32, i64)>,
    /// fsyncs done by `wait_durable` (group commit shows as fewer of them than acknowledged requests).
    durable_syncs: std::sync::atomic::AtomicU64,
}

impl Partition {
    pub(crate) fn new(topic: String, index: i32, topic_id: Uuid, log: PartitionLog) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            topic,
            index,
            topic_id,
            log: Mutex::new(Some(log)),
            state: Mutex::new(ReplicaState::new()),
            changed,
            durable: tokio::sync::Mutex::new((-1, 0)),
            durable_syncs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Locks the log. A poisoned lock (a panic while appending) still gives access: the log's own state is
    /// updated only after each write succeeds, so it stays consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<PartitionLog>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the replication state (after the log, when both are needed).
    pub(crate) fn state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the log for closing or deletion.
    pub(crate) fn take(&self) -> Option<PartitionLog> {
        let log = self.lock().take();
        self.state().role = Role::Offline;
        self.notify_changed();
        log
    }

    /// Wakes acks=all waiters of this partition.
    pub(crate) fn notify_changed(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The high watermark: consumers read below it.
    pub(crate) fn high_watermark(&self) -> i64 {
        self.state().high_watermark
    }

    /// After a leader append of records up to `log_end`: a single-member ISR moves the high watermark at once.
    /// Returns whether it moved.
    pub(crate) fn after_leader_append(&self, node_id: i32, log_end: i64) -> bool {
        let moved = self.state().advance_high_watermark(node_id, log_end);
        if moved {
            self.notify_changed();
        }
        moved
    }

    /// A follower fetched from `fetch_offset` while the leader's log ended at `leader_end`. Updates its
    /// progress and the high watermark. Returns (high watermark moved, ISR change worth proposing).
    pub(crate) fn on_follower_fetch(
        &self,
        node_id: i32,
        follower: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> (bool, bool) {
        let mut state = self.state();
        if state.role != Role::Leader || !state.replicas.contains(&follower) {
            return (false, false);
        }
        let progress = state.followers.entry(follower).or_insert(FollowerProgress {
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: -1,
            last_fetch_ms: now_ms,
        });
        progress.log_end_offset = fetch_offset;
        if fetch_offset >= leader_end {
            progress.last_caught_up_ms = now_ms;
        } else if fetch_offset >= progress.last_fetch_leader_end {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.last_fetch_leader_end = leader_end;
        progress.last_fetch_ms = now_ms;
        let moved = state.advance_high_watermark(node_id, leader_end);
        let expand = state.isr_change_pending.is_none()
            && !state.isr.contains(&follower)
            && state.caught_up_outside_isr().contains(&follower);
        drop(state);
        if moved {
            self.notify_changed();
        }
        (moved, expand)
    }

    /// Waits until the high watermark reaches `required` while this broker still leads in `leader_epoch`.
    /// NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT after `timeout`,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below `min.insync.replicas` meanwhile.
    pub(crate) async fn wait_for_high_watermark(
        &self,
        required: i64,
        leader_epoch: i32,
        timeout: Duration,
    ) -> Result<(), Code> {
        let mut changed = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            {
                let state = self.state();
                if state.role != Role::Leader || state.leader_epoch != leader_epoch {
                    return Err(Code::NotLeaderOrFollower);
                }
                if state.high_watermark >= required {
                    if (state.isr.len() as i32) < state.min_insync_replicas {
                        return Err(Code::NotEnoughReplicasAfterAppend);
                    }
                    return Ok(());
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Err(Code::NotLeaderOrFollower) },
                () = tokio::time::sleep_until(deadline) => return Err(Code::RequestTimedOut),
            }
        }
    }

    /// `write.caching=false`: returns once every record below `required`, appended in `leader_epoch`, is
    /// fsynced. Group commit: requests queue on the `durable` lock; the first fsyncs all the log holds at
    /// that moment (outside the log lock, so appends go on), and those behind it whose records were in
    /// the log by then find them durable without another fsync.
    pub(crate) async fn wait_durable(&self, required: i64, leader_epoch: i32) -> Result<(), Code> {
        let mut durable = self.durable.lock().await;
        if durable.0 == leader_epoch && durable.1 >= required {
            return Ok(());
        }
        let handle = match self.lock().as_ref() {
            None => return Err(Code::NotLeaderOrFollower),
            Some(log) => log.sync_handle(),
        };
        let handle = handle.map_err(|e| {
            tracing::warn!(topic = %self.topic, partition = self.index, "fsync before ack: {e}");
            Code::KafkaStorageError
        })?;
        let end = handle.end();
        self.durable_syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match tokio::task::spawn_blocking(move || handle.sync()).await {
            Ok(Ok(())) => {
                *durable = (leader_epoch, end);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(topic = %self.topic, partition = self.index, "fsync before ack failed: {e}");
                Err(Code::KafkaStorageError)
            }
            Err(_) => Err(Code::KafkaStorageError),
        }
    }

    /// Applies the image's view of this partition: leader, epochs, replicas, ISR. Returns the new role when
    /// it changed (or the leader epoch did), so the caller can start or stop fetching.
    pub(crate) fn apply_leadership(
        &self,
        node_id: i32,
        image: &strom_metadata::PartitionImage,
        min_insync_replicas: i32,
        now_ms: i64,
    ) -> Option<Role> {
        let role = if image.leader == node_id {
            Role::Leader
        } else if image.leader >= 0 && image.replicas.contains(&node_id) {
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
        }
        state.partition_epoch = image.partition_epoch;
        if new_role {
            state.role = role;
            state.leader_epoch = image.leader_epoch;
            state.followers.clear();
            state.isr_change_pending = None;
            if role == Role::Leader {
                state.leader_epoch_start_offset = log_end;
                for r in image.replicas.iter().filter(|r| **r != node_id) {
                    state.followers.insert(
                        *r,
                        FollowerProgress {
                            log_end_offset: -1,
                            last_caught_up_ms: now_ms,
                            last_fetch_leader_end: -1,
                            last_fetch_ms: now_ms,
                        },
                    );
                }
                // A follower's high watermark may trail; it is never above the log end.
                state.high_watermark = state.high_watermark.min(log_end);
            }
        }
        state.advance_high_watermark(node_id, log_end);
        drop(state);
        self.notify_changed();
        new_role.then_some(role)
    }

    /// On a follower: the leader's high watermark, capped by what this replica has.
    pub(crate) fn set_follower_high_watermark(&self, leader_hw: i64, log_end: i64) {
        let mut state = self.state();
        if matches!(state.role, Role::Follower { .. }) {
            state.high_watermark = leader_hw.min(log_end).max(0);
        }
    }

    /// Lowers the high watermark after a truncation below it.
    pub(crate) fn cap_high_watermark(&self, log_end: i64) {
        let mut state = self.state();
        state.high_watermark = state.high_watermark.min(log_end);
    }
}

/// All hosted partitions, keyed topic → partition so a lookup on the produce/fetch path borrows the
/// request's topic name instead of allocating a key.
pub(crate) struct ReplicaManager {
    partitions: RwLock<HashMap<String, HashMap<i32, Arc<Partition>>>>,
    /// Bumped after every append and high watermark move; fetches waiting for min_bytes watch it.
    data_arrived: watch::Sender<u64>,
}

impl ReplicaManager {
    pub(crate) fn new() -> Self {
        let (data_arrived, _) = watch::channel(0);
        Self {
            partitions: RwLock::new(HashMap::new()),
            data_arrived,
        }
    }

    pub(crate) fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        map.get(topic)?.get(&index).cloned()
    }

    pub(crate) fn insert(&self, partition: Partition) -> Arc<Partition> {
        let partition = Arc::new(partition);
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
}

#[cfg(test)]
mod tests {
    use strom_storage::LogConfig;

    use super::*;
    use crate::dispatch::tests::batch;

    fn append(p: &Partition) -> i64 {
        let mut guard = p.lock();
        let log = guard.as_mut().expect("open log");
        log.append(&batch(), 1_700_000_000_000)
            .expect("append")
            .last_offset
            + 1
    }

    fn syncs(p: &Partition) -> u64 {
        p.durable_syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests that appended before an fsync started are all covered by it; a later append needs
    /// another one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_acks_share_one_fsync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            write_caching: false,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path().join("t-0"), config, 0, true).expect("open");
        let p = Arc::new(Partition::new("t".to_string(), 0, Uuid::nil(), log));
        let ends: Vec<i64> = (0..32).map(|_| append(&p)).collect();
        assert_eq!(ends.last(), Some(&32));
        let waits: Vec<_> = ends
            .iter()
            .map(|&end| {
                let p = Arc::clone(&p);
                tokio::spawn(async move { p.wait_durable(end, 0).await })
            })
            .collect();
        for w in waits {
            assert_eq!(w.await.expect("task"), Ok(()));
        }
        assert_eq!(
            syncs(&p),
            1,
            "32 appends before the first fsync need one fsync"
        );

        let end = append(&p);
        assert_eq!(p.wait_durable(end, 0).await, Ok(()));
        assert_eq!(p.wait_durable(end, 0).await, Ok(()));
        assert_eq!(syncs(&p), 2, "a later append needs its own fsync, once");

        // A new leader epoch does not trust what an earlier epoch synced.
        assert_eq!(p.wait_durable(end, 1).await, Ok(()));
        assert_eq!(syncs(&p), 3);

        p.take();
        assert_eq!(
            p.wait_durable(end + 1, 1).await,
            Err(Code::NotLeaderOrFollower)
        );
    }
}
