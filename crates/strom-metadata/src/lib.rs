//! strom-metadata: the cluster metadata (brokers, topics, partitions, topic ids, dynamic
//! configs) as a replicated state machine on openraft, persisted under one directory, with
//! Kafka KRaft's combined broker + controller nodes.
//!
//! - `record`: `MetadataRecord`, the only way metadata changes.
//! - `image`: `MetadataImage`, the immutable snapshot handlers read; `replay`: how a record
//!   changes it (`MetadataImage::apply`).
//! - `controller/`: pure functions from a request and an image to records, with Kafka's
//!   validation and errors: `topics`, `election`, `reassignment`, `placement`, `ids`.
//! - `liveness`: the active controller's broker sessions (heartbeats, fencing, controlled
//!   shutdown, periodic duties), pure: time comes in as `now_ms`.
//! - `node/`: `MetadataNode`, the running quorum member: a single voter with no network, or
//!   one of several voters; quorum start, proposal forwarding, the active controller, the
//!   broker lifecycle (heartbeats, controlled shutdown).
//! - `net`: the CONTROLLER listener and its client (length-prefixed JSON frames over TCP):
//!   raft RPCs, proposals forwarded to the leader, broker heartbeats.
//! - internals: `log`/`state_machine` (our storage), `log_store`/`state_machine_store`/
//!   `transport` (thin openraft adapters), `file_frame` (checksummed file framing),
//!   `raft_types`.
//!
//! Owns the controller listener (between metadata nodes only) but no Kafka wire types: the
//! broker maps `TopicError`/`MetadataError` to error codes.

mod controller;
mod error;
mod file_frame;
mod image;
mod liveness;
mod log;
mod log_store;
mod net;
mod node;
mod raft_types;
mod record;
mod replay;
mod state_machine;
mod state_machine_store;
#[cfg(test)]
mod test_fixtures;
mod transport;

pub use controller::{
    alter_config_records, alter_partition_records, create_partitions_records, create_topic_records,
    delete_topic_records, elect_leaders_records, reassign_records, validate_topic_name,
    AlterPartitionRequest, ElectionResult, ElectionType, NewTopic,
};
pub use error::{MetadataError, TopicError};
pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use liveness::BrokerHeartbeat;
pub use node::{MetadataNode, MetadataNodeConfig, QuorumInfo, ReplicaInfo};
pub use record::{ConfigResource, MetadataRecord, PartitionChange};
