//! JoinGroup (Kafka's `GroupMetadataManager.classicGroupJoin`): a first join gets a member id (KIP-394:
//! v4+ clients must come back with it), a known member's join starts or joins a rebalance, and a static
//! member that rejoins without its member id takes its old place (KIP-345), without a rebalance when
//! nothing changed. The answer is among the returned replies when it is known at once; otherwise the
//! rebalance (`rebalance.rs`) answers it later. A KIP-848 group turns classic here once it is empty; while it
//! has members, the member joins it as a classic member (`consumer::classic_join`).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::rebalance::{current_join_result, maybe_prepare_rebalance, try_complete_join};
use crate::config::GroupConfig;
use crate::consumer;
use crate::error::Error;
use crate::group::{Group, Member, MemberIds};
use crate::record::{Record, TopicMeta};
use crate::types::{Effects, GroupState, JoinGroup, Reply, Token};

/// Handles a JoinGroup. Its answer (under `token`) is among the returned replies when it is known at
/// once; otherwise it comes from a later call, when the rebalance completes.
pub(crate) fn join_group(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    member_ids: &mut MemberIds,
    token: Token,
    req: JoinGroup,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
) -> Effects {
    let mut fx = Effects::default();
    if let Err(e) = join_inner(groups, config, member_ids, token, req, topics, now, &mut fx) {
        fx.replies.push(Reply::Join(token, Err(e)));
    }
    fx
}

#[allow(clippy::too_many_arguments)]
fn join_inner(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    member_ids: &mut MemberIds,
    token: Token,
    req: JoinGroup,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
    fx: &mut Effects,
) -> Result<(), Error> {
    if req.group_id.is_empty() {
        return Err(Error::InvalidGroupId);
    }
    let (min, max) = (config.min_session_timeout_ms, config.max_session_timeout_ms);
    if req.session_timeout_ms < min || req.session_timeout_ms > max {
        return Err(Error::InvalidSessionTimeout {
            session_timeout_ms: req.session_timeout_ms,
            min,
            max,
        });
    }
    let known = !req.member_id.is_empty();
    if known && !groups.contains_key(&req.group_id) {
        return Err(Error::UnknownMemberId);
    }
    let new_member_id = if known {
        None
    } else {
        Some(member_ids.next(&req.client_id, now))
    };
    let group = groups
        .entry(req.group_id.clone())
        .or_insert_with(|| Group::new(&req.group_id, now));
    if let Some(cg) = &group.consumer {
        // A consumer (KIP-848) group with members takes the member in as a classic member; an empty one
        // turns classic.
        if !cg.members.is_empty() {
            let (result, records) =
                consumer::classic_join(group, config, req, new_member_id, topics, now);
            fx.records.extend(records);
            fx.replies.push(Reply::Join(token, Ok(result?)));
            return Ok(());
        }
        fx.records.extend(consumer::tombstones(&req.group_id, cg));
        group.consumer = None;
    }
    if !group.supports(&req.protocol_type, &req.protocols) {
        return Err(Error::InconsistentGroupProtocol);
    }
    match new_member_id {
        Some(member_id) => {
            let existing_static = req
                .group_instance_id
                .as_ref()
                .and_then(|i| group.static_members.get(i))
                .filter(|old| group.members.contains_key(*old))
                .cloned();
            if let Some(old_member_id) = existing_static {
                replace_static_member(
                    group,
                    config,
                    token,
                    &old_member_id,
                    member_id,
                    req,
                    now,
                    fx,
                );
            } else if req.group_instance_id.is_none() && req.require_known_member_id {
                group
                    .pending_members
                    .insert(member_id.clone(), now + i64::from(req.session_timeout_ms));
                return Err(Error::MemberIdRequired { member_id });
            } else {
                add_member_and_rebalance(group, config, token, member_id, req, now, fx);
            }
        }
        None => {
            let member_id = req.member_id.clone();
            if group.pending_members.remove(&member_id).is_some() {
                add_member_and_rebalance(group, config, token, member_id, req, now, fx);
                return Ok(());
            }
            group.check_static(&member_id, req.group_instance_id.as_deref())?;
            let Some(member) = group.members.get(&member_id) else {
                return Err(Error::UnknownMemberId);
            };
            let matches = member.matches(&req.protocols);
            match group.state {
                GroupState::Empty | GroupState::Dead => return Err(Error::UnknownMemberId),
                GroupState::PreparingRebalance => {
                    update_member_and_rebalance(group, config, token, req, now, fx)
                }
                GroupState::CompletingRebalance if matches => {
                    // A retried join of the current generation: answer it again.
                    fx.replies.push(Reply::Join(
                        token,
                        Ok(current_join_result(group, &member_id, false)),
                    ));
                }
                GroupState::Stable if matches && !group.is_leader(&member_id) => {
                    fx.replies.push(Reply::Join(
                        token,
                        Ok(current_join_result(group, &member_id, false)),
                    ));
                }
                GroupState::CompletingRebalance | GroupState::Stable => {
                    // Changed metadata, or the leader asking for a new assignment.
                    update_member_and_rebalance(group, config, token, req, now, fx)
                }
            }
        }
    }
    Ok(())
}

