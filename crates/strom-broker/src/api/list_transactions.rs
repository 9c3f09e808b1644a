//! ListTransactions: the transactions this broker coordinates, filtered by state names, producer ids,
//! (v1, KIP-994) how long they have been running and (v2, KIP-1152) a transactional id pattern; state names
//! that are no state are echoed in `unknown_state_filters`. The pattern is a regular expression that must match
//! the whole transactional id (Kafka compiles it with RE2/J and calls `matches()`; Rust's `regex` crate is the
//! same RE2 dialect); an empty or null pattern matches everything, one that does not compile is answered with
//! INVALID_REGULAR_EXPRESSION and no transactions, as Kafka's `listTransactionStates` throws.

use std::ops::RangeInclusive;

use regex::Regex;
use strom_protocol::kafka_protocol::messages::list_transactions_response::TransactionState;
use strom_protocol::kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use strom_txn::ListFilter;

use super::{str_bytes, RequestContext};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let pattern = match request
        .transactional_id_pattern
        .as_deref()
        .filter(|p| ctx.version >= 2 && !p.is_empty())
        .map(whole_match)
        .transpose()
    {
        Ok(p) => p,
        Err(_) => {
            return ListTransactionsResponse::default()
                .with_error_code(Code::InvalidRegularExpression.code())
        }
    };
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
                // The pattern is one more AND-ed filter; applied to what the others let through.
                .filter(|t| {
                    pattern
                        .as_ref()
                        .is_none_or(|p| p.is_match(&t.transactional_id))
                })
                .map(|t| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(str_bytes(&t.transactional_id)))
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_transaction_state(str_bytes(t.state.name()))
                })
                .collect(),
        )
}

/// `pattern` anchored at both ends, as Java's `Matcher.matches()` applies it. It is compiled on its own first,
/// so a pattern that only the added group would balance (`a)(b`) is refused as Kafka refuses it.
fn whole_match(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::whole_match;

    #[test]
    fn the_pattern_matches_whole_ids_and_bad_ones_are_refused() {
        let p = whole_match("app-.*").expect("compiles");
        assert!(p.is_match("app-1"));
        assert!(!p.is_match("my-app-1"));
        // An alternation stays inside the anchors.
        let p = whole_match("a|b").expect("compiles");
        assert!(p.is_match("b"));
        assert!(!p.is_match("ab"));
        assert!(whole_match("app-(").is_err());
        assert!(whole_match("[z-a]").is_err());
        assert!(whole_match("a)(b").is_err());
    }
}
