//! `MetadataNode`: one member of the metadata quorum (a combined broker + controller node, as
//! in Kafka KRaft), exposing what the broker needs: propose records (from any node; followers
//! forward to the leader), read or watch the image, broker heartbeats and controlled shutdown,
//! shut down. This file wires the parts together and serves the CONTROLLER listener; each part
//! has its own file, and none of them uses this one:
//! - `config`: `MetadataNodeConfig` and the test `Tuning`.
//! - `quorum`: the raft member and its start (open, initialize, wait for a leader and the
//!   replay), local commits.
//! - `forward`: proposals through the leader, wherever it is, and the leader's side of them.
//! - `active_controller`: while this node leads, the `Liveness` state, heartbeat answers and
//!   the periodic duties (Kafka's `QuorumController`).
//! - `describe_quorum`: the quorum as DescribeQuorum reports it (leader, epoch, high watermark,
//!   each voter's log end), asked of the leader from any node.
//! - `broker_lifecycle`: this broker's heartbeats, registration and controlled shutdown
//!   (Kafka's `BrokerLifecycleManager`).
//! - `cluster_tests` (tests only): three voters in one process over the real listener; the
//!   single-voter tests are at the end of this file.
//!
//! With no voters configured the quorum is this node alone, with no network
//! (`SingleNodeTransport`). With voters, raft talks over the CONTROLLER listener (net.rs) and
//! the same listener takes forwarded proposals and broker heartbeats. Owns no record semantics
//! (replay.rs, controller/, liveness.rs), no file formats (log.rs, state_machine.rs) and no
//! framing (net.rs).

mod active_controller;
mod broker_lifecycle;
#[cfg(test)]
mod cluster_tests;
mod config;
mod describe_quorum;
mod forward;
mod quorum;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::active_controller::ActiveController;
use self::broker_lifecycle::BrokerLifecycleManager;
pub use self::config::MetadataNodeConfig;
pub(crate) use self::config::Tuning;
pub use self::describe_quorum::{QuorumInfo, ReplicaInfo};
use self::quorum::{watch_controller, Quorum, PROPOSE_TIMEOUT, RETRY_DELAY};
use crate::controller::new_cluster_id;
use crate::error::{MetadataError, TopicError};
use crate::image::MetadataImage;
use crate::liveness::BrokerHeartbeat;
use crate::net::{self, RequestHandler, RequestKind};
use crate::raft_types::MetadataRequest;
use crate::record::MetadataRecord;

/// A running metadata node. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// Raft, the listener and the loops run in tasks spawned on the tokio runtime that called
/// `start`, so that runtime must outlive the node. Call `shutdown` before dropping it (and
/// always before starting another node on the same directory): dropping does not stop them.
pub struct MetadataNode {
    quorum: Arc<Quorum>,
    lifecycle: Arc<BrokerLifecycleManager>,
    /// Stops the listener and the controller loop.
    stop: watch::Sender<bool>,
    /// Stops the heartbeat loop alone (controlled shutdown ends heartbeats before the rest).
    stop_heartbeats: watch::Sender<bool>,
    /// The controller-id watcher, the listener, the controller loop, the heartbeat loop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl MetadataNode {
    /// Opens or creates the raft log, vote and snapshot in `config.dir` and starts raft (and,
    /// with voters, the controller listener). On a fresh directory it initializes the
    /// membership (all voters) and the leader writes the `ClusterId` record. Returns once a
    /// leader is known, this node has applied what the leader had, the cluster id is set and
    /// this broker is registered and unfenced, so `image()` is complete.
    pub async fn start(config: MetadataNodeConfig) -> Result<MetadataNode, MetadataError> {
        MetadataNode::start_with(config, Tuning::default()).await
    }

