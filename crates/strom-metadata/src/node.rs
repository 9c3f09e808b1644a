//! `MetadataNode`: one member of the metadata quorum, wiring `MetadataLog` and
//! `MetadataStateMachine` into openraft and exposing what the broker needs: propose records,
//! read or watch the image, shut down. Today the quorum has one voter (this node) and
//! `SingleNodeTransport`; the cluster work adds voters and a real transport. Owns no record
//! semantics (image.rs, controller.rs) and no file formats (log.rs, state_machine.rs).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Config, Raft, SnapshotPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::controller::new_cluster_id;
use crate::error::{MetadataError, TopicError};
use crate::image::MetadataImage;
use crate::log::MetadataLog;
use crate::log_store::LogStore;
use crate::raft_types::{MetadataRequest, NodeId, TypeConfig};
use crate::record::MetadataRecord;
use crate::sm_store::StateMachineStore;
use crate::state_machine::MetadataStateMachine;
use crate::transport::{Network, SingleNodeTransport};

/// Where and as whom a metadata node runs.
#[derive(Clone, Debug)]
pub struct MetadataNodeConfig {
    /// This node's id in the quorum: the broker's `node.id`.
    pub node_id: u64,
    /// Directory of the raft log, vote and snapshot, e.g. `<log.dirs>/__cluster_metadata-0`.
    /// Created if missing. One node per directory at a time.
    pub dir: PathBuf,
}

/// Knobs the tests turn; production uses the defaults.
#[derive(Clone, Debug)]
pub(crate) struct Tuning {
    /// Build a snapshot after this many entries since the last one.
    pub(crate) snapshot_every: u64,
    /// Entries kept in the log behind a snapshot (so lagging followers need no snapshot).
    pub(crate) logs_to_keep: u64,
    /// Purge only once this many entries are purgeable.
    pub(crate) purge_batch: u64,
    /// How long `start` waits to become leader with the log replayed.
    pub(crate) startup_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            snapshot_every: 1000,
            logs_to_keep: 1000,
            purge_batch: 256,
            startup_timeout: Duration::from_secs(10),
        }
    }
}

/// A running metadata node. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// Raft runs in tasks spawned on the tokio runtime that called `start`, so that runtime must
/// outlive the node. Call `shutdown` before dropping it (and always before starting another
/// node on the same directory): dropping does not stop the raft tasks.
pub struct MetadataNode {
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    images: watch::Receiver<Arc<MetadataImage>>,
    /// Copies raft's current leader into the image's `controller_id`.
    controller_watch: JoinHandle<()>,
}

impl MetadataNode {
    /// Opens or creates the raft log, vote and snapshot in `config.dir`, starts raft, and on a
    /// fresh directory initializes the single-voter membership {node_id} and writes the
    /// `ClusterId` record. Returns once this node is leader and every entry on disk is applied,
    /// so `image()` is complete.
    pub async fn start(config: MetadataNodeConfig) -> Result<MetadataNode, MetadataError> {
        MetadataNode::start_with(config, Tuning::default()).await
    }

    pub(crate) async fn start_with(
        config: MetadataNodeConfig,
        tuning: Tuning,
    ) -> Result<MetadataNode, MetadataError> {
        let (log, recovery) = MetadataLog::open(&config.dir)?;
        let sm = MetadataStateMachine::open(&config.dir)?;
        tracing::info!(
            dir = %config.dir.display(),
            entries = recovery.entries,
            truncated_bytes = recovery.truncated_bytes,
            "opened metadata log"
        );
        let images = sm.subscribe();
        let sm = StateMachineStore::new(sm);

        // A single voter elects itself as soon as its timer fires, so short timeouts make a
        // restart fast; they are still well above a local fsync.
        let raft_config = Config {
            cluster_name: "strom-metadata".to_string(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
            max_in_snapshot_log_to_keep: tuning.logs_to_keep,
            purge_batch_size: tuning.purge_batch,
            ..Config::default()
        }
        .validate()
        .map_err(|e| MetadataError::Raft(e.to_string()))?;

        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            Network::new(SingleNodeTransport),
            LogStore::new(log),
            sm.clone(),
        )
        .await
        .map_err(|e| MetadataError::Stopped(e.to_string()))?;

        let controller_watch = tokio::spawn(watch_controller(raft.metrics(), sm.clone()));
        let node = MetadataNode {
            node_id: config.node_id,
            raft,
            images,
            controller_watch,
        };
        match node.bootstrap(&sm, tuning.startup_timeout).await {
            Ok(()) => Ok(node),
            Err(e) => {
                if let Err(stop) = node.shutdown().await {
                    tracing::warn!(error = %stop, "stopping metadata raft after a failed start");
                }
                Err(e)
            }
        }
    }

