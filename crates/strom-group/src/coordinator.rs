//! The classic group protocol's transitions (Kafka's `GroupCoordinator` for classic groups) over all groups
//! of this coordinator, plus committed offsets. Every call takes `now_ms` and returns what to answer and what
//! to persist; JoinGroup and SyncGroup answers may come later, from another call (a join completing a
//! rebalance answers every waiting member) or from [`GroupCoordinator::tick`]. Callers identify a waiting
//! request by a [`Token`] of their choosing.
//!
//! Membership changes take effect in memory at once and come back as GroupMetadata records to persist.
//! Offset commits do not: `commit_offsets` returns the records, and the caller applies them with
//! [`GroupCoordinator::replay`] once they are durable — the same function that rebuilds the state at start-up.
//! Does not know the wire format, topics' existence, or the clock.

use std::collections::BTreeMap;

use bytes::Bytes;
use strom_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
use strom_protocol::kafka_protocol::protocol::Decodable;

use crate::error::Error;
use crate::group::{Group, GroupState, InitialDelay, Member};
use crate::record::{GroupValue, OffsetValue, Record};

/// Identifies a JoinGroup or SyncGroup request waiting for its answer; chosen by the caller.
pub type Token = u64;

/// Coordinator settings, Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for more members.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes` in milliseconds: offsets of an empty group expire this long after it emptied.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// How long a new member may take to rejoin during a rebalance (Kafka's fixed 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `group.consumer.session.timeout.ms`: a KIP-848 member is removed after this long without a heartbeat.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.assignors`: the server-side assignors members may ask for; the first is the default.
    pub consumer_assignors: Vec<String>,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 10080 * 60_000,
            offset_metadata_max_bytes: 4096,
            new_member_join_timeout_ms: 300_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_assignors: vec!["uniform".to_string(), "range".to_string()],
        }
    }
}

/// One protocol a member supports (e.g. `range` with its ConsumerProtocolSubscription bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request, any version.
#[derive(Debug, Clone)]
pub struct JoinGroup {
    pub group_id: String,
    /// Empty on a first join.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+: a first join without member id is answered with MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// KIP-814: a static leader that rejoined without a rebalance must not compute a new assignment.
    pub skip_assignment: bool,
    /// Every member's metadata, for the leader only.
    pub members: Vec<JoinMember>,
}

/// A SyncGroup request, any version.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment, member id → bytes passed through untouched. Empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// An answer to a JoinGroup or SyncGroup request, possibly one made earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Join(Token, Result<JoinResult, Error>),
    Sync(Token, Result<SyncResult, Error>),
}

/// What a call produced: answers for waiting requests, and records to persist.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    pub replies: Vec<Reply>,
    pub records: Vec<Record>,
}

/// One member leaving (LeaveGroup v3+ batches them).
#[derive(Debug, Clone)]
pub struct LeaveMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One partition to commit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit request. `generation_id` -1 with an empty member id is a "simple" commit, allowed only
/// for groups without members.
#[derive(Debug, Clone)]
pub struct CommitOffsets {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub partitions: Vec<CommitPartition>,
}

/// The outcome for one topic-partition of a commit or offset deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitionResult {
    pub topic: String,
    pub partition: i32,
    pub error: Option<Error>,
}

/// A ListGroups entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
    /// ListGroups v5's group type: "classic", or "consumer" for a KIP-848 group.
    pub group_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A DescribeGroups entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol name when Stable, else empty (as in Kafka).
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

