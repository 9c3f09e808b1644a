//! Classic-protocol members of a consumer group (KIP-848's online migration; Kafka's
//! `classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup`, `classicGroupHeartbeatToConsumerGroup`,
//! `classicGroupLeaveToConsumerGroup` and `ConsumerGroup.fromClassicGroup`). A consumer that still speaks
//! JoinGroup/SyncGroup/Heartbeat/LeaveGroup takes part in a consumer group: its JoinGroup subscription
//! (the embedded ConsumerProtocolSubscription) counts like a KIP-848 member's, the server-side assignor
//! assigns it too, its JoinGroup is answered at once with its member epoch as the generation (and no
//! leader, so it never assigns), its SyncGroup returns its reconciled partitions as a
//! ConsumerProtocolAssignment, and a Heartbeat answers REBALANCE_IN_PROGRESS when it must rejoin to give up
//! or collect partitions. Also the conversion of a classic group into a consumer group when a KIP-848
//! member joins it. The reverse conversion needs the classic rebalance and lives in `classic/downgrade.rs`.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignment::{default_assignor, normalize, reconcile, refresh_and_assign};
use super::records::{diff, group_snapshot};
use crate::assignor::Assignment;
use crate::config::GroupConfig;
use crate::error::Error;
use crate::group::{embedded, ClassicMember, ConsumerGroup, ConsumerMember, Group, MemberState};
use crate::record::{Record, TopicMeta};
use crate::types::{JoinGroup, JoinResult, LeaveMember, Reply, SyncGroup, SyncResult};

/// The partitions of `a` by topic name (topics the group no longer knows are left out).
fn named(cg: &ConsumerGroup, a: &Assignment) -> Vec<(String, BTreeSet<i32>)> {
    let names: BTreeMap<Uuid, &str> = cg
        .topics
        .values()
        .map(|t| (t.id, t.name.as_str()))
        .collect();
    a.iter()
        .filter_map(|(id, ps)| names.get(id).map(|n| (n.to_string(), ps.clone())))
        .collect()
}

/// Partitions by topic name → by topic id, through the broker's metadata (unknown topics are left out).
fn by_id(
    partitions: impl IntoIterator<Item = (String, BTreeSet<i32>)>,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
) -> Assignment {
    let mut out = Assignment::new();
    for (name, ps) in partitions {
        if let Some(t) = topics(&name) {
            out.entry(t.id).or_default().extend(ps);
        }
    }
    normalize(out)
}

/// A member's assignment as the ConsumerProtocolAssignment its SyncGroup returns, in the version of the
/// subscription it sent (Kafka's `prepareAssignment`).
pub(crate) fn assignment_bytes(
    cg: &ConsumerGroup,
    a: &Assignment,
    metadata: &bytes::Bytes,
) -> bytes::Bytes {
    embedded::encode_assignment(embedded::version(metadata), &named(cg, a))
}

