//! What can go wrong in the group coordinator, named for what happened. Turned into Kafka error codes only
//! by `strom-broker/src/error_code.rs`; this crate knows no codes.

use thiserror::Error;

/// A group operation refused. Each variant is one Kafka error the classic protocol can answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("group id is empty")]
    InvalidGroupId,
    #[error("session timeout {session_timeout_ms} ms is outside [{min}, {max}]")]
    InvalidSessionTimeout {
        session_timeout_ms: i32,
        min: i32,
        max: i32,
    },
    #[error("unknown member id")]
    UnknownMemberId,
    /// KIP-394: a first JoinGroup (v4+) gets a member id and must join again with it.
    #[error("member id required; rejoin with {member_id}")]
    MemberIdRequired { member_id: String },
    #[error("generation {got} is not the group's generation {expected}")]
    IllegalGeneration { expected: i32, got: i32 },
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("protocol type or protocols do not match the group's")]
    InconsistentGroupProtocol,
    /// KIP-345: another member id now holds this group.instance.id.
    #[error("group instance id is held by another member id")]
    FencedInstanceId,
    #[error("group does not exist")]
    GroupIdNotFound,
    #[error("group has active members")]
    NonEmptyGroup,
    #[error("a member of the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("offset metadata is {size} bytes, over the limit of {max}")]
    OffsetMetadataTooLarge { size: usize, max: usize },
    /// KIP-848: the member's epoch is ahead of, or too far behind, the coordinator's; it must rejoin.
    #[error("member epoch {got} is fenced (current {expected})")]
    FencedMemberEpoch { expected: i32, got: i32 },
    /// KIP-848: an offset commit with an epoch other than the member's current one.
    #[error("member epoch {got} is stale (current {expected})")]
    StaleMemberEpoch { expected: i32, got: i32 },
    #[error("server assignor {0} is not supported")]
    UnsupportedAssignor(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// A `__consumer_offsets` record that cannot be read back. Replay logs and skips it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record ends early")]
    Truncated,
    #[error("unknown key version {0}")]
    UnknownKeyVersion(i16),
    #[error("unknown value version {0} for key version {1}")]
    UnknownValueVersion(i16, i16),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("negative length {0} for a non-nullable field")]
    NegativeLength(i32),
}
