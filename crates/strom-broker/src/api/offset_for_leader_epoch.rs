//! OffsetForLeaderEpoch (KIP-101/KIP-279, KIP-320): for each partition and leader epoch, the largest epoch at
//! or below it that the leader knows and the offset where that epoch ends on the leader. Followers ask it
//! before fetching to cut a divergent tail; consumers ask it after a leader change to check their position.
//! Answered by the partition leader only, after the same `current_leader_epoch` check as Fetch.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use strom_protocol::kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};

use super::RequestContext;
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 2..=4;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(partition) = ctx.broker.replicas.get(&topic.topic.0, p.partition)
                    else {
                        return answer.with_error_code(Code::UnknownTopicOrPartition.code());
                    };
                    match partition
                        .last_offset_for_leader_epoch(p.current_leader_epoch, p.leader_epoch)
                    {
                        Ok((epoch, end_offset)) => {
                            answer.with_leader_epoch(epoch).with_end_offset(end_offset)
                        }
                        Err(e) => answer.with_error_code(error_code::partition_error(&e).code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
