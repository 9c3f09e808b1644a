//! One group's in-memory state (Kafka's `ClassicGroup`, plus the slots every kind of group shares): its
//! lifecycle state, generation, classic members (with their pending JoinGroup/SyncGroup tokens and session
//! deadlines), static-member index, KIP-394 pending member ids, rebalance deadlines and committed offsets, and
//! the KIP-848 part (`consumer.rs` here) when it is a consumer group. Also the member-id generator every
//! manager shares. Holds data and the queries and conversions of one group (its GroupMetadataValue both ways,
//! KIP-345 instance checks, subscribed topics); the transitions live in `classic/`, `consumer/` and
//! `offsets/`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use indexmap::IndexMap;

use crate::error::Error;
use crate::record::{GroupValue, MemberValue, OffsetValue};
use crate::types::{GroupState, Protocol, Token};

mod consumer;
pub(crate) mod embedded;

pub(crate) use consumer::{ClassicMember, ConsumerGroup, ConsumerMember, MemberState};

/// Makes generated member ids unique within this coordinator's life; `now` separates lives.
#[derive(Debug, Default)]
pub(crate) struct MemberIds {
    seq: u64,
}

impl MemberIds {
    pub(crate) fn next(&mut self, client_id: &str, now: i64) -> String {
        self.seq += 1;
        format!("{client_id}-{now:x}-{:x}", self.seq)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub(crate) awaiting_join: Option<Token>,
    /// A SyncGroup waiting for the leader's assignment.
    pub(crate) awaiting_sync: Option<Token>,
    /// Joined in the current rebalance for the first time (Kafka's `isNew`).
    pub(crate) is_new: bool,
    /// The member is removed when `now` passes this without a heartbeat (unless kept alive by a rebalance).
    pub(crate) session_deadline: i64,
}

impl Member {
    /// The metadata this member sent for `protocol_name`.
    pub(crate) fn metadata(&self, protocol_name: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol_name)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Same protocols, in the same order, with the same metadata (Kafka's `MemberMetadata.matches`).
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// Kafka's `shouldKeepAlive`: a rebalance in flight keeps a member whose deadline passed.
    pub(crate) fn expired(&self, now: i64) -> bool {
        if self.awaiting_join.is_some() {
            return self.is_new && self.session_deadline <= now;
        }
        if self.awaiting_sync.is_some() {
            return false;
        }
        self.session_deadline <= now
    }
}

/// While the initial rebalance delay of an empty group runs: the join is held back until the delay passes
/// with no new member, within the rebalance timeout (Kafka's `InitialDelayedJoin`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitialDelay {
    pub(crate) remaining_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    pub(crate) state_timestamp: i64,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation_id: i32,
    pub(crate) leader_id: Option<String>,
    /// Insertion order decides the new leader when the old one leaves, as in Kafka.
    pub(crate) members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    pub(crate) static_members: HashMap<String, String>,
    /// KIP-394 member ids handed out with MEMBER_ID_REQUIRED, with the deadline to rejoin.
    pub(crate) pending_members: BTreeMap<String, i64>,
    /// PreparingRebalance completes at the latest at this time.
    pub(crate) join_deadline: Option<i64>,
    pub(crate) initial_delay: Option<InitialDelay>,
    pub(crate) new_member_added: bool,
    /// Members of the current generation that have not sent SyncGroup yet, and until when they may.
    pub(crate) pending_sync: BTreeSet<String>,
    pub(crate) sync_deadline: Option<i64>,
    pub(crate) offsets: BTreeMap<(String, i32), OffsetValue>,
    /// Set while the group is a KIP-848 consumer group (then `members` stays empty).
    pub(crate) consumer: Option<ConsumerGroup>,
}

impl Group {
    pub(crate) fn new(group_id: &str, now: i64) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            state_timestamp: now,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: BTreeMap::new(),
            join_deadline: None,
            initial_delay: None,
            new_member_added: false,
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            offsets: BTreeMap::new(),
            consumer: None,
        }
    }

    pub(crate) fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_timestamp = now;
    }

    /// Keeps the classic state of a KIP-848 group in step for ListGroups, offset expiry and deletion: Stable
    /// while the consumer group has members, Empty (from now) once it has none.
    pub(crate) fn update_consumer_group_state(&mut self, now: i64) {
        let has_members = self
            .consumer
            .as_ref()
            .is_some_and(|cg| !cg.members.is_empty());
        match (has_members, self.state) {
            (true, GroupState::Stable) | (false, GroupState::Empty) => {}
            (true, _) => self.transition(GroupState::Stable, now),
            (false, _) => self.transition(GroupState::Empty, now),
        }
    }

    /// Makes this (memberless) group a KIP-848 consumer group: an empty consumer part, protocol type
    /// "consumer", and no classic protocol or leader.
    pub(crate) fn start_consumer_group(&mut self) {
        self.consumer = Some(ConsumerGroup::default());
        self.protocol_type = Some("consumer".to_string());
        self.protocol_name = None;
        self.leader_id = None;
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// Protocol names every member supports, in the first member's order of preference.
    pub(crate) fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut names: Vec<String> = first.protocols.iter().map(|p| p.name.clone()).collect();
        for m in members {
            names.retain(|n| m.protocols.iter().any(|p| &p.name == n));
        }
        names
    }

    /// Whether a joining member with these protocols may join (Kafka's `supportsProtocols`).
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| candidates.contains(&p.name))
    }

    /// Each member votes for its most preferred candidate; most votes wins, ties go to the first member's
    /// preference order (Kafka's `selectProtocol`).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|p| candidates.iter().position(|c| *c == p.name))
            {
                votes[i] += 1;
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, &v) in votes.iter().enumerate() {
            if best.is_none_or(|(_, bv)| v > bv) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| candidates[i].clone())
    }

    pub(crate) fn max_rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The group's membership as a GroupMetadataValue.
    pub(crate) fn to_value(&self) -> GroupValue {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds the group from its GroupMetadataValue (Kafka's `ClassicGroup.fromRecord`): members come
    /// back Stable with a fresh session, nothing waits.
    pub(crate) fn restore(&mut self, v: &GroupValue, now: i64) {
        self.generation_id = v.generation_id;
        self.protocol_type = Some(v.protocol_type.clone()).filter(|t| !t.is_empty());
        self.protocol_name = v.protocol_name.clone();
        self.leader_id = v.leader.clone();
        self.members.clear();
        self.static_members.clear();
        self.pending_members.clear();
        self.pending_sync.clear();
        self.join_deadline = None;
        self.sync_deadline = None;
        self.initial_delay = None;
        let protocol = v.protocol_name.clone().unwrap_or_default();
        for m in &v.members {
            if let Some(i) = &m.group_instance_id {
                self.static_members.insert(i.clone(), m.member_id.clone());
            }
            self.members.insert(
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
        let state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.state = state;
        self.state_timestamp = if v.current_state_timestamp >= 0 {
            v.current_state_timestamp
        } else {
            now
        };
    }

    /// KIP-345: a request naming a group.instance.id must come from the member id that holds it.
    pub(crate) fn check_static(
        &self,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), Error> {
        let Some(instance) = instance else {
            return Ok(());
        };
        match self.static_members.get(instance) {
            Some(holder) if holder != member_id => Err(Error::FencedInstanceId),
            Some(_) => Ok(()),
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(Error::UnknownMemberId),
        }
    }

    /// Topics the members of a consumer-protocol group subscribe to (ConsumerProtocolSubscription of the
    /// selected protocol). Undecodable metadata subscribes to nothing.
    pub(crate) fn subscribed_topics(&self) -> Vec<String> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut topics = Vec::new();
        for m in self.members.values() {
            if let Some(sub) = embedded::decode_subscription(&m.metadata(&protocol)) {
                topics.extend(sub.topics.into_iter().map(|t| t.to_string()));
            }
        }
        topics.sort();
        topics.dedup();
        topics
    }
}
