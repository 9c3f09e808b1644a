//! Test fixtures shared by the unit tests of the controller, the image and its replay: small
//! clusters, hand-made topics, and shorthands to read a partition or an error kind. Built only
//! on `MetadataImage` and `MetadataRecord`, never on the controller functions under test, so
//! that no test module and this file depend on each other.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::error::TopicError;
use crate::image::{MetadataImage, PartitionImage};
use crate::record::{MetadataRecord, PartitionChange};

/// Registered, unfenced brokers with these ids and no rack.
pub(crate) fn image_with_brokers(ids: &[i32]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for &id in ids {
        image
            .apply(&MetadataRecord::RegisterBroker {
                node_id: id,
                host: "localhost".to_string(),
                port: 9092 + id,
                rack: None,
            })
            .unwrap();
    }
    image
}

/// Registered, unfenced brokers with these ids and racks.
pub(crate) fn cluster_with_racks(brokers: &[(i32, Option<&str>)]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for &(id, rack) in brokers {
        image
            .apply(&MetadataRecord::RegisterBroker {
                node_id: id,
                host: "localhost".to_string(),
                port: 9092 + id,
                rack: rack.map(str::to_string),
            })
            .unwrap();
    }
    image
}

/// The name of a `TopicError` variant, so tables of cases can name the expected error.
pub(crate) fn kind(e: &TopicError) -> &'static str {
    match e {
        TopicError::InvalidTopic(_) => "InvalidTopic",
        TopicError::TopicAlreadyExists(_) => "TopicAlreadyExists",
        TopicError::UnknownTopic(_) => "UnknownTopic",
        TopicError::UnknownTopicId(_) => "UnknownTopicId",
        TopicError::InvalidPartitions(_) => "InvalidPartitions",
        TopicError::InvalidReplicationFactor(_) => "InvalidReplicationFactor",
        TopicError::InvalidReplicaAssignment(_) => "InvalidReplicaAssignment",
        TopicError::InvalidConfig(_) => "InvalidConfig",
        TopicError::InvalidRequest(_) => "InvalidRequest",
        TopicError::InvalidUpdateVersion(_) => "InvalidUpdateVersion",
        TopicError::FencedLeaderEpoch(_) => "FencedLeaderEpoch",
        TopicError::NotLeaderOrFollower(_) => "NotLeaderOrFollower",
        TopicError::IneligibleReplica(_) => "IneligibleReplica",
        TopicError::ElectionNotNeeded(_) => "ElectionNotNeeded",
        TopicError::PreferredLeaderNotAvailable(_) => "PreferredLeaderNotAvailable",
        TopicError::EligibleLeadersNotAvailable(_) => "EligibleLeadersNotAvailable",
        TopicError::NoReassignmentInProgress(_) => "NoReassignmentInProgress",
        TopicError::BrokerNotAvailable(_) => "BrokerNotAvailable",
    }
}

/// A topic where partition i has `replicas[i]` (replication factors may differ, which
/// CreateTopics would refuse), leader the first live replica, isr the live ones (as the
/// controller's topic creation builds them).
pub(crate) fn manual_topic(image: &mut MetadataImage, name: &str, replicas: &[&[i32]]) -> Uuid {
    let topic_id = Uuid::new_v4();
    let partitions = (0..)
        .zip(replicas)
        .map(|(partition, replicas)| {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|r| image.alive(*r))
                .collect();
            let leader = *isr.first().expect("a partition needs a live replica");
            PartitionImage {
                partition,
                replicas: replicas.to_vec(),
                isr,
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            }
        })
        .collect();
    let record = MetadataRecord::CreateTopic {
        name: name.to_string(),
        topic_id,
        configs: BTreeMap::new(),
        partitions,
    };
    image.apply(&record).unwrap();
    topic_id
}

/// Applies every record; each must apply.
pub(crate) fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for record in records {
        image
            .apply(record)
            .unwrap_or_else(|e| panic!("{record:?}: {e}"));
    }
}

/// (leader, isr, replicas) of one partition.
pub(crate) fn state(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
) -> (i32, Vec<i32>, Vec<i32>) {
    let p = image.partition(topic, partition).unwrap();
    (p.leader, p.isr.clone(), p.replicas.clone())
}

/// Sets a partition's leader and isr without the controller's checks of who is eligible.
pub(crate) fn set_isr(
    image: &mut MetadataImage,
    topic: &str,
    partition: i32,
    leader: i32,
    isr: &[i32],
) {
    let topic_id = image.topic(topic).unwrap().topic_id;
    image
        .apply(&MetadataRecord::PartitionChange(PartitionChange {
            topic_id,
            partition,
            leader: Some(leader),
            isr: Some(isr.to_vec()),
            ..PartitionChange::default()
        }))
        .unwrap();
}

/// The `PartitionChange` in `record`.
pub(crate) fn change(record: &MetadataRecord) -> &PartitionChange {
    match record {
        MetadataRecord::PartitionChange(c) => c,
        other => panic!("not a PartitionChange: {other:?}"),
    }
}
