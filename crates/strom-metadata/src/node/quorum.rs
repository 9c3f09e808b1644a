//! Quorum start and the raft member itself (the raft side of Kafka's `QuorumController`
//! bootstrap): `Quorum` wires `MetadataLog` and `MetadataStateMachine` into openraft, opens the
//! CONTROLLER listener when there are voters, initializes a fresh membership, waits for a leader
//! and the log replayed, and commits entries locally on the leader (`write_local`). Also the
//! small raft helpers the other node files share (who leads, where a voter listens, waiting for
//! an index to apply).
//!
//! `Quorum`'s impl is split deliberately: forward.rs adds `propose` (commit through the leader,
//! wherever it is) and the serving side of forwarded proposals. Owns no controller duties
//! (active_controller.rs), no heartbeats (broker_lifecycle.rs) and no record semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::metrics::WaitError;
use openraft::{BasicNode, Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{MetadataNodeConfig, Tuning};
use crate::error::{MetadataError, TopicError};
use crate::image::MetadataImage;
use crate::log::MetadataLog;
use crate::log_store::LogStore;
use crate::net::{self, TcpTransport};
use crate::raft_types::{MetadataRequest, NodeId, TypeConfig};
use crate::state_machine::MetadataStateMachine;
use crate::state_machine_store::StateMachineStore;
use crate::transport::{FollowerContacts, Network, SingleNodeTransport};

/// How long `propose` keeps trying (across leader changes) before giving up; also the bound on
/// one local commit.
pub(super) const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry delay while there is no leader, or after a failed or fenced heartbeat.
pub(super) const RETRY_DELAY: Duration = Duration::from_millis(50);

/// This node's raft member and what every other part of the node reads from it.
pub(super) struct Quorum {
    pub(super) node_id: NodeId,
    pub(super) raft: Raft<TypeConfig>,
    pub(super) metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    pub(super) images: watch::Receiver<Arc<MetadataImage>>,
    /// Configured controller addresses; raft's membership is asked first.
    pub(super) voters: BTreeMap<NodeId, String>,
    /// None with a single voter: there is nobody to forward to.
    pub(super) transport: Option<Arc<TcpTransport>>,
    /// When each follower last answered this node's AppendEntries (for DescribeQuorum).
    pub(super) contacts: Arc<FollowerContacts>,
    /// Set by `MetadataNode::shutdown`; later proposals fail.
    pub(super) stopped: AtomicBool,
}

/// What `Quorum::open` starts: the member, the state machine handle (for the controller-id
/// watcher and the bootstrap) and, with voters, the bound CONTROLLER listener to serve.
pub(super) struct OpenedQuorum {
    pub(super) quorum: Quorum,
    pub(super) state_machine: StateMachineStore,
    pub(super) listener: Option<TcpListener>,
}

impl Quorum {
    /// Checks the voters, binds the controller listener (with voters), opens the raft log,
    /// vote and snapshot in `config.dir` and starts raft.
    pub(super) async fn open(
        config: &MetadataNodeConfig,
        tuning: &Tuning,
    ) -> Result<OpenedQuorum, MetadataError> {
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
        let state_machine = MetadataStateMachine::open(&config.dir)?;
        tracing::info!(
            dir = %config.dir.display(),
            entries = recovery.entries,
            truncated_bytes = recovery.truncated_bytes,
            voters = ?config.voters,
            "opened metadata log"
        );
        let images = state_machine.subscribe();
        let state_machine = StateMachineStore::new(state_machine);

        let raft_config = if clustered {
            // Heartbeats double as openraft's per-append deadline, so they leave room for a
            // follower's fsync on a loaded machine; elections wait for several missed ones.
            Config {
                heartbeat_interval: 150,
                election_timeout_min: 1000,
                election_timeout_max: 2000,
                install_snapshot_timeout: 5000,
                snapshot_max_chunk_size: 1024 * 1024,
                ..raft_config(tuning)
            }
        } else {
            // A single voter elects itself as soon as its timer fires, so short timeouts make a
            // restart fast; they are still well above a local fsync.
            Config {
                heartbeat_interval: 50,
                election_timeout_min: 150,
                election_timeout_max: 300,
                ..raft_config(tuning)
            }
        }
        .validate()
        .map_err(|e| MetadataError::Raft(e.to_string()))?;

        let transport = clustered.then(|| Arc::new(TcpTransport::new()));
        let contacts = Arc::new(FollowerContacts::default());
        let raft = match &transport {
            Some(transport) => {
                Raft::new(
                    config.node_id,
                    Arc::new(raft_config),
                    Network::new(Arc::clone(transport), Arc::clone(&contacts)),
                    LogStore::new(log),
                    state_machine.clone(),
                )
                .await
            }
            None => {
                Raft::new(
                    config.node_id,
                    Arc::new(raft_config),
                    Network::new(SingleNodeTransport, Arc::clone(&contacts)),
                    LogStore::new(log),
                    state_machine.clone(),
                )
                .await
            }
        }
        .map_err(|e| MetadataError::Stopped(e.to_string()))?;

        contacts.set_metrics(raft.metrics());
        let quorum = Quorum {
            node_id: config.node_id,
            metrics: raft.metrics(),
            contacts,
            raft,
            images,
            voters: config.voters.clone(),
            transport,
            stopped: AtomicBool::new(false),
        };
        Ok(OpenedQuorum {
            quorum,
            state_machine,
            listener,
        })
    }

    /// Initializes a fresh quorum, waits for a leader and the log replayed. The cluster id is
    /// the caller's next step (it needs `propose`).
    pub(super) async fn join(
        &self,
        config: &MetadataNodeConfig,
        state_machine: &StateMachineStore,
        deadline: Instant,
    ) -> Result<(), MetadataError> {
        let raft = &self.raft;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        if !initialized {
            // Writes the membership as entry 0. Every voter does it with the same membership,
            // which openraft allows; a node that already heard from a leader refuses with
            // NotAllowed. A crash after it leaves an initialized log, so the next start skips it.
            let result = if config.voters.is_empty() {
                raft.initialize(BTreeSet::from([self.node_id])).await
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
            let current: BTreeSet<NodeId> = self
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
        let id = self.node_id;
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
        // loaded (the heartbeat then catches up to the leader's applied index).
        let committed = raft
            .with_raft_state(|state| state.committed.map(|c| c.index))
            .await
            .map_err(|e| MetadataError::Stopped(e.to_string()))?;
        raft.wait(Some(deadline.saturating_duration_since(Instant::now())))
            .applied_index_at_least(committed, "metadata log replayed")
            .await
            .map_err(|e| startup_error(e, config.startup_timeout, "log not replayed"))?;
        if metrics.current_leader == Some(self.node_id) {
            state_machine
                .lock()
                .set_controller_id(kafka_node_id(Some(self.node_id)));
        }
        Ok(())
    }

    pub(super) fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.images.borrow())
    }

    pub(super) fn leader(&self) -> Option<NodeId> {
        self.metrics.borrow().current_leader
    }

    pub(super) fn is_leader(&self) -> bool {
        let m = self.metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    /// The controller address of `id`: from raft's membership, else from the configuration.
    pub(super) fn address_of(&self, id: NodeId) -> Option<String> {
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

    /// `client_write` on this node: only succeeds on the leader. Returns the results and the
    /// raft log index of the entry.
    pub(super) async fn write_local(
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

    pub(super) async fn wait_applied(
        &self,
        index: u64,
        timeout: Duration,
    ) -> Result<(), MetadataError> {
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
}

/// Follows raft's leader into `controller_id` until raft stops.
pub(super) async fn watch_controller(
    mut metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    state_machine: StateMachineStore,
) {
    loop {
        let leader = metrics.borrow_and_update().current_leader;
        state_machine
            .lock()
            .set_controller_id(kafka_node_id(leader));
        if metrics.changed().await.is_err() {
            return;
        }
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
