//! ListTransactions: the transactions this broker coordinates, filtered by state names, producer ids and
//! (v1) how long they have been running; state names that are no state are echoed in
//! `unknown_state_filters`. v2's transactional id pattern (a Java regex) is not served.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::list_transactions_response::TransactionState;
use strom_protocol::kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use strom_txn::ListFilter;

use super::{str_bytes, RequestContext};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=1;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let filter = ListFilter {
        states: request
            .state_filters
            .iter()
            .map(|s| s.to_string())
            .collect(),
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
        min_duration_ms: if ctx.version >= 1 {
            request.duration_filter
        } else {
            -1
        },
    };
    let (listed, unknown) = ctx.broker.txns.list(&filter);
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.iter().map(|s| str_bytes(s)).collect())
        .with_transaction_states(
            listed
                .into_iter()
                .map(|t| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(str_bytes(&t.transactional_id)))
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_transaction_state(str_bytes(t.state.name()))
                })
                .collect(),
        )
}
