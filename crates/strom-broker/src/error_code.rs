//! The only place where Strom's errors become Kafka error codes. Every match is exhaustive with no `_` arm,
//! so a new error variant does not compile until someone chooses its code. I/O failures are logged once,
//! here, where they become UNKNOWN_SERVER_ERROR / KAFKA_STORAGE_ERROR.

use strom_group::Error as GroupError;
use strom_metadata::{MetadataError, TopicError};
pub(crate) use strom_protocol::kafka_protocol::error::ResponseError as Code;
use strom_storage::{AppendError, ReadError, StorageError};
use strom_txn::Error as TxnError;
use tracing::error;

use crate::partition::PartitionError;

pub(crate) fn append_error(e: &AppendError) -> Code {
    match e {
        AppendError::CorruptMessage(_) => Code::CorruptMessage,
        AppendError::InvalidRecord(_) => Code::InvalidRecord,
        AppendError::UnsupportedMagic(_) => Code::UnsupportedForMessageFormat,
        AppendError::RecordTooLarge { .. } => Code::MessageTooLarge,
        AppendError::InvalidTimestamp(_) => Code::InvalidTimestamp,
        AppendError::OutOfOrderSequence { .. } => Code::OutOfOrderSequenceNumber,
        AppendError::InvalidProducerEpoch { .. } => Code::InvalidProducerEpoch,
        AppendError::InvalidTxnState { .. } => Code::InvalidTxnState,
        AppendError::TransactionCoordinatorFenced { .. } => Code::TransactionCoordinatorFenced,
        AppendError::ControlBatchFromClient => Code::InvalidRecord,
        // Only the follower path appends at fixed offsets; Kafka has no code for it either.
        AppendError::OffsetMismatch { .. } => Code::UnknownServerError,
        AppendError::Io(io) => {
            error!("append failed: {io}");
            Code::KafkaStorageError
        }
    }
}

pub(crate) fn read_error(e: &ReadError) -> Code {
    match e {
        ReadError::OffsetOutOfRange { .. } => Code::OffsetOutOfRange,
        ReadError::Io(io) => {
            error!("read failed: {io}");
            Code::KafkaStorageError
        }
    }
}

pub(crate) fn storage_error(e: &StorageError) -> Code {
    match e {
        StorageError::Io(io) => {
            error!("storage operation failed: {io}");
            Code::KafkaStorageError
        }
        StorageError::TruncateBelowLogStart { .. } => Code::OffsetOutOfRange,
        StorageError::Corrupt(what) => {
            error!("storage corrupt: {what}");
            Code::KafkaStorageError
        }
    }
}

pub(crate) fn partition_error(e: &PartitionError) -> Code {
    match e {
        PartitionError::Closed | PartitionError::NotLeaderOrFollower => Code::NotLeaderOrFollower,
        PartitionError::FencedLeaderEpoch => Code::FencedLeaderEpoch,
        PartitionError::UnknownLeaderEpoch => Code::UnknownLeaderEpoch,
        PartitionError::NotEnoughReplicas => Code::NotEnoughReplicas,
        PartitionError::NotInTransaction => Code::InvalidTxnState,
        PartitionError::NotEnoughReplicasAfterAppend => Code::NotEnoughReplicasAfterAppend,
        PartitionError::RequestTimedOut => Code::RequestTimedOut,
        PartitionError::FsyncFailed => Code::KafkaStorageError,
        PartitionError::Append { error, .. } => append_error(error),
        PartitionError::OffsetOutOfRange { .. } => Code::OffsetOutOfRange,
        PartitionError::PolicyViolation(_) => Code::PolicyViolation,
        PartitionError::UnknownOffsetSpec(_) => Code::InvalidRequest,
        PartitionError::Storage(e) => storage_error(e),
    }
}

/// The group coordinator's appends to `__consumer_offsets`, as Kafka's coordinator answers them: a lost
/// leadership is NOT_COORDINATOR (the client looks the coordinator up again), a log that refused the batch
/// keeps its code, and anything else (closed log, too few replicas, a timeout) is
/// COORDINATOR_NOT_AVAILABLE; the client retries either.
pub(crate) fn coordinator_append_error(e: &PartitionError) -> Code {
    match e {
        PartitionError::NotLeaderOrFollower => Code::NotCoordinator,
        PartitionError::Append { error, .. } => append_error(error),
        PartitionError::NotInTransaction => Code::InvalidTxnState,
        PartitionError::Closed
        | PartitionError::FencedLeaderEpoch
        | PartitionError::UnknownLeaderEpoch
        | PartitionError::NotEnoughReplicas
        | PartitionError::NotEnoughReplicasAfterAppend
        | PartitionError::RequestTimedOut
        | PartitionError::FsyncFailed
        | PartitionError::OffsetOutOfRange { .. }
        | PartitionError::PolicyViolation(_)
        | PartitionError::UnknownOffsetSpec(_)
        | PartitionError::Storage(_) => Code::CoordinatorNotAvailable,
    }
}