fn add_member_and_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    token: Token,
    member_id: String,
    req: JoinGroup,
    now: i64,
    fx: &mut Effects,
) {
    if let Some(instance) = &req.group_instance_id {
        group
            .static_members
            .insert(instance.clone(), member_id.clone());
    }
    if group.members.is_empty() {
        group.protocol_type = Some(req.protocol_type.clone());
    }
    if group.leader_id.is_none() {
        group.leader_id = Some(member_id.clone());
    }
    group.members.insert(
        member_id.clone(),
        Member {
            member_id,
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(token),
            awaiting_sync: None,
            is_new: true,
            session_deadline: now + config.new_member_join_timeout_ms,
        },
    );
    group.new_member_added = true;
    maybe_prepare_rebalance(group, config, now, fx);
    try_complete_join(group, now, fx);
}

fn update_member_and_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    token: Token,
    req: JoinGroup,
    now: i64,
    fx: &mut Effects,
) {
    if let Some(member) = group.members.get_mut(&req.member_id) {
        member.protocols = req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.client_id = req.client_id;
        member.client_host = req.client_host;
        if let Some(old) = member.awaiting_join.replace(token) {
            fx.replies
                .push(Reply::Join(old, Err(Error::RebalanceInProgress)));
        }
    }
    maybe_prepare_rebalance(group, config, now, fx);
    try_complete_join(group, now, fx);
}

/// KIP-345: a static member rejoined without its member id (e.g. after a restart). The new member id takes
/// the old one's place; the old id is fenced. A Stable group whose member kept its protocols carries on
/// without a rebalance; otherwise the group rebalances.
#[allow(clippy::too_many_arguments)]
fn replace_static_member(
    group: &mut Group,
    config: &GroupConfig,
    token: Token,
    old_member_id: &str,
    new_member_id: String,
    req: JoinGroup,
    now: i64,
    fx: &mut Effects,
) {
    let Some(mut member) = group.members.shift_remove(old_member_id) else {
        return;
    };
    if let Some(t) = member.awaiting_join.take() {
        fx.replies
            .push(Reply::Join(t, Err(Error::FencedInstanceId)));
    }
    if let Some(t) = member.awaiting_sync.take() {
        fx.replies
            .push(Reply::Sync(t, Err(Error::FencedInstanceId)));
    }
    let matches = member.matches(&req.protocols);
    member.member_id = new_member_id.clone();
    member.client_id = req.client_id.clone();
    member.client_host = req.client_host.clone();
    member.session_timeout_ms = req.session_timeout_ms;
    member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    member.session_deadline = now + i64::from(req.session_timeout_ms);
    group.members.insert(new_member_id.clone(), member);
    if let Some(instance) = &req.group_instance_id {
        group
            .static_members
            .insert(instance.clone(), new_member_id.clone());
    }
    if group.is_leader(old_member_id) {
        group.leader_id = Some(new_member_id.clone());
    }
    if group.pending_sync.remove(old_member_id) {
        group.pending_sync.insert(new_member_id.clone());
    }
    if group.state == GroupState::Stable && matches {
        fx.records.push(Record::Group {
            group_id: group.group_id.clone(),
            value: Some(group.to_value()),
        });
        let is_leader = group.is_leader(&new_member_id);
        fx.replies.push(Reply::Join(
            token,
            Ok(current_join_result(group, &new_member_id, is_leader)),
        ));
        return;
    }
    // CompletingRebalance: the leader may already hold the old id in its assignment, so rebalance again.
    let mut req = req;
    req.member_id = new_member_id;
    update_member_and_rebalance(group, config, token, req, now, fx);
}
