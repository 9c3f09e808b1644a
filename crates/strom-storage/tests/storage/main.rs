//! Integration tests of strom-storage, one binary. Index of modules:
//! - `common`: batch builders (kafka-protocol encoder + hand-made corrupt batches) and log helpers.
//! - `append_read`: offsets, multi-segment reads, fetch limits, validation failures, LogAppendTime.
//! - `timestamps`: ListOffsets by timestamp and MAX_TIMESTAMP.
//! - `producer`: idempotent-producer dedup / sequence / epoch rules and their survival of restarts.
//! - `recovery`: torn and corrupt tails after an unclean shutdown, index rebuilds.
//! - `retention`: time and size retention, DeleteRecords, flush policy.
//! - `manager`: LogManager dir handling, clean-shutdown marker, partition deletion.
//! - `compaction`: log cleaner: latest record per key, tombstones, compressed batches, crash safety.
//! - `prop`: property test of append / read from random offsets.
//! - `replication`: leader epoch stamping and cache, follower appends, truncation.
//! - `transactions`: transactional batches, markers, the LSO, the aborted-transaction index and
//!   their survival of restarts, recovery, replication and truncation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::type_complexity,
    unreachable_pub
)]

mod append_read;
mod common;
mod compaction;
mod manager;
mod producer;
mod prop;
mod recovery;
mod replication;
mod retention;
mod timestamps;
mod transactions;
mod txn_log;