    pub(crate) async fn start_with(
        config: MetadataNodeConfig,
        tuning: Tuning,
    ) -> Result<MetadataNode, MetadataError> {
        let opened = Quorum::open(&config, &tuning).await?;
        let state_machine = opened.state_machine;
        let quorum = Arc::new(opened.quorum);
        let controller = Arc::new(ActiveController::new(Arc::clone(&quorum), &config));
        let lifecycle = Arc::new(BrokerLifecycleManager::new(
            Arc::clone(&quorum),
            Arc::clone(&controller),
            &config,
        ));

        let (stop, stopped) = watch::channel(false);
        let (stop_heartbeats, heartbeats_stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(watch_controller(
            quorum.raft.metrics(),
            state_machine.clone(),
        ))];
        if let Some(listener) = opened.listener {
            tasks.push(tokio::spawn(net::serve(
                listener,
                Arc::new(ControllerService {
                    quorum: Arc::clone(&quorum),
                    controller: Arc::clone(&controller),
                }),
                stopped.clone(),
            )));
        }
        tasks.push(tokio::spawn(controller.run(stopped.clone())));
        let node = MetadataNode {
            quorum,
            lifecycle,
            stop,
            stop_heartbeats,
            tasks: Mutex::new(tasks),
        };
        let deadline = Instant::now() + config.startup_timeout;
        let started = async {
            node.quorum.join(&config, &state_machine, deadline).await?;
            node.ensure_cluster_id(&config, deadline).await?;
            node.lock_tasks().push(tokio::spawn(
                Arc::clone(&node.lifecycle).run(heartbeats_stopped),
            ));
            node.lifecycle.wait_registered(deadline).await
        };
        match started.await {
            Ok(()) => Ok(node),
            Err(e) => {
                if let Err(stop) = node.shutdown().await {
                    tracing::warn!(error = %stop, "stopping metadata raft after a failed start");
                }
                Err(e)
            }
        }
    }

    /// Makes sure the cluster id is set. The cluster id is the first record of a fresh log,
    /// written by whoever leads. A follower proposes one too if none appears for a while (say
    /// the leader changed in between); the image refuses a second, different id, so the race is
    /// harmless.
    async fn ensure_cluster_id(
        &self,
        config: &MetadataNodeConfig,
        deadline: Instant,
    ) -> Result<(), MetadataError> {
        let mut waited = Duration::ZERO;
        while self.image().cluster_id.is_empty() {
            if self.quorum.is_leader() || waited >= Duration::from_secs(2) {
                let cluster_id = new_cluster_id();
                tracing::info!(%cluster_id, "formatting new metadata log");
                match self
                    .propose(vec![MetadataRecord::ClusterId { cluster_id }])
                    .await
                {
                    Ok(results) => {
                        if let Some(Err(e)) = results.first() {
                            tracing::debug!(error = %e, "cluster id record refused");
                        }
                    }
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!(error = %e, "cluster id not written yet, retrying");
                    }
                    Err(e) => return Err(e),
                }
            }
            if Instant::now() >= deadline {
                return Err(MetadataError::StartupTimeout(
                    config.startup_timeout,
                    "no cluster id".to_string(),
                ));
            }
            tokio::time::sleep(RETRY_DELAY).await;
            waited += RETRY_DELAY;
        }
        Ok(())
    }

    /// Commits `records` as one raft entry and waits until it is applied on this node, so the
    /// next `image()` reflects it. Works on any node: a follower forwards the entry to the
    /// leader, retrying across leader changes for up to 10 s. Returns one result per record:
    /// the state machine re-validates on apply, so a record made stale by a racing proposal
    /// (e.g. a second CreateTopic of one name) is refused with its `TopicError` and changes
    /// nothing. Records of one call apply in order and are never interleaved with another
    /// call's.
    pub async fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<Vec<Result<(), TopicError>>, MetadataError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.quorum
            .propose(MetadataRequest { records }, PROPOSE_TIMEOUT)
            .await
    }

    /// The current image: a clone of an `Arc`, never blocks on raft.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    /// A receiver that sees each new image, published after every applied batch of entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.quorum.images.clone()
    }

    /// The metadata quorum as its leader reports it (Kafka's DescribeQuorum); a follower asks the
    /// leader. `MetadataError::NotLeader` when no leader is known (retriable).
    pub async fn describe_quorum(&self) -> Result<QuorumInfo, MetadataError> {
        self.quorum.describe().await
    }

    /// Whether this node is the active controller (the raft leader) now; only the cluster tests ask.
    #[cfg(test)]
    pub(crate) fn is_controller(&self) -> bool {
        self.quorum.is_leader()
    }

    /// Kafka's controlled shutdown: heartbeats with `want_shutdown` until the controller
    /// answers `shutdown_ready` (it has moved leadership away and fenced this broker) or
    /// `timeout` passes, then stops heartbeating so the broker is not unfenced again.
    pub async fn controlled_shutdown(&self, timeout: Duration) {
        self.lifecycle.controlled_shutdown(timeout).await;
        self.stop_heartbeats.send_replace(true);
    }

    /// Stops heartbeats, the controller listener and loop, and raft, and waits for them.
    /// Everything acknowledged is already on disk. Later `propose` calls fail with
    /// `MetadataError::Stopped`.
    pub async fn shutdown(&self) -> Result<(), MetadataError> {
        self.quorum.stopped.store(true, Ordering::SeqCst);
        self.stop_heartbeats.send_replace(true);
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.lock_tasks());
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Waiting makes sure the listener's socket is closed when this returns, so a
            // restart can bind it again. Cancelled is the expected outcome.
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::warn!(error = %e, "metadata task panicked");
                }
            }
        }
        self.quorum
            .raft
            .shutdown()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn raft(&self) -> &openraft::Raft<crate::raft_types::TypeConfig> {
        &self.quorum.raft
    }
}

