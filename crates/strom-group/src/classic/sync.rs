//! SyncGroup (Kafka's `GroupMetadataManager.classicGroupSync`): followers wait for the leader, whose sync
//! stores every member's assignment (bytes passed through untouched), makes the group Stable, persists it and
//! answers every waiting member. A sync in a Stable group gets the member's assignment again. Does not start
//! or end rebalances (`rebalance.rs` does, and voids waiting syncs when a new one starts).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::consumer;
use crate::error::Error;
use crate::group::{Group, Member};
use crate::record::Record;
use crate::types::{Effects, GroupState, Reply, SyncGroup, SyncResult, Token};

/// Handles a SyncGroup. Followers wait (their answer comes when the leader syncs); the leader's sync
/// stores and hands out its assignment, passed through untouched.
pub(crate) fn sync_group(
    groups: &mut BTreeMap<String, Group>,
    token: Token,
    req: SyncGroup,
    now: i64,
) -> Effects {
    let mut fx = Effects::default();
    if let Err(e) = sync_inner(groups, token, req, now, &mut fx) {
        fx.replies.push(Reply::Sync(token, Err(e)));
    }
    fx
}

fn sync_inner(
    groups: &mut BTreeMap<String, Group>,
    token: Token,
    req: SyncGroup,
    now: i64,
    fx: &mut Effects,
) -> Result<(), Error> {
    let Some(group) = groups.get_mut(&req.group_id) else {
        return Err(Error::UnknownMemberId);
    };
    if group.consumer.is_some() {
        let result = consumer::classic_sync(group, &req, now)?;
        fx.replies.push(Reply::Sync(token, Ok(result)));
        return Ok(());
    }
    group.check_static(&req.member_id, req.group_instance_id.as_deref())?;
    if !group.members.contains_key(&req.member_id) {
        return Err(Error::UnknownMemberId);
    }
    if req.generation_id != group.generation_id {
        return Err(Error::IllegalGeneration {
            expected: group.generation_id,
            got: req.generation_id,
        });
    }
    let type_mismatch = req
        .protocol_type
        .as_ref()
        .is_some_and(|t| Some(t) != group.protocol_type.as_ref());
    let name_mismatch = req
        .protocol_name
        .as_ref()
        .is_some_and(|n| Some(n) != group.protocol_name.as_ref());
    if type_mismatch || name_mismatch {
        return Err(Error::InconsistentGroupProtocol);
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => Err(Error::UnknownMemberId),
        GroupState::PreparingRebalance => Err(Error::RebalanceInProgress),
        GroupState::CompletingRebalance => {
            group.pending_sync.remove(&req.member_id);
            let is_leader = group.is_leader(&req.member_id);
            let Some(member) = group.members.get_mut(&req.member_id) else {
                return Err(Error::UnknownMemberId);
            };
            member.session_deadline = now + i64::from(member.session_timeout_ms);
            if let Some(old) = member.awaiting_sync.replace(token) {
                fx.replies
                    .push(Reply::Sync(old, Err(Error::RebalanceInProgress)));
            }
            if is_leader {
                let mut assignments: BTreeMap<String, Bytes> =
                    req.assignments.into_iter().collect();
                for m in group.members.values_mut() {
                    m.assignment = assignments.remove(&m.member_id).unwrap_or_default();
                }
                group.transition(GroupState::Stable, now);
                fx.records.push(Record::Group {
                    group_id: group.group_id.clone(),
                    value: Some(group.to_value()),
                });
                let result = |m: &Member| SyncResult {
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                let mut replies = Vec::new();
                for m in group.members.values() {
                    if let Some(t) = m.awaiting_sync {
                        replies.push(Reply::Sync(t, Ok(result(m))));
                    }
                }
                for m in group.members.values_mut() {
                    m.awaiting_sync = None;
                }
                fx.replies.extend(replies);
            }
            Ok(())
        }
        GroupState::Stable => {
            group.pending_sync.remove(&req.member_id);
            let protocol_type = group.protocol_type.clone();
            let protocol_name = group.protocol_name.clone();
            let Some(member) = group.members.get_mut(&req.member_id) else {
                return Err(Error::UnknownMemberId);
            };
            member.session_deadline = now + i64::from(member.session_timeout_ms);
            fx.replies.push(Reply::Sync(
                token,
                Ok(SyncResult {
                    protocol_type,
                    protocol_name,
                    assignment: member.assignment.clone(),
                }),
            ));
            Ok(())
        }
    }
}
