//! A classic group's rebalance and its clocks (Kafka's `prepareRebalance`, `completeClassicGroupJoin` and
//! the join/sync/session timers of `GroupMetadataManager`): moving to PreparingRebalance (voiding waiting
//! syncs), holding the first join of an empty group for the initial delay (Kafka's `InitialDelayedJoin`),
//! completing the join once everyone rejoined or the rebalance timeout passed (answering every waiting
//! JoinGroup, the leader with everyone's metadata), removing members, and [`tick`], which applies every
//! deadline. The requests that trigger these steps live in `join.rs`, `sync.rs` and `heartbeat.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::error::Error;
use crate::group::{Group, InitialDelay};
use crate::record::Record;
use crate::types::{Effects, GroupState, JoinMember, JoinResult, Reply};

/// Advances every classic group to `now`: expires KIP-394 pending members and sessions, ends the initial
/// delay and rebalances whose timeout passed, and removes members that never synced.
pub(crate) fn tick(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    now: i64,
    fx: &mut Effects,
) {
    for group in groups.values_mut() {
        let before = group.pending_members.len();
        group.pending_members.retain(|_, deadline| *deadline > now);
        if group.pending_members.len() != before {
            try_complete_join(group, now, fx);
        }
        if group.state == GroupState::PreparingRebalance
            && group.join_deadline.is_some_and(|d| d <= now)
        {
            match group.initial_delay {
                Some(delay) if group.new_member_added && delay.remaining_ms > 0 => {
                    let step = config.initial_rebalance_delay_ms.min(delay.remaining_ms);
                    group.initial_delay = Some(InitialDelay {
                        remaining_ms: delay.remaining_ms - step,
                    });
                    group.new_member_added = false;
                    group.join_deadline = Some(now + step);
                }
                _ => complete_join(group, now, fx),
            }
        }
        if matches!(
            group.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && group.sync_deadline.is_some_and(|d| d <= now)
        {
            group.sync_deadline = None;
            let laggards: Vec<String> = std::mem::take(&mut group.pending_sync)
                .into_iter()
                .filter(|m| group.members.contains_key(m))
                .collect();
            if !laggards.is_empty() {
                for m in &laggards {
                    remove_member(group, m, fx);
                }
                prepare_rebalance(group, config, now, fx);
                try_complete_join(group, now, fx);
            }
        }
        let expired: Vec<String> = group
            .members
            .values()
            .filter(|m| m.expired(now))
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            remove_member_and_update_group(group, config, &member_id, now, fx);
        }
    }
}

/// The JoinGroup answer for `member_id` in the current generation; only the leader gets every member's
/// metadata.
pub(crate) fn current_join_result(
    group: &Group,
    member_id: &str,
    skip_assignment: bool,
) -> JoinResult {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = if group.is_leader(member_id) {
        group
            .members
            .values()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        skip_assignment,
        members,
    }
}

pub(crate) fn maybe_prepare_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    now: i64,
    fx: &mut Effects,
) {
    if matches!(
        group.state,
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
    ) {
        prepare_rebalance(group, config, now, fx);
    }
}

fn prepare_rebalance(group: &mut Group, config: &GroupConfig, now: i64, fx: &mut Effects) {
    if group.state == GroupState::CompletingRebalance {
        // Waiting followers learn the generation is over; their assignment is void.
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(t) = m.awaiting_sync.take() {
                fx.replies
                    .push(Reply::Sync(t, Err(Error::RebalanceInProgress)));
            }
        }
    }
    group.pending_sync.clear();
    group.sync_deadline = None;
    let rebalance_timeout = group.max_rebalance_timeout();
    if group.state == GroupState::Empty && config.initial_rebalance_delay_ms > 0 {
        let delay = config.initial_rebalance_delay_ms.min(rebalance_timeout);
        group.initial_delay = Some(InitialDelay {
            remaining_ms: (rebalance_timeout - config.initial_rebalance_delay_ms).max(0),
        });
        group.new_member_added = false;
        group.join_deadline = Some(now + delay);
    } else {
        group.initial_delay = None;
        group.join_deadline = Some(now + rebalance_timeout);
    }
    group.transition(GroupState::PreparingRebalance, now);
}

