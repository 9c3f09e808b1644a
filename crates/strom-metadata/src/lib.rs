//! strom-metadata: the cluster metadata (brokers, topics, partitions, topic ids, dynamic
//! configs) as a replicated state machine on openraft, persisted under one directory, with
//! Kafka KRaft's combined broker + controller nodes.
//!
//! - `record`: `MetadataRecord`, the only way metadata changes.
//! - `image`: `MetadataImage`, the immutable snapshot handlers read, and how records apply.
//! - `controller`: pure functions from a request and an image to records, with Kafka's
//!   validation and errors.
//! - `liveness`: the active controller's broker sessions (heartbeats, fencing, controlled
//!   shutdown, periodic duties), pure: time comes in as `now_ms`.
//! - `node`: `MetadataNode`, the running quorum member: a single voter with no network, or
//!   one of several voters; propose from any node, heartbeats, controlled shutdown.
//! - `net`: the CONTROLLER listener and its client (length-prefixed JSON frames over TCP):
//!   raft RPCs, proposals forwarded to the leader, broker heartbeats.
//! - internals: `log`/`state_machine` (our storage), `log_store`/`sm_store`/`transport`
//!   (thin openraft adapters), `frame` (checksummed file framing), `raft_types`.
//!
//! Owns the controller listener (between metadata nodes only) but no Kafka wire types: the
//! broker maps `TopicError`/`MetadataError` to error codes.

#[cfg(test)]
mod cluster_tests;
mod controller;
mod error;
mod frame;
mod image;
mod liveness;
mod log;
mod log_store;
mod net;
mod node;
mod raft_types;
mod record;
mod sm_store;
mod state_machine;
mod transport;

pub use controller::{
    alter_config_records, alter_partition_records, controlled_shutdown_records,
    create_partitions_records, create_topic_records, delete_topic_records, elect_leaders_records,
    fence_broker_records, ongoing_reassignments, preferred_leader_records, reassign_records,
    reassignment_progress_records, unfence_broker_records, validate_topic_name,
    AlterPartitionRequest, ElectionResult, ElectionType, NewTopic, OngoingReassignment,
    UNCLEAN_LEADER_ELECTION_ENABLE,
};
pub use error::{MetadataError, TopicError};
pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use liveness::{BrokerHeartbeat, HeartbeatReply, Liveness, LivenessConfig};
pub use node::{MetadataNode, MetadataNodeConfig};
pub use record::{ConfigResource, MetadataRecord, PartitionChange};
