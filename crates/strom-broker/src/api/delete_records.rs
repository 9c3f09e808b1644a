//! DeleteRecords: moves a partition's log start offset forward (offset -1 means the high watermark, as in
//! Kafka); segments entirely below it are deleted (`Partition::delete_records`: leader only, not past the high
//! watermark, not on a compact-only topic). Answers with the new low watermark, or an error and -1.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use strom_protocol::kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(partition) = ctx.broker.replicas.get(&topic.name.0, p.partition_index)
                    else {
                        return result.with_error_code(Code::UnknownTopicOrPartition.code());
                    };
                    match partition.delete_records(p.offset) {
                        Ok(low) => result.with_low_watermark(low),
                        // Kafka answers every error with low watermark -1.
                        Err(e) => result.with_error_code(error_code::partition_error(&e).code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
