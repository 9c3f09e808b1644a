//! Error types of the metadata crate: `TopicError` (a controller decision that maps 1:1 onto a
//! Kafka error code; the broker's `error_code.rs` does that mapping) and `MetadataError` (the
//! metadata quorum itself failed: disk, raft, startup). Owns no conversion to wire codes.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why the controller rejected a topic, partition or config change. Each variant is one Kafka
/// error code; the string is the human message Kafka would put into `error_message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TopicError {
    /// Kafka `INVALID_TOPIC_EXCEPTION`.
    #[error("{0}")]
    InvalidTopic(String),
    /// Kafka `TOPIC_ALREADY_EXISTS`; carries the topic name.
    #[error("Topic '{0}' already exists.")]
    TopicAlreadyExists(String),
    /// Kafka `UNKNOWN_TOPIC_OR_PARTITION`; carries the topic name.
    #[error("This server does not host this topic-partition: {0}")]
    UnknownTopic(String),
    /// Kafka `UNKNOWN_TOPIC_ID`.
    #[error("Topic id {0} does not exist.")]
    UnknownTopicId(Uuid),
    /// Kafka `INVALID_PARTITIONS`.
    #[error("{0}")]
    InvalidPartitions(String),
    /// Kafka `INVALID_REPLICATION_FACTOR`.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// Kafka `INVALID_REPLICA_ASSIGNMENT`.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// Kafka `INVALID_CONFIG`.
    #[error("{0}")]
    InvalidConfig(String),
    /// Kafka `INVALID_REQUEST`.
    #[error("{0}")]
    InvalidRequest(String),
}

/// The metadata quorum could not do what was asked: its files, raft, or startup failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Reading or writing a file under the metadata directory failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A metadata file is unreadable beyond what torn-tail recovery may repair.
    #[error("corrupt metadata file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// This node is not the metadata leader; the proposal must go to `leader_id`
    /// (Kafka `NOT_CONTROLLER`). Never happens with a single voter.
    #[error("this node is not the metadata leader (leader: {leader_id:?})")]
    NotLeader { leader_id: Option<u64> },
    /// The raft core has stopped (after `shutdown`, or after a storage error).
    #[error("metadata raft has stopped: {0}")]
    Stopped(String),
    /// Any other raft failure, rendered as text so openraft's types stay out of the API.
    #[error("metadata raft error: {0}")]
    Raft(String),
    /// Startup did not see this node become leader with the log replayed in time.
    #[error("metadata node did not become leader within {0:?}")]
    StartupTimeout(Duration),
}

impl MetadataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MetadataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        MetadataError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A raft RPC could not reach its target or got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// The target cannot be reached now; raft backs off and retries.
    #[error("metadata node {target} is unreachable: {reason}")]
    Unreachable { target: u64, reason: String },
    /// The request or reply could not be sent or received. Only a real (cluster) transport
    /// produces it; the single-node transport has nobody to fail talking to.
    #[allow(dead_code)]
    #[error("metadata RPC to node {target} failed: {reason}")]
    Network { target: u64, reason: String },
}
