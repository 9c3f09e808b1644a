//! The openraft type configuration of the metadata quorum: what one raft entry carries (a batch
//! of `MetadataRecord`s) and what applying it returns (one result per record). Owns no logic.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::error::TopicError;
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
