//! `Client`: a Kafka client bound to one cluster. This file owns the client's state (bootstrap servers, the
//! metadata cache, one [`Connection`] per broker id), its settings and the metadata types it caches; the rest
//! of `Client`'s `impl` is split across the submodules by what a call is for, deliberately, so each request
//! path reads in one place:
//! - `routing`: choosing a connection, refreshing metadata, finding partition leaders, retries and backoff;
//! - `admin`: topic and config admin calls (CreateTopics, DeleteTopics, CreatePartitions, configs);
//! - `data`: produce, fetch and list offsets, routed to partition leaders;
//! - `groups`: consumer-group admin calls through the group coordinator; `replicas`: leader elections and
//!   partition reassignments; `transactions`: ListTransactions, DescribeTransactions through the transaction
//!   coordinator, and the abort of a hanging transaction (WriteTxnMarkers);
//! - `requests`: the pure `*_request` builders the admin and data calls send (unit-tested by encoding them at
//!   every version this client may negotiate).
//!
//! The submodules `use` this file (for `Client`, the cached types and `response_entry`, which picks what was
//! asked about out of an answer); this file uses none of them. Kafka error
//! codes become `ClientError::Kafka`. Being a group member, idempotence and transactions are not done here.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use uuid::Uuid;

use crate::bootstrap::parse_bootstrap;
use crate::connection::{Connection, DEFAULT_CLIENT_ID};
use crate::error::ClientError;

pub(crate) mod admin;
pub(crate) mod data;
pub(crate) mod groups;
pub(crate) mod replicas;
mod requests;
mod routing;
pub(crate) mod transactions;

/// ListOffsets timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (high watermark for read-uncommitted).
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp asking for the record with the largest timestamp (needs ListOffsets v7+).
pub const MAX_TIMESTAMP: i64 = -3;

/// Settings for a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `client.id` sent in request headers.
    pub client_id: String,
    /// How long to wait for a connection or a response (a Fetch adds its `max_wait_ms`).
    pub request_timeout: Duration,
    /// How often a request failing with a retriable, metadata-invalidating error (NOT_LEADER_OR_FOLLOWER,
    /// LEADER_NOT_AVAILABLE...) is retried after refreshing metadata.
    pub retries: u32,
    /// First pause between retries; doubles up to one second.
    pub retry_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            request_timeout: Duration::from_secs(30),
            retries: 8,
            retry_backoff: Duration::from_millis(50),
        }
    }
}

/// A broker as listed in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port`, bracketing IPv6 literals.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition as listed in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// Broker id of the leader, -1 when there is none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error_code: i16,
}

/// One topic as listed in Metadata; partitions sorted by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// Nil when the broker does not report topic ids (Metadata < v10).
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub error_code: i16,
    pub partitions: Vec<PartitionMetadata>,
}

/// The cluster as one Metadata response described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerMetadata>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// A Kafka client bound to one cluster. Not `Clone`; wrap it in a mutex to share.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    bootstrap: Vec<String>,
    /// Connection for requests any broker can serve (Metadata, admin calls).
    any: Option<Connection>,
    /// Connections by broker id, for requests that must reach a partition leader.
    brokers: HashMap<i32, Connection>,
    metadata: ClusterMetadata,
}

impl Client {
    /// Connects to the first reachable of `bootstrap` (`host:port[,host:port]`) with default settings, negotiates
    /// API versions and loads broker metadata.
    pub async fn connect(bootstrap: &str) -> Result<Client, ClientError> {
        Client::connect_with(bootstrap, ClientConfig::default()).await
    }

    /// Like [`Client::connect`] with explicit settings.
    pub async fn connect_with(
        bootstrap: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let bootstrap = parse_bootstrap(bootstrap)?;
        let mut client = Client {
            config,
            bootstrap,
            any: None,
            brokers: HashMap::new(),
            metadata: ClusterMetadata::default(),
        };
        // An empty topic list asks only for brokers and the controller.
        client.metadata(Some(&[])).await?;
        Ok(client)
    }

    /// The metadata cached from the latest Metadata responses.
    pub fn cached_metadata(&self) -> &ClusterMetadata {
        &self.metadata
    }
}

/// The entry of a response's list that `is_it` picks (the topic, partition or group asked about), or
/// MissingInResponse for `what` (`topic t in CreateTopics`) when the broker left it out.
fn response_entry<T>(
    entries: impl IntoIterator<Item = T>,
    is_it: impl FnMut(&T) -> bool,
    what: impl FnOnce() -> String,
) -> Result<T, ClientError> {
    entries
        .into_iter()
        .find(is_it)
        .ok_or_else(|| ClientError::MissingInResponse { what: what() })
}