/// Converts a classic group of consumer-protocol members into a consumer group (Kafka's
/// `convertToConsumerGroup`): each member keeps its last assignment as its current and target assignment
/// at the classic generation as member epoch, subscribed to what its JoinGroup metadata says; waiting
/// JoinGroup/SyncGroup requests are answered REBALANCE_IN_PROGRESS so they rejoin. Returns those answers and
/// the GroupMetadata tombstone (to persist before the consumer group's records).
pub(crate) fn from_classic(
    group: &mut Group,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
) -> (Vec<Reply>, Vec<Record>) {
    let mut replies = Vec::new();
    let protocol = group
        .protocol_name
        .clone()
        .or_else(|| group.candidate_protocols().into_iter().next())
        .unwrap_or_default();
    let epoch = group.generation_id;
    let mut cg = ConsumerGroup {
        group_epoch: epoch,
        target_epoch: epoch,
        ..ConsumerGroup::default()
    };
    for m in group.members.values() {
        if let Some(t) = m.awaiting_join {
            replies.push(Reply::Join(t, Err(Error::RebalanceInProgress)));
        }
        if let Some(t) = m.awaiting_sync {
            replies.push(Reply::Sync(t, Err(Error::RebalanceInProgress)));
        }
        let subscription = embedded::decode_subscription(&m.metadata(&protocol));
        let mut subscribed: Vec<String> = subscription
            .as_ref()
            .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default();
        subscribed.sort();
        subscribed.dedup();
        let assigned = by_id(
            embedded::decode_assignment(&m.assignment).unwrap_or_default(),
            topics,
        );
        cg.target.insert(m.member_id.clone(), assigned.clone());
        cg.members.insert(
            m.member_id.clone(),
            ConsumerMember {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                rack_id: subscription
                    .as_ref()
                    .and_then(|s| s.rack_id.as_ref().map(|r| r.to_string())),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                subscribed,
                server_assignor: None,
                epoch,
                previous_epoch: epoch,
                state: MemberState::Stable,
                owned: assigned.clone(),
                assigned,
                pending_revocation: Assignment::new(),
                session_deadline: now + i64::from(m.session_timeout_ms),
                revocation_deadline: None,
                classic: Some(ClassicMember {
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m.protocols.clone(),
                    join_deadline: None,
                    sync_deadline: None,
                }),
            },
        );
    }
    let tombstone = Record::Group {
        group_id: group.group_id.clone(),
        value: None,
    };
    group.members.clear();
    group.static_members.clear();
    group.pending_members.clear();
    group.pending_sync.clear();
    group.join_deadline = None;
    group.sync_deadline = None;
    group.initial_delay = None;
    group.new_member_added = false;
    group.start_consumer_group();
    group.consumer = Some(cg);
    (replies, vec![tombstone])
}

/// JoinGroup from a classic member into a consumer group that has members (Kafka's
/// `classicGroupJoinToConsumerGroup`). `new_member_id` is the id a first join gets. Answered at once; the
/// records are what changed in the consumer group.
pub(crate) fn join(
    group: &mut Group,
    config: &GroupConfig,
    req: JoinGroup,
    new_member_id: Option<String>,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
) -> (Result<JoinResult, Error>, Vec<Record>) {
    let before = group_snapshot(Some(group));
    let result = join_inner(group, config, req, new_member_id, topics, now);
    let after = group_snapshot(Some(group));
    (result, diff(&group.group_id, &before, &after))
}

