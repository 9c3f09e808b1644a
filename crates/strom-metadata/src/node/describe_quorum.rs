//! The metadata quorum as Kafka's DescribeQuorum reports it (Kafka's `LeaderState.describeQuorum`, answered
//! by the active controller, to which a broker forwards the request): who leads, in which epoch, the high
//! watermark, and each voter's and observer's progress. Only the raft leader knows the followers' progress,
//! so a follower asks the leader over the CONTROLLER listener (`net::RequestKind::DescribeQuorum`).
//!
//! Mapping from openraft (0.9) to Kafka's terms: leader epoch = raft term; high watermark = committed log
//! index + 1 (Kafka offsets are exclusive ends; the raft log's first entry has index 0); a replica's log end
//! offset = its matched log index + 1 (the leader's own: its last log index + 1), -1 while unknown. A
//! follower's `last_fetch_timestamp` is when it last answered one of this leader's AppendEntries (heartbeats
//! included: raft's followers are pushed to, Kafka's fetch), its `last_caught_up_timestamp` when such an answer
//! last left its log matching the leader's whole log (`transport::FollowerContacts`, both -1 until it answers
//! in the current term); the leader reports the current time for itself, as Kafka's leader does. Plain data: no Kafka request
//! types here (the broker builds the response).
//!
//! Adds to `Quorum`'s impl deliberately, like forward.rs; uses quorum.rs, never the reverse.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::ServerState;
use serde::{Deserialize, Serialize};

use super::quorum::Quorum;
use crate::error::{MetadataError, TransportError};
use crate::net::RequestKind;
use crate::raft_types::NodeId;

/// The quorum as its leader sees it (Kafka's Admin `QuorumInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumInfo {
    pub leader_id: i32,
    /// The raft term.
    pub leader_epoch: i32,
    /// Committed log index + 1.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaInfo>,
    /// Non-voting members (openraft learners); Strom configures none.
    pub observers: Vec<ReplicaInfo>,
    /// Each voter's CONTROLLER listener address, `host:port`.
    pub voter_addresses: BTreeMap<i32, String>,
}

/// One member's replication progress (Kafka's `QuorumInfo.ReplicaState`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaInfo {
    pub replica_id: i32,
    /// Matched log index + 1, or -1 while the leader does not know it.
    pub log_end_offset: i64,
    /// Milliseconds since the epoch, or -1 when not known.
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

/// The answer to a forwarded DescribeQuorum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DescribeQuorumReply {
    Leader(QuorumInfo),
    NotLeader,
}

/// How long a follower waits for the leader's description.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Quorum {
    /// The quorum from the leader: described here when this node leads, else asked of the leader once.
    /// `NotLeader` when no leader is known or the one asked no longer leads (the client retries).
    pub(super) async fn describe(&self) -> Result<QuorumInfo, MetadataError> {
        if let Some(info) = self.describe_as_leader().await {
            return Ok(info);
        }
        let leader = self.leader().filter(|l| *l != self.node_id);
        let (Some(leader), Some(transport)) = (leader, &self.transport) else {
            return Err(MetadataError::NotLeader { leader_id: None });
        };
        let Some(addr) = self.address_of(leader) else {
            return Err(MetadataError::NotLeader { leader_id: None });
        };
        let forward_error = |reason: String| MetadataError::Forward {
            leader_id: leader,
            reason,
        };
        let reply = transport
            .request(
                leader,
                &addr,
                RequestKind::DescribeQuorum,
                b"null",
                DESCRIBE_TIMEOUT,
            )
            .await
            .map_err(|e: TransportError| forward_error(e.to_string()))?;
        match serde_json::from_slice::<DescribeQuorumReply>(&reply) {
            Ok(DescribeQuorumReply::Leader(info)) => Ok(info),
            Ok(DescribeQuorumReply::NotLeader) => Err(MetadataError::NotLeader { leader_id: None }),
            Err(e) => Err(forward_error(format!("undecodable reply: {e}"))),
        }
    }

    /// The leader's side of a forwarded DescribeQuorum.
    pub(super) async fn describe_forwarded(&self) -> DescribeQuorumReply {
        match self.describe_as_leader().await {
            Some(info) => DescribeQuorumReply::Leader(info),
            None => DescribeQuorumReply::NotLeader,
        }
    }

    /// `None` unless this node leads.
    async fn describe_as_leader(&self) -> Option<QuorumInfo> {
        let metrics = self.metrics.borrow().clone();
        if metrics.state != ServerState::Leader || metrics.current_leader != Some(self.node_id) {
            return None;
        }
        let committed = self
            .raft
            .with_raft_state(|state| state.committed.map(|id| id.index))
            .await
            .ok()?;
        let now = strom_protocol::clock::now_ms();
        let end = |index: Option<u64>| index.map_or(-1, |i| to_i64(i).saturating_add(1));
        let replica = |id: NodeId| {
            if id == self.node_id {
                ReplicaInfo {
                    replica_id: to_i32(id),
                    log_end_offset: end(metrics.last_log_index),
                    last_fetch_timestamp: now,
                    last_caught_up_timestamp: now,
                }
            } else {
                let matched = metrics
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&id).copied().flatten());
                let (last_fetch_timestamp, last_caught_up_timestamp) =
                    self.contacts.contact(id, metrics.current_term);
                ReplicaInfo {
                    replica_id: to_i32(id),
                    log_end_offset: end(matched.map(|l| l.index)),
                    last_fetch_timestamp,
                    last_caught_up_timestamp,
                }
            }
        };
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let voter_addresses = voters
            .iter()
            .filter_map(|&id| Some((to_i32(id), self.address_of(id)?)))
            .collect();
        Some(QuorumInfo {
            leader_id: to_i32(self.node_id),
            leader_epoch: i32::try_from(metrics.current_term).unwrap_or(i32::MAX),
            high_watermark: end(committed),
            voters: voters.into_iter().map(&replica).collect(),
            observers: membership.learner_ids().map(&replica).collect(),
            voter_addresses,
        })
    }
}

/// Node ids are Kafka node ids (i32) carried as u64 by openraft.
fn to_i32(id: NodeId) -> i32 {
    i32::try_from(id).unwrap_or(-1)
}

fn to_i64(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}
