//! Heartbeat and LeaveGroup (Kafka's `GroupMetadataManager.classicGroupHeartbeat` and `classicGroupLeave`):
//! a heartbeat refreshes the member's session and tells it to rejoin while a rebalance is in progress; a
//! leave (v3+ batches members, static ones by instance id) removes members and rebalances the rest. Session
//! expiry itself is the timers' (`rebalance.rs`). Both go to `consumer::classic_*` when the group is a
//! consumer group.

use std::collections::BTreeMap;

use super::rebalance::{remove_member_and_update_group, try_complete_join};
use crate::config::GroupConfig;
use crate::consumer;
use crate::error::Error;
use crate::group::Group;
use crate::types::{Effects, GroupState, LeaveMember};

/// Handles a Heartbeat: refreshes the member's session, and tells it when to rejoin.
pub(crate) fn heartbeat(
    groups: &mut BTreeMap<String, Group>,
    group_id: &str,
    member_id: &str,
    group_instance_id: Option<&str>,
    generation_id: i32,
    now: i64,
) -> Result<(), Error> {
    let Some(group) = groups.get_mut(group_id) else {
        return Err(Error::UnknownMemberId);
    };
    if group.consumer.is_some() {
        return consumer::classic_heartbeat(
            group,
            member_id,
            group_instance_id,
            generation_id,
            now,
        );
    }
    if matches!(group.state, GroupState::Empty | GroupState::Dead) {
        return Err(Error::UnknownMemberId);
    }
    group.check_static(member_id, group_instance_id)?;
    let current = group.generation_id;
    let state = group.state;
    let Some(member) = group.members.get_mut(member_id) else {
        return Err(Error::UnknownMemberId);
    };
    if generation_id != current {
        return Err(Error::IllegalGeneration {
            expected: current,
            got: generation_id,
        });
    }
    member.session_deadline = now + i64::from(member.session_timeout_ms);
    match state {
        GroupState::PreparingRebalance => Err(Error::RebalanceInProgress),
        _ => Ok(()),
    }
}

/// Handles a LeaveGroup (v3+ batches members). One result per member, in order.
pub(crate) fn leave_group(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    group_id: &str,
    leaving: &[LeaveMember],
    now: i64,
) -> (Vec<Result<(), Error>>, Effects) {
    let mut fx = Effects::default();
    let Some(group) = groups.get_mut(group_id) else {
        return (vec![Err(Error::UnknownMemberId); leaving.len()], fx);
    };
    if group.consumer.is_some() {
        let (results, records) = consumer::classic_leave(group, leaving, now);
        fx.records.extend(records);
        return (results, fx);
    }
    let mut results = Vec::with_capacity(leaving.len());
    for l in leaving {
        let member_id = match &l.group_instance_id {
            Some(instance) => match group.static_members.get(instance) {
                None => {
                    results.push(Err(Error::UnknownMemberId));
                    continue;
                }
                Some(id) if !l.member_id.is_empty() && *id != l.member_id => {
                    results.push(Err(Error::FencedInstanceId));
                    continue;
                }
                Some(id) => id.clone(),
            },
            None => l.member_id.clone(),
        };
        if group.pending_members.remove(&member_id).is_some() {
            results.push(Ok(()));
            try_complete_join(group, now, &mut fx);
            continue;
        }
        if !group.members.contains_key(&member_id) {
            results.push(Err(Error::UnknownMemberId));
            continue;
        }
        remove_member_and_update_group(group, config, &member_id, now, &mut fx);
        results.push(Ok(()));
    }
    (results, fx)
}
