//! KIP-848 membership (Kafka's `GroupMetadataManager.consumerGroupHeartbeat`): ConsumerGroupHeartbeat joins
//! (epoch 0), leaves (epoch -1, or -2 for a static member), or keeps a member alive; a heartbeat that
//! changes membership, subscriptions or the subscribed topics' metadata bumps the group epoch, and the member
//! then reconciles (`assignment.rs`). Also session and revocation expiry and ConsumerGroupDescribe. Every
//! call returns the records of what changed (`records.rs` diffs the group before and after). Reads no clock
//! (`now` comes in) and knows no topics except through the lookup the caller passes; regex subscriptions are
//! not served.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignment::{default_assignor, minus, normalize, reconcile, refresh_and_assign, total};
use super::classic::from_classic;
use super::records::{diff, group_snapshot, snapshot};
use crate::assignor::Assignment;
use crate::config::GroupConfig;
use crate::error::Error;
use crate::group::{ConsumerMember, Group, MemberIds, MemberState};
use crate::record::{Record, TopicMeta};
use crate::types::{
    ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResult,
    ConsumerMemberDescription, Reply,
};

/// Epoch a member sends to join.
const JOIN_EPOCH: i32 = 0;
/// Epoch a member sends to leave.
const LEAVE_EPOCH: i32 = -1;
/// Epoch a static member sends to leave for a while (it may come back under its instance id).
const STATIC_LEAVE_EPOCH: i32 = -2;

/// What a ConsumerGroupHeartbeat did: the answer, the records of what changed, answers for classic
/// requests a conversion ended, and the KIP-848 member whose leaving should turn the group classic (it is
/// still in the group: the caller converts the group without it, `classic/downgrade.rs`).
pub(crate) struct HeartbeatOutcome {
    pub(crate) result: Result<ConsumerHeartbeatResult, Error>,
    pub(crate) records: Vec<Record>,
    pub(crate) replies: Vec<Reply>,
    pub(crate) downgrade: Option<String>,
}

/// Handles a ConsumerGroupHeartbeat: join (epoch 0), leave (epoch -1/-2), or keep alive and reconcile.
/// `topics` looks a topic up by name in the broker's current metadata. A join into a classic group of
/// consumer-protocol members converts it to a consumer group first (KIP-848's online upgrade, when
/// `group.consumer.migration.policy` allows).
pub(crate) fn heartbeat(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    member_ids: &mut MemberIds,
    req: ConsumerHeartbeat,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
) -> HeartbeatOutcome {
    let group_id = req.group_id.clone();
    let before = group_snapshot(groups.get(&group_id));
    let mut out = HeartbeatOutcome {
        result: Err(Error::UnknownMemberId),
        records: Vec::new(),
        replies: Vec::new(),
        downgrade: None,
    };
    out.result = heartbeat_inner(groups, config, member_ids, req, topics, now, &mut out);
    let after = group_snapshot(groups.get(&group_id));
    out.records.extend(diff(&group_id, &before, &after));
    out
}

