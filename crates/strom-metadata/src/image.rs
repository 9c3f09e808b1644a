//! `MetadataImage`: the immutable view of cluster metadata that handlers read, and `apply`, the
//! one place a `MetadataRecord` changes it (with the re-validation that makes racing proposals
//! safe). Owns no I/O and no raft; the state machine calls `apply` and publishes the result.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::TopicError;
use crate::record::{ConfigResource, MetadataRecord, PartitionChange};

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

/// Kafka's internal topic names; a topic of this name is flagged `internal`.
pub(crate) const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

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

    /// Every partition `node` leads, with its topic, in topic-name then partition order.
    pub fn partitions_led_by(&self, node: i32) -> Vec<(&TopicImage, &PartitionImage)> {
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

    /// Applies one record. Checks again what the controller checked when it chose the record,
    /// because another proposal may have been applied in between; a rejected record leaves the
    /// image unchanged.
    pub(crate) fn apply(&mut self, record: &MetadataRecord) -> Result<(), TopicError> {
        match record {
            MetadataRecord::ClusterId { cluster_id } => {
                if !self.cluster_id.is_empty() && self.cluster_id != *cluster_id {
                    return Err(TopicError::InvalidRequest(format!(
                        "cluster id is already {}",
                        self.cluster_id
                    )));
                }
                self.cluster_id = cluster_id.clone();
            }
            MetadataRecord::RegisterBroker {
                node_id,
                host,
                port,
                rack,
            } => {
                self.brokers.insert(
                    *node_id,
                    BrokerImage {
                        node_id: *node_id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        fenced: false,
                    },
                );
            }
            MetadataRecord::CreateTopic {
                name,
                topic_id,
                configs,
                partitions,
            } => {
                if self.topics.contains_key(name) {
                    return Err(TopicError::TopicAlreadyExists(name.clone()));
                }
                if topic_id.is_nil() || self.topic_ids.contains_key(topic_id) {
                    return Err(TopicError::InvalidRequest(format!(
                        "topic id {topic_id} is nil or already in use"
                    )));
                }
                check_new_partitions(name, 0, partitions)?;
                let topic = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    partitions: partitions
                        .iter()
                        .map(|p| (p.partition, p.clone()))
                        .collect(),
                    configs: configs.clone(),
                    internal: INTERNAL_TOPICS.contains(&name.as_str()),
                };
                self.topic_ids.insert(*topic_id, name.clone());
                self.topics.insert(name.clone(), topic);
            }
            MetadataRecord::DeleteTopic { topic_id } => {
                let name = self
                    .topic_ids
                    .remove(topic_id)
                    .ok_or(TopicError::UnknownTopicId(*topic_id))?;
                self.topics.remove(&name);
            }
            MetadataRecord::CreatePartitions {
                topic_id,
                partitions,
            } => {
                let topic = self
                    .topic_ids
                    .get(topic_id)
                    .and_then(|name| self.topics.get_mut(name))
                    .ok_or(TopicError::UnknownTopicId(*topic_id))?;
                let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
                check_new_partitions(&topic.name, current, partitions)?;
                topic
                    .partitions
                    .extend(partitions.iter().map(|p| (p.partition, p.clone())));
            }
            MetadataRecord::AlterConfigs {
                resource,
                set,
                delete,
            } => {
                let configs = match resource {
                    ConfigResource::Topic(name) => {
                        &mut self
                            .topics
                            .get_mut(name)
                            .ok_or_else(|| TopicError::UnknownTopic(name.clone()))?
                            .configs
                    }
                    ConfigResource::Broker(id) => self.broker_configs.entry(*id).or_default(),
                };
                configs.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                for key in delete {
                    configs.remove(key);
                }
                if let ConfigResource::Broker(id) = resource {
                    if self.broker_configs.get(id).is_some_and(BTreeMap::is_empty) {
                        self.broker_configs.remove(id);
                    }
                }
            }
            MetadataRecord::FenceBroker { node_id } | MetadataRecord::UnfenceBroker { node_id } => {
                let broker = self.brokers.get_mut(node_id).ok_or_else(|| {
                    TopicError::BrokerNotAvailable(format!("Broker {node_id} is not registered."))
                })?;
                broker.fenced = matches!(record, MetadataRecord::FenceBroker { .. });
            }
            MetadataRecord::PartitionChange(change) => self.apply_partition_change(change)?,
        }
        Ok(())
    }

    /// Applies a `PartitionChange` after checking that the partition is still at the expected
    /// epoch and that the result is a consistent partition: distinct registered replicas, a
    /// non-empty isr within them, a leader from the isr that is alive if newly chosen, and
    /// adding/removing replicas that are disjoint parts of the replicas.
    fn apply_partition_change(&mut self, change: &PartitionChange) -> Result<(), TopicError> {
        let name = self
            .topic_ids
            .get(&change.topic_id)
            .ok_or(TopicError::UnknownTopicId(change.topic_id))?;
        let current = self
            .topics
            .get_mut(name)
            .and_then(|t| t.partitions.get_mut(&change.partition))
            .ok_or_else(|| TopicError::UnknownTopic(format!("{name}-{}", change.partition)))?;
        if let Some(expected) = change.expected_partition_epoch {
            if expected != current.partition_epoch {
                return Err(TopicError::InvalidUpdateVersion(format!(
                    "Partition {name}-{} is at partition epoch {}, not {expected}.",
                    change.partition, current.partition_epoch
                )));
            }
        }
        let mut next = current.clone();
        if let Some(leader) = change.leader {
            next.leader = leader;
        }
        if let Some(isr) = &change.isr {
            next.isr.clone_from(isr);
        }
        if let Some(replicas) = &change.replicas {
            next.replicas.clone_from(replicas);
        }
        if let Some(adding) = &change.adding_replicas {
            next.adding_replicas.clone_from(adding);
        }
        if let Some(removing) = &change.removing_replicas {
            next.removing_replicas.clone_from(removing);
        }
        check_partition(&self.brokers, name, current, &next)?;
        if next.leader != current.leader || next.replicas != current.replicas {
            next.leader_epoch += 1;
        }
        next.partition_epoch += 1;
        *current = next;
        Ok(())
    }
}

