//! ListPartitionReassignments (KIP-455): the reassignments in progress, read from this request's
//! metadata image (every broker has the same image, so no forwarding to the controller is needed).
//! Topics or partitions that are unknown or not reassigning are left out, as Kafka does.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use strom_metadata::{PartitionImage, TopicImage};
use strom_protocol::kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use strom_protocol::kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::{str_bytes, RequestContext};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=0;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let topics = match request.topics {
        // Null topics: every reassignment, in topic-name then partition order.
        None => ctx
            .image
            .topics
            .values()
            .filter_map(|t| ongoing(t, t.partitions.values()))
            .collect(),
        Some(wanted) => {
            // A topic may be named more than once; its partition lists are merged, and it is
            // answered once, where it was first named.
            let mut order: Vec<&str> = Vec::new();
            let mut indexes: HashMap<&str, HashSet<i32>> = HashMap::new();
            for w in &wanted {
                let name = w.name.0.as_str();
                indexes
                    .entry(name)
                    .or_insert_with(|| {
                        order.push(name);
                        HashSet::new()
                    })
                    .extend(w.partition_indexes.iter().copied());
            }
            order
                .into_iter()
                .filter_map(|name| {
                    let topic = ctx.image.topic(name)?;
                    let wanted = indexes.get(name)?;
                    ongoing(
                        topic,
                        topic
                            .partitions
                            .values()
                            .filter(|p| wanted.contains(&p.partition)),
                    )
                })
                .collect()
        }
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// The topic's entry listing those of `partitions` that are reassigning; `None` when none is.
fn ongoing<'a>(
    topic: &TopicImage,
    partitions: impl Iterator<Item = &'a PartitionImage>,
) -> Option<OngoingTopicReassignment> {
    let ids = |v: &[i32]| v.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let partitions: Vec<OngoingPartitionReassignment> = partitions
        .filter(|p| p.reassigning())
        .map(|p| {
            OngoingPartitionReassignment::default()
                .with_partition_index(p.partition)
                .with_replicas(ids(&p.replicas))
                .with_adding_replicas(ids(&p.adding_replicas))
                .with_removing_replicas(ids(&p.removing_replicas))
        })
        .collect();
    (!partitions.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(str_bytes(&topic.name)))
            .with_partitions(partitions)
    })
}