fn heartbeat_inner(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    member_ids: &mut MemberIds,
    req: ConsumerHeartbeat,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    now: i64,
    out: &mut HeartbeatOutcome,
) -> Result<ConsumerHeartbeatResult, Error> {
    if req.group_id.is_empty() {
        return Err(Error::InvalidGroupId);
    }
    if req.member_epoch < STATIC_LEAVE_EPOCH {
        return Err(Error::InvalidRequest("member epoch below -2".into()));
    }
    if req
        .subscribed_topic_regex
        .as_deref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(Error::InvalidRequest(
            "regex subscriptions are not supported".into(),
        ));
    }
    if let Some(a) = &req.server_assignor {
        if !config.consumer_assignors.iter().any(|x| x == a) {
            return Err(Error::UnsupportedAssignor(a.clone()));
        }
    }
    let interval = config.consumer_heartbeat_interval_ms;
    let session = i64::from(config.consumer_session_timeout_ms);
    let default_assignor = default_assignor(config);

    // Leaving needs no group to exist.
    if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
        if let Some(group) = groups.get_mut(&req.group_id) {
            if let Some(cg) = group.consumer.as_mut() {
                // Kafka's validateOnlineDowngradeWithFencedMember: the last KIP-848 member leaving for good
                // turns a group of classic members back into a classic group.
                if req.member_epoch == LEAVE_EPOCH
                    && config.consumer_migration_policy.downgrade_enabled()
                    && cg.only_classic_members_without(&req.member_id)
                {
                    out.downgrade = Some(req.member_id.clone());
                } else {
                    cg.remove_member(&req.member_id);
                    group.update_consumer_group_state(now);
                }
            }
        }
        return Ok(ConsumerHeartbeatResult {
            member_id: req.member_id,
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        });
    }

    let joining = req.member_epoch == JOIN_EPOCH;
    // Kafka's isFullRequest: a client that lost track (e.g. after a coordinator change) sends every field
    // and gets its assignment back whether or not it changed.
    let full_request = joining
        || (req.rebalance_timeout_ms != -1
            && req.subscribed_topic_names.is_some()
            && req.owned.is_some());
    if !joining && !groups.contains_key(&req.group_id) {
        return Err(Error::UnknownMemberId);
    }
    let member_id = if req.member_id.is_empty() {
        if !joining {
            return Err(Error::UnknownMemberId);
        }
        member_ids.next(&req.client_id, now)
    } else {
        req.member_id.clone()
    };
    let group = groups
        .entry(req.group_id.clone())
        .or_insert_with(|| Group::new(&req.group_id, now));
    if group.consumer.is_none() {
        if group.members.is_empty() {
            group.pending_members.clear();
            group.start_consumer_group();
        } else if joining
            && config.consumer_migration_policy.upgrade_enabled()
            && group.protocol_type.as_deref() == Some("consumer")
        {
            // Kafka's validateOnlineUpgrade + convertToConsumerGroup: the classic members carry on as
            // classic members of the consumer group.
            let (replies, records) = from_classic(group, topics, now);
            out.replies.extend(replies);
            out.records.extend(records);
        } else {
            // Kafka's getOrMaybeCreateConsumerGroup: "Group ... is not a consumer group".
            return Err(Error::GroupIdNotFound);
        }
    }
    let Some(cg) = group.consumer.as_mut() else {
        return Err(Error::InconsistentGroupProtocol);
    };

    let mut changed = false;
    if joining {
        if req.subscribed_topic_names.is_none() {
            return Err(Error::InvalidRequest(
                "a joining member must send its subscription".into(),
            ));
        }
        // A retried join, or a member that lost its state: start it afresh.
        cg.remove_member(&member_id);
        // KIP-848 static membership: the instance id moves to the new member id.
        if let Some(instance) = &req.instance_id {
            let old: Vec<String> = cg
                .members
                .values()
                .filter(|m| m.instance_id.as_ref() == Some(instance))
                .map(|m| m.member_id.clone())
                .collect();
            for m in old {
                cg.remove_member(&m);
            }
        }
        cg.members.insert(
            member_id.clone(),
            ConsumerMember {
                member_id: member_id.clone(),
                instance_id: req.instance_id.clone(),
                rack_id: req.rack_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                rebalance_timeout_ms: req.rebalance_timeout_ms.max(0),
                subscribed: Vec::new(),
                server_assignor: None,
                epoch: 0,
                previous_epoch: -1,
                state: MemberState::Stable,
                assigned: Assignment::new(),
                pending_revocation: Assignment::new(),
                owned: Assignment::new(),
                session_deadline: now + session,
                revocation_deadline: None,
                classic: None,
            },
        );
        changed = true;
    }
    let Some(member) = cg.members.get_mut(&member_id) else {
        return Err(Error::UnknownMemberId);
    };
    if !joining {
        // Kafka's throwIfMemberEpochIsInvalid: a newer epoch than ours is impossible; an older one is
        // accepted only if it is the previous epoch (the last response was lost) and the member owns
        // nothing it should not.
        if req.member_epoch > member.epoch {
            return Err(Error::FencedMemberEpoch {
                expected: member.epoch,
                got: req.member_epoch,
            });
        }
        if req.member_epoch < member.epoch
            && (req.member_epoch != member.previous_epoch
                || req
                    .owned
                    .as_ref()
                    .is_some_and(|o| total(&minus(o, &member.assigned)) > 0))
        {
            return Err(Error::FencedMemberEpoch {
                expected: member.epoch,
                got: req.member_epoch,
            });
        }
    }
    member.session_deadline = now + session;
    member.client_id = req.client_id;
    if !req.client_host.is_empty() {
        member.client_host = req.client_host;
    }
    if req.rack_id.is_some() {
        member.rack_id = req.rack_id;
    }
    if req.rebalance_timeout_ms >= 0 {
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(mut names) = req.subscribed_topic_names {
        names.sort();
        names.dedup();
        if names != member.subscribed {
            member.subscribed = names;
            changed = true;
        }
    }
    if req.server_assignor.is_some() && req.server_assignor != member.server_assignor {
        member.server_assignor = req.server_assignor;
        changed = true;
    }
    // A KIP-848 heartbeat makes the member a KIP-848 member (Kafka clears its classic metadata).
    member.classic = None;
    let owned_now = req.owned.map(normalize);
    if let Some(owned) = &owned_now {
        member.owned = owned.clone();
    }
    refresh_and_assign(cg, changed, topics, &default_assignor);
    let before = cg
        .members
        .get(&member_id)
        .map(|m| (m.epoch, m.assigned.clone()));
    reconcile(cg, &member_id, owned_now.as_ref(), now);
    let Some(member) = cg.members.get(&member_id) else {
        return Err(Error::UnknownMemberId);
    };
    let assignment_changed = before.is_none_or(|(_, a)| a != member.assigned);
    let result = ConsumerHeartbeatResult {
        member_id: member_id.clone(),
        member_epoch: member.epoch,
        heartbeat_interval_ms: interval,
        assignment: (full_request || assignment_changed).then(|| member.assigned.clone()),
    };
    group.update_consumer_group_state(now);
    Ok(result)
}

