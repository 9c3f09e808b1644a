//! KIP-848 consumer groups (`group.protocol=consumer`): ConsumerGroupHeartbeat and ConsumerGroupDescribe
//! over the same groups as the classic protocol. A group is either classic or consumer while it has members;
//! an empty group may change sides. Committed offsets are shared (they live in `crate::group::Group`, and
//! `offsets/` owns them); this module only answers for the member epochs commits and fetches must carry.
//!
//! Follows Kafka's `GroupMetadataManager` for consumer groups, in three parts with one-way imports, over one
//! group's state in `crate::group::consumer` (Kafka's `ConsumerGroup`, `ConsumerGroupMember`):
//! - `assignment.rs`: the target assignment and each member's reconciliation towards it (Kafka's
//!   `TargetAssignmentBuilder`, `CurrentAssignmentBuilder`);
//! - `records.rs`: the group as ConsumerGroup* records, diffed per call, and their replay;
//! - `heartbeat.rs`: membership — join, leave, keep alive, expiry, describe — driving the other two.
//!
//! Every function here works on the coordinator's group map, which the facade (`coordinator/`) passes in,
//! and returns the records of what changed; nothing here queues, reads a clock or knows the wire.

mod assignment;
mod heartbeat;
mod records;
#[cfg(test)]
mod tests;

pub(crate) use heartbeat::{describe, expire_members, heartbeat};
pub(crate) use records::{replay, tombstones};
