//! One module per Kafka API, named after it. Each declares `VERSIONS` (the versions it serves, next to the
//! code that serves them) and `handle(ctx, request) -> response`. Handlers put error codes into the response
//! per topic/partition; they never fail the connection.

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_configs;
pub(crate) mod alter_partition_reassignments;
pub(crate) mod alter_replica_log_dirs;
pub(crate) mod api_versions;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_log_dirs;
pub(crate) mod describe_producers;
pub(crate) mod describe_quorum;
pub(crate) mod describe_topic_partitions;
pub(crate) mod describe_transactions;
pub(crate) mod elect_leaders;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_partition_reassignments;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;
pub(crate) mod write_txn_markers;

use std::net::SocketAddr;
use std::sync::Arc;

use strom_metadata::{MetadataImage, MetadataRecord, TopicError};
use strom_protocol::Request;

use crate::broker::Broker;
use crate::error_code::{self, Code};

/// What every handler gets: the broker, the request's version, and one metadata snapshot for the whole request.
pub(crate) struct RequestContext<'a> {
    pub(crate) broker: &'a Arc<Broker>,
    pub(crate) version: i16,
    pub(crate) image: Arc<MetadataImage>,
    /// The client's address, when the socket knew it.
    pub(crate) peer: Option<SocketAddr>,
}

impl<'a> RequestContext<'a> {
    pub(crate) fn new(
        broker: &'a Arc<Broker>,
        request: &Request,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            broker,
            version: request.version(),
            image: broker.image(),
            peer,
        }
    }

    /// The member's host as Kafka reports it in DescribeGroups/ConsumerGroupDescribe: `/<ip>`.
    pub(crate) fn client_host(&self) -> String {
        self.peer
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default()
    }
}

/// Kafka's "authorized operations not requested" marker.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// ACL operation codes (Kafka's AclOperation) used in authorized-operations bitfields.
pub(crate) mod acl_op {
    pub(crate) const READ: i32 = 3;
    pub(crate) const WRITE: i32 = 4;
    pub(crate) const CREATE: i32 = 5;
    pub(crate) const DELETE: i32 = 6;
    pub(crate) const ALTER: i32 = 7;
    pub(crate) const DESCRIBE: i32 = 8;
    pub(crate) const CLUSTER_ACTION: i32 = 9;
    pub(crate) const DESCRIBE_CONFIGS: i32 = 10;
    pub(crate) const ALTER_CONFIGS: i32 = 11;
    pub(crate) const IDEMPOTENT_WRITE: i32 = 12;
}

/// Without an authorizer every operation is allowed; the bitfield lists those that apply to a topic.
pub(crate) fn topic_authorized_operations() -> i32 {
    use acl_op::*;
    [
        READ,
        WRITE,
        CREATE,
        DELETE,
        ALTER,
        DESCRIBE,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
    ]
    .iter()
    .fold(0, |acc, op| acc | (1 << op))
}

/// The cluster operations this broker has something to authorize (no delegation tokens).
pub(crate) fn cluster_authorized_operations() -> i32 {
    use acl_op::*;
    [
        CREATE,
        ALTER,
        DESCRIBE,
        CLUSTER_ACTION,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
        IDEMPOTENT_WRITE,
    ]
    .iter()
    .fold(0, |acc, op| acc | (1 << op))
}

/// The one `&str` → `StrBytes` helper lives in strom-protocol; handlers import it from here.
pub(crate) use strom_protocol::str_bytes;

/// One partition's outcome as a handler writes it into a response: Kafka's error code and message.
pub(crate) type Outcome = Result<(), (Code, String)>;

/// The controller's refusal as a response outcome.
pub(crate) fn refused(e: &TopicError) -> (Code, String) {
    (error_code::topic_error(e), e.to_string())
}

/// Proposes the records of `planned` as one metadata entry and returns each plan's outcome, in order: a
/// refused plan keeps the controller's error, `Ok(None)` (nothing to change) succeeds at once, and a record
/// gets the state machine's verdict on apply (a racing change may have made it stale) or, when the quorum
/// could not commit the entry, that failure. Reconciles before returning, so this broker already plays the
/// role the new image gives it when the client hears back (as `Broker::propose_one` does).
pub(crate) async fn propose_planned(
    broker: &Broker,
    planned: Vec<Result<Option<MetadataRecord>, TopicError>>,
) -> Vec<Outcome> {
    let records: Vec<MetadataRecord> = planned
        .iter()
        .filter_map(|p| p.as_ref().ok().and_then(Clone::clone))
        .collect();
    let mut applied = if records.is_empty() {
        Ok(Vec::new().into_iter())
    } else {
        let result = broker.metadata.propose(records).await;
        broker.reconcile().await;
        result.map(Vec::into_iter).map_err(|e| {
            let code = error_code::metadata_error(&e);
            (code, e.to_string())
        })
    };
    planned
        .into_iter()
        .map(|plan| match plan {
            Err(e) => Err(refused(&e)),
            Ok(None) => Ok(()),
            Ok(Some(_)) => match &mut applied {
                // The state machine answers once per record, in order; a missing answer means the
                // record was not applied, which must not be reported as success.
                Ok(results) => match results.next() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) => Err(refused(&e)),
                    None => Err((
                        Code::UnknownServerError,
                        "the metadata quorum returned no result for this change".to_string(),
                    )),
                },
                Err(failed) => Err(failed.clone()),
            },
        })
        .collect()
}