/// Removes consumer-group members whose session expired, who did not give up revoked partitions in time, or
/// (classic members) who did not rejoin or sync in time, and returns the records of their removal. A
/// KIP-848 member whose removal would leave only classic members is not removed but returned with its group
/// (the caller turns the group classic without it, as Kafka's fencing does). Called from
/// `GroupCoordinator::tick`.
pub(crate) fn expire_members(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    now: i64,
) -> (Vec<Record>, Vec<(String, String)>) {
    let mut records = Vec::new();
    let mut downgrades = Vec::new();
    for (group_id, group) in groups.iter_mut() {
        let Some(cg) = group.consumer.as_mut() else {
            continue;
        };
        let expired: Vec<String> = cg
            .members
            .values()
            .filter(|m| {
                m.session_deadline <= now
                    || m.revocation_deadline.is_some_and(|d| d <= now)
                    || m.classic.as_ref().is_some_and(|c| {
                        c.join_deadline.is_some_and(|d| d <= now)
                            || c.sync_deadline.is_some_and(|d| d <= now)
                    })
            })
            .map(|m| m.member_id.clone())
            .collect();
        if expired.is_empty() {
            continue;
        }
        let before = snapshot(cg);
        for m in &expired {
            if config.consumer_migration_policy.downgrade_enabled()
                && cg.only_classic_members_without(m)
            {
                downgrades.push((group_id.clone(), m.clone()));
                break;
            }
            cg.remove_member(m);
        }
        let after = snapshot(cg);
        records.extend(diff(group_id, &before, &after));
        group.update_consumer_group_state(now);
    }
    (records, downgrades)
}

/// ConsumerGroupDescribe for one group: `Err(GroupIdNotFound)` when it does not exist or is classic.
pub(crate) fn describe(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
) -> Result<ConsumerGroupDescription, Error> {
    let Some(group) = groups.get(group_id) else {
        return Err(Error::GroupIdNotFound);
    };
    let Some(cg) = group.consumer.as_ref() else {
        return Err(Error::GroupIdNotFound);
    };
    let names: BTreeMap<Uuid, String> =
        cg.topics.values().map(|t| (t.id, t.name.clone())).collect();
    let named = |a: &Assignment| -> BTreeMap<Uuid, (String, BTreeSet<i32>)> {
        a.iter()
            .map(|(id, ps)| {
                let name = names.get(id).cloned().unwrap_or_default();
                (*id, (name, ps.clone()))
            })
            .collect()
    };
    Ok(ConsumerGroupDescription {
        group_id: group_id.to_string(),
        state: cg.state_name(),
        group_epoch: cg.group_epoch,
        assignment_epoch: cg.target_epoch,
        assignor_name: cg.assignor.clone(),
        members: cg
            .members
            .values()
            .map(|m| ConsumerMemberDescription {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                member_epoch: m.epoch,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.subscribed.clone(),
                assignment: named(&m.assigned),
                target_assignment: named(cg.target.get(&m.member_id).unwrap_or(&Assignment::new())),
            })
            .collect(),
    })
}
