//! Kafka's classic group protocol over the coordinator's groups (the classic half of Kafka's
//! `GroupMetadataManager`): JoinGroup (`join.rs`), SyncGroup (`sync.rs`), Heartbeat and LeaveGroup
//! (`heartbeat.rs`), and the rebalance with its timers (`rebalance.rs`), which the three request files drive
//! and which imports none of them. Here: DescribeGroups and the replay of a GroupMetadata record.
//!
//! Membership changes take effect in memory at once and come back as GroupMetadata records to persist;
//! JoinGroup and SyncGroup answers may come later, from another call (a join completing a rebalance answers
//! every waiting member) or from the timers. Callers identify a waiting request by a `Token` of their
//! choosing. Committed offsets are `offsets/`'s, KIP-848 groups `consumer/`'s; the group's data is
//! `crate::group`. Does not know the wire format, topics' existence, or the clock.

mod heartbeat;
mod join;
mod rebalance;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::group::Group;
use crate::record::GroupValue;
use crate::types::{GroupDescription, GroupState, MemberDescription};

pub(crate) use heartbeat::{heartbeat, leave_group};
pub(crate) use join::join_group;
pub(crate) use rebalance::tick;
pub(crate) use sync::sync_group;

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
/// back Stable, with a fresh session); a tombstone removes the group unless members (classic or KIP-848)
/// are still in it.
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
            if groups.get(group_id).is_some_and(|g| {
                g.members.is_empty() && g.consumer.as_ref().is_none_or(|cg| cg.members.is_empty())
            }) {
                groups.remove(group_id);
            }
        }
    }
}