fn join_inner(
    group: &mut Group,
    config: &GroupConfig,
    req: JoinGroup,
    new_member_id: Option<String>,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
) -> Result<JoinResult, Error> {
    let Some(cg) = group.consumer.as_mut() else {
        return Err(Error::InconsistentGroupProtocol);
    };
    if !cg.supports_classic_protocols(&req.protocol_type, &req.protocols) {
        return Err(Error::InconsistentGroupProtocol);
    }
    let unknown = new_member_id.is_some();
    let member_id = new_member_id.unwrap_or_else(|| req.member_id.clone());
    if unknown && req.group_instance_id.is_none() && req.require_known_member_id {
        return Err(Error::MemberIdRequired { member_id });
    }
    let Some(subscription) = req
        .protocols
        .first()
        .and_then(|p| embedded::decode_subscription(&p.metadata))
    else {
        return Err(Error::InconsistentGroupProtocol);
    };
    let mut changed = false;
    // KIP-345: a static member rejoining without its member id takes the old member's place (and its
    // epoch and assignment); one that names another member id is fenced.
    if let Some(instance) = &req.group_instance_id {
        let holder = cg
            .members
            .values()
            .find(|m| m.instance_id.as_ref() == Some(instance))
            .map(|m| m.member_id.clone());
        match holder {
            Some(old) if old != member_id => {
                if !unknown {
                    return Err(Error::FencedInstanceId);
                }
                if let Some(mut m) = cg.members.remove(&old) {
                    m.member_id = member_id.clone();
                    cg.members.insert(member_id.clone(), m);
                }
                if let Some(t) = cg.target.remove(&old) {
                    cg.target.insert(member_id.clone(), t);
                }
            }
            _ => {}
        }
    }
    let member = cg.members.entry(member_id.clone()).or_insert_with(|| {
        changed = true;
        ConsumerMember {
            member_id: member_id.clone(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 0,
            subscribed: Vec::new(),
            server_assignor: None,
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            owned: Assignment::new(),
            session_deadline: now,
            revocation_deadline: None,
            classic: None,
        }
    });
    member.instance_id = req.group_instance_id.clone();
    if let Some(rack) = &subscription.rack_id {
        member.rack_id = Some(rack.to_string());
    }
    if req.rebalance_timeout_ms >= 0 {
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    let mut names: Vec<String> = subscription.topics.iter().map(|t| t.to_string()).collect();
    names.sort();
    names.dedup();
    if names != member.subscribed {
        member.subscribed = names;
        changed = true;
    }
    member.client_id = req.client_id.clone();
    member.client_host = req.client_host.clone();
    member.session_deadline = now + i64::from(req.session_timeout_ms);
    member.classic = Some(ClassicMember {
        session_timeout_ms: req.session_timeout_ms,
        protocols: req.protocols.clone(),
        join_deadline: None,
        // Kafka's sync timeout: the member must send SyncGroup within its rebalance timeout.
        sync_deadline: Some(now + i64::from(req.rebalance_timeout_ms.max(1))),
    });
    let owned = by_id(
        subscription.owned_partitions.iter().map(|tp| {
            (
                tp.topic.to_string(),
                tp.partitions.iter().copied().collect(),
            )
        }),
        topics,
    );
    member.owned = owned.clone();
    refresh_and_assign(cg, changed, topics, &default_assignor(config));
    reconcile(cg, &member_id, Some(&owned), now);
    let Some(member) = cg.members.get(&member_id) else {
        return Err(Error::UnknownMemberId);
    };
    let result = JoinResult {
        generation_id: member.epoch,
        protocol_type: Some("consumer".to_string()),
        protocol_name: member
            .classic
            .as_ref()
            .map(|c| c.protocol_name().to_string()),
        leader: String::new(),
        member_id: member_id.clone(),
        skip_assignment: false,
        members: Vec::new(),
    };
    group.update_consumer_group_state(now);
    Ok(result)
}

/// The member a classic request names: by instance id when it has one (KIP-345: FENCED_INSTANCE_ID when
/// another member id holds it), else by member id; it must be a classic member (Kafka's
/// `validateConsumerGroupMember` and `throwIfMemberDoesNotUseClassicProtocol`).
fn classic_member<'a>(
    cg: &'a mut ConsumerGroup,
    member_id: &str,
    instance: Option<&str>,
) -> Result<&'a mut ConsumerMember, Error> {
    let id = match instance {
        Some(instance) => {
            let Some(m) = cg
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
            else {
                return Err(Error::UnknownMemberId);
            };
            if !member_id.is_empty() && m.member_id != member_id {
                return Err(Error::FencedInstanceId);
            }
            m.member_id.clone()
        }
        None => member_id.to_string(),
    };
    match cg.members.get_mut(&id) {
        Some(m) if m.classic.is_some() => Ok(m),
        _ => Err(Error::UnknownMemberId),
    }
}

/// SyncGroup from a classic member of a consumer group (Kafka's `classicGroupSyncToConsumerGroup`): its
/// current assignment, unless the group moved on since its JoinGroup (REBALANCE_IN_PROGRESS: rejoin).
pub(crate) fn sync(group: &mut Group, req: &SyncGroup, now: i64) -> Result<SyncResult, Error> {
    let Some(cg) = group.consumer.as_mut() else {
        return Err(Error::UnknownMemberId);
    };
    let group_epoch = cg.group_epoch;
    let member = classic_member(cg, &req.member_id, req.group_instance_id.as_deref())?;
    if req.generation_id != member.epoch {
        return Err(Error::IllegalGeneration {
            expected: member.epoch,
            got: req.generation_id,
        });
    }
    let Some(classic) = member.classic.as_mut() else {
        return Err(Error::UnknownMemberId);
    };
    let type_mismatch = req
        .protocol_type
        .as_deref()
        .is_some_and(|t| t != "consumer");
    let name_mismatch = req
        .protocol_name
        .as_deref()
        .is_some_and(|n| n != classic.protocol_name());
    if type_mismatch || name_mismatch {
        return Err(Error::InconsistentGroupProtocol);
    }
    if group_epoch > member.epoch && member.state != MemberState::UnrevokedPartitions {
        classic
            .join_deadline
            .get_or_insert(now + i64::from(member.rebalance_timeout_ms.max(1)));
        return Err(Error::RebalanceInProgress);
    }
    classic.sync_deadline = None;
    member.session_deadline = now + i64::from(classic.session_timeout_ms);
    let metadata = classic
        .protocols
        .first()
        .map(|p| p.metadata.clone())
        .unwrap_or_default();
    let assigned = member.assigned.clone();
    Ok(SyncResult {
        protocol_type: req.protocol_type.clone(),
        protocol_name: req.protocol_name.clone(),
        assignment: assignment_bytes(cg, &assigned, &metadata),
    })
}

