//! A consumer group as Kafka's ConsumerGroup* records (key types 3..=8, see `record.rs`), both ways. After
//! each heartbeat or expiry the group's records are diffed against what they were before the call, and the
//! changed ones (tombstones for removed members, before the group-level ones) are what the call persists.
//! Replaying them at start-up restores members with their epochs and assignments; their sessions restart at
//! load, as in Kafka. Session and revocation deadlines are not persisted. Knows nothing of heartbeats or
//! assignors.

use std::collections::BTreeMap;

use crate::assignor::Assignment;
use crate::config::GroupConfig;
use crate::group::{ClassicMember, ConsumerGroup, ConsumerMember, Group, MemberState};
use crate::record::{
    ClassicMemberValue, ConsumerKey, ConsumerMemberValue, ConsumerValue, CurrentAssignmentValue,
    Record,
};
use crate::types::Protocol;

/// The group's state as KIP-848 records, by key. Session and revocation deadlines are not persisted.
pub(crate) fn snapshot(cg: &ConsumerGroup) -> BTreeMap<ConsumerKey, ConsumerValue> {
    let mut out = BTreeMap::new();
    out.insert(
        ConsumerKey::Metadata,
        ConsumerValue::Metadata {
            epoch: cg.group_epoch,
            assignor: cg.assignor.clone(),
        },
    );
    out.insert(
        ConsumerKey::PartitionMetadata,
        ConsumerValue::PartitionMetadata(cg.topics.values().cloned().collect()),
    );
    out.insert(
        ConsumerKey::TargetMetadata,
        ConsumerValue::TargetMetadata {
            assignment_epoch: cg.target_epoch,
        },
    );
    for (id, m) in &cg.members {
        out.insert(
            ConsumerKey::Member(id.clone()),
            ConsumerValue::Member(ConsumerMemberValue {
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                subscribed_topic_names: m.subscribed.clone(),
                server_assignor: m.server_assignor.clone(),
                classic: m.classic.as_ref().map(|c| ClassicMemberValue {
                    session_timeout_ms: c.session_timeout_ms,
                    protocols: c
                        .protocols
                        .iter()
                        .map(|p| (p.name.clone(), p.metadata.clone()))
                        .collect(),
                }),
            }),
        );
        out.insert(
            ConsumerKey::CurrentAssignment(id.clone()),
            ConsumerValue::CurrentAssignment(CurrentAssignmentValue {
                member_epoch: m.epoch,
                previous_member_epoch: m.previous_epoch,
                state: m.state.code(),
                assigned: m.assigned.clone(),
                pending_revocation: m.pending_revocation.clone(),
            }),
        );
    }
    for (id, a) in &cg.target {
        out.insert(
            ConsumerKey::TargetMember(id.clone()),
            ConsumerValue::TargetMember(a.clone()),
        );
    }
    out
}

pub(crate) fn group_snapshot(group: Option<&Group>) -> BTreeMap<ConsumerKey, ConsumerValue> {
    group
        .and_then(|g| g.consumer.as_ref())
        .map(snapshot)
        .unwrap_or_default()
}

/// The records that turn `before` into `after`: changed values, and tombstones for keys that went away
/// (member records before the group-level ones, as Kafka writes them).
pub(crate) fn diff(
    group_id: &str,
    before: &BTreeMap<ConsumerKey, ConsumerValue>,
    after: &BTreeMap<ConsumerKey, ConsumerValue>,
) -> Vec<Record> {
    let mut out: Vec<Record> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .rev()
        .map(|k| Record::Consumer {
            group_id: group_id.to_string(),
            key: k.clone(),
            value: None,
        })
        .collect();
    out.extend(
        after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| Record::Consumer {
                group_id: group_id.to_string(),
                key: k.clone(),
                value: Some(v.clone()),
            }),
    );
    out
}

/// Tombstones for every record of a consumer group (group deletion, or the group turning classic).
pub(crate) fn tombstones(group_id: &str, cg: &ConsumerGroup) -> Vec<Record> {
    diff(group_id, &snapshot(cg), &BTreeMap::new())
}