/// All groups of this coordinator.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) groups: BTreeMap<String, Group>,
    /// Makes generated member ids unique within this coordinator's life; `now` separates lives.
    member_seq: u64,
    /// KIP-848 records produced by consumer-group changes, handed out by
    /// [`take_records`](Self::take_records) (and by [`tick`](Self::tick) in its effects).
    pub(crate) pending_records: Vec<Record>,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            member_seq: 0,
            pending_records: Vec::new(),
        }
    }

    /// The KIP-848 records (ConsumerGroup* keys) that consumer-group calls such as
    /// [`consumer_heartbeat`](Self::consumer_heartbeat) produced since the last call; the caller persists
    /// them. Their changes are already in effect in memory (like classic GroupMetadata records).
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.pending_records)
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Forgets every group (members, state, committed offsets) for which `keep` is false: their
    /// coordinator moved to another broker, which replays them from its copy of the log. Returns how many
    /// groups were dropped.
    pub fn unload(&mut self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.groups.len();
        self.groups.retain(|id, _| keep(id));
        before - self.groups.len()
    }

    pub(crate) fn new_member_id(&mut self, client_id: &str, now: i64) -> String {
        self.member_seq += 1;
        format!("{client_id}-{now:x}-{:x}", self.member_seq)
    }

    // ---------------------------------------------------------------------------------------------
    // JoinGroup

    /// Handles a JoinGroup. Its answer (under `token`) is among the returned replies when it is known at
    /// once; otherwise it comes from a later call, when the rebalance completes.
    pub fn join_group(&mut self, token: Token, req: JoinGroup, now: i64) -> Effects {
        let mut fx = Effects::default();
        if let Err(e) = self.join_inner(token, req, now, &mut fx) {
            fx.replies.push(Reply::Join(token, Err(e)));
        }
        fx
    }

    fn join_inner(
        &mut self,
        token: Token,
        req: JoinGroup,
        now: i64,
        fx: &mut Effects,
    ) -> Result<(), Error> {
        if req.group_id.is_empty() {
            return Err(Error::InvalidGroupId);
        }
        let (min, max) = (
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        if req.session_timeout_ms < min || req.session_timeout_ms > max {
            return Err(Error::InvalidSessionTimeout {
                session_timeout_ms: req.session_timeout_ms,
                min,
                max,
            });
        }
        let known = !req.member_id.is_empty();
        if known && !self.groups.contains_key(&req.group_id) {
            return Err(Error::UnknownMemberId);
        }
        let new_member_id = if known {
            None
        } else {
            Some(self.new_member_id(&req.client_id, now))
        };
        let config = self.config.clone();
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id, now));
        if let Some(cg) = &group.consumer {
            // A consumer (KIP-848) group turns classic only once it is empty.
            if !cg.members.is_empty() {
                return Err(Error::InconsistentGroupProtocol);
            }
            fx.records
                .extend(crate::consumer::tombstones(&req.group_id, cg));
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
                        &config,
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
                    add_member_and_rebalance(group, &config, token, member_id, req, now, fx);
                }
            }
            None => {
                let member_id = req.member_id.clone();
                if group.pending_members.remove(&member_id).is_some() {
                    add_member_and_rebalance(group, &config, token, member_id, req, now, fx);
                    return Ok(());
                }
                check_static(group, &member_id, req.group_instance_id.as_deref())?;
                let Some(member) = group.members.get(&member_id) else {
                    return Err(Error::UnknownMemberId);
                };
                let matches = member.matches(&req.protocols);
                match group.state {
                    GroupState::Empty | GroupState::Dead => return Err(Error::UnknownMemberId),
                    GroupState::PreparingRebalance => {
                        update_member_and_rebalance(group, &config, token, req, now, fx)
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
                        update_member_and_rebalance(group, &config, token, req, now, fx)
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------
    // SyncGroup

    /// Handles a SyncGroup. Followers wait (their answer comes when the leader syncs); the leader's sync
    /// stores and hands out its assignment, passed through untouched.
    pub fn sync_group(&mut self, token: Token, req: SyncGroup, now: i64) -> Effects {
        let mut fx = Effects::default();
        if let Err(e) = self.sync_inner(token, req, now, &mut fx) {
            fx.replies.push(Reply::Sync(token, Err(e)));
        }
        fx
    }

    fn sync_inner(
        &mut self,
        token: Token,
        req: SyncGroup,
        now: i64,
        fx: &mut Effects,
    ) -> Result<(), Error> {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return Err(Error::UnknownMemberId);
        };
        check_static(group, &req.member_id, req.group_instance_id.as_deref())?;
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

    // ---------------------------------------------------------------------------------------------
    // Heartbeat, LeaveGroup

    /// Handles a Heartbeat: refreshes the member's session, and tells it when to rejoin.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> Result<(), Error> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Err(Error::UnknownMemberId);
        };
        if matches!(group.state, GroupState::Empty | GroupState::Dead) {
            return Err(Error::UnknownMemberId);
        }
        check_static(group, member_id, group_instance_id)?;
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
    pub fn leave_group(
        &mut self,
        group_id: &str,
        leaving: &[LeaveMember],
        now: i64,
    ) -> (Vec<Result<(), Error>>, Effects) {
        let mut fx = Effects::default();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (vec![Err(Error::UnknownMemberId); leaving.len()], fx);
        };
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
            remove_member_and_update_group(group, &self.config, &member_id, now, &mut fx);
            results.push(Ok(()));
        }
        (results, fx)
    }

    // ---------------------------------------------------------------------------------------------
    // Timers

    /// Advances every group to `now`: expires KIP-394 pending members and sessions, ends the initial
    /// delay and rebalances whose timeout passed, and removes members that never synced.
    pub fn tick(&mut self, now: i64) -> Effects {
        let mut fx = Effects::default();
        self.tick_consumer_groups(now);
        fx.records.append(&mut self.pending_records);
        for group in self.groups.values_mut() {
            let before = group.pending_members.len();
            group.pending_members.retain(|_, deadline| *deadline > now);
            if group.pending_members.len() != before {
                try_complete_join(group, now, &mut fx);
            }
            if group.state == GroupState::PreparingRebalance
                && group.join_deadline.is_some_and(|d| d <= now)
            {
                match group.initial_delay {
                    Some(delay) if group.new_member_added && delay.remaining_ms > 0 => {
                        let step = self
                            .config
                            .initial_rebalance_delay_ms
                            .min(delay.remaining_ms);
                        group.initial_delay = Some(InitialDelay {
                            remaining_ms: delay.remaining_ms - step,
                        });
                        group.new_member_added = false;
                        group.join_deadline = Some(now + step);
                    }
                    _ => complete_join(group, now, &mut fx),
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
                        remove_member(group, m, &mut fx);
                    }
                    prepare_rebalance(group, &self.config, now, &mut fx);
                    try_complete_join(group, now, &mut fx);
                }
            }
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| m.expired(now))
                .map(|m| m.member_id.clone())
                .collect();
            for member_id in expired {
                remove_member_and_update_group(group, &self.config, &member_id, now, &mut fx);
            }
        }
        fx
    }

    /// The earliest time at which [`tick`](Self::tick) has something to do, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .flat_map(|g| {
                g.pending_members
                    .values()
                    .copied()
                    .chain(g.join_deadline)
                    .chain(g.sync_deadline)
                    .chain(g.members.values().map(|m| m.session_deadline))
            })
            .min()
    }

    /// Kafka's offset expiration (every `offsets.retention.check.interval.ms`): offsets of an empty group
    /// expire `offsets.retention.minutes` after the later of their commit and the group becoming empty; an
    /// empty group left without offsets is deleted. Returns the tombstones to persist.
    pub fn expire_offsets(&mut self, now: i64) -> Vec<Record> {
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        let mut dead = Vec::new();
        for group in self.groups.values_mut() {
            if group.state != GroupState::Empty {
                continue;
            }
            let became_empty = group.state_timestamp;
            let group_id = group.group_id.clone();
            group.offsets.retain(|(topic, partition), v| {
                let keep = v
                    .commit_timestamp
                    .max(became_empty)
                    .saturating_add(retention)
                    > now;
                if !keep {
                    records.push(Record::Offset {
                        group_id: group_id.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        value: None,
                    });
                }
                keep
            });
            if group.offsets.is_empty() && group.pending_members.is_empty() {
                dead.push(group_id);
            }
        }
        for group_id in dead {
            if let Some(cg) = self.groups.remove(&group_id).and_then(|g| g.consumer) {
                records.extend(crate::consumer::tombstones(&group_id, &cg));
            }
            records.push(Record::Group {
                group_id,
                value: None,
            });
        }
        records
    }

    // ---------------------------------------------------------------------------------------------
    // Offsets

    /// Validates a commit and returns the records that make it; nothing changes until they are replayed.
    /// A simple commit (generation -1, no member) is allowed only while the group has no members, and
    /// creates the group if needed.
    pub fn commit_offsets(
        &mut self,
        req: &CommitOffsets,
        now: i64,
    ) -> (Vec<TopicPartitionResult>, Vec<Record>) {
        let all = |e: Error| {
            req.partitions
                .iter()
                .map(|p| TopicPartitionResult {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    error: Some(e.clone()),
                })
                .collect::<Vec<_>>()
        };
        if req.group_id.is_empty() {
            return (all(Error::InvalidGroupId), Vec::new());
        }
        let group_error = match self.groups.get_mut(&req.group_id) {
            None if req.generation_id < 0 => {
                self.groups
                    .insert(req.group_id.clone(), Group::new(&req.group_id, now));
                None
            }
            None => Some(Error::IllegalGeneration {
                expected: -1,
                got: req.generation_id,
            }),
            Some(group) if group.consumer.is_some() => group.consumer.as_ref().and_then(|cg| {
                crate::consumer::check_commit(cg, &req.member_id, req.generation_id).err()
            }),
            Some(group) => {
                if let Err(e) =
                    check_static(group, &req.member_id, req.group_instance_id.as_deref())
                {
                    Some(e)
                } else if req.generation_id < 0 && group.state == GroupState::Empty {
                    None
                } else if group.state == GroupState::CompletingRebalance {
                    Some(Error::RebalanceInProgress)
                } else if let Some(member) = group.members.get_mut(&req.member_id) {
                    if req.generation_id != group.generation_id {
                        Some(Error::IllegalGeneration {
                            expected: group.generation_id,
                            got: req.generation_id,
                        })
                    } else {
                        // A commit proves the member alive, as in Kafka.
                        member.session_deadline = now + i64::from(member.session_timeout_ms);
                        None
                    }
                } else {
                    Some(Error::UnknownMemberId)
                }
            }
        };
        if let Some(e) = group_error {
            return (all(e), Vec::new());
        }
        let max = self.config.offset_metadata_max_bytes;
        let mut results = Vec::with_capacity(req.partitions.len());
        let mut records = Vec::new();
        for p in &req.partitions {
            let metadata = p.metadata.clone().unwrap_or_default();
            let error = if metadata.len() > max {
                Some(Error::OffsetMetadataTooLarge {
                    size: metadata.len(),
                    max,
                })
            } else {
                records.push(Record::Offset {
                    group_id: req.group_id.clone(),
                    topic: p.topic.clone(),
                    partition: p.partition,
                    value: Some(OffsetValue {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata,
                        commit_timestamp: now,
                    }),
                });
                None
            };
            results.push(TopicPartitionResult {
                topic: p.topic.clone(),
                partition: p.partition,
                error,
            });
        }
        (results, records)
    }

    /// Committed offsets of a group: of the listed partitions (`None` for ones never committed), or all of
    /// them when `partitions` is `None`. An unknown group has no offsets.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<OffsetValue>)> {
        let group = self.groups.get(group_id);
        match partitions {
            Some(list) => list
                .iter()
                .map(|(t, p)| {
                    let v = group.and_then(|g| g.offsets.get(&(t.clone(), *p)).cloned());
                    (t.clone(), *p, v)
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), v)| (t.clone(), *p, Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// OffsetDelete: removes committed offsets of partitions no member is subscribed to. Returns the
    /// per-partition outcome and the tombstones; the offsets go when the tombstones are replayed.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<TopicPartitionResult>, Vec<Record>), Error> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(Error::GroupIdNotFound);
        };
        let subscribed: Vec<String> = match group.state {
            GroupState::Dead => return Err(Error::GroupIdNotFound),
            GroupState::Empty => Vec::new(),
            _ if group.consumer.is_some() => group
                .consumer
                .as_ref()
                .map(crate::consumer::subscribed_topics)
                .unwrap_or_default(),
            _ if group.protocol_type.as_deref() == Some("consumer") => subscribed_topics(group),
            _ => return Err(Error::NonEmptyGroup),
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        for (topic, partition) in partitions {
            let error = if subscribed.contains(topic) {
                Some(Error::GroupSubscribedToTopic)
            } else {
                if group.offsets.contains_key(&(topic.clone(), *partition)) {
                    records.push(Record::Offset {
                        group_id: group_id.to_string(),
                        topic: topic.clone(),
                        partition: *partition,
                        value: None,
                    });
                }
                None
            };
            results.push(TopicPartitionResult {
                topic: topic.clone(),
                partition: *partition,
                error,
            });
        }
        Ok((results, records))
    }

    // ---------------------------------------------------------------------------------------------
    // Admin

    /// ListGroups, optionally filtered by states (empty filter: all).
    pub fn list_groups(&self, states: &[GroupState]) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state))
            .map(|g| GroupListing {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                group_type: if g.consumer.is_some() {
                    "consumer"
                } else {
                    "classic"
                },
            })
            .collect()
    }

    /// DescribeGroups for one group; `None` when it does not exist.
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
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

    /// DeleteGroups for one group: only a group without members; its offsets and metadata are tombstoned.
    pub fn delete_group(&mut self, group_id: &str) -> Result<Vec<Record>, Error> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(Error::GroupIdNotFound);
        };
        if !group.members.is_empty() || group.state != GroupState::Empty {
            return Err(Error::NonEmptyGroup);
        }
        let Some(group) = self.groups.remove(group_id) else {
            return Err(Error::GroupIdNotFound);
        };
        let mut records = group
            .consumer
            .as_ref()
            .map(|cg| crate::consumer::tombstones(group_id, cg))
            .unwrap_or_default();
        records.extend(
            group
                .offsets
                .keys()
                .map(|(topic, partition)| Record::Offset {
                    group_id: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                }),
        );
        records.push(Record::Group {
            group_id: group_id.to_string(),
            value: None,
        });
        Ok(records)
    }

    // ---------------------------------------------------------------------------------------------
    // Replay

    /// Applies one persisted record: at start-up for every record of `__consumer_offsets` in log order, and
    /// at run time for the offset records `commit_offsets`/`delete_offsets` returned, once durable. A group
    /// record restores the group as of its generation (members come back Stable, with a fresh session).
    pub fn replay(&mut self, record: &Record, now: i64) {
        match record {
            Record::Offset {
                group_id,
                topic,
                partition,
                value,
            } => match value {
                Some(v) => {
                    let group = self
                        .groups
                        .entry(group_id.clone())
                        .or_insert_with(|| Group::new(group_id, now));
                    group.offsets.insert((topic.clone(), *partition), v.clone());
                }
                None => {
                    if let Some(g) = self.groups.get_mut(group_id) {
                        g.offsets.remove(&(topic.clone(), *partition));
                    }
                }
            },
            Record::Group { group_id, value } => match value {
                Some(v) => {
                    let group = self
                        .groups
                        .entry(group_id.clone())
                        .or_insert_with(|| Group::new(group_id, now));
                    restore(group, v, now);
                }
                None => {
                    if self.groups.get(group_id).is_some_and(|g| {
                        g.members.is_empty()
                            && g.consumer.as_ref().is_none_or(|cg| cg.members.is_empty())
                    }) {
                        self.groups.remove(group_id);
                    }
                }
            },
            Record::Consumer {
                group_id,
                key,
                value,
            } => self.replay_consumer(group_id, key, value.as_ref(), now),
        }
    }
}

