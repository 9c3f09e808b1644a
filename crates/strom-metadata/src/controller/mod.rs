//! The controller: pure functions that check a topic, partition or config request against a
//! `MetadataImage` with Kafka's validation and error semantics, and return the records to
//! propose. No clock, no sockets, no state: nothing changes until a record is applied (replay.rs
//! re-checks it then, because another proposal may have won the race; partition changes carry
//! the partition epoch they were computed from for that reason). When to call these (sessions,
//! ticks) is liveness.rs's business; proposing them is the node's.
//!
//! The files follow Kafka's managers:
//! - `topics`: CreateTopics, DeleteTopics, CreatePartitions and AlterConfigs
//!   (`ReplicationControlManager`, `ConfigurationControlManager`).
//! - `election`: who may lead, fencing and unfencing, controlled shutdown, leaderless repair,
//!   ElectLeaders and the preferred-leader rebalance (`ReplicationControlManager` with
//!   `PartitionChangeBuilder`).
//! - `reassignment`: AlterPartition and reassignments (KIP-455, `PartitionReassignmentReplicas`);
//!   builds on `election`.
//! - `placement`: rack-aware replica placement (Kafka's replica placer); `topics` uses it.
//! - `ids`: Kafka-style random uuids, the cluster id and topic ids.
//!
//! This file only declares them and names what the rest of the crate and the broker may call;
//! it holds no logic, so no file here depends on it and it depends on no file that uses it.

mod election;
mod ids;
mod placement;
mod reassignment;
mod topics;

pub use election::{elect_leaders_records, ElectionResult, ElectionType};
pub use reassignment::{alter_partition_records, reassign_records, AlterPartitionRequest};
pub use topics::{
    alter_config_records, create_partitions_records, create_topic_records, delete_topic_records,
    validate_topic_name, NewTopic,
};

pub(crate) use election::{
    controlled_shutdown_records, fence_broker_records, leaderless_records,
    preferred_leader_records, unfence_broker_records,
};
pub(crate) use ids::new_cluster_id;
pub(crate) use reassignment::reassignment_progress_records;
