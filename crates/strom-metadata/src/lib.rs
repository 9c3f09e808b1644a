//! strom-metadata: the cluster metadata (brokers, topics, partitions, topic ids, dynamic
//! configs) as a replicated state machine on openraft, persisted under one directory.
//!
//! - `record`: `MetadataRecord`, the only way metadata changes.
//! - `image`: `MetadataImage`, the immutable snapshot handlers read, and how records apply.
//! - `controller`: pure functions from a request and an image to a record, with Kafka's
//!   validation and errors.
//! - `node`: `MetadataNode`, the running quorum member (one voter today).
//! - internals: `log`/`state_machine` (our storage), `log_store`/`sm_store`/`transport`
//!   (thin openraft adapters), `frame` (checksummed file framing), `raft_types`.
//!
//! Owns no sockets and no Kafka wire types: the broker maps `TopicError` to error codes and
//! will provide the network transport when the quorum grows beyond one voter.

mod controller;
mod error;
mod frame;
mod image;
#[allow(dead_code)]
mod liveness;
mod log;
mod log_store;
mod node;
mod raft_types;
mod record;
mod sm_store;
mod state_machine;
mod transport;

pub use controller::{
    alter_config_records, create_partitions_records, create_topic_records, delete_topic_records,
    validate_topic_name, NewTopic,
};
pub use error::{MetadataError, TopicError};
pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use node::{MetadataNode, MetadataNodeConfig};
pub use record::{ConfigResource, MetadataRecord};
