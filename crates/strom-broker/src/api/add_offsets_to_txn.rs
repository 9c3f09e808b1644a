//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition (Kafka's `partitionFor(groupId)`) to the
//! producer's open transaction, so the coordinator writes its marker and the offsets sent with
//! TxnOffsetCommit become visible (or vanish) with the transaction.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use strom_txn::TopicPartition;

use super::RequestContext;
use crate::error_code;
use crate::group_coordinator::OFFSETS_TOPIC;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=4;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let partition = strom_group::partition_for(
        &request.group_id,
        ctx.broker.config.offsets_topic_num_partitions,
    );
    let partitions = BTreeSet::from([TopicPartition::new(OFFSETS_TOPIC, partition)]);
    let code = ctx
        .broker
        .txns
        .add_partitions(
            &request.transactional_id,
            request.producer_id.0,
            request.producer_epoch,
            &partitions,
            0,
        )
        .await
        .err()
        .map_or(0, |c| {
            error_code::downgrade_producer_fenced(c, ctx.version, 2).code()
        });
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
