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
    let asked = request
        .topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| CommitPartition {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                })
                .collect()
        })
        .collect();
    let (early, partitions) = check_partitions(ctx, ready, asked);
    let req = CommitOffsets {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        partitions,
    };
    let results = if req.partitions.is_empty() {
        Vec::new()
    } else {
        ctx.broker.groups.commit(&req).await
    };
    let topics = request
        .topics
        .into_iter()
        .zip(answer_codes(early, results))
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| {
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

/// The checks OffsetCommit and TxnOffsetCommit make before the coordinator sees a partition: the coordinator
/// is ready (`ready`) and the topic-partition exists. `asked` holds each request topic's partitions; returns
/// each partition's early error (request order) and the partitions left for the coordinator.
pub(super) fn check_partitions(
    ctx: &RequestContext<'_>,
    ready: Result<(), Code>,
    asked: Vec<Vec<CommitPartition>>,
) -> (Vec<Vec<Option<Code>>>, Vec<CommitPartition>) {
    let mut early = Vec::with_capacity(asked.len());
    let mut partitions = Vec::new();
    for topic in asked {
        let known = topic.first().and_then(|p| ctx.image.topic(&p.topic));
        let mut codes = Vec::with_capacity(topic.len());
        for p in topic {
            codes.push(if let Err(code) = ready {
                Some(code)
            } else if !known.is_some_and(|t| t.partitions.contains_key(&p.partition)) {
                Some(Code::UnknownTopicOrPartition)
            } else {
                partitions.push(p);
                None
            });
        }
        early.push(codes);
    }
    (early, partitions)
}

/// Each partition's answer, in request order: its early error, else the coordinator's (whose results come
/// back in the order the partitions were handed in).
pub(super) fn answer_codes<T>(
    early: Vec<Vec<Option<Code>>>,
    results: Vec<(T, Option<Code>)>,
) -> Vec<Vec<Option<Code>>> {
    let mut results = results.into_iter();
    early
        .into_iter()
        .map(|codes| {
            codes
                .into_iter()
                .map(|code| code.or_else(|| results.next().and_then(|(_, c)| c)))
                .collect()
        })
        .collect()
}
