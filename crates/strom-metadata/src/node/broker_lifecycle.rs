//! The broker lifecycle (Kafka's `BrokerLifecycleManager`): this broker's side of the
//! heartbeat protocol. Every node sends its broker's heartbeat (its registration, and
//! `want_shutdown` during a controlled shutdown) to the active controller, wherever it is,
//! publishes each answer, waits at start until the broker is registered and unfenced in the
//! local image, and during a controlled shutdown waits until the controller says it is ready.
//! Owns no controller decisions: a heartbeat that reaches this node's own active controller is
//! answered by active_controller.rs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::active_controller::ActiveController;
use super::config::MetadataNodeConfig;
use super::quorum::{Quorum, RETRY_DELAY};
use crate::error::MetadataError;
use crate::liveness::{BrokerHeartbeat, HeartbeatReply};
use crate::net::{self, RequestKind};
use crate::raft_types::HeartbeatResponse;

/// This broker's heartbeats and what they were answered.
pub(super) struct BrokerLifecycleManager {
    quorum: Arc<Quorum>,
    /// Answers this broker's heartbeat without the network when this node is the controller.
    controller: Arc<ActiveController>,
    broker: BrokerHeartbeat,
    heartbeat_interval: Duration,
    /// Set by `controlled_shutdown`; the next heartbeats carry `want_shutdown`.
    want_shutdown: AtomicBool,
    /// Wakes the heartbeat loop early.
    heartbeat_now: Notify,
    /// The outcome of the latest successful heartbeat.
    heartbeats: watch::Sender<Option<HeartbeatOutcome>>,
}

/// One answered heartbeat.
#[derive(Clone, Debug)]
struct HeartbeatOutcome {
    want_shutdown: bool,
    reply: HeartbeatReply,
    /// The controller's applied index when it answered.
    applied_index: u64,
}

impl BrokerLifecycleManager {
    pub(super) fn new(
        quorum: Arc<Quorum>,
        controller: Arc<ActiveController>,
        config: &MetadataNodeConfig,
    ) -> BrokerLifecycleManager {
        BrokerLifecycleManager {
            quorum,
            controller,
            broker: BrokerHeartbeat {
                want_shutdown: false,
                ..config.broker.clone()
            },
            heartbeat_interval: config.heartbeat_interval,
            want_shutdown: AtomicBool::new(false),
            heartbeat_now: Notify::new(),
            heartbeats: watch::channel(None).0,
        }
    }

    /// Waits until a heartbeat was answered with this broker unfenced and the local image has
    /// caught up with the controller's at that time and shows this broker unfenced.
    pub(super) async fn wait_registered(&self, deadline: Instant) -> Result<(), MetadataError> {
        let node_id = self.broker.node_id;
        let mut outcomes = self.heartbeats.subscribe();
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
            self.quorum.wait_applied(applied_index, timeout).await?;
            let mut images = self.quorum.images.clone();
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

    /// Kafka's controlled shutdown, this broker's side: heartbeats with `want_shutdown` until
    /// the controller answers `shutdown_ready` (it has moved leadership away and fenced this
    /// broker) or `timeout` passes. The caller then stops the heartbeats so the broker is not
    /// unfenced again.
    pub(super) async fn controlled_shutdown(&self, timeout: Duration) {
        let node_id = self.broker.node_id;
        tracing::info!(
            node_id,
            ?timeout,
            "controlled shutdown: asking the controller"
        );
        let mut outcomes = self.heartbeats.subscribe();
        outcomes.borrow_and_update();
        self.want_shutdown.store(true, Ordering::SeqCst);
        self.heartbeat_now.notify_one();
        let ready = outcomes.wait_for(|outcome| {
            outcome
                .as_ref()
                .is_some_and(|o| o.want_shutdown && o.reply.shutdown_ready)
        });
        // Only whether it came matters; the borrowed outcome is released at once.
        let outcome = tokio::time::timeout(timeout, ready)
            .await
            .map(|ready| ready.map(|_| ()));
        match outcome {
            Ok(Ok(())) => tracing::info!(node_id, "controlled shutdown: controller is ready"),
            Ok(Err(_)) => tracing::warn!(node_id, "controlled shutdown: heartbeats had stopped"),
            Err(_) => tracing::warn!(
                node_id,
                ?timeout,
                "controlled shutdown: controller not ready in time, shutting down anyway"
            ),
        }
    }

    /// Sends this broker's heartbeat to the active controller, wherever it is.
    async fn send_heartbeat(
        &self,
        heartbeat: &BrokerHeartbeat,
    ) -> Result<(HeartbeatReply, u64), String> {
        let leader = self.quorum.leader().ok_or("no metadata leader")?;
        let response = if leader == self.quorum.node_id {
            self.controller.handle_heartbeat(heartbeat).await
        } else {
            let transport = self.quorum.transport.as_ref().ok_or("no transport")?;
            let addr = self
                .quorum
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

    /// Sends this broker's heartbeat every `heartbeat_interval` (sooner while it fails, while the
    /// broker is fenced, or while a controlled shutdown waits), publishing each answer.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failing_since: Option<Instant> = None;
        // While fenced (a fresh registration is unfenced by the next heartbeat) or waiting for a
        // controlled shutdown, heartbeats repeat quickly: 10 ms, then doubling up to the normal
        // retry delay, so startup is not held up by a whole interval.
        let quick_cap = RETRY_DELAY.max(self.heartbeat_interval / 10);
        let mut quick = Duration::ZERO;
        loop {
            let want_shutdown = self.want_shutdown.load(Ordering::SeqCst);
            let heartbeat = BrokerHeartbeat {
                want_shutdown,
                ..self.broker.clone()
            };
            let delay = match self.send_heartbeat(&heartbeat).await {
                Ok((reply, applied_index)) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(failed_for = ?since.elapsed(), "broker heartbeats answered again");
                    }
                    let hurry = reply.fenced || (want_shutdown && !reply.shutdown_ready);
                    self.heartbeats.send_replace(Some(HeartbeatOutcome {
                        want_shutdown,
                        reply,
                        applied_index,
                    }));
                    if hurry {
                        quick = (quick * 2).clamp(Duration::from_millis(10), quick_cap);
                        quick
                    } else {
                        quick = Duration::ZERO;
                        self.heartbeat_interval
                    }
                }
                Err(reason) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > self.heartbeat_interval * 5 {
                        tracing::warn!(%reason, failing_for = ?since.elapsed(), "broker heartbeat failed");
                    } else {
                        tracing::debug!(%reason, "broker heartbeat failed");
                    }
                    RETRY_DELAY.max(self.heartbeat_interval / 10)
                }
            };
            tokio::select! {
                () = net::stopped(&mut stop) => return,
                () = self.heartbeat_now.notified() => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}
