//! `MetadataNode`: one member of the metadata quorum (a combined broker + controller node, as
//! in Kafka KRaft), wiring `MetadataLog` and `MetadataStateMachine` into openraft and exposing
//! what the broker needs: propose records (from any node; followers forward to the leader),
//! read or watch the image, broker heartbeats and controlled shutdown, shut down.
//!
//! With no voters configured the quorum is this node alone, with no network
//! (`SingleNodeTransport`). With voters, raft talks over the CONTROLLER listener (net.rs) and
//! the same listener takes forwarded proposals and broker heartbeats. Every node sends its
//! broker's heartbeat to the leader; the leader is the active controller and keeps the
//! `Liveness` state (sessions, fencing, periodic duties). Owns no record semantics (image.rs,
//! controller.rs, liveness.rs), no file formats (log.rs, state_machine.rs) and no framing
//! (net.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strom_protocol::clock::now_ms;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::metrics::WaitError;
use openraft::{BasicNode, Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::controller::new_cluster_id;
use crate::error::{MetadataError, TopicError, TransportError};
use crate::image::MetadataImage;
use crate::liveness::{BrokerHeartbeat, HeartbeatReply, Liveness, LivenessConfig};
use crate::log::MetadataLog;
use crate::log_store::LogStore;
use crate::net::{self, RequestHandler, RequestKind, TcpTransport};
use crate::raft_types::{HeartbeatResponse, MetadataRequest, NodeId, ProposeReply, TypeConfig};
use crate::record::MetadataRecord;
use crate::sm_store::StateMachineStore;
use crate::state_machine::MetadataStateMachine;
use crate::transport::{Network, SingleNodeTransport};

/// How long `propose` keeps trying (across leader changes) before giving up.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the active controller runs `Liveness::tick`.
const TICK_INTERVAL: Duration = Duration::from_millis(250);
/// Retry delay while there is no leader, or after a failed or fenced heartbeat.
const RETRY_DELAY: Duration = Duration::from_millis(50);

/// Where and as whom a metadata node runs.
#[derive(Clone, Debug)]
pub struct MetadataNodeConfig {
    /// This node's id in the quorum: the broker's `node.id`.
    pub node_id: u64,
    /// Directory of the raft log, vote and snapshot, e.g. `<log.dirs>/__cluster_metadata-0`.
    /// Created if missing. One node per directory at a time.
    pub dir: PathBuf,
    /// Kafka `controller.quorum.voters`: node id → "host:port" of its CONTROLLER listener.
    /// Empty means a single voter (this node) with no network, which starts in milliseconds.
    /// Otherwise it must contain `node_id`, and all nodes must be given the same map.
    pub voters: BTreeMap<u64, String>,
    /// Where this node's controller listener binds ("host:port"); required with voters.
    pub controller_listen: Option<String>,
    /// This broker's endpoint, sent in every heartbeat (its registration). `want_shutdown` is
    /// ignored: `controlled_shutdown` sets it.
    pub broker: BrokerHeartbeat,
    /// Kafka `broker.heartbeat.interval.ms`. Default 2 s.
    pub heartbeat_interval: Duration,
    /// Kafka `broker.session.timeout.ms`: a broker whose heartbeats stop this long is fenced.
    /// Default 9 s.
    pub session_timeout: Duration,
    /// Kafka `unclean.leader.election.enable` (cluster default). Default false.
    pub unclean_leader_election: bool,
    /// Kafka `auto.leader.rebalance.enable`. Default true.
    pub auto_leader_rebalance: bool,
    /// Kafka `leader.imbalance.check.interval.seconds`. Default 300 s.
    pub leader_imbalance_check_interval: Duration,
    /// How long `start` waits for a quorum leader, the log replayed and this broker
    /// registered. Default 60 s.
    pub startup_timeout: Duration,
}

impl MetadataNodeConfig {
    /// A single-voter configuration with Kafka's default timings.
    pub fn new(node_id: u64, dir: impl Into<PathBuf>, broker: BrokerHeartbeat) -> Self {
        MetadataNodeConfig {
            node_id,
            dir: dir.into(),
            voters: BTreeMap::new(),
            controller_listen: None,
            broker,
            heartbeat_interval: Duration::from_millis(2000),
            session_timeout: Duration::from_millis(9000),
            unclean_leader_election: false,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
            startup_timeout: Duration::from_secs(60),
        }
    }
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
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            snapshot_every: 1000,
            logs_to_keep: 1000,
            purge_batch: 256,
        }
    }
}

