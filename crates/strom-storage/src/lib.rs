//! strom-storage: the partition log on local disk.
//!
//! Owns segment files (`<base offset>.log` holding Kafka v2 record batches byte-for-byte), their
//! sparse offset and time indexes, crash recovery, retention, log compaction (`cleaner.rs`),
//! DeleteRecords, idempotent-producer state, the storage half of replication (leader epoch
//! stamping, byte-for-byte follower appends, the leader epoch cache in `epoch.rs`, truncation)
//! and the per-data-dir [`LogManager`]. It knows nothing of the network or of Kafka requests:
//! callers hand it directories, byte batches, offsets and timestamps (`now_ms` is always passed
//! in; the crate reads no clock except file mtimes as a retention fallback). Record batches are
//! decompressed (kafka-protocol's codecs) only to check records of compacted logs, timestamps a
//! batch header cannot vouch for, to recompress into a topic's `compression.type`
//! (`validator.rs`), and to rewrite batches when cleaning.
//!
//! Not here: the replication protocol, ISR and high watermarks (the caller passes `max_offset` to
//! reads and decides where a follower truncates), the transaction coordinator (this crate keeps
//! the partition side: producer state with open transactions, markers, the LSO and the
//! aborted-transaction index), and the mapping of errors to Kafka error codes
//! (strom-broker's `error_code.rs`).

pub mod batch;
mod checkpoint;
mod cleaner;
mod config;
mod epoch;
mod error;
mod index;
mod log;
mod manager;
mod producer_state;
mod segment;
mod txn_index;
mod validator;

pub use cleaner::CompactionStats;
pub use config::{CleanupPolicy, Compression, LogConfig, TimestampType};
pub use error::{AppendError, ReadError, RecordError, StorageError};
pub use index::TimestampOffset;
pub use log::{AppendInfo, FetchData, FetchSlice, PartitionLog, SyncHandle};
pub use manager::{LogManager, PartitionDir};
pub use producer_state::ActiveProducer;
pub use segment::FileSlice;
pub use txn_index::AbortedTxn;
