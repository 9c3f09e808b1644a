//! The metadata records: the only way the cluster metadata changes. Each is one step of the
//! replicated log (several may share one raft entry). Owns their shape and serde form; how a
//! record changes the image lives in replay.rs, how records are chosen lives in controller/.

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
    /// Fences a registered broker (Kafka's `FenceBrokerRecord`): it gets no new leadership and
    /// no new place in an isr until unfenced. Partition changes come as separate records.
    FenceBroker { node_id: i32 },
    /// Unfences a registered broker (Kafka's `UnfenceBrokerRecord`).
    UnfenceBroker { node_id: i32 },
    /// Changes one partition's leader, isr, replicas or reassignment state (Kafka's
    /// `PartitionChangeRecord`).
    PartitionChange(PartitionChange),
}

/// One partition change: the fields that are `Some` replace the partition's; the rest stay.
/// Applying it bumps the partition epoch, and the leader epoch when the leader or the replicas
/// change. With `expected_partition_epoch` set, a change computed from a partition that has
/// changed since is rejected (`INVALID_UPDATE_VERSION`) instead of clobbering the newer state;
/// every change the controller generates sets it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionChange {
    pub topic_id: Uuid,
    pub partition: i32,
    /// New leader, or -1 for none.
    pub leader: Option<i32>,
    pub isr: Option<Vec<i32>>,
    pub replicas: Option<Vec<i32>>,
    /// Replicas being added by a reassignment (KIP-455); empty when none is in progress.
    pub adding_replicas: Option<Vec<i32>>,
    /// Replicas being removed by a reassignment; empty when none is in progress.
    pub removing_replicas: Option<Vec<i32>>,
    pub expected_partition_epoch: Option<i32>,
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
