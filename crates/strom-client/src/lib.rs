//! strom-client: a small async Kafka client for Strom's CLI, tools and (later) follower fetching.
//!
//! Owns: TCP connections and version negotiation ([`Connection`]; frames are encoded and sized by strom-protocol), a metadata-caching
//! [`Client`] that routes partition requests to leaders, typed admin/produce/fetch helpers, record batch
//! building and decoding, Kafka's key partitioner ([`murmur2`], [`partition_for_key`]), and consumer-group admin
//! calls (list, describe, committed offsets, simple commits, delete) routed to the group coordinator, and
//! replica-placement admin calls (leader elections, partition reassignments).
//! Does not own: group membership (joining, heartbeats, assignors), idempotent or transactional producing, TLS/SASL. All wire encoding is done by
//! the `kafka-protocol` crate through strom-protocol (request frames, API names, the v2 record-batch encoder);
//! nothing here hand-writes a message codec.

mod bootstrap;
mod client;
mod connection;
mod error;
mod partitioner;
mod records;
mod versions;

pub use bootstrap::parse_bootstrap;
pub use client::admin::{ConfigEntry, ConfigSource, CreatedTopic};
pub use client::data::{FetchedPartition, ListedOffset};
pub use client::groups::{
    decode_consumer_assignment, CommitResult, CommittedOffset, GroupDescription, GroupMember,
    ListedGroup,
};
pub use client::replicas::{OngoingReassignment, PartitionOutcome};
pub use client::transactions::{
    ListedTransaction, PartitionProducers, ProducerStateInfo, TransactionDescription,
    TransactionFilter,
};
pub use client::{
    BrokerMetadata, Client, ClientConfig, ClusterMetadata, PartitionMetadata, TopicMetadata,
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP,
};
pub use connection::{Connection, DEFAULT_CLIENT_ID};
pub use error::ClientError;
pub use kafka_protocol::records::{Compression, TimestampType};
pub use partitioner::{murmur2, partition_for_key};
pub use records::{encode_batch, ConsumedRecord, OwnedRecord};
pub use uuid::Uuid;
