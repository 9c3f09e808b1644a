//! DescribeTopicPartitions (KIP-966; the Java AdminClient's `describeTopics` since 3.7): topics by name, or
//! all of them, with each partition's leader, leader epoch, replicas, ISR and offline replicas, answered from
//! one metadata image as Kafka's `DescribeTopicPartitionsRequestHandler` and
//! `KRaftMetadataCache.describeTopicResponse` do, including the cursor pagination: topics in name order from
//! the cursor's topic (its partitions from the cursor's index), at most `response_partition_limit` partitions
//! (capped at Kafka's `max.request.partition.size.limit` default, 2000), and `next_cursor` naming the first
//! partition left out. Strom has no eligible leader replicas (KIP-966's ELR is not kept), so both ELR lists
//! are empty. Unknown topics answer UNKNOWN_TOPIC_OR_PARTITION (invalid names INVALID_TOPIC_EXCEPTION) unless
//! all topics were asked for. No authorizer: every topic carries the full operation set, as Metadata reports.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use strom_metadata::{validate_topic_name, MetadataImage, TopicImage};
use strom_protocol::kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use uuid::Uuid;

use super::{str_bytes, topic_authorized_operations, RequestContext};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one answer carries.
const MAX_REQUEST_PARTITION_SIZE_LIMIT: i32 = 2000;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = &ctx.image;
    let fetch_all = request.topics.is_empty();
    let cursor = request
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    let cursor_topic = cursor.as_ref().map(|c| c.0.as_str()).unwrap_or("");
    // Sorted and without duplicates, from the cursor's topic on (Kafka: a set, then sorted).
    let topics: BTreeSet<String> = if fetch_all {
        image
            .topics
            .keys()
            .filter(|t| t.as_str() >= cursor_topic)
            .cloned()
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|t| t.as_str() >= cursor_topic)
            .collect()
    };
    let invalid = match &cursor {
        Some((topic, _)) if !fetch_all && !topics.contains(topic) => Some(format!(
            "the topic list must contain the cursor topic {topic}"
        )),
        Some((_, index)) if *index < 0 => Some(format!("cursor partition {index} is not valid")),
        _ => None,
    };
    if let Some(reason) = invalid {
        tracing::debug!("DescribeTopicPartitions refused: {reason}");
        // Kafka's getErrorResponse: every requested topic with the error, nothing else.
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(Code::InvalidRequest.code())
                    .with_name(Some(t.name))
            })
            .collect();
        return DescribeTopicPartitionsResponse::default().with_topics(topics);
    }
    let limit = request
        .response_partition_limit
        .clamp(1, MAX_REQUEST_PARTITION_SIZE_LIMIT);
    let start_index = |topic: &str| match &cursor {
        Some((t, index)) if t == topic => *index,
        _ => 0,
    };
    describe(image, topics, start_index, limit, fetch_all)
}

/// Kafka's `describeTopicResponse`: fills the answer topic by topic until `limit` partitions are in it.
fn describe(
    image: &MetadataImage,
    topics: BTreeSet<String>,
    start_index: impl Fn(&str) -> i32,
    limit: i32,
    fetch_all: bool,
) -> DescribeTopicPartitionsResponse {
    let mut response = DescribeTopicPartitionsResponse::default();
    let mut remaining = limit;
    for name in topics {
        if remaining == 0 {
            // Every partition of the previous topics is in; the next answer starts at this topic.
            response.next_cursor = Some(cursor(&name, 0));
            break;
        }
        let Some(topic) = image.topic(&name) else {
            if !fetch_all {
                let code = if validate_topic_name(&name).is_ok() {
                    Code::UnknownTopicOrPartition
                } else {
                    Code::InvalidTopicException
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(Some(TopicName(str_bytes(&name))))
                        .with_topic_id(Uuid::nil())
                        .with_topic_authorized_operations(topic_authorized_operations()),
                );
            }
            continue;
        };
        let start = start_index(&name);
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let upper = count.min(start.saturating_add(remaining));
        let partitions: Vec<_> = (start..upper)
            .filter_map(|index| topic.partitions.get(&index))
            .map(|p| partition(image, p))
            .collect();
        remaining -= i32::try_from(partitions.len()).unwrap_or(i32::MAX);
        response.topics.push(topic_response(topic, partitions));
        if upper < count {
            response.next_cursor = Some(cursor(&name, upper));
            break;
        }
    }
    response
}

fn cursor(topic: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str_bytes(topic)))
        .with_partition_index(partition_index)
}

fn topic_response(
    topic: &TopicImage,
    partitions: Vec<DescribeTopicPartitionsResponsePartition>,
) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(topic_authorized_operations())
}

/// One partition as Kafka's `getPartitionMetadataForDescribeTopicResponse` reports it: every replica and
/// ISR member (not filtered by liveness), the leader only when it is a registered broker, and as offline
/// the replicas whose broker is unknown or fenced (Kafka's `getOfflineReplicas`; Strom has one log dir per
/// broker in use, so no replica sits in an offline dir).
fn partition(
    image: &MetadataImage,
    p: &strom_metadata::PartitionImage,
) -> DescribeTopicPartitionsResponsePartition {
    let ids = |v: &[i32]| v.iter().map(|&r| BrokerId(r)).collect::<Vec<_>>();
    let leader = if image.brokers.contains_key(&p.leader) {
        p.leader
    } else {
        -1
    };
    let offline: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
        .collect();
    DescribeTopicPartitionsResponsePartition::default()
        .with_partition_index(p.partition)
        .with_leader_id(BrokerId(leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(ids(&p.replicas))
        .with_isr_nodes(ids(&p.isr))
        .with_eligible_leader_replicas(Some(Vec::new()))
        .with_last_known_elr(Some(Vec::new()))
        .with_offline_replicas(ids(&offline))
}
