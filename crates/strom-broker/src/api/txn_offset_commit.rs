//! TxnOffsetCommit (API 28; KIP-98, KIP-447 group metadata): a transactional producer commits a group's
//! offsets as part of its transaction (`send_offsets_to_transaction`). Each topic-partition must exist; the
//! coordinator checks the group's member, static instance and generation (ILLEGAL_GENERATION,
//! UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), the offsets are written to `__consumer_offsets` as a transactional
//! batch of the producer (a fenced producer epoch is INVALID_PRODUCER_EPOCH) and stay pending, invisible to
//! OffsetFetch, until the transaction's COMMIT marker reaches that partition (ABORT drops them). v0–v5; v5 is
//! the `transaction.version` 2 commit (KIP-890 part 2): its producer sends no AddOffsetsToTxn, so the group's
//! `__consumer_offsets` partition is first added to the transaction through its transaction coordinator
//! (`txn_verification.rs`, Kafka's `addPartition` operation for TxnOffsetCommit v5); a failed add answers
//! every partition with its code as Kafka's group coordinator does (the retriable ones as
//! COORDINATOR_NOT_AVAILABLE, which producers retry after finding the coordinator again).

use std::ops::RangeInclusive;

use strom_group::{CommitOffsets, CommitPartition};
use strom_protocol::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use strom_txn::TopicPartition;

use super::offset_commit::{answer_codes, check_partitions};
use super::RequestContext;
use crate::error_code::Code;
use crate::group_coordinator::OFFSETS_TOPIC;
use crate::txn_verification::{self, Mode};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

/// The first TxnOffsetCommit version of KIP-890 part 2 (Kafka's
/// `txnOffsetCommitRequestVersionToTransactionSupportedOperation`): the offsets partition is added here.
const FIRST_ADD_PARTITION_VERSION: i16 = 5;

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
    let added = if req.partitions.is_empty() || ctx.version < FIRST_ADD_PARTITION_VERSION {
        Ok(())
    } else {
        add_offsets_partition(ctx, &request).await
    };
    let results: Vec<((), Option<Code>)> = match added {
        _ if req.partitions.is_empty() => Vec::new(),
        Err(code) => req.partitions.iter().map(|_| ((), Some(code))).collect(),
        Ok(()) => ctx
            .broker
            .groups
            .txn_commit(&req, request.producer_id.0, request.producer_epoch)
            .await
            .into_iter()
            .map(|(_, code)| ((), code))
            .collect(),
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

/// KIP-890 part 2: adds the group's `__consumer_offsets` partition to the producer's transaction (what
/// AddOffsetsToTxn did before v5). The error is the one every partition of the request is answered with:
/// the leader's append mapping ([`txn_verification::produce_error`]), then the group coordinator's
/// (NOT_ENOUGH_REPLICAS, the coordinator could not be reached or was busy, is COORDINATOR_NOT_AVAILABLE).
async fn add_offsets_partition(
    ctx: &RequestContext<'_>,
    request: &TxnOffsetCommitRequest,
) -> Result<(), Code> {
    let partition = strom_group::partition_for(
        &request.group_id,
        ctx.broker.config.offsets_topic_num_partitions,
    );
    let failed = ctx
        .broker
        .txn_verifier
        .verify(
            &ctx.image,
            request.transactional_id.0.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            vec![TopicPartition::new(OFFSETS_TOPIC, partition)],
            Mode::Add,
        )
        .await;
    match failed.first() {
        None => Ok(()),
        // TxnOffsetCommit v5 clients know TRANSACTION_ABORTABLE, as Produce v11+ ones do.
        Some((_, code)) => match txn_verification::produce_error(*code, i16::MAX).0 {
            Code::NotEnoughReplicas => Err(Code::CoordinatorNotAvailable),
            code => Err(code),
        },
    }
}