/// A running metadata node. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// Raft, the listener and the loops run in tasks spawned on the tokio runtime that called
/// `start`, so that runtime must outlive the node. Call `shutdown` before dropping it (and
/// always before starting another node on the same directory): dropping does not stop them.
pub struct MetadataNode {
    shared: Arc<Shared>,
    /// Stops the listener and the controller loop.
    stop: watch::Sender<bool>,
    /// Stops the heartbeat loop alone (controlled shutdown ends heartbeats before the rest).
    stop_heartbeats: watch::Sender<bool>,
    /// The controller-id watcher, the listener, the controller loop, the heartbeat loop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What the node's tasks and the listener's handler share.
struct Shared {
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    images: watch::Receiver<Arc<MetadataImage>>,
    /// Configured controller addresses; raft's membership is asked first.
    voters: BTreeMap<NodeId, String>,
    /// None with a single voter: there is nobody to forward to.
    transport: Option<Arc<TcpTransport>>,
    controller: Mutex<Controller>,
    broker: BrokerHeartbeat,
    heartbeat_interval: Duration,
    /// Set by `controlled_shutdown`; the next heartbeats carry `want_shutdown`.
    want_shutdown: AtomicBool,
    /// Wakes the heartbeat loop early.
    heartbeat_now: Notify,
    /// The outcome of the latest successful heartbeat.
    heartbeats: watch::Sender<Option<HeartbeatOutcome>>,
    stopped: AtomicBool,
}

/// The active controller's state: meaningful only while this node leads `active_term`.
struct Controller {
    liveness: Liveness,
    /// The raft term in which `liveness` was reset by `become_controller`; None when this node
    /// is not (yet) the active controller.
    active_term: Option<u64>,
}

/// One answered heartbeat.
#[derive(Clone, Debug)]
struct HeartbeatOutcome {
    want_shutdown: bool,
    reply: HeartbeatReply,
    /// The controller's applied index when it answered.
    applied_index: u64,
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
        let clustered = !config.voters.is_empty();
        if clustered && !config.voters.contains_key(&config.node_id) {
            return Err(MetadataError::Config(format!(
                "node {} is not one of the voters {:?}",
                config.node_id, config.voters
            )));
        }
        let listener = match (&config.controller_listen, clustered) {
            (Some(addr), true) => Some(net::bind(addr).await?),
            (None, true) => {
                return Err(MetadataError::Config(
                    "a controller listener is required with quorum voters".to_string(),
                ))
            }
            (_, false) => None,
        };

        let (log, recovery) = MetadataLog::open(&config.dir)?;
        let sm = MetadataStateMachine::open(&config.dir)?;
        tracing::info!(
            dir = %config.dir.display(),
            entries = recovery.entries,
            truncated_bytes = recovery.truncated_bytes,
            voters = ?config.voters,
            "opened metadata log"
        );
        let images = sm.subscribe();
        let sm = StateMachineStore::new(sm);

        let raft_config = if clustered {
            // Heartbeats double as openraft's per-append deadline, so they leave room for a
            // follower's fsync on a loaded machine; elections wait for several missed ones.
            Config {
                heartbeat_interval: 150,
                election_timeout_min: 1000,
                election_timeout_max: 2000,
                install_snapshot_timeout: 5000,
                snapshot_max_chunk_size: 1024 * 1024,
                ..raft_config(&tuning)
            }
        } else {
            // A single voter elects itself as soon as its timer fires, so short timeouts make a
            // restart fast; they are still well above a local fsync.
            Config {
                heartbeat_interval: 50,
                election_timeout_min: 150,
                election_timeout_max: 300,
                ..raft_config(&tuning)
            }
        }
        .validate()
        .map_err(|e| MetadataError::Raft(e.to_string()))?;

