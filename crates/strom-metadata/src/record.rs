//! The metadata records: the only way the cluster metadata changes. Each is one step of the
//! replicated log (several may share one raft entry). Owns their shape and serde form; how a
//! record changes the image lives in image.rs, how records are chosen lives in controller.rs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::image::PartitionImage;

/// One change to the cluster metadata (Kafka's `ApiMessageAndVersion` metadata records,
/// simplified). Records are validated again when applied, so a record that raced with another
/// and is no longer valid is rejected without changing state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum MetadataRecord {
    /// Sets the cluster id; written once, as the first record of a fresh log.
    ClusterId { cluster_id: String },
    /// Registers (or re-registers, replacing the endpoint) a broker; it becomes unfenced.
    RegisterBroker {
        node_id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
    },
    /// Creates a topic with all its partitions. `configs` holds the overrides only.
    CreateTopic {
        name: String,
        topic_id: Uuid,
        configs: BTreeMap<String, String>,
        partitions: Vec<PartitionImage>,
    },
    /// Deletes a topic and all its partitions.
    DeleteTopic { topic_id: Uuid },
    /// Adds partitions to a topic; their indexes must continue the existing ones.
    CreatePartitions {
        topic_id: Uuid,
        partitions: Vec<PartitionImage>,
    },
    /// Sets and deletes dynamic config overrides of a topic or a broker.
    AlterConfigs {
        resource: ConfigResource,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
    },
}

/// What a config change applies to (Kafka's `ConfigResource` with type TOPIC or BROKER).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id. The broker maps Kafka's empty name (cluster default) to an id of
    /// its choosing; this crate does not interpret the id.
    Broker(i32),
}