/// Heartbeat from a classic member of a consumer group (Kafka's `classicGroupHeartbeatToConsumerGroup`):
/// REBALANCE_IN_PROGRESS when the group epoch moved past the member's, when it must give up partitions, or
/// when partitions it waits for are free now; then it must rejoin within its rebalance timeout.
pub(crate) fn heartbeat(
    group: &mut Group,
    member_id: &str,
    instance: Option<&str>,
    generation_id: i32,
    now: i64,
) -> Result<(), Error> {
    let Some(cg) = group.consumer.as_mut() else {
        return Err(Error::UnknownMemberId);
    };
    let group_epoch = cg.group_epoch;
    let (id, epoch, state) = {
        let member = classic_member(cg, member_id, instance)?;
        (member.member_id.clone(), member.epoch, member.state)
    };
    if generation_id != epoch {
        return Err(Error::IllegalGeneration {
            expected: epoch,
            got: generation_id,
        });
    }
    let rejoin = epoch < group_epoch
        || state == MemberState::UnrevokedPartitions
        || (state == MemberState::UnreleasedPartitions && !waiting_on_unreleased(cg, &id));
    let Some(member) = cg.members.get_mut(&id) else {
        return Err(Error::UnknownMemberId);
    };
    let rebalance_timeout = i64::from(member.rebalance_timeout_ms.max(1));
    let Some(classic) = member.classic.as_mut() else {
        return Err(Error::UnknownMemberId);
    };
    member.session_deadline = now + i64::from(classic.session_timeout_ms);
    if rejoin {
        classic.join_deadline.get_or_insert(now + rebalance_timeout);
        return Err(Error::RebalanceInProgress);
    }
    Ok(())
}

/// Kafka's `waitingOnUnreleasedPartition`: a partition of the member's target is still held by another.
fn waiting_on_unreleased(cg: &ConsumerGroup, member_id: &str) -> bool {
    let Some(member) = cg.members.get(member_id) else {
        return false;
    };
    let Some(target) = cg.target.get(member_id) else {
        return false;
    };
    target.iter().any(|(topic, ps)| {
        ps.iter().any(|p| {
            !member.assigned.get(topic).is_some_and(|a| a.contains(p))
                && cg.holder(topic, *p, member_id)
        })
    })
}

/// LeaveGroup of classic members from a consumer group (Kafka's `classicGroupLeaveToConsumerGroup`): each
/// named member (by member id, or by instance id for static members) leaves; a KIP-848 member cannot leave
/// this way (UNKNOWN_MEMBER_ID). One result per member, and the records of what changed.
pub(crate) fn leave(
    group: &mut Group,
    leaving: &[LeaveMember],
    now: i64,
) -> (Vec<Result<(), Error>>, Vec<Record>) {
    let before = group_snapshot(Some(group));
    let mut results = Vec::with_capacity(leaving.len());
    if let Some(cg) = group.consumer.as_mut() {
        for l in leaving {
            let id = classic_member(cg, &l.member_id, l.group_instance_id.as_deref())
                .map(|m| m.member_id.clone());
            results.push(id.map(|id| {
                cg.remove_member(&id);
            }));
        }
    }
    group.update_consumer_group_state(now);
    let after = group_snapshot(Some(group));
    (results, diff(&group.group_id, &before, &after))
}
