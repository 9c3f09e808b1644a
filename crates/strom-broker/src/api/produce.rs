//! Produce: validates and appends each partition's record batches to its log and answers with the base
//! offset. Only the partition's leader appends (others answer NOT_LEADER_OR_FOLLOWER). Batches are stored
//! byte-for-byte as sent (the storage crate assigns offsets, stamps the leader epoch and, for LogAppendTime
//! topics, the timestamp). acks=0 gets no response at all, as in Kafka; acks=1 is answered after the leader's
//! append; acks=all first needs `min.insync.replicas` in the ISR (else NOT_ENOUGH_REPLICAS) and is answered
//! once the high watermark passes the appended records (every ISR member has them), or REQUEST_TIMED_OUT.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use strom_protocol::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use strom_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};
use crate::partition::Partition;
use strom_protocol::clock::now_ms;

pub(crate) const VERSIONS: RangeInclusive<i16> = 3..=12;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let request_error = if !matches!(acks, -1..=1) {
        Some(Code::InvalidRequiredAcks)
    } else if request.transactional_id.is_some() {
        // Transactions are not implemented: refuse rather than half-serve them.
        Some(Code::TransactionalIdAuthorizationFailed)
    } else {
        None
    };
    let mut appended = false;
    // acks=all: (topic index, partition index in response, partition, required high watermark, leader epoch)
    let mut waits: Vec<(usize, usize, Arc<Partition>, i64, i32)> = Vec::new();
    // write.caching=false: the same, for the fsync before the answer.
    let mut syncs: Vec<(usize, usize, Arc<Partition>, i64, i32)> = Vec::new();
    let me = ctx.broker.node_id();
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
            let leader_epoch = {
                let state = partition.state();
                if let Err(code) = state.check_leader(-1) {
                    partitions.push(fail(code));
                    continue;
                }
                if acks == -1 && (state.isr.len() as i32) < state.min_insync_replicas {
                    partitions.push(fail(Code::NotEnoughReplicas));
                    continue;
                }
                state.leader_epoch
            };
            match log.append_as_leader(&records, now_ms(), leader_epoch.max(0)) {
                Ok(info) => {
                    appended |= !info.duplicate;
                    let log_end = log.log_end_offset();
                    let sync = !log.config().write_caching && acks != 0;
                    drop(guard);
                    partition.after_leader_append(me, log_end);
                    if sync {
                        syncs.push((
                            responses.len(),
                            partitions.len(),
                            Arc::clone(&partition),
                            info.last_offset + 1,
                            leader_epoch,
                        ));
                    }
                    if acks == -1 {
                        waits.push((
                            responses.len(),
                            partitions.len(),
                            Arc::clone(&partition),
                            info.last_offset + 1,
                            leader_epoch,
                        ));
                    }
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
    let fail =
        |responses: &mut Vec<TopicProduceResponse>, topic: usize, index: usize, code: Code| {
            if let Some(p) = responses
                .get_mut(topic)
                .and_then(|t| t.partition_responses.get_mut(index))
            {
                p.error_code = code.code();
                if code != Code::NotEnoughReplicasAfterAppend {
                    p.base_offset = -1;
                }
            }
        };
    for (topic, index, partition, required, leader_epoch) in syncs {
        if let Err(code) = partition.wait_durable(required, leader_epoch).await {
            fail(&mut responses, topic, index, code);
        }
    }
    for (topic, index, partition, required, leader_epoch) in waits {
        if let Err(code) = partition
            .wait_for_high_watermark(required, leader_epoch, timeout)
            .await
        {
            fail(&mut responses, topic, index, code);
        }
    }
    Some(ProduceResponse::default().with_responses(responses))
}