/// Rebuilds a group from its GroupMetadataValue.
fn restore(group: &mut Group, v: &GroupValue, now: i64) {
    group.generation_id = v.generation_id;
    group.protocol_type = Some(v.protocol_type.clone()).filter(|t| !t.is_empty());
    group.protocol_name = v.protocol_name.clone();
    group.leader_id = v.leader.clone();
    group.members.clear();
    group.static_members.clear();
    group.pending_members.clear();
    group.pending_sync.clear();
    group.join_deadline = None;
    group.sync_deadline = None;
    group.initial_delay = None;
    let protocol = v.protocol_name.clone().unwrap_or_default();
    for m in &v.members {
        if let Some(i) = &m.group_instance_id {
            group.static_members.insert(i.clone(), m.member_id.clone());
        }
        group.members.insert(
            m.member_id.clone(),
            Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: vec![Protocol {
                    name: protocol.clone(),
                    metadata: m.subscription.clone(),
                }],
                assignment: m.assignment.clone(),
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                session_deadline: now + i64::from(m.session_timeout_ms),
            },
        );
    }
    let state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group.state = state;
    group.state_timestamp = if v.current_state_timestamp >= 0 {
        v.current_state_timestamp
    } else {
        now
    };
}

/// KIP-345: a request naming a group.instance.id must come from the member id that holds it.
fn check_static(group: &Group, member_id: &str, instance: Option<&str>) -> Result<(), Error> {
    let Some(instance) = instance else {
        return Ok(());
    };
    match group.static_members.get(instance) {
        Some(holder) if holder != member_id => Err(Error::FencedInstanceId),
        Some(_) => Ok(()),
        None if group.members.contains_key(member_id) => Ok(()),
        None => Err(Error::UnknownMemberId),
    }
}

/// Topics the members of a consumer-protocol group subscribe to (ConsumerProtocolSubscription of the
/// selected protocol). Undecodable metadata subscribes to nothing.
fn subscribed_topics(group: &Group) -> Vec<String> {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let mut topics = Vec::new();
    for m in group.members.values() {
        let mut buf = m.metadata(&protocol);
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let mut body = buf.split_off(2);
        if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut body, version.clamp(0, 3)) {
            topics.extend(sub.topics.into_iter().map(|t| t.to_string()));
        }
    }
    topics.sort();
    topics.dedup();
    topics
}

fn current_join_result(group: &Group, member_id: &str, skip_assignment: bool) -> JoinResult {
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

fn maybe_prepare_rebalance(group: &mut Group, config: &GroupConfig, now: i64, fx: &mut Effects) {
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

fn try_complete_join(group: &mut Group, now: i64, fx: &mut Effects) {
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

fn remove_member_and_update_group(
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
