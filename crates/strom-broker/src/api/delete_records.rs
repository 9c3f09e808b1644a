//! DeleteRecords: moves a partition's log start offset forward (offset -1 means the high watermark);
//! segments entirely below it are deleted. Answers with the new low watermark.

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
                    let mut guard = partition.lock();
                    let Some(log) = guard.as_mut() else {
                        return result.with_error_code(Code::NotLeaderOrFollower.code());
                    };
                    let high_watermark = log.log_end_offset();
                    let offset = if p.offset == -1 {
                        high_watermark
                    } else {
                        p.offset
                    };
                    if offset < 0 || offset > high_watermark {
                        return result
                            .with_error_code(Code::OffsetOutOfRange.code())
                            .with_low_watermark(log.log_start_offset());
                    }
                    match log.delete_records_before(offset) {
                        Ok(low) => result.with_low_watermark(low),
                        Err(e) => result.with_error_code(error_code::storage_error(&e).code()),
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
