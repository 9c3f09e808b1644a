//! Strom's group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, static membership) and committed offsets, as a pure state machine.
//!
//! It opens no sockets and reads no clock: every operation takes `now_ms`, and answers with replies (some
//! delayed: a JoinGroup is answered when the rebalance completes) and records to persist in
//! `__consumer_offsets` (Kafka's on-disk key/value format, see [`record`]). The broker owns the wire, the
//! timer that calls [`GroupCoordinator::tick`], the append of records and their replay at start-up. KIP-848
//! consumer groups (ConsumerGroupHeartbeat with server-side assignors `uniform` and `range`) live in
//! `consumer.rs` and `assignor.rs`, over the same groups and offsets.

pub mod assignor;
mod consumer;
mod coordinator;
pub mod error;
mod group;
pub mod record;

pub use assignor::Assignment;
pub use consumer::{
    ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResult,
    ConsumerMemberDescription, TopicMeta,
};
pub use coordinator::{
    CommitOffsets, CommitPartition, Effects, GroupConfig, GroupCoordinator, GroupDescription,
    GroupListing, JoinGroup, JoinMember, JoinResult, LeaveMember, MemberDescription, Protocol,
    Reply, SyncGroup, SyncResult, Token, TopicPartitionResult,
};
pub use error::{Error, RecordError};
pub use group::GroupState;
pub use record::{
    partition_for, ConsumerKey, ConsumerMemberValue, ConsumerValue, CurrentAssignmentValue,
    GroupValue, MemberValue, OffsetValue, Record,
};

#[cfg(test)]
mod tests;
