//! DescribeTransactions: the state, producer, timeout, start time and partitions of each named transactional
//! id this broker coordinates (NOT_COORDINATOR for the others, TRANSACTIONAL_ID_NOT_FOUND for unknown ones).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState,
};
use strom_protocol::kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{str_bytes, RequestContext};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=0;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default().with_transactional_id(id.clone());
            match ctx.broker.txns.describe(&id) {
                Err(code) => state.with_error_code(code.code()),
                Ok(d) => {
                    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for tp in &d.partitions {
                        topics.entry(&tp.topic).or_default().push(tp.partition);
                    }
                    state
                        .with_transaction_state(str_bytes(d.state.name()))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_timestamp)
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(t, partitions)| {
                                    TopicData::default()
                                        .with_topic(TopicName(str_bytes(t)))
                                        .with_partitions(partitions)
                                })
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