    /// Makes this node leader with everything applied, initializing a fresh directory.
    async fn bootstrap(
        &self,
        sm: &StateMachineStore,
        timeout: Duration,
    ) -> Result<(), MetadataError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        if !initialized {
            // Writes the membership {node_id} as entry 0 and elects this node at once. A crash
            // after it leaves an initialized log, so the next start skips this.
            match self.raft.initialize(BTreeSet::from([self.node_id])).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(MetadataError::Raft(e.to_string())),
            }
        }
        // A restart with a committed vote resumes leadership at once; otherwise skip waiting
        // out the election timer. Raft ignores this when already leader.
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        let id = self.node_id;
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.current_leader == Some(id)
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                },
                "metadata leader with the log applied",
            )
            .await
            .map_err(|_| MetadataError::StartupTimeout(timeout))?;
        sm.lock().set_controller_id(kafka_node_id(Some(id)));

        // The cluster id is the first record of the log; a crash before it committed just
        // means this start writes it. Applying it again with another id would be refused.
        if self.image().cluster_id.is_empty() {
            let cluster_id = new_cluster_id();
            tracing::info!(%cluster_id, "formatting new metadata log");
            let results = self
                .propose(vec![MetadataRecord::ClusterId { cluster_id }])
                .await?;
            if let Some(Err(e)) = results.first() {
                tracing::warn!(error = %e, "cluster id record refused");
            }
        }
        Ok(())
    }

    /// Commits `records` as one raft entry and waits until it is applied. Returns one result
    /// per record: the state machine re-validates on apply, so a record made stale by a racing
    /// proposal (e.g. a second CreateTopic of one name) is refused with its `TopicError` and
    /// changes nothing. Records of one call apply in order and are never interleaved with
    /// another call's.
    pub async fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<Vec<Result<(), TopicError>>, MetadataError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let response = self
            .raft
            .client_write(MetadataRequest { records })
            .await
            .map_err(|e| match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    MetadataError::NotLeader {
                        leader_id: f.leader_id,
                    }
                }
                RaftError::APIError(other) => MetadataError::Raft(other.to_string()),
                RaftError::Fatal(fatal) => MetadataError::Stopped(fatal.to_string()),
            })?;
        Ok(response.data.results)
    }

    /// The current image: a clone of an `Arc`, never blocks on raft.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.images.borrow())
    }

    /// A receiver that sees each new image, published after every applied batch of entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Stops raft and waits for its tasks. Everything acknowledged is already on disk.
    /// Later `propose` calls fail with `MetadataError::Stopped`.
    pub async fn shutdown(&self) -> Result<(), MetadataError> {
        self.controller_watch.abort();
        self.raft
            .shutdown()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))
    }

    #[cfg(test)]
    pub(crate) fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }
}

impl std::fmt::Debug for MetadataNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataNode")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Kafka node ids are i32; -1 means no controller.
fn kafka_node_id(leader: Option<NodeId>) -> i32 {
    leader.and_then(|id| i32::try_from(id).ok()).unwrap_or(-1)
}

/// Follows raft's leader into `controller_id` until raft stops.
async fn watch_controller(
    mut metrics: watch::Receiver<openraft::RaftMetrics<NodeId, openraft::BasicNode>>,
    sm: StateMachineStore,
) {
    loop {
        let leader = metrics.borrow_and_update().current_leader;
        sm.lock().set_controller_id(kafka_node_id(leader));
        if metrics.changed().await.is_err() {
            return;
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

    fn config(dir: &Path) -> MetadataNodeConfig {
        MetadataNodeConfig {
            node_id: 1,
            dir: dir.join("__cluster_metadata-0"),
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
            ..Tuning::default()
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
