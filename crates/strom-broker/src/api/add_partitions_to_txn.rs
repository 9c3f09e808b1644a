//! AddPartitionsToTxn: v0–v3 from producers (one transaction in the request's top-level fields), v4+
//! batched from brokers, where `verify_only` (KIP-890 part 1) asks whether the partitions are already in
//! the open transaction (TRANSACTION_ABORTABLE for those that are not) without adding them, and otherwise
//! adds them for a producer on the KIP-890 part 2 protocol (`txn_verification.rs`). A transaction
//! naming an unknown partition gets UNKNOWN_TOPIC_OR_PARTITION for it and OPERATION_NOT_ATTEMPTED for the
//! rest, as in Kafka; otherwise every partition gets the coordinator's answer.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use strom_protocol::kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use strom_protocol::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName,
};
use strom_txn::TopicPartition;

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version < 4 {
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(request.v3_and_below_transactional_id)
            .with_producer_id(request.v3_and_below_producer_id)
            .with_producer_epoch(request.v3_and_below_producer_epoch)
            .with_topics(request.v3_and_below_topics);
        let result = one_transaction(ctx, txn).await;
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(result.topic_results);
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for txn in request.transactions {
        results.push(one_transaction(ctx, txn).await);
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

async fn one_transaction(
    ctx: &RequestContext<'_>,
    txn: AddPartitionsToTxnTransaction,
) -> AddPartitionsToTxnResult {
    let id = txn.transactional_id.0.to_string();
    let mut unknown = BTreeSet::new();
    let mut known = BTreeSet::new();
    for topic in &txn.topics {
        let image_topic = ctx.image.topic(&topic.name);
        for &p in &topic.partitions {
            let tp = TopicPartition::new(topic.name.0.as_str(), p);
            if image_topic.is_some_and(|t| t.partitions.contains_key(&p)) {
                known.insert(tp);
            } else {
                unknown.insert(tp);
            }
        }
    }
    let codes: Vec<(TopicPartition, Option<Code>)> = if !unknown.is_empty() {
        unknown
            .into_iter()
            .map(|tp| (tp, Some(Code::UnknownTopicOrPartition)))
            .chain(
                known
                    .into_iter()
                    .map(|tp| (tp, Some(Code::OperationNotAttempted))),
            )
            .collect()
    } else if txn.verify_only {
        match ctx
            .broker
            .txns
            .verify_partitions(&id, txn.producer_id.0, txn.producer_epoch, &known)
        {
            Ok(codes) => codes,
            Err(code) => known.into_iter().map(|tp| (tp, Some(code))).collect(),
        }
    } else {
        let code = ctx
            .broker
            .txns
            .add_partitions(
                &id,
                txn.producer_id.0,
                txn.producer_epoch,
                &known,
                // v4+ comes from partition leaders only, and without VerifyOnly only for KIP-890 part 2
                // producers (Produce v12, TxnOffsetCommit v5): the transaction is a transaction-version-2 one.
                if ctx.version >= 4 { 2 } else { 0 },
            )
            .await
            .err()
            .map(|c| error_code::downgrade_producer_fenced(c, ctx.version, 2));
        known.into_iter().map(|tp| (tp, code)).collect()
    };
    AddPartitionsToTxnResult::default()
        .with_transactional_id(txn.transactional_id)
        .with_topic_results(by_topic(&txn.topics, codes))
}

/// Per-partition answers grouped by topic, topics in request order.
fn by_topic(
    asked: &[AddPartitionsToTxnTopic],
    codes: Vec<(TopicPartition, Option<Code>)>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut topics: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for topic in asked {
        if topics.iter().any(|t| t.name == topic.name) {
            continue;
        }
        let results = codes
            .iter()
            .filter(|(tp, _)| tp.topic == topic.name.0.as_str())
            .map(|(tp, code)| {
                AddPartitionsToTxnPartitionResult::default()
                    .with_partition_index(tp.partition)
                    .with_partition_error_code(code.map_or(0, |c| c.code()))
            })
            .collect();
        topics.push(
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(str_bytes(&topic.name)))
                .with_results_by_partition(results),
        );
    }
    topics
}
