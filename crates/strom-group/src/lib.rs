//! Strom's group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, static membership), KIP-848 consumer groups (ConsumerGroupHeartbeat with server-side
//! assignors `uniform` and `range`) and committed offsets, as a pure state machine.
//!
//! It opens no sockets and reads no clock: every operation takes `now_ms`, and answers with replies (some
//! delayed: a JoinGroup is answered when the rebalance completes) and records to persist in
//! `__consumer_offsets` (Kafka's on-disk key/value format, see [`record`]). The broker owns the wire, the
//! timer that calls [`GroupCoordinator::tick`], the append of records and their replay at start-up.
//!
//! Inside, Kafka's split: [`GroupCoordinator`] (`coordinator/`, Kafka's `GroupCoordinatorShard`) routes
//! every call to a manager — `classic/` (classic groups), `consumer/` (KIP-848 groups; together Kafka's
//! `GroupMetadataManager`) or `offsets/` (Kafka's `OffsetMetadataManager`) — over the per-group state in
//! `group/`; `types.rs` holds the requests and answers, `config.rs` the settings. Imports run one way, from
//! the facade through the managers to the data: coordinator → {classic, offsets} → consumer → group →
//! types → record → assignor (and error, config at the bottom).

pub mod assignor;
mod classic;
mod config;
mod consumer;
mod coordinator;
pub mod error;
mod group;
mod offsets;
pub mod record;
#[cfg(test)]
mod testkit;
mod types;

pub use assignor::Assignment;
pub use config::{GroupConfig, MigrationPolicy};
pub use coordinator::GroupCoordinator;
pub use error::{Error, RecordError};
pub use record::{
    partition_for, ClassicMemberValue, ConsumerKey, ConsumerMemberValue, ConsumerValue,
    CurrentAssignmentValue, GroupValue, MemberValue, OffsetValue, Record, TopicMeta,
};
pub use types::{
    CommitOffsets, CommitPartition, CommittedOffset, ConsumerGroupDescription, ConsumerHeartbeat,
    ConsumerHeartbeatResult, ConsumerMemberDescription, Effects, GroupDescription, GroupListing,
    GroupState, JoinGroup, JoinMember, JoinResult, LeaveMember, MemberDescription, Protocol, Reply,
    SyncGroup, SyncResult, Token, TopicPartitionResult,
};
