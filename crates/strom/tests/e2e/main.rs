//! End-to-end tests: real `strom` processes (built by cargo for this test binary) driven over the network by
//! librdkafka through the `rdkafka` crate, by raw TCP, and by the `strom` CLI. No mocks. One test binary, so the
//! broker is linked and librdkafka initialised once; each test starts its own broker on a free port with its own
//! data directory, so tests run in parallel.
//!
//! Tests are synchronous `#[test]`s: the harness (`strom-test-support`) polls with bounded deadlines instead of
//! sleeping, so a slow machine makes them slower, not flaky.

// A test fails by panicking; clippy's allow-unwrap-in-tests covers `#[test]` functions but not their helpers.
#![allow(clippy::unwrap_used)]

// Keyed produce/consume at volume, record fields, size limits, ListOffsets and out-of-range fetches.
mod produce_consume;
// gzip, snappy, lz4 and zstd batches round-trip.
mod compression;
// kill -9 mid-stream loses no acknowledged write; torn and corrupted segment tails are truncated on restart.
mod crash_recovery;
// Time-based retention deletes old segments and moves the log start offset; consumers reset to it.
mod retention;
// cleanup.policy=compact: the cleaner keeps the latest value of each key; offsets keep their gaps and still increase.
mod compaction;
// Garbage, oversized frames, unknown APIs, truncated requests, bad versions: the broker stays up for others.
mod hostile_input;
// auto.create.topics.enable off, LogAppendTime topics, acks=0, and kafka-python with Java-like defaults.
mod validation;
// Consumer groups: 3 members split 6 partitions, each record consumed once; commit/leave/resume; offsets survive restart.
mod groups;
// A cooperative-sticky member drops the partitions of a topic DeleteTopics removed (librdkafka 0113).
mod groups_deleted_topic;
// A group member killed with SIGKILL loses its partitions only after its session times out.
mod groups_killed_member;
// A session ends at its deadline: DeleteGroups right after a static member's session ran out deletes the group.
mod groups_session_expiry;
// KIP-848 consumer groups (group.protocol=consumer): server-side assignment, reconciliation, epoch commits.
mod groups_kip848;
// KIP-848 online migration: classic and group.protocol=consumer members in one group, both directions.
mod groups_migration;
// The `strom topic/produce/consume` subcommands, and kcat when installed.
mod cli;
// `strom group list/describe/delete/reset-offsets` against a group driven by librdkafka.
mod group_cli;
// Three-node clusters: kill -9 of a leader, the controller, a group coordinator; a paused follower; two of three
// down; a divergent tail truncated. Acknowledged writes and concurrent reads checked against the final log.
mod cluster;
// DeleteRecords: -1 is the high watermark, leader only, never past the high watermark (three nodes).
mod delete_records;
// A consumer group on a three-node cluster survives the kill -9 of its group coordinator.
mod cluster_groups;
// DescribeTopicPartitions, DescribeLogDirs, AlterReplicaLogDirs, DescribeQuorum checked against what the brokers hold.
mod admin_apis;
// Configs: DescribeConfigs sources of broker settings; an empty cleanup.policy via IncrementalAlterConfigs and AlterConfigs.
mod configs;
// Kafka 4.x Admin requests: Metadata by topic id, features, replication throttles, quorum fetch times.
mod admin_compat;
// The transaction coordinator over the raw wire: epochs, fencing, Kafka's error codes, timeouts, expiry, reload.
mod txn_coordinator;
// The transaction coordinator through librdkafka and `strom txn`, and its failover on a 3-node cluster.
mod txn_clients;
// Edge cases compat/differential found: config ranges, duplicate names and keys, empty produces, -1/null on errors.
mod kafka_answers;
// Helpers shared by the modules above.
mod util;
// Transactions, data side: transactional produce, WriteTxnMarkers, the LSO, read_committed fetch and ListOffsets.
mod txn_partition;
// Transactions with librdkafka's transactional producer: commit/abort, read_committed, LSO, fencing, exactly-once.
mod transactions;
// The log side of transactions: DeleteRecords/retention vs open transactions, compaction of transactional
// topics (markers, aborted data), producer-id expiry.
mod txn_log;
// `strom perf produce --transactional` and `strom perf consume --isolation-level` against a broker.
mod perf_txn;
// Exactly-once consume-transform-produce through kill -9 of the application and of the broker, the coordinator's
// timeout abort of a killed client's transaction, and kafka-python's transactional producer.
mod txn_exactly_once;
// KIP-890 part 1: a transactional produce to a partition not in the transaction is refused (coordinator local or on
// another broker, verification off), and the produce path's bad input gets Kafka's codes.
mod txn_verification;
// Transaction admin: DescribeProducers, `strom txn find-hanging` / `abort --start-offset`, ListTransactions v1/v2.
mod txn_admin;
// Transactions on a 3-node cluster: kill -9 of the transaction coordinator (mid-transaction, mid-commit) and of a partition leader.
mod txn_cluster;
// KIP-890 part 2 (`transaction.version` 2): Produce v12 and TxnOffsetCommit v5 add their partition to the
// transaction without AddPartitionsToTxn / AddOffsetsToTxn; commit and abort with EndTxn v5's epoch bump.
mod txn_v2;
