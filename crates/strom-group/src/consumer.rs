//! KIP-848 consumer groups (`group.protocol=consumer`): ConsumerGroupHeartbeat and ConsumerGroupDescribe
//! over the same groups as the classic protocol. A group is either classic or consumer while it has members;
//! an empty group may change sides. Committed offsets are shared (they live in [`Group`]).
//!
//! Follows Kafka's `GroupMetadataManager`: a heartbeat that changes membership, subscriptions or the
//! subscribed topics' metadata bumps the group epoch; the target assignment is recomputed (by a server-side
//! assignor, `assignor.rs`) when the group epoch passes the target's epoch; each member then reconciles
//! towards its target on its own heartbeats (Kafka's `CurrentAssignmentBuilder`): partitions it must give up
//! are revoked first (its epoch stays until it acknowledges by no longer reporting them), and a partition is
//! handed to its new owner only once no other member holds or is revoking it.
//!
//! Every change comes back as Kafka's ConsumerGroup* records (key types 3..=8, see `record.rs`): after each
//! heartbeat or expiry the group's records are diffed against what they were before the call, and the changed
//! ones (tombstones for removed members) queue up for [`GroupCoordinator::take_records`]. Replaying them at
//! start-up restores members with their epochs and assignments; their sessions restart at load, as in
//! Kafka. Regex subscriptions are not served.
//! Reads no clock (`now` comes in) and knows no topics except through the lookup the caller passes.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::assignor::{self, Assignment, AssignorMember};
use crate::coordinator::GroupCoordinator;
use crate::error::Error;
use crate::group::{Group, GroupState};
use crate::record::{
    ConsumerKey, ConsumerMemberValue, ConsumerValue, CurrentAssignmentValue, Record,
};

/// A topic as the broker's metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
}

/// Epoch a member sends to join.
const JOIN_EPOCH: i32 = 0;
/// Epoch a member sends to leave.
const LEAVE_EPOCH: i32 = -1;
/// Epoch a static member sends to leave for a while (it may come back under its instance id).
const STATIC_LEAVE_EPOCH: i32 = -2;

/// A ConsumerGroupHeartbeat request. `None` fields mean "unchanged since the last heartbeat".
#[derive(Debug, Clone, Default)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    /// Empty on a first join in v0 (the coordinator picks it); v1 clients choose their own.
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns now, by topic id.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerHeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Present when the member's assignment changed (or it just joined).
    pub assignment: Option<Assignment>,
}

/// Kafka's member states during reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    Stable,
    /// Waiting for the member to give up `pending_revocation`.
    UnrevokedPartitions,
    /// Some target partitions are still held by other members.
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) subscribed: Vec<String>,
    pub(crate) server_assignor: Option<String>,
    pub(crate) epoch: i32,
    pub(crate) previous_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
    /// What the member last said it owns.
    pub(crate) owned: Assignment,
    pub(crate) session_deadline: i64,
    /// The member is fenced if it has not given up `pending_revocation` by then.
    pub(crate) revocation_deadline: Option<i64>,
}

/// The consumer-protocol part of a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsumerGroup {
    pub(crate) group_epoch: i32,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    pub(crate) target_epoch: i32,
    pub(crate) target: BTreeMap<String, Assignment>,
    /// Metadata of the subscribed topics as of the last check, by name.
    pub(crate) topics: BTreeMap<String, TopicMeta>,
    pub(crate) assignor: String,
}

impl ConsumerGroup {
    /// Kafka's consumer group states, as ConsumerGroupDescribe and ListGroups name them.
    pub(crate) fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.target_epoch < self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.target_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The member (other than `except`) that holds or is revoking `topic`/`partition`.
    fn holder(&self, topic: &Uuid, partition: i32, except: &str) -> bool {
        self.members.values().any(|m| {
            m.member_id != except
                && (m
                    .assigned
                    .get(topic)
                    .is_some_and(|p| p.contains(&partition))
                    || m.pending_revocation
                        .get(topic)
                        .is_some_and(|p| p.contains(&partition)))
        })
    }