pub(crate) fn try_complete_join(group: &mut Group, now: i64, fx: &mut Effects) {
    if group.state == GroupState::PreparingRebalance
        && group.initial_delay.is_none()
        && group.all_members_joined()
    {
        complete_join(group, now, fx);
    }
}

/// Starts the next generation with the members that rejoined (static members keep their place even if they
/// did not) and answers every waiting JoinGroup; the leader gets everyone's metadata.
fn complete_join(group: &mut Group, now: i64, fx: &mut Effects) {
    let gone: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for m in &gone {
        remove_member(group, m, fx);
    }
    group.initial_delay = None;
    group.join_deadline = None;
    group.new_member_added = false;
    group.generation_id = group.generation_id.wrapping_add(1);
    if group.members.is_empty() {
        // Kafka keeps the protocol type of an empty group (ListGroups shows empty consumer groups).
        group.protocol_name = None;
        group.leader_id = None;
        group.transition(GroupState::Empty, now);
        fx.records.push(Record::Group {
            group_id: group.group_id.clone(),
            value: Some(group.to_value()),
        });
        return;
    }
    group.protocol_name = group.select_protocol();
    let leader_joined = group
        .leader_id
        .as_ref()
        .and_then(|l| group.members.get(l))
        .is_some_and(|m| m.awaiting_join.is_some());
    if !leader_joined {
        let next = group
            .members
            .values()
            .find(|m| m.awaiting_join.is_some())
            .or_else(|| group.members.values().next())
            .map(|m| m.member_id.clone());
        group.leader_id = next;
    }
    group.transition(GroupState::CompletingRebalance, now);
    group.pending_sync = group.members.keys().cloned().collect();
    group.sync_deadline = Some(now + group.max_rebalance_timeout());
    let mut replies = Vec::new();
    for m in group.members.values() {
        if let Some(t) = m.awaiting_join {
            replies.push(Reply::Join(
                t,
                Ok(current_join_result(group, &m.member_id, false)),
            ));
        }
    }
    for m in group.members.values_mut() {
        m.awaiting_join = None;
        m.is_new = false;
        m.session_deadline = now + i64::from(m.session_timeout_ms);
    }
    fx.replies.extend(replies);
}

/// Takes a member out, answering its waiting requests with UNKNOWN_MEMBER_ID. The group's state is the
/// caller's business.
fn remove_member(group: &mut Group, member_id: &str, fx: &mut Effects) {
    let Some(member) = group.members.shift_remove(member_id) else {
        return;
    };
    if let Some(t) = member.awaiting_join {
        fx.replies.push(Reply::Join(t, Err(Error::UnknownMemberId)));
    }
    if let Some(t) = member.awaiting_sync {
        fx.replies.push(Reply::Sync(t, Err(Error::UnknownMemberId)));
    }
    if let Some(i) = &member.group_instance_id {
        if group.static_members.get(i).is_some_and(|m| m == member_id) {
            group.static_members.remove(i);
        }
    }
    group.pending_sync.remove(member_id);
    if group.is_leader(member_id) {
        group.leader_id = group.members.keys().next().cloned();
    }
}

pub(crate) fn remove_member_and_update_group(
    group: &mut Group,
    config: &GroupConfig,
    member_id: &str,
    now: i64,
    fx: &mut Effects,
) {
    remove_member(group, member_id, fx);
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            prepare_rebalance(group, config, now, fx);
            try_complete_join(group, now, fx);
        }
        GroupState::PreparingRebalance => try_complete_join(group, now, fx),
        GroupState::Empty | GroupState::Dead => {}
    }
}