/// Applies one replayed KIP-848 record. Members come back with their epochs and assignments and a fresh
/// session (Kafka restarts session timers at load); a tombstone for a group or member that is not there
/// changes nothing.
pub(crate) fn replay(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    group_id: &str,
    key: &ConsumerKey,
    value: Option<&ConsumerValue>,
    now: i64,
) {
    let session = i64::from(config.consumer_session_timeout_ms);
    if value.is_none() && !groups.contains_key(group_id) {
        return;
    }
    let group = groups
        .entry(group_id.to_string())
        .or_insert_with(|| Group::new(group_id, now));
    if group.consumer.is_none() {
        if value.is_none() || !group.members.is_empty() {
            return;
        }
        group.start_consumer_group();
    }
    let Some(cg) = group.consumer.as_mut() else {
        return;
    };
    let placeholder = |member_id: &str| ConsumerMember {
        member_id: member_id.to_string(),
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
        session_deadline: now + session,
        revocation_deadline: None,
        classic: None,
    };
    match (key, value) {
        (ConsumerKey::Metadata, Some(ConsumerValue::Metadata { epoch, assignor })) => {
            cg.group_epoch = *epoch;
            cg.assignor = assignor.clone();
        }
        (ConsumerKey::Metadata, None) if cg.members.is_empty() => {
            group.consumer = None;
            if group.members.is_empty() && group.offsets.is_empty() {
                groups.remove(group_id);
                return;
            }
        }
        (ConsumerKey::PartitionMetadata, Some(ConsumerValue::PartitionMetadata(topics))) => {
            cg.topics = topics.iter().map(|t| (t.name.clone(), t.clone())).collect();
        }
        (ConsumerKey::PartitionMetadata, None) => cg.topics.clear(),
        (ConsumerKey::TargetMetadata, Some(ConsumerValue::TargetMetadata { assignment_epoch })) => {
            cg.target_epoch = *assignment_epoch;
        }
        (ConsumerKey::TargetMetadata, None) => cg.target_epoch = 0,
        (ConsumerKey::Member(id), Some(ConsumerValue::Member(v))) => {
            let m = cg
                .members
                .entry(id.clone())
                .or_insert_with(|| placeholder(id));
            m.instance_id = v.instance_id.clone();
            m.rack_id = v.rack_id.clone();
            m.client_id = v.client_id.clone();
            m.client_host = v.client_host.clone();
            m.rebalance_timeout_ms = v.rebalance_timeout_ms;
            m.subscribed = v.subscribed_topic_names.clone();
            m.server_assignor = v.server_assignor.clone();
            m.classic = v.classic.as_ref().map(|c| ClassicMember {
                session_timeout_ms: c.session_timeout_ms,
                protocols: c
                    .protocols
                    .iter()
                    .map(|(name, metadata)| Protocol {
                        name: name.clone(),
                        metadata: metadata.clone(),
                    })
                    .collect(),
                join_deadline: None,
                sync_deadline: None,
            });
            m.session_deadline = now + m.session_timeout_ms(session);
        }
        (ConsumerKey::Member(id), None) => {
            cg.members.remove(id);
        }
        (ConsumerKey::TargetMember(id), Some(ConsumerValue::TargetMember(a))) => {
            cg.target.insert(id.clone(), a.clone());
        }
        (ConsumerKey::TargetMember(id), None) => {
            cg.target.remove(id);
        }
        (ConsumerKey::CurrentAssignment(id), Some(ConsumerValue::CurrentAssignment(c))) => {
            let m = cg
                .members
                .entry(id.clone())
                .or_insert_with(|| placeholder(id));
            m.epoch = c.member_epoch;
            m.previous_epoch = c.previous_member_epoch;
            m.state = MemberState::from_code(c.state);
            m.assigned = c.assigned.clone();
            m.pending_revocation = c.pending_revocation.clone();
            // Until it says otherwise, the member still holds what it had and what it must give up.
            let mut owned = c.assigned.clone();
            for (t, ps) in &c.pending_revocation {
                owned.entry(*t).or_default().extend(ps.iter().copied());
            }
            m.owned = owned;
            m.revocation_deadline = (m.state == MemberState::UnrevokedPartitions)
                .then(|| now + i64::from(m.rebalance_timeout_ms).max(1));
            m.session_deadline = now + m.session_timeout_ms(session);
        }
        (ConsumerKey::CurrentAssignment(id), None) => {
            if let Some(m) = cg.members.get_mut(id) {
                m.epoch = 0;
                m.previous_epoch = -1;
                m.state = MemberState::Stable;
                m.assigned = Assignment::new();
                m.pending_revocation = Assignment::new();
                m.owned = Assignment::new();
                m.revocation_deadline = None;
            }
        }
        // A value that does not match its key (cannot come from `Record::decode`): ignored.
        _ => {}
    }
    group.update_consumer_group_state(now);
}
