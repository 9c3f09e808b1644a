//! The openraft type configuration of the metadata quorum: what one raft entry carries (a batch
//! of `MetadataRecord`s) and what applying it returns (one result per record), plus the replies
//! of the two non-raft requests between nodes (a forwarded proposal, a broker heartbeat).
//! Owns no logic.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::error::TopicError;
use crate::liveness::HeartbeatReply;
use crate::record::MetadataRecord;

/// The payload of one raft entry: records that commit and apply together, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetadataRequest {
    pub(crate) records: Vec<MetadataRecord>,
}

/// The outcome of applying one entry: per record, applied or why it was rejected.
/// Entries raft writes itself (blank, membership) yield no results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetadataResponse {
    pub(crate) results: Vec<Result<(), TopicError>>,
}

/// The leader's answer to a forwarded proposal (`net::RequestKind::Propose`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ProposeReply {
    /// Committed and applied on the leader at raft log `index`.
    Committed {
        results: Vec<Result<(), TopicError>>,
        index: u64,
    },
    /// The receiver is not the leader (any more); retry at `leader_id` if known.
    NotLeader { leader_id: Option<u64> },
    /// The leader failed to commit it; the text of its `MetadataError`.
    Failed(String),
}

/// The active controller's answer to a broker heartbeat (`net::RequestKind::Heartbeat`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum HeartbeatResponse {
    /// Handled; any records it caused are committed. `applied_index` is the controller's
    /// applied raft log index at reply time, so the sender can wait until its own image is at
    /// least as new.
    Ok {
        reply: HeartbeatReply,
        applied_index: u64,
    },
    /// The receiver is not the active controller; retry at `leader_id` if known.
    NotLeader { leader_id: Option<u64> },
    /// The controller could not commit what the heartbeat caused.
    Failed(String),
}

openraft::declare_raft_types!(
    /// Type configuration of the metadata raft group. Node ids are Kafka node ids (as u64).
    pub(crate) TypeConfig:
        D = MetadataRequest,
        R = MetadataResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub(crate) type NodeId = u64;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
