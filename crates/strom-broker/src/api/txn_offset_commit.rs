//! TxnOffsetCommit (API 28; KIP-98, KIP-447 group metadata): a transactional producer commits a group's
//! offsets as part of its transaction (`send_offsets_to_transaction`). Each topic-partition must exist; the
//! coordinator checks the group's member, static instance and generation (ILLEGAL_GENERATION,
//! UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), the offsets are written to `__consumer_offsets` as a transactional
//! batch of the producer (a fenced producer epoch is INVALID_PRODUCER_EPOCH) and stay pending, invisible to
//! OffsetFetch, until the transaction's COMMIT marker reaches that partition (ABORT drops them). v0–v5.

use std::ops::RangeInclusive;

use strom_group::{CommitOffsets, CommitPartition};
use strom_protocol::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::offset_commit::{answer_codes, check_partitions};
use super::RequestContext;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
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
        // Before v3 there is no group metadata: generation -1, no member (no KIP-447 check).
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        partitions,
    };
    let results = if req.partitions.is_empty() {
        Vec::new()
    } else {
        ctx.broker
            .groups
            .txn_commit(&req, request.producer_id.0, request.producer_epoch)
            .await
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
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.map_or(0, |c| c.code()))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
