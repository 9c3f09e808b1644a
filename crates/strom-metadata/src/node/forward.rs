//! Proposal forwarding, both sides: `Quorum::propose` commits an entry through the raft leader
//! wherever it is (locally on the leader, else sent over the CONTROLLER listener, retrying across
//! leader changes) and waits until this node has applied it; `Quorum::commit_forwarded` is what
//! the leader does with a proposal forwarded to it. Kafka brokers send such writes to the active
//! controller the same way (its `ForwardingManager`).
//!
//! This file adds to `Quorum`'s impl deliberately (quorum.rs owns the type and the local
//! commit); it uses quorum.rs, never the reverse. Owns no framing (net.rs) and no choice of
//! records (the controller functions and liveness.rs choose them).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::quorum::{Quorum, PROPOSE_TIMEOUT, RETRY_DELAY};
use crate::error::{MetadataError, TopicError, TransportError};
use crate::net::{RequestKind, TcpTransport};
use crate::raft_types::{MetadataRequest, NodeId, ProposeReply};

impl Quorum {
    /// Commits `request` through the leader, wherever it is, and waits until this node has
    /// applied it.
    pub(super) async fn propose(
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

    /// The leader's side of a forwarded proposal: commit it here and say where it landed, or
    /// that this node does not lead (any more) so the sender retries elsewhere.
    pub(super) async fn commit_forwarded(&self, request: MetadataRequest) -> ProposeReply {
        match self.write_local(request, PROPOSE_TIMEOUT).await {
            Ok((results, index)) => ProposeReply::Committed { results, index },
            Err(MetadataError::NotLeader { leader_id }) => ProposeReply::NotLeader { leader_id },
            Err(e) => ProposeReply::Failed(e.to_string()),
        }
    }
}