        let transport = clustered.then(|| Arc::new(TcpTransport::new()));
        let raft = match &transport {
            Some(transport) => {
                Raft::new(
                    config.node_id,
                    Arc::new(raft_config),
                    Network::new(Arc::clone(transport)),
                    LogStore::new(log),
                    sm.clone(),
                )
                .await
            }
            None => {
                Raft::new(
                    config.node_id,
                    Arc::new(raft_config),
                    Network::new(SingleNodeTransport),
                    LogStore::new(log),
                    sm.clone(),
                )
                .await
            }
        }
        .map_err(|e| MetadataError::Stopped(e.to_string()))?;

        let liveness = Liveness::new(LivenessConfig {
            session_timeout_ms: millis(config.session_timeout),
            unclean_default: config.unclean_leader_election,
            auto_leader_rebalance: config.auto_leader_rebalance,
            leader_imbalance_check_interval_ms: millis(config.leader_imbalance_check_interval),
        });
        let shared = Arc::new(Shared {
            node_id: config.node_id,
            metrics: raft.metrics(),
            raft,
            images,
            voters: config.voters.clone(),
            transport,
            controller: Mutex::new(Controller {
                liveness,
                active_term: None,
            }),
            broker: BrokerHeartbeat {
                want_shutdown: false,
                ..config.broker.clone()
            },
            heartbeat_interval: config.heartbeat_interval,
            want_shutdown: AtomicBool::new(false),
            heartbeat_now: Notify::new(),
            heartbeats: watch::channel(None).0,
            stopped: AtomicBool::new(false),
        });

