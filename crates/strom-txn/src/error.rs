//! What can go wrong in the transaction coordinator, named for what happened. Turned into Kafka error codes
//! only by `strom-broker/src/error_code.rs`; this crate knows no codes.

use thiserror::Error;

/// A transactional request refused. Each variant is one Kafka error the coordinator answers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error("transaction timeout {timeout_ms} ms is outside (0, {max}]")]
    InvalidTransactionTimeout { timeout_ms: i32, max: i32 },
    /// Another state change of this transaction is in flight, or its markers are still being written.
    #[error("a concurrent transaction state change is in progress")]
    ConcurrentTransactions,
    /// A newer producer with the same transactional id has been initialised (a zombie).
    #[error("producer fenced by a newer epoch")]
    ProducerFenced,
    #[error("producer id does not match the transactional id's")]
    InvalidProducerIdMapping,
    #[error("operation not valid in transaction state {0}")]
    InvalidTxnState(&'static str),
    #[error("no producer id could be allocated")]
    ProducerIdUnavailable,
}

/// A `__transaction_state` record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record ends early")]
    Truncated,
    #[error("unknown {what} version {version}")]
    UnknownVersion { what: &'static str, version: i16 },
    #[error("unknown transaction state id {0}")]
    UnknownState(i8),
    #[error("string is not UTF-8")]
    BadString,
}
