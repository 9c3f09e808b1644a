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
    /// Kafka `INVALID_UPDATE_VERSION` (108): a partition change named a partition epoch that is
    /// no longer current (another change won the race).
    #[error("{0}")]
    InvalidUpdateVersion(String),
    /// Kafka `FENCED_LEADER_EPOCH` (74): an AlterPartition from a leader epoch that is not the
    /// partition's current one.
    #[error("{0}")]
    FencedLeaderEpoch(String),
    /// Kafka `NOT_LEADER_OR_FOLLOWER` (6): an AlterPartition from a broker that does not lead the
    /// partition.
    #[error("{0}")]
    NotLeaderOrFollower(String),
    /// Kafka `INELIGIBLE_REPLICA` (107): an AlterPartition adds a fenced or unknown broker to the
    /// isr.
    #[error("{0}")]
    IneligibleReplica(String),
    /// Kafka `ELECTION_NOT_NEEDED` (84): the partition already has the leader the election asks
    /// for.
    #[error("{0}")]
    ElectionNotNeeded(String),
    /// Kafka `PREFERRED_LEADER_NOT_AVAILABLE` (80): the first replica is fenced or out of the isr.
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    /// Kafka `ELIGIBLE_LEADERS_NOT_AVAILABLE` (83): no live replica may become leader.
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    /// Kafka `NO_REASSIGNMENT_IN_PROGRESS` (85): cancelling a reassignment that does not exist.
    #[error("{0}")]
    NoReassignmentInProgress(String),
    /// Kafka `BROKER_NOT_AVAILABLE` (8): the record names a broker that is not registered, or
    /// makes a fenced broker leader.
    #[error("{0}")]
    BrokerNotAvailable(String),
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
    /// Startup did not see a quorum leader, the log replayed and this broker registered in
    /// time.
    #[error("metadata node did not start within {0:?}: {1}")]
    StartupTimeout(Duration, String),
    /// The controller listener could not be bound.
    #[error("cannot listen on controller address {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The configuration cannot work (e.g. voters given but this node is not one of them).
    #[error("invalid metadata quorum configuration: {0}")]
    Config(String),
    /// A proposal could not be committed (or its commit not seen locally) before its
    /// deadline, e.g. while the quorum has no leader (Kafka `REQUEST_TIMED_OUT`).
    #[error("metadata operation timed out after {after:?}: {what}")]
    Timeout { what: String, after: Duration },
    /// A proposal was sent to the leader but its outcome is unknown: the connection failed
    /// before the reply. It may or may not have been committed.
    #[error("proposal forwarded to metadata leader {leader_id} failed: {reason}")]
    Forward { leader_id: u64, reason: String },
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
    /// The request or reply could not be sent or received (reset, timeout, bad frame); the
    /// target may or may not have processed the request.
    #[error("metadata RPC to node {target} failed: {reason}")]
    Network { target: u64, reason: String },
}