        let (stop, stopped) = watch::channel(false);
        let (stop_heartbeats, heartbeats_stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(watch_controller(
            shared.raft.metrics(),
            sm.clone(),
        ))];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(net::serve(
                listener,
                Arc::new(Service(Arc::clone(&shared))),
                stopped.clone(),
            )));
        }
        tasks.push(tokio::spawn(controller_loop(
            Arc::clone(&shared),
            stopped.clone(),
        )));
        let node = MetadataNode {
            shared,
            stop,
            stop_heartbeats,
            tasks: Mutex::new(tasks),
        };
        let deadline = Instant::now() + config.startup_timeout;
        let started = async {
            node.bootstrap(&config, &sm, deadline).await?;
            node.lock_tasks().push(tokio::spawn(heartbeat_loop(
                Arc::clone(&node.shared),
                heartbeats_stopped,
            )));
            node.wait_registered(deadline).await
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

    /// Initializes a fresh quorum, waits for a leader and the log replayed, and makes sure the
    /// cluster id is set.
    async fn bootstrap(
        &self,
        config: &MetadataNodeConfig,
        sm: &StateMachineStore,
        deadline: Instant,
    ) -> Result<(), MetadataError> {
        let shared = &self.shared;
        let raft = &shared.raft;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        if !initialized {
            // Writes the membership as entry 0. Every voter does it with the same membership,
            // which openraft allows; a node that already heard from a leader refuses with
            // NotAllowed. A crash after it leaves an initialized log, so the next start skips it.
            let result = if config.voters.is_empty() {
                raft.initialize(BTreeSet::from([shared.node_id])).await
            } else {
                let members: BTreeMap<NodeId, BasicNode> = config
                    .voters
                    .iter()
                    .map(|(id, addr)| (*id, BasicNode::new(addr)))
                    .collect();
                raft.initialize(members).await
            };
            match result {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(MetadataError::Raft(e.to_string())),
            }
        } else if !config.voters.is_empty() {
            let members: BTreeSet<NodeId> = config.voters.keys().copied().collect();
            let current: BTreeSet<NodeId> = shared
                .metrics
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .collect();
            if members != current {
                tracing::warn!(
                    configured = ?members,
                    on_disk = ?current,
                    "configured quorum voters differ from the membership in the metadata log; \
                     the log's membership is used"
                );
            }
        }
        if config.voters.is_empty() {
            // A restart with a committed vote resumes leadership at once; otherwise skip
            // waiting out the election timer. Raft ignores this when already leader.
            raft.trigger()
                .elect()
                .await
                .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        }

        let timeout = deadline.saturating_duration_since(Instant::now());
        let single = config.voters.is_empty();
        let id = shared.node_id;
        let metrics = raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    // A single voter must lead with its whole log applied; in a quorum any
                    // leader will do (the replay is checked below and by the heartbeat).
                    if single {
                        m.current_leader == Some(id)
                            && m.last_applied.map(|l| l.index) >= m.last_log_index
                    } else {
                        m.current_leader.is_some()
                    }
                },
                "a metadata leader",
            )
            .await
            .map_err(|e| startup_error(e, config.startup_timeout, "no metadata leader"))?;
        tracing::info!(
            leader = ?metrics.current_leader,
            term = metrics.current_term,
            "metadata quorum has a leader"
        );
        // Everything this node knows to be committed is applied before the image counts as
        // loaded (the heartbeat below then catches up to the leader's applied index).
        let committed = raft
            .with_raft_state(|state| state.committed.map(|c| c.index))
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        raft.wait(Some(deadline.saturating_duration_since(Instant::now())))
            .applied_index_at_least(committed, "metadata log replayed")
            .await
            .map_err(|e| startup_error(e, config.startup_timeout, "log not replayed"))?;
        if metrics.current_leader == Some(shared.node_id) {
            sm.lock()
                .set_controller_id(kafka_node_id(Some(shared.node_id)));
        }

        // The cluster id is the first record of a fresh log, written by whoever leads. A
        // follower proposes one too if none appears for a while (say the leader changed in
        // between); the image refuses a second, different id, so the race is harmless.
        let mut waited = Duration::ZERO;
        while self.image().cluster_id.is_empty() {
            if shared.is_leader() || waited >= Duration::from_secs(2) {
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

    /// Waits until a heartbeat was answered with this broker unfenced and the local image has
    /// caught up with the controller's at that time and shows this broker unfenced.
    async fn wait_registered(&self, deadline: Instant) -> Result<(), MetadataError> {
        let node_id = self.shared.broker.node_id;
        let mut outcomes = self.shared.heartbeats.subscribe();
        let timeout = deadline.saturating_duration_since(Instant::now());
        let wait = async {
            let applied_index = loop {
                if let Some(outcome) = outcomes.borrow_and_update().as_ref() {
                    if !outcome.reply.fenced {
                        break outcome.applied_index;
                    }
                }
                if outcomes.changed().await.is_err() {
                    return Err(MetadataError::Stopped("heartbeats stopped".to_string()));
                }
            };
            self.shared.wait_applied(applied_index, timeout).await?;
            let mut images = self.subscribe();
            images
                .wait_for(|image| image.brokers.get(&node_id).is_some_and(|b| !b.fenced))
                .await
                .map_err(|e| MetadataError::Stopped(e.to_string()))?;
            Ok(())
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(MetadataError::StartupTimeout(
                timeout,
                format!("broker {node_id} not registered and unfenced"),
            )),
        }
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
        self.shared
            .propose(MetadataRequest { records }, PROPOSE_TIMEOUT)
            .await
    }

    /// The current image: a clone of an `Arc`, never blocks on raft.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.shared.image()
    }

    /// A receiver that sees each new image, published after every applied batch of entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.shared.images.clone()
    }

    /// Whether this node is the active controller (the raft leader) now.
    pub fn is_controller(&self) -> bool {
        self.shared.is_leader()
    }

    /// Kafka's controlled shutdown: heartbeats with `want_shutdown` until the controller
    /// answers `shutdown_ready` (it has moved leadership away and fenced this broker) or
    /// `timeout` passes, then stops heartbeating so the broker is not unfenced again.
    pub async fn controlled_shutdown(&self, timeout: Duration) {
        let node_id = self.shared.broker.node_id;
        tracing::info!(
            node_id,
            ?timeout,
            "controlled shutdown: asking the controller"
        );
        let mut outcomes = self.shared.heartbeats.subscribe();
        outcomes.borrow_and_update();
        self.shared.want_shutdown.store(true, Ordering::SeqCst);
        self.shared.heartbeat_now.notify_one();
        let ready = outcomes.wait_for(|outcome| {
            outcome
                .as_ref()
                .is_some_and(|o| o.want_shutdown && o.reply.shutdown_ready)
        });
        match tokio::time::timeout(timeout, ready).await {
            Ok(Ok(_)) => tracing::info!(node_id, "controlled shutdown: controller is ready"),
            Ok(Err(_)) => tracing::warn!(node_id, "controlled shutdown: heartbeats had stopped"),
            Err(_) => tracing::warn!(
                node_id,
                ?timeout,
                "controlled shutdown: controller not ready in time, shutting down anyway"
            ),
        }
        self.stop_heartbeats.send_replace(true);
    }

    /// Stops heartbeats, the controller listener and loop, and raft, and waits for them.
    /// Everything acknowledged is already on disk. Later `propose` calls fail with
    /// `MetadataError::Stopped`.
    pub async fn shutdown(&self) -> Result<(), MetadataError> {
        self.shared.stopped.store(true, Ordering::SeqCst);
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
        self.shared
            .raft
            .shutdown()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn raft(&self) -> &Raft<TypeConfig> {
        &self.shared.raft
    }
}

