//! The coordinator's vocabulary with its callers: the requests it takes, the answers and descriptions it
//! gives, and [`Effects`] (Kafka's `CoordinatorResult`: replies plus the records to persist). Plain data with
//! no behaviour beyond naming, shared by the classic, consumer and offset managers and the facade; the
//! managers' in-memory state (`group/`) and the wire format stay elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use uuid::Uuid;

use crate::assignor::Assignment;
use crate::error::Error;
use crate::record::{OffsetValue, Record};

/// Identifies a JoinGroup or SyncGroup request waiting for its answer; chosen by the caller.
pub type Token = u64;

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

/// What a call produced: answers for waiting requests, and records to persist (Kafka's `CoordinatorResult`).
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

/// Kafka's classic group states, as ListGroups and DescribeGroups name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join before a new generation starts.
    PreparingRebalance,
    /// A generation started; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted. Only reported for groups that do not exist.
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a ListGroups states filter entry (case-insensitive, as Kafka does).
    pub fn parse(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }
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

// ---------------------------------------------------------------------------------------------
// KIP-848 consumer groups

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

/// One partition's committed offset as OffsetFetch answers it; `offset` is `None` for a partition the group
/// never committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: Option<OffsetValue>,
}
