//! Kafka's classic group protocol over the coordinator's groups (the classic half of Kafka's
//! `GroupMetadataManager`): JoinGroup (`join.rs`), SyncGroup (`sync.rs`), Heartbeat and LeaveGroup
//! (`heartbeat.rs`), and the rebalance with its timers (`rebalance.rs`), which the three request files drive
//! and which imports none of them; `downgrade.rs` turns a consumer group whose last KIP-848 member left back
//! into a classic group (KIP-848's online downgrade). Here: DescribeGroups and the replay of a GroupMetadata record.
//!
//! Membership changes take effect in memory at once and come back as GroupMetadata records to persist;
//! JoinGroup and SyncGroup answers may come later, from another call (a join completing a rebalance answers
//! every waiting member) or from the timers. Callers identify a waiting request by a `Token` of their
//! choosing. Committed offsets are `offsets/`'s, KIP-848 groups `consumer/`'s; the group's data is
//! `crate::group`. Does not know the wire format, topics' existence, or the clock.

mod downgrade;
mod heartbeat;
mod join;
mod rebalance;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::group::Group;
use crate::record::GroupValue;
use crate::types::{Effects, GroupDescription, GroupState, MemberDescription};

pub(crate) use heartbeat::{heartbeat, leave_group};
pub(crate) use join::join_group;
pub(crate) use rebalance::tick;
pub(crate) use sync::sync_group;

/// Turns consumer group `group_id` classic without `leaving`, its last KIP-848 member (see
/// `downgrade.rs`).
pub(crate) fn downgrade_group(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    group_id: &str,
    leaving: &str,
    now: i64,
    fx: &mut Effects,
) {
    if let Some(group) = groups.get_mut(group_id) {
        downgrade::downgrade(group, config, leaving, now, fx);
    }
}

/// DescribeGroups for one group; `None` when it does not exist.
pub(crate) fn describe(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
) -> Option<GroupDescription> {
    let g = groups.get(group_id)?;
    let stable = g.state == GroupState::Stable;
    let protocol = g.protocol_name.clone().unwrap_or_default();
    Some(GroupDescription {
        group_id: g.group_id.clone(),
        state: g.state,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_data: if stable {
            protocol.clone()
        } else {
            String::new()
        },
        members: g
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect(),
    })
}

/// Applies one replayed GroupMetadata record: a value restores the group as of its generation (members come
/// back Stable, with a fresh session); a tombstone ends the classic group (its members with it) unless the
/// group is a consumer group by now.
pub(crate) fn replay(
    groups: &mut BTreeMap<String, Group>,
    group_id: &str,
    value: Option<&GroupValue>,
    now: i64,
) {
    match value {
        Some(v) => {
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, now));
            group.restore(v, now);
        }
        None => {
            // Kafka removes the classic group (a group deleted, or converted to a consumer group by a KIP-848
            // member joining it); its committed offsets, kept in the same entry here, stay.
            let Some(g) = groups.get_mut(group_id) else {
                return;
            };
            if g.consumer.is_some() {
                return;
            }
            if g.offsets.is_empty() {
                groups.remove(group_id);
            } else {
                let empty = GroupValue {
                    protocol_type: String::new(),
                    generation_id: g.generation_id,
                    protocol_name: None,
                    leader: None,
                    current_state_timestamp: now,
                    members: Vec::new(),
                };
                g.restore(&empty, now);
            }
        }
    }
}