impl std::fmt::Debug for MetadataNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataNode")
            .field("node_id", &self.shared.node_id)
            .finish_non_exhaustive()
    }
}

fn raft_config(tuning: &Tuning) -> Config {
    Config {
        cluster_name: "strom-metadata".to_string(),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
        max_in_snapshot_log_to_keep: tuning.logs_to_keep,
        purge_batch_size: tuning.purge_batch,
        ..Config::default()
    }
}

fn startup_error(e: WaitError, timeout: Duration, what: &str) -> MetadataError {
    match e {
        WaitError::Timeout(..) => MetadataError::StartupTimeout(timeout, what.to_string()),
        WaitError::ShuttingDown => MetadataError::Stopped(what.to_string()),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Kafka node ids are i32; -1 means no controller.
fn kafka_node_id(leader: Option<NodeId>) -> i32 {
    leader.and_then(|id| i32::try_from(id).ok()).unwrap_or(-1)
}

fn client_write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> MetadataError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => MetadataError::NotLeader {
            leader_id: f.leader_id,
        },
        RaftError::APIError(other) => MetadataError::Raft(other.to_string()),
        RaftError::Fatal(fatal) => MetadataError::Stopped(fatal.to_string()),
    }
}

impl Shared {
    fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.images.borrow())
    }

    fn leader(&self) -> Option<NodeId> {
        self.metrics.borrow().current_leader
    }

    fn is_leader(&self) -> bool {
        let m = self.metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    /// The controller address of `id`: from raft's membership, else from the configuration.
    fn address_of(&self, id: NodeId) -> Option<String> {
        let from_membership = self
            .metrics
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|node| node.addr.clone())
            .filter(|addr| !addr.is_empty());
        from_membership.or_else(|| self.voters.get(&id).cloned())
    }

    fn lock_controller(&self) -> MutexGuard<'_, Controller> {
        self.controller.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `client_write` on this node: only succeeds on the leader. Returns the results and the
    /// raft log index of the entry.
    async fn write_local(
        &self,
        request: MetadataRequest,
        timeout: Duration,
    ) -> Result<(Vec<Result<(), TopicError>>, u64), MetadataError> {
        let response = tokio::time::timeout(timeout, self.raft.client_write(request))
            .await
            .map_err(|_| MetadataError::Timeout {
                what: "metadata entry not committed".to_string(),
                after: timeout,
            })?
            .map_err(client_write_error)?;
        Ok((response.data.results, response.log_id.index))
    }

    async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), MetadataError> {
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "metadata entry applied locally")
            .await
            .map(|_| ())
            .map_err(|e| match e {
                WaitError::Timeout(..) => MetadataError::Timeout {
                    what: format!("metadata log index {index} not applied on this node"),
                    after: timeout,
                },
                WaitError::ShuttingDown => MetadataError::Stopped("shutting down".to_string()),
            })
    }

    /// Commits `request` through the leader, wherever it is, and waits until this node has
    /// applied it.
    async fn propose(
        &self,
        request: MetadataRequest,
        timeout: Duration,
    ) -> Result<Vec<Result<(), TopicError>>, MetadataError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(MetadataError::Stopped(
                "metadata node shut down".to_string(),
            ));
        }
        let Some(transport) = &self.transport else {
            // A single voter is always its own leader once started.
            return Ok(self.write_local(request, timeout).await?.0);
        };
        let deadline = Instant::now() + timeout;
        let mut last_leader = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(MetadataError::Timeout {
                    what: format!(
                        "no metadata leader took the proposal (last known: {last_leader:?})"
                    ),
                    after: timeout,
                });
            }
            match self.leader() {
                Some(leader) if leader == self.node_id => {
                    match self.write_local(request.clone(), remaining).await {
                        Ok((results, _)) => return Ok(results),
                        Err(MetadataError::NotLeader { leader_id }) => last_leader = leader_id,
                        Err(e) => return Err(e),
                    }
                }
                Some(leader) => {
                    last_leader = Some(leader);
                    let forwarded = self.forward(transport, leader, &request, remaining).await?;
                    if let Some((results, index)) = forwarded {
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        self.wait_applied(index, remaining.max(Duration::from_secs(1)))
                            .await?;
                        return Ok(results);
                    }
                }
                None => {}
            }
            if self.stopped.load(Ordering::SeqCst) {
                return Err(MetadataError::Stopped(
                    "metadata node shut down".to_string(),
                ));
            }
            tokio::time::sleep(RETRY_DELAY.min(remaining)).await;
        }
    }

    /// Sends `request` to `leader`. `Ok(None)` means it was certainly not committed there
    /// (unreachable, or not the leader any more) and may be retried.
    async fn forward(
        &self,
        transport: &TcpTransport,
        leader: NodeId,
        request: &MetadataRequest,
        timeout: Duration,
    ) -> Result<Option<(Vec<Result<(), TopicError>>, u64)>, MetadataError> {
        let Some(addr) = self.address_of(leader) else {
            return Ok(None);
        };
        let body = serde_json::to_vec(request).map_err(|e| MetadataError::Raft(e.to_string()))?;
        let forward_error = |reason: String| MetadataError::Forward {
            leader_id: leader,
            reason,
        };
        let reply = match transport
            .request(leader, &addr, RequestKind::Propose, &body, timeout)
            .await
        {
            Ok(reply) => reply,
            Err(e @ TransportError::Unreachable { .. }) => {
                tracing::debug!(leader, error = %e, "metadata leader unreachable, retrying");
                return Ok(None);
            }
            Err(e @ TransportError::Network { .. }) => return Err(forward_error(e.to_string())),
        };
        match serde_json::from_slice::<ProposeReply>(&reply) {
            Ok(ProposeReply::Committed { results, index }) => Ok(Some((results, index))),
            Ok(ProposeReply::NotLeader { .. }) => Ok(None),
            Ok(ProposeReply::Failed(reason)) => Err(forward_error(reason)),
            Err(e) => Err(forward_error(format!("undecodable reply: {e}"))),
        }
    }

    /// Makes sure the controller state belongs to the current term when this node leads.
    /// Returns whether this node is the active controller.
    async fn activate_controller(&self) -> bool {
        let (leader, term) = {
            let m = self.metrics.borrow();
            (
                m.state == ServerState::Leader && m.current_leader == Some(self.node_id),
                m.current_term,
            )
        };
        if !leader {
            let mut controller = self.lock_controller();
            if controller.active_term.take().is_some() {
                tracing::info!(node_id = self.node_id, "no longer the active controller");
            }
            return false;
        }
        if self.lock_controller().active_term == Some(term) {
            return true;
        }
        // A new leader may not have applied its predecessor's last entries yet; liveness must
        // start from the whole image.
        match tokio::time::timeout(Duration::from_secs(5), self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "not activating the controller");
                return false;
            }
            Err(_) => return false,
        }
        if self.metrics.borrow().current_term != term {
            return false;
        }
        let image = self.image();
        let mut controller = self.lock_controller();
        if controller.active_term != Some(term) {
            controller.liveness.become_controller(&image, now_ms());
            controller.active_term = Some(term);
            tracing::info!(
                node_id = self.node_id,
                term,
                brokers = image.brokers.len(),
                "became the active controller"
            );
        }
        true
    }

    /// The active controller's handling of one broker heartbeat: records it causes are
    /// committed before the reply.
    async fn handle_heartbeat(&self, heartbeat: &BrokerHeartbeat) -> HeartbeatResponse {
        if !self.activate_controller().await {
            return HeartbeatResponse::NotLeader {
                leader_id: self.leader(),
            };
        }
        let (records, reply) = {
            let image = self.image();
            let mut controller = self.lock_controller();
            if controller.active_term.is_none() {
                return HeartbeatResponse::NotLeader {
                    leader_id: self.leader(),
                };
            }
            controller.liveness.heartbeat(&image, heartbeat, now_ms())
        };
        if !records.is_empty() {
            tracing::debug!(
                node_id = heartbeat.node_id,
                ?records,
                "heartbeat changes metadata"
            );
            match self
                .write_local(MetadataRequest { records }, PROPOSE_TIMEOUT)
                .await
            {
                Ok((results, _)) => {
                    for e in results.iter().filter_map(|r| r.as_ref().err()) {
                        tracing::debug!(error = %e, "heartbeat record refused");
                    }
                }
                Err(MetadataError::NotLeader { leader_id }) => {
                    return HeartbeatResponse::NotLeader { leader_id }
                }
                Err(e) => return HeartbeatResponse::Failed(e.to_string()),
            }
        }
        let applied_index = self
            .metrics
            .borrow()
            .last_applied
            .map_or(0, |applied| applied.index);
        HeartbeatResponse::Ok {
            reply,
            applied_index,
        }
    }

    /// Sends this broker's heartbeat to the active controller, wherever it is.
    async fn send_heartbeat(
        &self,
        heartbeat: &BrokerHeartbeat,
    ) -> Result<(HeartbeatReply, u64), String> {
        let leader = self.leader().ok_or("no metadata leader")?;
        let response = if leader == self.node_id {
            self.handle_heartbeat(heartbeat).await
        } else {
            let transport = self.transport.as_ref().ok_or("no transport")?;
            let addr = self
                .address_of(leader)
                .ok_or_else(|| format!("no address for node {leader}"))?;
            let body = serde_json::to_vec(heartbeat).map_err(|e| e.to_string())?;
            let timeout = self.heartbeat_interval.max(Duration::from_secs(1)) * 2;
            let reply = transport
                .request(leader, &addr, RequestKind::Heartbeat, &body, timeout)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice(&reply).map_err(|e| format!("undecodable reply: {e}"))?
        };
        match response {
            HeartbeatResponse::Ok {
                reply,
                applied_index,
            } => Ok((reply, applied_index)),
            HeartbeatResponse::NotLeader { leader_id } => Err(format!(
                "node {leader} is not the controller (leader: {leader_id:?})"
            )),
            HeartbeatResponse::Failed(reason) => Err(reason),
        }
    }

    /// One run of the controller's periodic duties, when this node is the active controller.
    async fn tick(&self) {
        let records = {
            let image = self.image();
            let mut controller = self.lock_controller();
            if controller.active_term.is_none() {
                return;
            }
            controller.liveness.tick(&image, now_ms())
        };
        if records.is_empty() {
            return;
        }
        tracing::info!(?records, "controller tick changes metadata");
        match self
            .write_local(MetadataRequest { records }, PROPOSE_TIMEOUT)
            .await
        {
            Ok((results, _)) => {
                for e in results.iter().filter_map(|r| r.as_ref().err()) {
                    tracing::debug!(error = %e, "controller record refused");
                }
            }
            Err(e) => tracing::warn!(error = %e, "controller records not committed"),
        }
    }
}