impl std::fmt::Debug for MetadataNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataNode")
            .field("node_id", &self.quorum.node_id)
            .finish_non_exhaustive()
    }
}

/// The controller listener's handler: raft RPCs go to raft, proposals and heartbeats to the
/// active controller. Undecodable bodies close the connection.
struct ControllerService {
    quorum: Arc<Quorum>,
    controller: Arc<ActiveController>,
}

impl RequestHandler for ControllerService {
    async fn handle(&self, kind: RequestKind, body: Vec<u8>) -> Option<Vec<u8>> {
        let raft = &self.quorum.raft;
        let reply = match kind {
            RequestKind::AppendEntries => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&raft.append_entries(request).await)
            }
            RequestKind::Vote => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&raft.vote(request).await)
            }
            RequestKind::InstallSnapshot => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&raft.install_snapshot(request).await)
            }
            RequestKind::Propose => {
                let request: MetadataRequest = serde_json::from_slice(&body).ok()?;
                let reply = self.quorum.commit_forwarded(request).await;
                serde_json::to_vec(&reply)
            }
            RequestKind::Heartbeat => {
                let heartbeat: BrokerHeartbeat = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&self.controller.handle_heartbeat(&heartbeat).await)
            }
            RequestKind::DescribeQuorum => {
                serde_json::to_vec(&self.quorum.describe_forwarded().await)
            }
        };
        match reply {
            Ok(reply) => Some(reply),
            Err(e) => {
                tracing::warn!(?kind, error = %e, "controller reply not serializable");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::Path;
    use std::time::Instant;

    use uuid::Uuid;

    use super::*;
    use crate::controller::{create_topic_records, delete_topic_records, NewTopic};
    use crate::log::MetadataLog;

    fn config(dir: &Path) -> MetadataNodeConfig {
        MetadataNodeConfig::new(1, dir.join("__cluster_metadata-0"), broker(1))
    }

    fn broker(node_id: i32) -> BrokerHeartbeat {
        BrokerHeartbeat {
            node_id,
            host: "localhost".to_string(),
            port: 9092,
            rack: None,
            want_shutdown: false,
        }
    }

    async fn start(dir: &Path) -> MetadataNode {
        let begin = Instant::now();
        let node = MetadataNode::start(config(dir)).await.unwrap();
        let elapsed = begin.elapsed();
        // Well under a second in practice; the bound leaves room for a loaded CI machine.
        assert!(elapsed < Duration::from_secs(3), "startup took {elapsed:?}");
        node
    }

    fn register() -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            node_id: 1,
            host: "localhost".to_string(),
            port: 9092,
            rack: None,
        }
    }

    fn new_topic(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: -1,
            ..NewTopic::default()
        }
    }

    async fn create(node: &MetadataNode, name: &str, partitions: i32) -> Uuid {
        let record =
            create_topic_records(&node.image(), &new_topic(name, partitions), 1, 1).unwrap();
        assert_eq!(node.propose(vec![record]).await.unwrap(), vec![Ok(())]);
        node.image().topic(name).unwrap().topic_id
    }

    fn topic_ids(image: &MetadataImage) -> BTreeMap<String, Uuid> {
        image
            .topics
            .values()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect()
    }

    #[tokio::test]
    async fn topics_and_cluster_id_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dir.path()).await;
        let image = node.image();
        assert_eq!(image.cluster_id.len(), 22, "{image:?}");
        assert_eq!(image.controller_id, 1);
        assert!(image.topics.is_empty());

        let mut updates = node.subscribe();
        updates.borrow_and_update();
        assert_eq!(node.propose(vec![register()]).await.unwrap(), vec![Ok(())]);
        assert!(updates.has_changed().unwrap());
        create(&node, "orders", 3).await;
        create(&node, "payments", 1).await;
        let gone = create(&node, "gone", 1).await;
        let delete = delete_topic_records(&node.image(), None, Some(gone)).unwrap();
        assert_eq!(node.propose(vec![delete]).await.unwrap(), vec![Ok(())]);
        let before = node.image();
        assert_eq!(before.topics.len(), 2);
        assert_eq!(
            updates.borrow().last_applied_offset,
            before.last_applied_offset
        );
        node.shutdown().await.unwrap();
        assert!(matches!(
            node.propose(vec![register()]).await,
            Err(MetadataError::Stopped(_))
        ));

        let node = start(dir.path()).await;
        let after = node.image();
        assert_eq!(after.cluster_id, before.cluster_id);
        assert_eq!(topic_ids(&after), topic_ids(&before));
        assert_eq!(after.topics, before.topics);
        assert_eq!(after.brokers, before.brokers);
        assert!(after.topic_by_id(gone).is_none());
        // Everything on disk was replayed before start returned (a restarted single voter
        // resumes its term, so it may add no entry of its own).
        assert!(after.last_applied_offset >= before.last_applied_offset);
        node.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn racing_duplicate_creates_yield_one_success() {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dir.path()).await;
        node.propose(vec![register()]).await.unwrap();
        // Both are validated against the same image, so both pass the controller's checks.
        let image = node.image();
        let first = create_topic_records(&image, &new_topic("dup", 2), 1, 1).unwrap();
        let second = create_topic_records(&image, &new_topic("dup", 4), 1, 1).unwrap();
        let (a, b) = tokio::join!(node.propose(vec![first]), node.propose(vec![second]));
        let mut results = vec![a.unwrap().remove(0), b.unwrap().remove(0)];
        results.sort_by_key(Result::is_err);
        assert_eq!(
            results,
            vec![
                Ok(()),
                Err(TopicError::TopicAlreadyExists("dup".to_string()))
            ]
        );
        assert_eq!(node.image().topics.len(), 1);
        assert_eq!(node.image().topic_ids.len(), 1);
        node.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn torn_log_tail_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dir.path()).await;
        node.propose(vec![register()]).await.unwrap();
        let id = create(&node, "kept", 2).await;
        node.shutdown().await.unwrap();

        // A crash in the middle of an append: a frame header promising more than was written.
        let log_path = config(dir.path()).dir.join("raft.log");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_path)
            .unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"'])
            .unwrap();
        drop(file);

        let node = start(dir.path()).await;
        assert_eq!(node.image().topic("kept").unwrap().topic_id, id);
        create(&node, "after", 1).await;
        node.shutdown().await.unwrap();
        let node = start(dir.path()).await;
        assert_eq!(node.image().topics.len(), 2);
        node.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn snapshot_and_purge_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            snapshot_every: 5,
            logs_to_keep: 0,
            purge_batch: 1,
        };
        let node = MetadataNode::start_with(config(dir.path()), tuning.clone())
            .await
            .unwrap();
        node.propose(vec![register()]).await.unwrap();
        for i in 0..20 {
            create(&node, &format!("t{i}"), 1).await;
        }
        let last = node.image().last_applied_offset;
        node.raft()
            .wait(Some(Duration::from_secs(5)))
            .metrics(
                |m| {
                    m.snapshot.is_some_and(|s| s.index + 5 > last)
                        && m.purged.is_some_and(|p| p.index + 5 > last)
                },
                "snapshot and purge",
            )
            .await
            .unwrap();
        let before = node.image();
        node.shutdown().await.unwrap();
        let metadata_dir = config(dir.path()).dir;
        assert!(metadata_dir.join("snapshot").exists());

        // The log now holds only the entries after the purge point.
        let (log, _) = MetadataLog::open(&metadata_dir).unwrap();
        assert!(
            log.entries(..).len() < 5,
            "{} entries left",
            log.entries(..).len()
        );
        drop(log);

        let node = MetadataNode::start_with(config(dir.path()), tuning)
            .await
            .unwrap();
        let after = node.image();
        assert_eq!(after.topics, before.topics);
        assert_eq!(after.cluster_id, before.cluster_id);
        create(&node, "more", 1).await;
        node.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_on_a_multi_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dir.path()).await;
        assert_eq!(node.propose(vec![]).await.unwrap(), vec![]);
        node.shutdown().await.unwrap();
    }
}
