//! OffsetDelete: removes committed offsets of a group for partitions no member subscribes to
//! (GROUP_SUBSCRIBED_TO_TOPIC otherwise, from the members' ConsumerProtocolSubscription), tombstoning them
//! in `__consumer_offsets`.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=0;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let mut wanted = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            wanted.push((t.name.to_string(), p.partition_index));
        }
    }
    let outcome = ctx.broker.groups.with(|c, _| {
        (
            c.delete_offsets(&request.group_id, &wanted),
            strom_group::Effects::default(),
        )
    });
    let (results, records) = match outcome {
        Ok(r) => r,
        Err(e) => {
            return OffsetDeleteResponse::default()
                .with_error_code(error_code::group_error(&e).code())
        }
    };
    let persisted = if records.is_empty() {
        Ok(())
    } else {
        ctx.broker.groups.persist_and_replay(&records).await
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let known = ctx.image.topic(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = results.next();
                    let code =
                        if !known.is_some_and(|k| k.partitions.contains_key(&p.partition_index)) {
                            Some(Code::UnknownTopicOrPartition)
                        } else {
                            match result.and_then(|r| r.error) {
                                Some(e) => Some(error_code::group_error(&e)),
                                None => persisted.err(),
                            }
                        };
                    partition(p.partition_index, code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

fn partition(partition_index: i32, code: Option<Code>) -> OffsetDeleteResponsePartition {
    OffsetDeleteResponsePartition::default()
        .with_partition_index(partition_index)
        .with_error_code(code.map_or(0, |c| c.code()))
}