/// Follows raft's leader into `controller_id` until raft stops.
async fn watch_controller(
    mut metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
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

/// Activates the controller when this node gains leadership and runs `Liveness::tick` every
/// `TICK_INTERVAL` while it leads.
async fn controller_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut metrics = shared.raft.metrics();
    let mut next_tick = Instant::now() + TICK_INTERVAL;
    loop {
        tokio::select! {
            () = net::stopped(&mut stop) => return,
            changed = metrics.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(next_tick) => {}
        }
        let active = shared.activate_controller().await;
        if Instant::now() >= next_tick {
            if active {
                shared.tick().await;
            }
            next_tick = Instant::now() + TICK_INTERVAL;
        }
    }
}

/// Sends this broker's heartbeat every `heartbeat_interval` (sooner while it fails, while the
/// broker is fenced, or while a controlled shutdown waits), publishing each answer.
async fn heartbeat_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failing_since: Option<Instant> = None;
    // While fenced (a fresh registration is unfenced by the next heartbeat) or waiting for a
    // controlled shutdown, heartbeats repeat quickly: 10 ms, then doubling up to the normal
    // retry delay, so startup is not held up by a whole interval.
    let quick_cap = RETRY_DELAY.max(shared.heartbeat_interval / 10);
    let mut quick = Duration::ZERO;
    loop {
        let want_shutdown = shared.want_shutdown.load(Ordering::SeqCst);
        let heartbeat = BrokerHeartbeat {
            want_shutdown,
            ..shared.broker.clone()
        };
        let delay = match shared.send_heartbeat(&heartbeat).await {
            Ok((reply, applied_index)) => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(failed_for = ?since.elapsed(), "broker heartbeats answered again");
                }
                let hurry = reply.fenced || (want_shutdown && !reply.shutdown_ready);
                shared.heartbeats.send_replace(Some(HeartbeatOutcome {
                    want_shutdown,
                    reply,
                    applied_index,
                }));
                if hurry {
                    quick = (quick * 2).clamp(Duration::from_millis(10), quick_cap);
                    quick
                } else {
                    quick = Duration::ZERO;
                    shared.heartbeat_interval
                }
            }
            Err(reason) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > shared.heartbeat_interval * 5 {
                    tracing::warn!(%reason, failing_for = ?since.elapsed(), "broker heartbeat failed");
                } else {
                    tracing::debug!(%reason, "broker heartbeat failed");
                }
                RETRY_DELAY.max(shared.heartbeat_interval / 10)
            }
        };
        tokio::select! {
            () = net::stopped(&mut stop) => return,
            () = shared.heartbeat_now.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The controller listener's handler: raft RPCs go to raft, proposals and heartbeats to the
/// active controller. Undecodable bodies close the connection.
struct Service(Arc<Shared>);

impl RequestHandler for Service {
    async fn handle(&self, kind: RequestKind, body: Vec<u8>) -> Option<Vec<u8>> {
        let shared = &self.0;
        let reply = match kind {
            RequestKind::AppendEntries => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&shared.raft.append_entries(request).await)
            }
            RequestKind::Vote => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&shared.raft.vote(request).await)
            }
            RequestKind::InstallSnapshot => {
                let request = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&shared.raft.install_snapshot(request).await)
            }
            RequestKind::Propose => {
                let request: MetadataRequest = serde_json::from_slice(&body).ok()?;
                let reply = match shared.write_local(request, PROPOSE_TIMEOUT).await {
                    Ok((results, index)) => ProposeReply::Committed { results, index },
                    Err(MetadataError::NotLeader { leader_id }) => {
                        ProposeReply::NotLeader { leader_id }
                    }
                    Err(e) => ProposeReply::Failed(e.to_string()),
                };
                serde_json::to_vec(&reply)
            }
            RequestKind::Heartbeat => {
                let heartbeat: BrokerHeartbeat = serde_json::from_slice(&body).ok()?;
                serde_json::to_vec(&shared.handle_heartbeat(&heartbeat).await)
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