/// Whether `next`, the result of a change to `current`, is a consistent partition.
fn check_partition(
    brokers: &BTreeMap<i32, BrokerImage>,
    topic: &str,
    current: &PartitionImage,
    next: &PartitionImage,
) -> Result<(), TopicError> {
    let tp = format!("{topic}-{}", next.partition);
    let distinct = |list: &[i32]| list.iter().enumerate().all(|(i, r)| !list[..i].contains(r));
    let within = |list: &[i32]| list.iter().all(|r| next.replicas.contains(r));
    if next.replicas.is_empty() || !distinct(&next.replicas) {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "Partition {tp}: replicas {:?} are empty or repeat a broker.",
            next.replicas
        )));
    }
    if let Some(r) = next
        .replicas
        .iter()
        .find(|r| !current.replicas.contains(r) && !brokers.contains_key(r))
    {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "Partition {tp}: replica {r} is not a registered broker."
        )));
    }
    if next.isr.is_empty() || !distinct(&next.isr) || !within(&next.isr) {
        return Err(TopicError::InvalidRequest(format!(
            "Partition {tp}: isr {:?} is empty, repeats a broker or is not within replicas {:?}.",
            next.isr, next.replicas
        )));
    }
    if !distinct(&next.adding_replicas)
        || !distinct(&next.removing_replicas)
        || !within(&next.adding_replicas)
        || !within(&next.removing_replicas)
        || next
            .adding_replicas
            .iter()
            .any(|r| next.removing_replicas.contains(r))
    {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "Partition {tp}: adding {:?} and removing {:?} must be disjoint parts of replicas {:?}.",
            next.adding_replicas, next.removing_replicas, next.replicas
        )));
    }
    if next.leader != -1 && !next.isr.contains(&next.leader) {
        return Err(TopicError::InvalidRequest(format!(
            "Partition {tp}: leader {} is not in the isr {:?}.",
            next.leader, next.isr
        )));
    }
    if next.leader != -1
        && next.leader != current.leader
        && brokers.get(&next.leader).is_none_or(|b| b.fenced)
    {
        return Err(TopicError::BrokerNotAvailable(format!(
            "Partition {tp}: new leader {} is fenced or not registered.",
            next.leader
        )));
    }
    Ok(())
}

/// New partitions must number `current`, `current + 1`, ... and each have a replica.
fn check_new_partitions(
    topic: &str,
    current: i32,
    partitions: &[PartitionImage],
) -> Result<(), TopicError> {
    if partitions.is_empty() {
        return Err(TopicError::InvalidPartitions(format!(
            "no partitions given for topic {topic}"
        )));
    }
    for (expected, p) in (current..).zip(partitions) {
        if p.partition != expected {
            return Err(TopicError::InvalidPartitions(format!(
                "partition {} of topic {topic} is out of sequence, expected {expected}",
                p.partition
            )));
        }
        if p.replicas.is_empty() {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "partition {expected} of topic {topic} has no replicas"
            )));
        }
    }
    Ok(())
}
