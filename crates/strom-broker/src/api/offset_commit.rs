//! OffsetCommit: checks each topic-partition exists, then lets the coordinator validate generation and
//! member (a simple commit, generation -1 and no member, is allowed for groups without members) and
//! answers after the offsets are appended to `__consumer_offsets`. v2-v9 (v10 addresses topics by id and
//! is not in the codec's request range).

use std::ops::RangeInclusive;

use strom_group::{CommitOffsets, CommitPartition};
use strom_protocol::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 2..=9;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let ready = ctx
        .broker
        .ensure_offsets_topic()
        .await
        .and_then(|()| ctx.broker.groups.check_coordinator(&request.group_id));
    // (topic index, partition index) → error decided before the coordinator sees the request.
    let mut early: Vec<Vec<Option<Code>>> = Vec::with_capacity(request.topics.len());
    let mut partitions = Vec::new();
    for topic in &request.topics {
        let known = ctx.image.topic(&topic.name);
        let mut codes = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let code = if let Err(code) = ready {
                Some(code)
            } else if !known.is_some_and(|t| t.partitions.contains_key(&p.partition_index)) {
                Some(Code::UnknownTopicOrPartition)
            } else {
                partitions.push(CommitPartition {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                None
            };
            codes.push(code);
        }
        early.push(codes);
    }
    let req = CommitOffsets {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        partitions,
    };
    let mut results = if req.partitions.is_empty() {
        Vec::new()
    } else {
        ctx.broker.groups.commit(&req).await
    }
    .into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(early)
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| {
                    let code = match code {
                        Some(code) => Some(code),
                        // Results come back in the order the partitions were handed in.
                        None => results.next().and_then(|(_, code)| code),
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.map_or(0, |c| c.code()))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
