//! Produce: validates and appends each partition's record batches to its log and answers with the base
//! offset. Only the partition's leader appends (others answer NOT_LEADER_OR_FOLLOWER). Batches are stored
//! byte-for-byte as sent (the storage crate assigns offsets, stamps the leader epoch and, for LogAppendTime
//! topics, the timestamp; a topic `compression.type` other than `producer` recompresses them). Records the
//! log refuses one by one (INVALID_RECORD, INVALID_TIMESTAMP) are named in `record_errors` from v8 (KIP-467). acks=0 gets no response at all, as in Kafka; acks=1 is answered after the leader's
//! append; acks=all first needs `min.insync.replicas` in the ISR (else NOT_ENOUGH_REPLICAS) and is answered
//! once the high watermark passes the appended records (every ISR member has them), or REQUEST_TIMED_OUT.
//! Transactional batches (KIP-98) are appended like idempotent ones; the log keeps the producer's open transaction
//! and the last stable offset. The leader checks and the append are one call into the partition layer
//! (`Partition::append_records_to_leader`); what the answer waits for comes back as a `DelayedProduce`.

use std::ops::RangeInclusive;
use std::time::Duration;

use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use strom_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use strom_storage::batch::BatchHeader;
use strom_storage::AppendError;

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};
use crate::partition::{AppendOrigin, DelayedProduce, PartitionError};

pub(crate) const VERSIONS: RangeInclusive<i16> = 3..=12;

/// A partition whose answer waits for an fsync or for the ISR, and where that answer sits in the response.
struct Pending {
    topic: usize,
    partition: usize,
    delayed: DelayedProduce,
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let request_error = if !matches!(acks, -1..=1) {
        Some(Code::InvalidRequiredAcks)
    } else if request.transactional_id.is_none() && has_transactional_records(&request) {
        // Kafka's `handleProduceRequest`: transactional batches need the request's transactional id.
        Some(Code::TransactionalIdAuthorizationFailed)
    } else {
        None
    };
    let mut appended = false;
    let mut pending: Vec<Pending> = Vec::new();
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
                // Kafka's ProduceRequest.validateRecords: INVALID_RECORD, which clients do not retry.
                partitions.push(fail(Code::InvalidRecord).with_error_message(Some(str_bytes(
                    "Produce requests with version 3 or later must have at least one record batch per partition",
                ))));
                continue;
            };
            match partition.append_records_to_leader(
                &records,
                AppendOrigin::Client { acks },
                now_ms(),
            ) {
                Ok(append) => {
                    appended |= !append.info.duplicate;
                    if let Some(delayed) = append.delayed {
                        pending.push(Pending {
                            topic: responses.len(),
                            partition: partitions.len(),
                            delayed,
                        });
                    }
                    partitions.push(
                        response
                            .with_base_offset(append.info.base_offset)
                            .with_log_append_time_ms(append.info.log_append_time)
                            .with_log_start_offset(append.info.log_start_offset),
                    );
                }
                Err(e) => {
                    let failed = fail(error_code::partition_error(&e));
                    partitions.push(match &e {
                        PartitionError::Append {
                            error,
                            log_start_offset,
                        } => {
                            let failed = failed
                                // Kafka's ReplicaManager answers -1 for the errors it expects
                                // (corrupt or too large batches), the log start offset for others.
                                .with_log_start_offset(match error {
                                    AppendError::CorruptMessage(_)
                                    | AppendError::RecordTooLarge { .. } => -1,
                                    _ => *log_start_offset,
                                })
                                .with_error_message(Some(str_bytes(&error.to_string())));
                            match error {
                                // KIP-467: v8+ names each refused record; older versions
                                // get the code alone, as from Kafka.
                                AppendError::InvalidRecord(records)
                                | AppendError::InvalidTimestamp(records)
                                    if ctx.version >= 8 =>
                                {
                                    failed.with_record_errors(
                                        records
                                            .iter()
                                            .map(|r| {
                                                BatchIndexAndErrorMessage::default()
                                                    .with_batch_index(r.batch_index)
                                                    .with_batch_index_error_message(Some(
                                                        str_bytes(&r.message),
                                                    ))
                                            })
                                            .collect(),
                                    )
                                }
                                _ => failed,
                            }
                        }
                        _ => failed,
                    });
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
    let fail = |responses: &mut Vec<TopicProduceResponse>, p: &Pending, e: PartitionError| {
        let code = error_code::partition_error(&e);
        if let Some(r) = responses
            .get_mut(p.topic)
            .and_then(|t| t.partition_responses.get_mut(p.partition))
        {
            r.error_code = code.code();
            if code != Code::NotEnoughReplicasAfterAppend {
                r.base_offset = -1;
            }
        }
    };
    // Every fsync first, then every ISR wait, as the answer needs both.
    for p in &pending {
        if let Err(e) = p.delayed.wait_durable().await {
            fail(&mut responses, p, e);
        }
    }
    for p in &pending {
        if let Err(e) = p.delayed.wait_replicated(timeout).await {
            fail(&mut responses, p, e);
        }
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// Whether the first batch of some partition is transactional (Kafka's `ProduceRequest.hasTransactionalRecords`,
/// which looks at the first batch of each partition). Reads one header per partition.
fn has_transactional_records(request: &ProduceRequest) -> bool {
    request.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records
                .as_ref()
                .and_then(|r| BatchHeader::parse(r).ok())
                .is_some_and(|h| h.is_transactional())
        })
    })
}
