//! KIP-848 consumer groups (`group.protocol=consumer`): ConsumerGroupHeartbeat and ConsumerGroupDescribe
//! over the same groups as the classic protocol. A group is either classic or consumer; an empty group may
//! change sides, and with `group.consumer.migration.policy` a group with members converts online (KIP-848):
//! a KIP-848 member joining a classic group makes it a consumer group whose classic members carry on
//! through JoinGroup/SyncGroup/Heartbeat (`classic.rs`), and the last KIP-848 member leaving turns it back
//! (`crate::classic`'s downgrade). Committed offsets are shared (they live in `crate::group::Group`, and
//! `offsets/` owns them); this module only answers for the member epochs commits and fetches must carry.
//!
//! Follows Kafka's `GroupMetadataManager` for consumer groups, in three parts with one-way imports, over one
//! group's state in `crate::group::consumer` (Kafka's `ConsumerGroup`, `ConsumerGroupMember`):
//! - `assignment.rs`: the target assignment and each member's reconciliation towards it (Kafka's
//!   `TargetAssignmentBuilder`, `CurrentAssignmentBuilder`);
//! - `records.rs`: the group as ConsumerGroup* records, diffed per call, and their replay;
//! - `classic.rs`: classic-protocol members of a consumer group, and the classic → consumer conversion;
//! - `heartbeat.rs`: membership — join, leave, keep alive, expiry, describe — driving the others.
//!
//! Every function here works on the coordinator's group map, which the facade (`coordinator/`) passes in,
//! and returns the records of what changed; nothing here queues, reads a clock or knows the wire.

mod assignment;
mod classic;
mod heartbeat;
mod records;
#[cfg(test)]
mod tests;

pub(crate) use classic::{
    assignment_bytes, heartbeat as classic_heartbeat, join as classic_join, leave as classic_leave,
    sync as classic_sync,
};
pub(crate) use heartbeat::{describe, expire_members, heartbeat};
pub(crate) use records::{replay, tombstones};