pub(crate) fn topic_error(e: &TopicError) -> Code {
    match e {
        TopicError::InvalidTopic(_) => Code::InvalidTopicException,
        TopicError::TopicAlreadyExists(_) => Code::TopicAlreadyExists,
        TopicError::UnknownTopic(_) => Code::UnknownTopicOrPartition,
        TopicError::UnknownTopicId(_) => Code::UnknownTopicId,
        TopicError::InvalidPartitions(_) => Code::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => Code::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => Code::InvalidReplicaAssignment,
        TopicError::InvalidConfig(_) => Code::InvalidConfig,
        TopicError::InvalidRequest(_) => Code::InvalidRequest,
        // Kafka's INVALID_UPDATE_VERSION is code 95.
        TopicError::InvalidUpdateVersion(_) => Code::InvalidUpdateVersion,
        TopicError::FencedLeaderEpoch(_) => Code::FencedLeaderEpoch,
        TopicError::NotLeaderOrFollower(_) => Code::NotLeaderOrFollower,
        TopicError::IneligibleReplica(_) => Code::IneligibleReplica,
        TopicError::ElectionNotNeeded(_) => Code::ElectionNotNeeded,
        TopicError::PreferredLeaderNotAvailable(_) => Code::PreferredLeaderNotAvailable,
        TopicError::EligibleLeadersNotAvailable(_) => Code::EligibleLeadersNotAvailable,
        TopicError::NoReassignmentInProgress(_) => Code::NoReassignmentInProgress,
        TopicError::BrokerNotAvailable(_) => Code::BrokerNotAvailable,
    }
}

/// The metadata quorum could not commit a proposal. The outcome of a timed-out or failed forward is
/// unknown, so it is REQUEST_TIMED_OUT (retriable, as Kafka answers when the controller does not reply in
/// time); anything else is a broken quorum, logged here.
pub(crate) fn metadata_error(e: &MetadataError) -> Code {
    match e {
        MetadataError::NotLeader { .. } => Code::NotController,
        MetadataError::Timeout { .. } | MetadataError::Forward { .. } => Code::RequestTimedOut,
        MetadataError::Io { .. }
        | MetadataError::Corrupt { .. }
        | MetadataError::Stopped(_)
        | MetadataError::Raft(_)
        | MetadataError::StartupTimeout(..)
        | MetadataError::Listen { .. }
        | MetadataError::Config(_) => {
            error!("metadata quorum request failed: {e}");
            Code::UnknownServerError
        }
    }
}

/// DescribeQuorum could not get the leader's view. Kafka's raft answers NOT_LEADER_OR_FOLLOWER when asked
/// away from the leader (retriable: the client asks again); every other case is a proposal's failure too, so it
/// maps as [`metadata_error`] does (whose match stays exhaustive, so a new variant still needs a choice there).
pub(crate) fn describe_quorum_error(e: &MetadataError) -> Code {
    match e {
        MetadataError::NotLeader { .. } => Code::NotLeaderOrFollower,
        other => metadata_error(other),
    }
}

pub(crate) fn group_error(e: &GroupError) -> Code {
    match e {
        GroupError::InvalidGroupId => Code::InvalidGroupId,
        GroupError::InvalidSessionTimeout { .. } => Code::InvalidSessionTimeout,
        GroupError::UnknownMemberId => Code::UnknownMemberId,
        GroupError::MemberIdRequired { .. } => Code::MemberIdRequired,
        GroupError::IllegalGeneration { .. } => Code::IllegalGeneration,
        GroupError::RebalanceInProgress => Code::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => Code::InconsistentGroupProtocol,
        GroupError::FencedInstanceId => Code::FencedInstanceId,
        GroupError::GroupIdNotFound => Code::GroupIdNotFound,
        GroupError::NonEmptyGroup => Code::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => Code::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge { .. } => Code::OffsetMetadataTooLarge,
        GroupError::FencedMemberEpoch { .. } => Code::FencedMemberEpoch,
        GroupError::StaleMemberEpoch { .. } => Code::StaleMemberEpoch,
        GroupError::UnsupportedAssignor(_) => Code::UnsupportedAssignor,
        GroupError::InvalidRequest(_) => Code::InvalidRequest,
    }
}

pub(crate) fn txn_error(e: &TxnError) -> Code {
    match e {
        TxnError::InvalidRequest(_) => Code::InvalidRequest,
        TxnError::InvalidTransactionTimeout { .. } => Code::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => Code::ConcurrentTransactions,
        TxnError::ProducerFenced => Code::ProducerFenced,
        TxnError::InvalidProducerIdMapping => Code::InvalidProducerIdMapping,
        TxnError::InvalidTxnState(_) => Code::InvalidTxnState,
        TxnError::ProducerIdUnavailable => {
            error!("no producer id could be allocated");
            Code::UnknownServerError
        }
    }
}

/// Clients older than PRODUCER_FENCED (KIP-588) know only INVALID_PRODUCER_EPOCH: InitProducerId before v4,
/// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn before v2 get that instead, as from Kafka.
pub(crate) fn downgrade_producer_fenced(
    code: Code,
    version: i16,
    first_version_with_it: i16,
) -> Code {
    if code == Code::ProducerFenced && version < first_version_with_it {
        Code::InvalidProducerEpoch
    } else {
        code
    }
}
