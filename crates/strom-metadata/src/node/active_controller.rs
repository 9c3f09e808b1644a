//! The active controller (the controller side of Kafka's `QuorumController`): while this node
//! leads the raft quorum it owns the `Liveness` state, claims it afresh for every term it leads
//! (after a linearizable read, so it starts from the whole image), answers broker heartbeats
//! and runs the periodic duties every `TICK_INTERVAL`, committing the records they return. What
//! those records are is liveness.rs's and the controller functions' business; sending this
//! broker's own heartbeat is broker_lifecycle.rs's.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strom_protocol::clock::now_ms;
use tokio::sync::watch;
use tokio::time::Instant;

use openraft::ServerState;

use super::config::MetadataNodeConfig;
use super::quorum::{Quorum, PROPOSE_TIMEOUT};
use crate::error::MetadataError;
use crate::liveness::{BrokerHeartbeat, Liveness, LivenessConfig};
use crate::net;
use crate::raft_types::{HeartbeatResponse, MetadataRequest};

/// How often the active controller runs `Liveness::tick`.
const TICK_INTERVAL: Duration = Duration::from_millis(250);

/// The active controller's state and the quorum it commits through.
pub(super) struct ActiveController {
    quorum: Arc<Quorum>,
    state: Mutex<ControllerState>,
}

/// Meaningful only while this node leads `active_term`.
struct ControllerState {
    liveness: Liveness,
    /// The raft term in which `liveness` was reset by `become_controller`; None when this node
    /// is not (yet) the active controller.
    active_term: Option<u64>,
}

impl ActiveController {
    pub(super) fn new(quorum: Arc<Quorum>, config: &MetadataNodeConfig) -> ActiveController {
        let liveness = Liveness::new(LivenessConfig {
            session_timeout_ms: millis(config.session_timeout),
            unclean_default: config.unclean_leader_election,
            auto_leader_rebalance: config.auto_leader_rebalance,
            leader_imbalance_check_interval_ms: millis(config.leader_imbalance_check_interval),
        });
        ActiveController {
            quorum,
            state: Mutex::new(ControllerState {
                liveness,
                active_term: None,
            }),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, ControllerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure the controller state belongs to the current term when this node leads.
    /// Returns whether this node is the active controller.
    async fn activate(&self) -> bool {
        let (leader, term) = {
            let m = self.quorum.metrics.borrow();
            (
                m.state == ServerState::Leader && m.current_leader == Some(self.quorum.node_id),
                m.current_term,
            )
        };
        if !leader {
            let mut controller = self.lock_state();
            if controller.active_term.take().is_some() {
                tracing::info!(
                    node_id = self.quorum.node_id,
                    "no longer the active controller"
                );
            }
            return false;
        }
        if self.lock_state().active_term == Some(term) {
            return true;
        }
        // A new leader may not have applied its predecessor's last entries yet; liveness must
        // start from the whole image.
        match tokio::time::timeout(
            Duration::from_secs(5),
            self.quorum.raft.ensure_linearizable(),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "not activating the controller");
                return false;
            }
            Err(_) => return false,
        }
        if self.quorum.metrics.borrow().current_term != term {
            return false;
        }
        let image = self.quorum.image();
        let mut controller = self.lock_state();
        if controller.active_term != Some(term) {
            controller.liveness.become_controller(&image, now_ms());
            controller.active_term = Some(term);
            tracing::info!(
                node_id = self.quorum.node_id,
                term,
                brokers = image.brokers.len(),
                "became the active controller"
            );
        }
        true
    }

    /// The active controller's handling of one broker heartbeat: records it causes are
    /// committed before the reply.
    pub(super) async fn handle_heartbeat(&self, heartbeat: &BrokerHeartbeat) -> HeartbeatResponse {
        if !self.activate().await {
            return HeartbeatResponse::NotLeader {
                leader_id: self.quorum.leader(),
            };
        }
        let (records, reply) = {
            let image = self.quorum.image();
            let mut controller = self.lock_state();
            if controller.active_term.is_none() {
                return HeartbeatResponse::NotLeader {
                    leader_id: self.quorum.leader(),
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
                .quorum
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
            .quorum
            .metrics
            .borrow()
            .last_applied
            .map_or(0, |applied| applied.index);
        HeartbeatResponse::Ok {
            reply,
            applied_index,
        }
    }

    /// One run of the controller's periodic duties, when this node is the active controller.
    async fn tick(&self) {
        let records = {
            let image = self.quorum.image();
            let mut controller = self.lock_state();
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
            .quorum
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

    /// Activates the controller when this node gains leadership and runs `Liveness::tick` every
    /// `TICK_INTERVAL` while it leads.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut metrics = self.quorum.raft.metrics();
        let mut next_tick = Instant::now() + TICK_INTERVAL;
        loop {
            tokio::select! {
                () = net::stopped(&mut stop) => return,
                changed = metrics.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(next_tick) => {}
            }
            let active = self.activate().await;
            if Instant::now() >= next_tick {
                if active {
                    self.tick().await;
                }
                next_tick = Instant::now() + TICK_INTERVAL;
            }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
