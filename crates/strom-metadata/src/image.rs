//! `MetadataImage`: the immutable view of cluster metadata that handlers read (Kafka's
//! `MetadataImage`), with its brokers, topics and partitions and the queries over them. Owns
//! no I/O, no raft and no record semantics: how a `MetadataRecord` changes an image is
//! replay.rs's (which adds `apply` to `MetadataImage` there, so this file needs nothing of
//! the records).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The whole cluster metadata at one log offset. Handed out as `Arc<MetadataImage>` and never
/// mutated once published (Kafka's `MetadataImage`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MetadataImage {
    /// 22-character base64-url form of a random uuid, set by the first record of the log.
    pub cluster_id: String,
    /// Node id of the active controller (the raft leader). A single voter now.
    pub controller_id: i32,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Topic id to topic name, for the id-based APIs (Fetch v13+, DeleteTopics v6+).
    pub topic_ids: HashMap<Uuid, String>,
    /// Dynamic per-broker config overrides (AlterConfigs on a BROKER resource).
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// Raft log index of the last applied entry; grows with every entry, including raft's own.
    pub last_applied_offset: u64,
}

/// A registered broker.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerImage {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// A fenced broker is not given new replicas or leadership.
    pub fenced: bool,
}

/// One topic.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Dynamic config overrides only; defaults come from the broker config.
    pub configs: BTreeMap<String, String>,
    /// Kafka's internal topics (`__consumer_offsets`, `__transaction_state`).
    pub internal: bool,
}

/// One partition's replica set and leadership.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionImage {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Node id of the leader, or -1 when there is none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Replicas a reassignment is adding (KIP-455); they are in `replicas` too. Empty when no
    /// reassignment is in progress.
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment will remove once the adding ones are in the isr; they are in
    /// `replicas` too.
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
}

impl PartitionImage {
    /// A reassignment is in progress (Kafka's `isReassignmentInProgress`).
    pub fn reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas the partition will have once its reassignment completes: all replicas but
    /// the removing ones, in order.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }
}

impl MetadataImage {
    /// The topic of this name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// The topic of this id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.topic_ids
            .get(&id)
            .and_then(|name| self.topics.get(name))
    }

    /// Node ids of the registered, unfenced brokers, ascending.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.node_id)
            .collect()
    }

    /// The broker is registered and unfenced.
    pub fn alive(&self, node: i32) -> bool {
        self.brokers.get(&node).is_some_and(|b| !b.fenced)
    }

    /// One partition of the topic of this name.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// Every partition `node` leads, with its topic, in topic-name then partition order. Only
    /// tests ask this; the broker reads leadership partition by partition.
    #[cfg(test)]
    pub(crate) fn partitions_led_by(&self, node: i32) -> Vec<(&TopicImage, &PartitionImage)> {
        self.all_partitions()
            .filter(|(_, p)| p.leader == node)
            .collect()
    }

    /// Every partition with its topic, in topic-name then partition order.
    pub(crate) fn all_partitions(&self) -> impl Iterator<Item = (&TopicImage, &PartitionImage)> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.values().map(move |p| (t, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_without_reassignment_fields_loads() {
        let json = r#"{"partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}"#;
        let p: PartitionImage = serde_json::from_str(json).unwrap();
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
        assert!(!p.reassigning());
    }
}
