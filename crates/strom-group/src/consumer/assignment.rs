//! How a consumer group's assignment moves (Kafka's `TargetAssignmentBuilder` and `CurrentAssignmentBuilder`):
//! the target assignment is recomputed by a server-side assignor (`assignor.rs`) for the current group
//! epoch, and each member then reconciles towards its target on its own heartbeats. Partitions it must give
//! up are revoked first (its epoch stays until it acknowledges by no longer reporting them), and a partition
//! is handed to its new owner only once no other member holds or is revoking it. Also the set operations on
//! [`Assignment`]s both steps use. Does not decide when to run (that is `heartbeat.rs`) and writes no
//! records.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::assignor::{self, Assignment, AssignorMember};
use crate::config::GroupConfig;
use crate::group::{ConsumerGroup, MemberState};
use crate::record::TopicMeta;

pub(crate) fn total(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

pub(crate) fn normalize(a: Assignment) -> Assignment {
    a.into_iter().filter(|(_, p)| !p.is_empty()).collect()
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    normalize(
        a.iter()
            .map(|(t, ps)| {
                let other = b.get(t);
                let kept = ps
                    .iter()
                    .copied()
                    .filter(|p| other.is_some_and(|o| o.contains(p)))
                    .collect();
                (*t, kept)
            })
            .collect(),
    )
}

pub(crate) fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    normalize(
        a.iter()
            .map(|(t, ps)| {
                let other = b.get(t);
                let rest = ps
                    .iter()
                    .copied()
                    .filter(|p| !other.is_some_and(|o| o.contains(p)))
                    .collect();
                (*t, rest)
            })
            .collect(),
    )
}

fn overlaps(a: &Assignment, b: &Assignment) -> bool {
    total(&intersect(a, b)) > 0
}

/// Refreshes the subscribed topics' metadata (a topic created, deleted or grown changes the target), bumps
/// the group epoch once if that or the caller's member `changed` (as Kafka does, one bump per request), and
/// recomputes the target assignment when the group epoch moved past it.
pub(crate) fn refresh_and_assign(
    cg: &mut ConsumerGroup,
    mut changed: bool,
    topics: &dyn Fn(&str) -> Option<TopicMeta>,
    default_assignor: &str,
) {
    let wanted: BTreeSet<&String> = cg.members.values().flat_map(|m| &m.subscribed).collect();
    let metadata: BTreeMap<String, TopicMeta> = wanted
        .into_iter()
        .filter_map(|name| topics(name).map(|t| (name.clone(), t)))
        .collect();
    if metadata != cg.topics {
        cg.topics = metadata;
        changed = true;
    }
    if changed {
        cg.group_epoch += 1;
    }
    if cg.group_epoch > cg.target_epoch {
        compute_target(cg, default_assignor);
    }
}

/// The assignor a target is computed with when no member asks for one: the first configured.
pub(crate) fn default_assignor(config: &GroupConfig) -> String {
    config
        .consumer_assignors
        .first()
        .cloned()
        .unwrap_or_else(|| "uniform".to_string())
}

/// Recomputes the target assignment for the current group epoch.
pub(crate) fn compute_target(cg: &mut ConsumerGroup, default_assignor: &str) {
    // The assignor most members ask for, else the default (Kafka's preferred server assignor).
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for m in cg.members.values() {
        if let Some(a) = &m.server_assignor {
            *votes.entry(a.as_str()).or_default() += 1;
        }
    }
    let assignor = votes
        .iter()
        .max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| default_assignor.to_string());
    let partitions: BTreeMap<Uuid, i32> =
        cg.topics.values().map(|t| (t.id, t.partitions)).collect();
    let members: Vec<AssignorMember<'_>> = cg
        .members
        .values()
        .map(|m| AssignorMember {
            member_id: &m.member_id,
            topics: m
                .subscribed
                .iter()
                .filter_map(|n| cg.topics.get(n).map(|t| t.id))
                .collect(),
            previous: cg.target.get(&m.member_id),
        })
        .collect();
    let target = assignor::assign(&assignor, &members, &partitions);
    cg.target = target.into_iter().map(|(m, a)| (m, normalize(a))).collect();
    cg.target_epoch = cg.group_epoch;
    cg.assignor = assignor;
}

/// Moves one member towards its target (Kafka's `CurrentAssignmentBuilder`). `owned_now` is what the member
/// said it owns in this request: partitions to revoke that it no longer reports are revoked at once;
/// without a report it is assumed to still hold them.
pub(crate) fn reconcile(
    cg: &mut ConsumerGroup,
    member_id: &str,
    owned_now: Option<&Assignment>,
    now: i64,
) {
    let Some(member) = cg.members.get(member_id) else {
        return;
    };
    let proceed = match member.state {
        MemberState::Stable => member.epoch != cg.target_epoch,
        // Acknowledged once the member no longer reports any partition it must give up.
        MemberState::UnrevokedPartitions => !overlaps(&member.owned, &member.pending_revocation),
        MemberState::UnreleasedPartitions => true,
    };
    if !proceed {
        return;
    }
    let target = cg.target.get(member_id).cloned().unwrap_or_default();
    let assigned = member.assigned.clone();
    let epoch = member.epoch;
    let rebalance_timeout = i64::from(member.rebalance_timeout_ms);
    let kept = intersect(&assigned, &target);
    let revoke = minus(&assigned, &target);
    let wanted = minus(&target, &assigned);
    let mut free = Assignment::new();
    let mut unreleased = false;
    for (topic, ps) in &wanted {
        for &p in ps {
            if cg.holder(topic, p, member_id) {
                unreleased = true;
            } else {
                free.entry(*topic).or_default().insert(p);
            }
        }
    }
    let target_epoch = cg.target_epoch;
    let Some(member) = cg.members.get_mut(member_id) else {
        return;
    };
    if total(&revoke) > 0 && owned_now.is_none_or(|o| overlaps(o, &revoke)) {
        member.state = MemberState::UnrevokedPartitions;
        member.assigned = kept;
        member.pending_revocation = revoke;
        member.revocation_deadline = Some(now + rebalance_timeout.max(1));
        return;
    }
    let mut next = kept;
    for (t, ps) in free {
        next.entry(t).or_default().extend(ps);
    }
    if epoch != target_epoch {
        member.previous_epoch = epoch;
        member.epoch = target_epoch;
    }
    member.assigned = next;
    member.pending_revocation = Assignment::new();
    member.revocation_deadline = None;
    member.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
}
