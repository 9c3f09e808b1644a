//! Replay: `MetadataImage::apply`, the one place a `MetadataRecord` changes the image (Kafka's
//! `MetadataDelta.replay`), with the re-validation that makes racing proposals safe: a record
//! chosen against an older image is checked again here and, if no longer valid, refused
//! without changing anything. The impl of `MetadataImage` is split deliberately: image.rs owns
//! the data and the read-only queries, this file the only write path, so image.rs needs nothing
//! of record.rs while record.rs uses image.rs's `PartitionImage` (a CreateTopic record carries
//! its partitions' first state). Owns no I/O; the state machine calls `apply` and publishes the
//! result.

use std::collections::BTreeMap;

use crate::error::TopicError;
use crate::image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
use crate::record::{ConfigResource, MetadataRecord, PartitionChange};

/// Kafka's internal topic names; a topic of this name is flagged `internal`.
pub(crate) const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

impl MetadataImage {
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::test_fixtures::{cluster_with_racks, kind, manual_topic};

    #[test]
    fn partition_change_apply_revalidates() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        let id = manual_topic(&mut image, "t", &[&[1, 2, 3]]);
        let base = PartitionChange {
            topic_id: id,
            partition: 0,
            ..PartitionChange::default()
        };
        let with = |f: &dyn Fn(&mut PartitionChange)| {
            let mut c = base.clone();
            f(&mut c);
            MetadataRecord::PartitionChange(c)
        };
        // An isr-only change bumps the partition epoch alone.
        image
            .apply(&with(&|c| {
                c.isr = Some(vec![1, 2]);
                c.expected_partition_epoch = Some(0);
            }))
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
        // A leader change bumps both.
        image.apply(&with(&|c| c.leader = Some(2))).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));

        image
            .apply(&MetadataRecord::FenceBroker { node_id: 3 })
            .unwrap();
        let before = image.clone();
        let bad: Vec<(MetadataRecord, &str)> = vec![
            (
                with(&|c| c.expected_partition_epoch = Some(1)),
                "InvalidUpdateVersion",
            ),
            (with(&|c| c.isr = Some(vec![])), "InvalidRequest"),
            (with(&|c| c.isr = Some(vec![2, 4])), "InvalidRequest"),
            (with(&|c| c.isr = Some(vec![2, 2])), "InvalidRequest"),
            (with(&|c| c.leader = Some(3)), "InvalidRequest"),
            (
                with(&|c| {
                    c.leader = Some(3);
                    c.isr = Some(vec![2, 3]);
                }),
                "BrokerNotAvailable",
            ),
            (
                with(&|c| c.replicas = Some(vec![2, 1, 9])),
                "InvalidReplicaAssignment",
            ),
            (
                with(&|c| c.replicas = Some(vec![2, 1, 1])),
                "InvalidReplicaAssignment",
            ),
            (
                with(&|c| c.adding_replicas = Some(vec![4])),
                "InvalidReplicaAssignment",
            ),
            (with(&|c| c.partition = 5), "UnknownTopic"),
            (with(&|c| c.topic_id = Uuid::new_v4()), "UnknownTopicId"),
            (
                MetadataRecord::FenceBroker { node_id: 9 },
                "BrokerNotAvailable",
            ),
            (
                MetadataRecord::UnfenceBroker { node_id: 9 },
                "BrokerNotAvailable",
            ),
        ];
        for (record, expected) in bad {
            let err = image.apply(&record).unwrap_err();
            assert_eq!(kind(&err), expected, "{record:?}: {err}");
            assert_eq!(image, before, "a rejected record changed the image");
        }
        // The same leader, though fenced meanwhile, does not count as a new leader.
        image
            .apply(&MetadataRecord::UnfenceBroker { node_id: 3 })
            .unwrap();
        assert!(image.alive(3));
        assert_eq!(image.live_brokers(), vec![1, 2, 3]);
        assert_eq!(image.partitions_led_by(2).len(), 1);
        assert!(image.partitions_led_by(1).is_empty());
    }
}
