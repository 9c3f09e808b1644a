//! DescribeProducers (KIP-664): per partition, the producers its log knows (id, epoch, last sequence, last
//! timestamp, coordinator epoch of the last marker, first offset of the open transaction), as Kafka's
//! `handleDescribeProducersRequest` answers it: an invalid topic name is INVALID_TOPIC_EXCEPTION, a topic the
//! cluster does not have UNKNOWN_TOPIC_OR_PARTITION (for every requested partition), a partition of a known
//! topic that this broker does not host NOT_LEADER_OR_FOLLOWER, and an unknown partition of a known topic
//! UNKNOWN_TOPIC_OR_PARTITION. Any replica answers, leader or follower (Kafka reads the local log); admin clients
//! ask the leader. Not a transaction API: Kafka serves it whatever the transaction state (`kafka-transactions.sh
//! describe-producers` and `find-hanging` use it).

use std::ops::RangeInclusive;

use strom_metadata::validate_topic_name;
use strom_protocol::kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use strom_protocol::kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};

use super::{str_bytes, RequestContext};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=0;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let topic_error = match validate_topic_name(&name) {
                Err(e) => Some((Code::InvalidTopicException, Some(e.to_string()))),
                Ok(()) if ctx.image.topic(&name).is_none() => {
                    Some((Code::UnknownTopicOrPartition, None))
                }
                Ok(()) => None,
            };
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    if let Some((code, message)) = &topic_error {
                        return response
                            .with_error_code(code.code())
                            .with_error_message(message.as_deref().map(str_bytes));
                    }
                    partition_state(ctx, &name, index, response)
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// One partition of a known topic (Kafka's `ReplicaManager.activeProducerState`).
fn partition_state(
    ctx: &RequestContext<'_>,
    topic: &str,
    index: i32,
    response: PartitionResponse,
) -> PartitionResponse {
    let Some(partition) = ctx.broker.replicas.get(topic, index) else {
        let known = ctx
            .image
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&index));
        let code = if known {
            // The topic has it, but not here: the client refreshes its metadata and asks the leader.
            Code::NotLeaderOrFollower
        } else {
            Code::UnknownTopicOrPartition
        };
        return response.with_error_code(code.code());
    };
    match partition.active_producers() {
        // Closed (being deleted or shut down): Kafka's answer for a partition without a log.
        None => response.with_error_code(Code::NotLeaderOrFollower.code()),
        Some(producers) => response.with_active_producers(
            producers
                .into_iter()
                .map(|p| {
                    ProducerState::default()
                        .with_producer_id(ProducerId(p.producer_id))
                        .with_producer_epoch(i32::from(p.producer_epoch))
                        .with_last_sequence(p.last_sequence)
                        .with_last_timestamp(p.last_timestamp)
                        .with_coordinator_epoch(p.coordinator_epoch)
                        .with_current_txn_start_offset(p.current_txn_start_offset)
                })
                .collect(),
        ),
    }
}
