//! Produce: validates and appends each partition's record batches to its log and answers with the base
//! offset. Only the partition's leader appends (others answer NOT_LEADER_OR_FOLLOWER). Batches are stored
//! byte-for-byte as sent (the storage crate assigns offsets, stamps the leader epoch and, for LogAppendTime
//! topics, the timestamp; a topic `compression.type` other than `producer` recompresses them). Records the
//! log refuses one by one (INVALID_RECORD, INVALID_TIMESTAMP) are named in `record_errors` from v8 (KIP-467). acks=0 gets no response at all, as in Kafka; acks=1 is answered after the leader's
//! append; acks=all first needs `min.insync.replicas` in the ISR (else NOT_ENOUGH_REPLICAS) and is answered
//! once the high watermark passes the appended records (every ISR member has them), or REQUEST_TIMED_OUT.
//! Transactional batches (KIP-98) are appended like idempotent ones; the log keeps the producer's open transaction
//! and the last stable offset. With `transaction.partition.verification.enable` (KIP-890 part 1), a transactional
//! batch of a producer with no open transaction on the partition is first checked with the transaction
//! coordinator (`txn_verification.rs`) and refused, with nothing appended, when the partition is not in the
//! transaction: INVALID_TXN_STATE before Produce v11, TRANSACTION_ABORTABLE from v11. Produce v12 is the
//! `transaction.version` 2 produce (KIP-890 part 2): its producer sends no AddPartitionsToTxn, so the leader has
//! the coordinator add the partition to the transaction instead of checking it (Kafka's `addPartition`
//! operation), whatever `transaction.partition.verification.enable` says, as without the add the partition
//! would never get its marker. A coordinator that cannot answer gives NOT_ENOUGH_REPLICAS, which clients retry.
//! The leader checks and the append are one call into the partition layer
//! (`Partition::append_records_to_leader`); what the answer waits for comes back as a `DelayedProduce`.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use strom_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use strom_storage::batch::{iter_batches, BatchHeader};
use strom_storage::AppendError;
use strom_txn::TopicPartition;

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};
use crate::partition::{AppendOrigin, DelayedProduce, PartitionError, TxnAppendCheck};
use crate::txn_verification::{self, Mode};

