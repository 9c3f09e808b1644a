//! One module per Kafka API, named after it. Each declares `VERSIONS` (the versions it serves, next to the
//! code that serves them) and `handle(ctx, request) -> response`. Handlers put error codes into the response
//! per topic/partition; they never fail the connection.

pub(crate) mod alter_configs;
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
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use std::net::SocketAddr;
use std::sync::Arc;

use strom_metadata::MetadataImage;
use strom_protocol::kafka_protocol::protocol::StrBytes;
use strom_protocol::Request;

use crate::broker::Broker;

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

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
