//! Strom's transaction coordinator (KIP-98, KIP-360, KIP-890) as a pure state machine: Kafka's
//! `TransactionCoordinator` with the cache half of its `TransactionStateManager`.
//!
//! It opens no sockets and reads no clock: every operation takes `now_ms`, and a change of a transaction is
//! two steps, as in Kafka — an operation *prepares* a [`TxnTransit`] (the metadata to persist in
//! `__transaction_state`; the transaction is then blocked for others by its pending state) and the broker,
//! once the record is replicated, *completes* it ([`TxnCoordinator::complete`]) or drops it
//! ([`TxnCoordinator::fail`]). The broker owns the wire, the clock and timers, the appends, the load of a
//! partition at leadership ([`TxnCoordinator::replay`]), producer id allocation (handed in as a closure) and
//! the WriteTxnMarkers sends (Kafka's `TransactionMarkerChannelManager`).
//!
//! Layers, importing downwards only: `coordinator.rs` (the API operations) → `metadata.rs` (one
//! transaction's state machine, Kafka's `TransactionMetadata`) → `record.rs` (Kafka's `TransactionLogKey` /
//! `TransactionLogValue` layouts and `partition_for`) → `state.rs` (states, partitions, outcomes) and
//! `error.rs`.

mod coordinator;
pub mod error;
mod metadata;
pub mod record;
mod state;

pub use coordinator::{
    EndTxnPlan, InitPlan, ListFilter, MarkerPlan, ProducerIdAndEpoch, TimedOut, TxnConfig,
    TxnCoordinator, TxnDescription, TxnListing,
};
pub use error::{Error, RecordError};
pub use metadata::{TxnMetadata, TxnTransit};
pub use record::{partition_for, TxnRecord, TxnValue};
pub use state::{TopicPartition, TxnResult, TxnState};

/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