/// The first Produce version of KIP-890 part 2 (Kafka's `LAST_STABLE_VERSION_BEFORE_TRANSACTION_V2` + 1): the
/// leader adds the partition to the transaction.
const FIRST_ADD_PARTITION_VERSION: i16 = 12;

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
    let mut verified = match (&request_error, &request.transactional_id) {
        (None, Some(id))
            if ctx.broker.config.transaction_partition_verification_enable
                || ctx.version >= FIRST_ADD_PARTITION_VERSION =>
        {
            verify_transaction(ctx, id.0.as_str(), &request).await
        }
        _ => Verified::default(),
    };
    let request_error = request_error.or(verified.request_error);
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
            let check = match verified
                .partitions
                .remove(&(responses.len(), partitions.len()))
            {
                None => None,
                Some(Ok(check)) => Some(check),
                Some(Err((code, message))) => {
                    // Kafka's UNKNOWN_LOG_APPEND_INFO: no offsets, log start -1.
                    partitions.push(
                        fail(code)
                            .with_log_start_offset(-1)
                            .with_error_message(message.map(|m| str_bytes(&m))),
                    );
                    continue;
                }
            };
            let Some(records) = data.records.filter(|r| !r.is_empty()) else {
                // Kafka's ProduceRequest.validateRecords: INVALID_RECORD, which clients do not retry.
                partitions.push(fail(Code::InvalidRecord).with_error_message(Some(str_bytes(
                    "Produce requests with version 3 or later must have at least one record batch per partition",
                ))));
                continue;
            };
            let origin = AppendOrigin::Client { acks };
            let result = match &check {
                None => partition.append_records_to_leader(&records, origin, now_ms()),
                Some(check) => {
                    partition.append_verified_records_to_leader(&records, origin, now_ms(), check)
                }
            };
            match result {
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
                        PartitionError::NotInTransaction => failed
                            .with_log_start_offset(-1)
                            .with_error_message(Some(str_bytes(&e.to_string()))),
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

/// A partition's outcome of KIP-890 verification: what its append must check, or the code (and message) it is
/// answered with instead.
type PartitionCheck = Result<TxnAppendCheck, (Code, Option<String>)>;

/// The outcome of KIP-890 verification for one request, before anything is appended.
#[derive(Default)]
struct Verified {
    /// The whole request fails (transactional batches of more than one producer).
    request_error: Option<Code>,
    /// Per (topic index, partition index) in request order, for partitions with transactional batches.
    partitions: HashMap<(usize, usize), PartitionCheck>,
}

/// KIP-890 (Kafka's `ReplicaManager.handleProduceAppend` with
/// `maybeStartTransactionVerificationForPartitions`): finds each partition's transactional producer, starts
/// the check on every partition where that producer has no open transaction, and asks the coordinator about
/// those partitions in one call (from v12, to add them). Partitions where the producer's transaction is open need no question; a
/// request with no transactional batch costs one header read per batch.
async fn verify_transaction(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
    request: &ProduceRequest,
) -> Verified {
    let mut verified = Verified::default();
    let mut producer: Option<(i64, i16)> = None;
    // (position, partition, first transactional batch's sequence)
    let mut found = Vec::new();
    for (t, topic) in request.topic_data.iter().enumerate() {
        let name: Option<&str> = if ctx.version >= 13 {
            ctx.image
                .topic_by_id(topic.topic_id)
                .map(|t| t.name.as_str())
        } else {
            Some(topic.name.0.as_str())
        };
        for (p, data) in topic.partition_data.iter().enumerate() {
            let Some(records) = &data.records else {
                continue;
            };
            let mut first_sequence = None;
            for item in iter_batches(records) {
                let Ok((h, _)) = item else { break };
                if h.producer_id < 0 || !h.is_transactional() || h.is_control() {
                    continue;
                }
                match producer {
                    None => producer = Some((h.producer_id, h.producer_epoch)),
                    Some(pe) if pe == (h.producer_id, h.producer_epoch) => {}
                    // Kafka's InvalidPidMappingException: the whole request fails.
                    Some(_) => {
                        verified.request_error = Some(Code::InvalidProducerIdMapping);
                        return verified;
                    }
                }
                first_sequence.get_or_insert(h.base_sequence);
            }
            if let (Some(seq), Some(name)) = (first_sequence, name) {
                found.push(((t, p), TopicPartition::new(name, data.index), seq));
            }
        }
    }
    let Some((producer_id, producer_epoch)) = producer else {
        return verified;
    };
    let now = now_ms();
    let mut to_verify: Vec<(usize, usize)> = Vec::new();
    let mut asked = Vec::new();
    for (at, tp, base_sequence) in found {
        let Some(partition) = ctx.broker.replicas.get(&tp.topic, tp.partition) else {
            continue;
        };
        let started =
            partition.start_txn_verification(producer_id, producer_epoch, base_sequence, now);
        let outcome = match started {
            Ok(guard) => {
                if guard.is_some() {
                    to_verify.push(at);
                    asked.push(tp);
                }
                Ok(TxnAppendCheck {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    guard,
                })
            }
            Err(e) => Err((error_code::partition_error(&e), None)),
        };
        verified.partitions.insert(at, outcome);
    }
    if asked.is_empty() {
        return verified;
    }
    let unverified = ctx
        .broker
        .txn_verifier
        .verify(
            &ctx.image,
            transactional_id,
            producer_id,
            producer_epoch,
            asked.clone(),
            if ctx.version >= FIRST_ADD_PARTITION_VERSION {
                Mode::Add
            } else {
                Mode::Verify
            },
        )
        .await;
    for (tp, code) in unverified {
        if let Some(i) = asked.iter().position(|a| *a == tp) {
            verified.partitions.insert(
                to_verify[i],
                Err(txn_verification::produce_error(code, ctx.version)),
            );
        }
    }
    verified
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
