//! Produce: validates and appends each partition's record batches to its log and answers with the base
//! offset. Batches are stored byte-for-byte as sent (the storage crate assigns offsets and, for
//! LogAppendTime topics, the timestamp). acks=0 gets no response at all, as in Kafka; on a single node
//! acks=1 and acks=all are the same: the append is complete when the response is built.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use strom_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{str_bytes, RequestContext};
use crate::broker::now_ms;
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 3..=12;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let request_error = if !matches!(acks, -1..=1) {
        Some(Code::InvalidRequiredAcks)
    } else if request.transactional_id.is_some() {
        // Transactions are not implemented: refuse rather than half-serve them.
        Some(Code::TransactionalIdAuthorizationFailed)
    } else {
        None
    };
    let mut appended = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        // Borrowed, not copied: this runs for every topic of every produce/fetch.
        let name: Option<&str> = if ctx.version >= 13 {
            ctx.image
                .topic_by_id(topic.topic_id)
                .map(|t| t.name.as_str())
        } else {
            Some(topic.name.0.as_str())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1);
            let fail = |code: Code| response.clone().with_error_code(code.code());
            if let Some(code) = request_error {
                partitions.push(fail(code));
                continue;
            }
            let Some(name) = name else {
                partitions.push(fail(Code::UnknownTopicId));
                continue;
            };
            let Some(partition) = ctx.broker.replicas.get(name, data.index) else {
                partitions.push(fail(Code::UnknownTopicOrPartition));
                continue;
            };
            let Some(records) = data.records.filter(|r| !r.is_empty()) else {
                partitions.push(
                    fail(Code::CorruptMessage)
                        .with_error_message(Some(str_bytes("produce request has no records"))),
                );
                continue;
            };
            let mut guard = partition.lock();
            let Some(log) = guard.as_mut() else {
                partitions.push(fail(Code::NotLeaderOrFollower));
                continue;
            };
            match log.append(&records, now_ms()) {
                Ok(info) => {
                    appended |= !info.duplicate;
                    partitions.push(
                        response
                            .with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    );
                }
                Err(e) => {
                    let code = error_code::append_error(&e);
                    partitions.push(
                        fail(code)
                            .with_log_start_offset(log.log_start_offset())
                            .with_error_message(Some(str_bytes(&e.to_string()))),
                    );
                }
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if appended {
        ctx.broker.replicas.notify_data_arrived();
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}
