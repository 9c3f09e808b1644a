//! One KIP-848 consumer group's in-memory state (Kafka's `ConsumerGroup` and `ConsumerGroupMember`): the
//! group epoch, members with their epochs, reconciliation state and assignments, the target assignment and
//! the subscribed topics' metadata. Holds data and the queries Kafka puts on those classes (state name,
//! who holds a partition, the member-epoch checks of OffsetCommit and OffsetFetch). Data for the managers
//! above it: how heartbeats change it is `consumer/heartbeat.rs`, how the target and each member's
//! assignment move is `consumer/assignment.rs`, and how it turns into records and back is
//! `consumer/records.rs`; the group it is part of is [`super::Group`], which it does not import.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::assignor::Assignment;
use crate::error::Error;
use crate::record::TopicMeta;
use crate::types::Protocol;

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
    /// Set for a member that speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat) to this consumer
    /// group (Kafka's `ClassicMemberMetadata`).
    pub(crate) classic: Option<ClassicMember>,
}

/// What the consumer group keeps of a classic-protocol member: its session timeout, the protocols of its
/// last JoinGroup, and the deadlines by which it must rejoin or sync (Kafka's join and sync timeouts).
#[derive(Debug, Clone)]
pub(crate) struct ClassicMember {
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocols: Vec<Protocol>,
    /// Told to rejoin (REBALANCE_IN_PROGRESS); fenced if it has not by then.
    pub(crate) join_deadline: Option<i64>,
    /// Answered its JoinGroup; fenced if it has not sent SyncGroup by then.
    pub(crate) sync_deadline: Option<i64>,
}

impl ConsumerMember {
    /// How long this member may go without a heartbeat: its own session timeout when it speaks the classic
    /// protocol, else the group's (`group.consumer.session.timeout.ms`, passed in).
    pub(crate) fn session_timeout_ms(&self, consumer_session_ms: i64) -> i64 {
        self.classic
            .as_ref()
            .map_or(consumer_session_ms, |c| i64::from(c.session_timeout_ms))
    }
}

impl ClassicMember {
    /// The protocol its JoinGroup and SyncGroup answers name: the first it supports (as Kafka does).
    pub(crate) fn protocol_name(&self) -> &str {
        self.protocols.first().map_or("", |p| p.name.as_str())
    }
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
    pub(crate) fn holder(&self, topic: &Uuid, partition: i32, except: &str) -> bool {
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

    pub(crate) fn remove_member(&mut self, member_id: &str) -> bool {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
            true
        } else {
            false
        }
    }

    /// Topics the consumer group's members subscribe to.
    pub(crate) fn subscribed_topics(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect();
        set.into_iter().collect()
    }

    /// Whether a classic member with these protocols may join (Kafka's `supportsClassicProtocols`): protocol
    /// type "consumer", and one protocol every classic member already in the group supports.
    pub(crate) fn supports_classic_protocols(
        &self,
        protocol_type: &str,
        protocols: &[Protocol],
    ) -> bool {
        if protocol_type != "consumer" || protocols.is_empty() {
            return false;
        }
        let classic: Vec<&ClassicMember> = self
            .members
            .values()
            .filter_map(|m| m.classic.as_ref())
            .collect();
        protocols.iter().any(|p| {
            classic
                .iter()
                .all(|c| c.protocols.iter().any(|q| q.name == p.name))
        })
    }

    /// Kafka's `allMembersUseClassicProtocolExcept` plus "someone is left": removing `member_id` (a
    /// consumer-protocol member) would leave only classic members, at least one.
    pub(crate) fn only_classic_members_without(&self, member_id: &str) -> bool {
        self.members
            .get(member_id)
            .is_some_and(|m| m.classic.is_none())
            && self.members.len() > 1
            && self
                .members
                .values()
                .all(|m| m.member_id == member_id || m.classic.is_some())
    }

    /// Validates an OffsetCommit against a consumer group (Kafka's `ConsumerGroup.validateOffsetCommit`): an
    /// admin commit (epoch < 0, no member id) only while the group is empty; otherwise the member must exist
    /// and send its current epoch (a classic member's generation is its epoch: ILLEGAL_GENERATION when not).
    pub(crate) fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), Error> {
        if member_epoch < 0 && member_id.is_empty() && self.members.is_empty() {
            return Ok(());
        }
        let Some(member) = self.members.get(member_id) else {
            return Err(Error::UnknownMemberId);
        };
        if member_epoch != member.epoch {
            return Err(if member.classic.is_some() {
                Error::IllegalGeneration {
                    expected: member.epoch,
                    got: member_epoch,
                }
            } else {
                Error::StaleMemberEpoch {
                    expected: member.epoch,
                    got: member_epoch,
                }
            });
        }
        Ok(())
    }

    /// OffsetFetch v9 (Kafka's `ConsumerGroup.validateOffsetFetch`): a fetch naming a member must come from
    /// an existing member at its current epoch. Admin fetches (no member id, epoch < 0) are not checked.
    pub(crate) fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), Error> {
        let member_id = member_id.unwrap_or_default();
        if member_epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        let Some(member) = self.members.get(member_id) else {
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

impl MemberState {
    pub(crate) fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    pub(crate) fn from_code(code: i8) -> MemberState {
        match code {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}