    fn remove_member(&mut self, member_id: &str) -> bool {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
            true
        } else {
            false
        }
    }
}

/// One member in a ConsumerGroupDescribe answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    /// Topic id → (name, partitions).
    pub assignment: BTreeMap<Uuid, (String, BTreeSet<i32>)>,
    pub target_assignment: BTreeMap<Uuid, (String, BTreeSet<i32>)>,
}

/// A ConsumerGroupDescribe entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

fn total(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

fn normalize(a: Assignment) -> Assignment {
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

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
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

impl MemberState {
    fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    fn from_code(code: i8) -> MemberState {
        match code {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// The group's state as KIP-848 records, by key. Session and revocation deadlines are not persisted.
fn snapshot(cg: &ConsumerGroup) -> BTreeMap<ConsumerKey, ConsumerValue> {
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

fn group_snapshot(group: Option<&Group>) -> BTreeMap<ConsumerKey, ConsumerValue> {
    group
        .and_then(|g| g.consumer.as_ref())
        .map(snapshot)
        .unwrap_or_default()
}

/// The records that turn `before` into `after`: changed values, and tombstones for keys that went away
/// (member records before the group-level ones, as Kafka writes them).
fn diff(
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

impl GroupCoordinator {
    /// Handles a ConsumerGroupHeartbeat: join (epoch 0), leave (epoch -1/-2), or keep alive and reconcile.
    /// `topics` looks a topic up by name in the broker's current metadata. The records of what changed
    /// queue up for [`take_records`](Self::take_records).
    pub fn consumer_heartbeat(
        &mut self,
        req: ConsumerHeartbeat,
        topics: &dyn Fn(&str) -> Option<TopicMeta>,
        now: i64,
    ) -> Result<ConsumerHeartbeatResult, Error> {
        let group_id = req.group_id.clone();
        let before = group_snapshot(self.groups.get(&group_id));
        let result = self.consumer_heartbeat_inner(req, topics, now);
        let after = group_snapshot(self.groups.get(&group_id));
        let records = diff(&group_id, &before, &after);
        self.pending_records.extend(records);
        result
    }

    /// Applies one replayed KIP-848 record. Members come back with their epochs and assignments and a fresh
    /// session (Kafka restarts session timers at load); a tombstone for a group or member that is not there
    /// changes nothing.
    pub(crate) fn replay_consumer(
        &mut self,
        group_id: &str,
        key: &ConsumerKey,
        value: Option<&ConsumerValue>,
        now: i64,
    ) {
        let session = i64::from(self.config.consumer_session_timeout_ms);
        if value.is_none() && !self.groups.contains_key(group_id) {
            return;
        }
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now));
        if group.consumer.is_none() {
            if value.is_none() || !group.members.is_empty() {
                return;
            }
            group.consumer = Some(ConsumerGroup::default());
            group.protocol_type = Some("consumer".to_string());
            group.protocol_name = None;
            group.leader_id = None;
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
        };
        match (key, value) {
            (ConsumerKey::Metadata, Some(ConsumerValue::Metadata { epoch, assignor })) => {
                cg.group_epoch = *epoch;
                cg.assignor = assignor.clone();
            }
            (ConsumerKey::Metadata, None) if cg.members.is_empty() => {
                group.consumer = None;
                if group.members.is_empty() && group.offsets.is_empty() {
                    self.groups.remove(group_id);
                    return;
                }
            }
            (ConsumerKey::PartitionMetadata, Some(ConsumerValue::PartitionMetadata(topics))) => {
                cg.topics = topics.iter().map(|t| (t.name.clone(), t.clone())).collect();
            }
            (ConsumerKey::PartitionMetadata, None) => cg.topics.clear(),
            (
                ConsumerKey::TargetMetadata,
                Some(ConsumerValue::TargetMetadata { assignment_epoch }),
            ) => {
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
                m.session_deadline = now + session;
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
                m.session_deadline = now + session;
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
        update_group_state(group, now);
    }

    fn consumer_heartbeat_inner(
        &mut self,
        req: ConsumerHeartbeat,
        topics: &dyn Fn(&str) -> Option<TopicMeta>,
        now: i64,
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
            if !self.config.consumer_assignors.iter().any(|x| x == a) {
                return Err(Error::UnsupportedAssignor(a.clone()));
            }
        }
        let interval = self.config.consumer_heartbeat_interval_ms;
        let session = i64::from(self.config.consumer_session_timeout_ms);
        let default_assignor = self
            .config
            .consumer_assignors
            .first()
            .cloned()
            .unwrap_or_else(|| "uniform".to_string());

        // Leaving needs no group to exist.
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            if let Some(group) = self.groups.get_mut(&req.group_id) {
                if let Some(cg) = group.consumer.as_mut() {
                    cg.remove_member(&req.member_id);
                    update_group_state(group, now);
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
        if !joining && !self.groups.contains_key(&req.group_id) {
            return Err(Error::UnknownMemberId);
        }
        let member_id = if req.member_id.is_empty() {
            if !joining {
                return Err(Error::UnknownMemberId);
            }
            self.new_member_id(&req.client_id, now)
        } else {
            req.member_id.clone()
        };
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id, now));
        if group.consumer.is_none() {
            // A classic group may become a consumer group only while it has no members.
            if !group.members.is_empty() || !group.pending_members.is_empty() {
                return Err(Error::InconsistentGroupProtocol);
            }
            group.consumer = Some(ConsumerGroup::default());
            group.protocol_type = Some("consumer".to_string());
            group.protocol_name = None;
            group.leader_id = None;
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
        if let Some(owned) = req.owned {
            member.owned = normalize(owned);
        }

        // The subscribed topics' metadata: a topic created, deleted or grown changes the target.
        let wanted: BTreeSet<&String> = cg.members.values().flat_map(|m| &m.subscribed).collect();
        let metadata: BTreeMap<String, TopicMeta> = wanted
            .into_iter()
            .filter_map(|name| topics(name).map(|t| (name.clone(), t)))
            .collect();
        if metadata != cg.topics {
            cg.topics = metadata;
            changed = true;
        }
        // One bump per heartbeat, whatever changed (as Kafka does).
        if changed {
            cg.group_epoch += 1;
        }

        if cg.group_epoch > cg.target_epoch {
            compute_target(cg, &default_assignor);
        }
        let before = cg
            .members
            .get(&member_id)
            .map(|m| (m.epoch, m.assigned.clone()));
        reconcile(cg, &member_id, now);
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
        update_group_state(group, now);
        Ok(result)
    }

    /// Removes consumer-group members whose session expired or who did not give up revoked partitions in
    /// time. Called from [`GroupCoordinator::tick`].
    pub(crate) fn tick_consumer_groups(&mut self, now: i64) {
        for (group_id, group) in self.groups.iter_mut() {
            let Some(cg) = group.consumer.as_mut() else {
                continue;
            };
            let expired: Vec<String> = cg
                .members
                .values()
                .filter(|m| {
                    m.session_deadline <= now || m.revocation_deadline.is_some_and(|d| d <= now)
                })
                .map(|m| m.member_id.clone())
                .collect();
            if expired.is_empty() {
                continue;
            }
            let before = snapshot(cg);
            for m in &expired {
                cg.remove_member(m);
            }
            let after = snapshot(cg);
            self.pending_records.extend(diff(group_id, &before, &after));
            update_group_state(group, now);
        }
    }

    /// ConsumerGroupDescribe for one group: `Err(GroupIdNotFound)` when it does not exist or is classic.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, Error> {
        let Some(group) = self.groups.get(group_id) else {
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
                    target_assignment: named(
                        cg.target.get(&m.member_id).unwrap_or(&Assignment::new()),
                    ),
                })
                .collect(),
        })
    }
}

impl GroupCoordinator {
    /// OffsetFetch v9 (Kafka's `ConsumerGroup.validateOffsetFetch`): a fetch naming a member of a consumer
    /// group must come from an existing member at its current epoch. Admin fetches (no member id, epoch < 0),
    /// classic groups and unknown groups are not checked.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), Error> {
        let Some(cg) = self.groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return Ok(());
        };
        let member_id = member_id.unwrap_or_default();
        if member_epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        let Some(member) = cg.members.get(member_id) else {
            return Err(Error::UnknownMemberId);
        };
        if member_epoch != member.epoch {
            return Err(Error::StaleMemberEpoch {
                expected: member.epoch,
                got: member_epoch,
            });
        }
        Ok(())
    }
}

/// Validates an OffsetCommit against a consumer group: an admin commit (epoch < 0, no member id) only while
/// the group is empty; otherwise the member must exist and send its current epoch.
pub(crate) fn check_commit(
    cg: &ConsumerGroup,
    member_id: &str,
    member_epoch: i32,
) -> Result<(), Error> {
    if member_epoch < 0 && member_id.is_empty() && cg.members.is_empty() {
        return Ok(());
    }
    let Some(member) = cg.members.get(member_id) else {
        return Err(Error::UnknownMemberId);
    };
    if member_epoch != member.epoch {
        return Err(Error::StaleMemberEpoch {
            expected: member.epoch,
            got: member_epoch,
        });
    }
    Ok(())
}

/// Topics the consumer group's members subscribe to.
pub(crate) fn subscribed_topics(cg: &ConsumerGroup) -> Vec<String> {
    let set: BTreeSet<String> = cg
        .members
        .values()
        .flat_map(|m| m.subscribed.iter().cloned())
        .collect();
    set.into_iter().collect()
}

/// Keeps the classic state in step for ListGroups, offset expiry and deletion: Stable while the consumer
/// group has members, Empty (from now) once it has none.
fn update_group_state(group: &mut Group, now: i64) {
    let has_members = group
        .consumer
        .as_ref()
        .is_some_and(|cg| !cg.members.is_empty());
    match (has_members, group.state) {
        (true, GroupState::Stable) | (false, GroupState::Empty) => {}
        (true, _) => group.transition(GroupState::Stable, now),
        (false, _) => group.transition(GroupState::Empty, now),
    }
}

/// Recomputes the target assignment for the current group epoch.
fn compute_target(cg: &mut ConsumerGroup, default_assignor: &str) {
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

/// Moves one member towards its target (Kafka's `CurrentAssignmentBuilder`).
fn reconcile(cg: &mut ConsumerGroup, member_id: &str, now: i64) {
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
    if total(&revoke) > 0 {
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

#[cfg(test)]
mod tests {
    //! Reconciliation through heartbeats: a partition is revoked from its owner before it is handed to the
    //! new member, epochs only move forward, and commits need the current epoch.
    use super::*;
    use crate::{CommitOffsets, CommitPartition, GroupConfig};

    const T: Uuid = Uuid::from_u128(7);

    fn lookup(name: &str) -> Option<TopicMeta> {
        (name == "t").then(|| TopicMeta {
            id: T,
            name: "t".into(),
            partitions: 6,
        })
    }

    fn hb(member: &str, epoch: i32, owned: Option<&[i32]>) -> ConsumerHeartbeat {
        ConsumerHeartbeat {
            group_id: "g".into(),
            member_id: member.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: 10_000,
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            owned: owned.map(|ps| Assignment::from([(T, ps.iter().copied().collect())])),
            ..ConsumerHeartbeat::default()
        }
    }

    fn parts(r: &ConsumerHeartbeatResult) -> Option<Vec<i32>> {
        r.assignment.as_ref().map(|a| {
            a.get(&T)
                .map(|p| p.iter().copied().collect())
                .unwrap_or_default()
        })
    }

    #[test]
    fn partitions_move_only_after_their_owner_revoked_them() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let now = 1_000;
        let a = c
            .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, now)
            .unwrap();
        assert_eq!(parts(&a), Some((0..6).collect()));
        let a_epoch = a.member_epoch;
        assert_eq!(a_epoch, 1);

        // b joins: the target splits 3/3 but a still holds everything, so b gets nothing yet.
        let b = c
            .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, now)
            .unwrap();
        assert_eq!(parts(&b), Some(vec![]));
        let b_epoch = b.member_epoch;
        assert!(b_epoch > a_epoch);

        // a is told to keep three; its epoch stays until it acknowledges.
        let all: Vec<i32> = (0..6).collect();
        let a2 = c
            .consumer_heartbeat(hb("a", a_epoch, Some(&all)), &lookup, now)
            .unwrap();
        let kept = parts(&a2).unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(a2.member_epoch, a_epoch);
        // b still waits while a owns the others.
        let b2 = c
            .consumer_heartbeat(hb("b", b_epoch, Some(&[])), &lookup, now)
            .unwrap();
        assert_eq!(parts(&b2), None);
        let describe = c.describe_consumer_group("g").unwrap();
        assert_eq!(describe.state, "Reconciling");

        // a acknowledges; it moves to the new epoch, then b gets the other three.
        let a3 = c
            .consumer_heartbeat(hb("a", a_epoch, Some(&kept)), &lookup, now)
            .unwrap();
        assert_eq!(a3.member_epoch, b_epoch);
        let b3 = c
            .consumer_heartbeat(hb("b", b_epoch, Some(&[])), &lookup, now)
            .unwrap();
        let moved = parts(&b3).unwrap();
        assert_eq!(moved.len(), 3);
        assert!(moved.iter().all(|p| !kept.contains(p)));
        assert_eq!(c.describe_consumer_group("g").unwrap().state, "Stable");

        // An epoch from the future is fenced; a commit needs the current epoch.
        assert!(matches!(
            c.consumer_heartbeat(hb("a", b_epoch + 5, None), &lookup, now),
            Err(Error::FencedMemberEpoch { .. })
        ));
        let commit = |epoch: i32| CommitOffsets {
            group_id: "g".into(),
            generation_id: epoch,
            member_id: "b".into(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: moved[0],
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        let (stale, _) = c.commit_offsets(&commit(b_epoch - 1), now);
        assert!(matches!(
            stale[0].error,
            Some(Error::StaleMemberEpoch { .. })
        ));
        let (ok, records) = c.commit_offsets(&commit(b_epoch), now);
        assert_eq!(ok[0].error, None);
        assert_eq!(records.len(), 1);

        // A classic member cannot join while the consumer group has members.
        assert!(c.list_groups(&[]).iter().any(|g| g.group_id == "g"));
        // Both leave; the group is empty and may be deleted.
        c.consumer_heartbeat(hb("a", -1, None), &lookup, now)
            .unwrap();
        c.consumer_heartbeat(hb("b", -1, None), &lookup, now)
            .unwrap();
        assert_eq!(c.describe_consumer_group("g").unwrap().state, "Empty");
        assert!(c.delete_group("g").is_ok());
    }

    #[test]
    fn silent_members_expire_and_free_their_partitions() {
        let mut c = GroupCoordinator::new(GroupConfig {
            consumer_session_timeout_ms: 1_000,
            ..GroupConfig::default()
        });
        let a = c
            .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let b = c
            .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let all: Vec<i32> = (0..6).collect();
        let a2 = c
            .consumer_heartbeat(hb("a", a.member_epoch, Some(&all)), &lookup, 500)
            .unwrap();
        let kept = parts(&a2).unwrap();
        c.consumer_heartbeat(hb("a", a.member_epoch, Some(&kept)), &lookup, 500)
            .unwrap();
        // b never heartbeats again; a's session is refreshed at 900.
        c.tick(900);
        let a3 = c
            .consumer_heartbeat(hb("a", b.member_epoch, None), &lookup, 900)
            .unwrap();
        assert_eq!(parts(&a3), None);
        c.tick(1_200);
        let a4 = c
            .consumer_heartbeat(hb("a", a3.member_epoch, None), &lookup, 1_200)
            .unwrap();
        assert_eq!(parts(&a4), Some(all));
    }

    /// Replays records through their byte encoding, as the broker does at start-up.
    fn restart(records: &[Record], now: i64) -> GroupCoordinator {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        for r in records {
            let back = Record::decode(&r.key(), r.value().as_deref())
                .unwrap()
                .unwrap();
            assert_eq!(&back, r);
            c.replay(&back, now);
        }
        c
    }

    #[test]
    fn members_epochs_and_assignments_survive_a_replay() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let mut log = Vec::new();
        let a = c
            .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let b = c
            .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let all: Vec<i32> = (0..6).collect();
        let a2 = c
            .consumer_heartbeat(hb("a", a.member_epoch, Some(&all)), &lookup, 0)
            .unwrap();
        let kept = parts(&a2).unwrap();
        log.extend(c.take_records());
        // A heartbeat that changes nothing writes nothing.
        c.consumer_heartbeat(hb("a", a.member_epoch, None), &lookup, 0)
            .unwrap();
        assert!(c.take_records().is_empty());

        // Restart mid-revocation: a still has to give up three partitions.
        let mut r = restart(&log, 10_000);
        assert_eq!(
            r.describe_consumer_group("g").unwrap(),
            c.describe_consumer_group("g").unwrap()
        );
        assert_eq!(r.list_groups(&[])[0].state, GroupState::Stable);
        let a3 = r
            .consumer_heartbeat(hb("a", a.member_epoch, Some(&kept)), &lookup, 10_000)
            .unwrap();
        assert_eq!(a3.member_epoch, b.member_epoch);
        let b3 = r
            .consumer_heartbeat(hb("b", b.member_epoch, Some(&[])), &lookup, 10_000)
            .unwrap();
        assert_eq!(parts(&b3).map(|p| p.len()), Some(3));
        log.extend(r.take_records());

        // Sessions restart at load: both survive until 10 s + the session timeout.
        let mut r2 = restart(&log, 20_000);
        assert!(r2.tick(20_000 + 44_000).records.is_empty());
        assert_eq!(r2.describe_consumer_group("g").unwrap().members.len(), 2);
        log.extend(r2.tick(20_000 + 45_000).records);
        assert!(r2.describe_consumer_group("g").unwrap().members.is_empty());
        let r3 = restart(&log, 70_000);
        let d = r3.describe_consumer_group("g").unwrap();
        assert_eq!(d.state, "Empty");
        assert!(d.group_epoch > b.member_epoch);

        // Deleting the group tombstones everything: nothing comes back.
        let mut r4 = restart(&log, 80_000);
        log.extend(r4.delete_group("g").unwrap());
        let r5 = restart(&log, 90_000);
        assert!(r5.list_groups(&[]).is_empty());
    }

    #[test]
    fn a_leaving_member_is_tombstoned() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        c.consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
            .unwrap();
        c.consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let mut log = c.take_records();
        c.consumer_heartbeat(hb("b", -1, None), &lookup, 0).unwrap();
        let leave = c.take_records();
        assert!(leave.iter().any(|r| matches!(
            r,
            Record::Consumer { key: ConsumerKey::Member(m), value: None, .. } if m == "b"
        )));
        log.extend(leave);
        let r = restart(&log, 1);
        let members: Vec<String> = r
            .describe_consumer_group("g")
            .unwrap()
            .members
            .into_iter()
            .map(|m| m.member_id)
            .collect();
        assert_eq!(members, vec!["a".to_string()]);
    }

    #[test]
    fn offset_fetch_checks_the_member_epoch() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let a = c
            .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
            .unwrap();
        assert_eq!(c.validate_offset_fetch("g", None, -1), Ok(()));
        assert_eq!(c.validate_offset_fetch("other", Some("x"), 3), Ok(()));
        assert_eq!(
            c.validate_offset_fetch("g", Some("a"), a.member_epoch),
            Ok(())
        );
        assert_eq!(
            c.validate_offset_fetch("g", Some("zz"), a.member_epoch),
            Err(Error::UnknownMemberId)
        );
        assert!(matches!(
            c.validate_offset_fetch("g", Some("a"), a.member_epoch + 1),
            Err(Error::StaleMemberEpoch { .. })
        ));
    }
}
