//! Error enums of the storage crate, named for what happened.
//!
//! Only strom-broker turns these into Kafka error codes (exhaustive matches, no `_` arm), so adding
//! a variant here is a deliberate, compile-breaking change for the broker.

use thiserror::Error;

/// Why [`crate::PartitionLog::append`], [`crate::PartitionLog::append_as_leader`] or
/// [`crate::PartitionLog::append_replicated`] refused batches. Nothing was written when this is
/// returned (except for `Io`, which may follow a partial write that recovery will clean up).
#[derive(Debug, Error)]
pub enum AppendError {
    /// Bad CRC, bad or truncated length, records count / `lastOffsetDelta` inconsistent in a
    /// replicated batch, or an uncompressed records section that does not parse. Kafka
    /// `CORRUPT_MESSAGE`.
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    /// Records the log refuses one by one (KIP-467), e.g. keyless records in a compacted log: each
    /// entry is the record's index within its batch and Kafka's message for it. Kafka
    /// `INVALID_RECORD`, with the entries as the response's `record_errors`; the batch is refused
    /// whole, as Kafka does. Empty for a client batch refused whole: records count below one or
    /// not matching `lastOffsetDelta` (Kafka's `LogValidator`).
    #[error("{}", .0.first().map(|e| e.message.as_str()).unwrap_or("invalid record"))]
    InvalidRecord(Vec<RecordError>),
    /// Batch magic other than 2. Kafka `UNSUPPORTED_FOR_MESSAGE_FORMAT`.
    #[error("unsupported record batch magic {0}; only magic 2 is supported")]
    UnsupportedMagic(i8),
    /// One batch larger than `max.message.bytes`. Kafka `MESSAGE_TOO_LARGE`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: u32 },
    /// Records whose timestamps the log refuses (`message.timestamp.before.max.ms` /
    /// `message.timestamp.after.max.ms` with CreateTime, or a producer's LogAppendTime batch),
    /// named as in [`AppendError::InvalidRecord`] (other refused records of the batch included, as
    /// Kafka does). Kafka `INVALID_TIMESTAMP` with `record_errors`.
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp(Vec<RecordError>),
    /// Idempotent producer sequence gap or reorder. Kafka `OUT_OF_ORDER_SEQUENCE_NUMBER`.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// Batch from a fenced (older) producer epoch. Kafka `INVALID_PRODUCER_EPOCH`.
    #[error("producer {producer_id} epoch {got} is older than current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    /// A non-transactional batch from a producer with an open transaction in this partition.
    /// Kafka `INVALID_TXN_STATE`.
    #[error("producer {producer_id} has an open transaction: expected a transactional batch")]
    InvalidTxnState { producer_id: i64 },
    /// A transaction marker from an older transaction coordinator than the last marker's.
    /// Kafka `TRANSACTION_COORDINATOR_FENCED`.
    #[error("marker for producer {producer_id} has coordinator epoch {got}, older than {current}")]
    TransactionCoordinatorFenced {
        producer_id: i64,
        current: i32,
        got: i32,
    },
    /// A client sent a control batch, which only the broker writes (Kafka's `LogValidator`).
    /// Kafka `INVALID_RECORD`.
    #[error("clients are not allowed to write control records")]
    ControlBatchFromClient,
    /// Replication only: the leader's batches do not continue this log. `expected` is the offset
    /// the offending batch had to start at (the log end offset for the first batch, the previous
    /// batch's last offset + 1 for later ones; compacted logs accept a forward gap), `actual` is
    /// its base offset. The follower must truncate (or re-fetch) before appending. No Kafka error
    /// code of its own (Kafka `UnexpectedAppendOffsetException`).
    #[error("replicated batch starts at offset {actual}, expected {expected}")]
    OffsetMismatch { expected: i64, actual: i64 },
    #[error("i/o error appending to the log: {0}")]
    Io(#[from] std::io::Error),
}

/// One refused record of [`AppendError::InvalidRecord`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index within its batch (Kafka's `batch_index`).
    pub batch_index: i32,
    /// Why it was refused (Kafka's `batch_index_error_message`).
    pub message: String,
}

/// Why [`crate::PartitionLog::read`] could not serve a fetch.
#[derive(Debug, Error)]
pub enum ReadError {
    /// Kafka `OFFSET_OUT_OF_RANGE`.
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error("i/o error reading the log: {0}")]
    Io(#[from] std::io::Error),
}

/// Failures of opening, flushing, retention and the other maintenance operations.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// On-disk state that cannot be trusted or repaired automatically, e.g. an unreadable
    /// log-start-offset checkpoint.
    #[error("corrupt storage state: {0}")]
    Corrupt(String),
    /// [`crate::PartitionLog::truncate_to`] below the log start offset; the caller wants
    /// [`crate::PartitionLog::truncate_fully_and_start_at`] instead.
    #[error("cannot truncate to offset {offset}: below log start offset {log_start}")]
    TruncateBelowLogStart { offset: i64, log_start: i64 },
}

impl From<StorageError> for std::io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(io) => io,
            StorageError::Corrupt(msg) => std::io::Error::new(std::io::ErrorKind::InvalidData, msg),
            e @ StorageError::TruncateBelowLogStart { .. } => {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            }
        }
    }
}
