//! `Client`: bootstrap, a metadata cache, one [`Connection`] per broker id, routing of partition requests to
//! partition leaders, and typed helpers for the admin, produce, list-offsets and fetch calls the CLI needs.
//! Kafka error codes become `ClientError::Kafka`. Requests are built by the pure `*_request` functions at the bottom
//! (unit-tested by encoding them at every version this client may negotiate). Consumer-group admin calls live in
//! the `groups` submodule, leader elections and partition reassignments in `replicas`; being a group member, idempotence and transactions are not done here.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, FetchRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::bootstrap::parse_bootstrap;
use crate::connection::{Connection, DEFAULT_CLIENT_ID};
use crate::error::ClientError;
use crate::records::{decode_fetched, encode_batch, ConsumedRecord, OwnedRecord};

mod groups;
mod replicas;
pub use groups::{
    decode_consumer_assignment, CommitResult, CommittedOffset, GroupDescription, GroupMember,
    ListedGroup,
};
pub use replicas::{OngoingReassignment, PartitionOutcome};

/// ListOffsets timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (high watermark for read-uncommitted).
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp asking for the record with the largest timestamp (needs ListOffsets v7+).
pub const MAX_TIMESTAMP: i64 = -3;

/// Kafka's `ConfigResource.Type.TOPIC`.
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operations (Kafka's `AlterConfigOp.OpType`).
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// Kafka's default `fetch.max.bytes`: the most one Fetch response may carry across all partitions.
const FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;
/// Fetch v13+ names topics by id; v12 is the last version with names.
const LAST_FETCH_VERSION_WITH_NAMES: i16 = 12;

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

/// What CreateTopics reported about a new topic (fields the broker did not send keep -1 / nil).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// Where a config value comes from (Kafka's `ConfigEntry.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Unknown,
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    ClientMetrics,
    Group,
    Other(i8),
}

impl ConfigSource {
    /// Maps the DescribeConfigs `config_source` byte.
    pub fn from_wire(source: i8) -> ConfigSource {
        match source {
            0 => ConfigSource::Unknown,
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::Group,
            other => ConfigSource::Other(other),
        }
    }
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
            ConfigSource::Default => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::ClientMetrics => "CLIENT_METRICS_CONFIG",
            ConfigSource::Group => "GROUP_CONFIG",
            ConfigSource::Other(code) => return write!(f, "CONFIG_SOURCE_{code}"),
        };
        f.write_str(name)
    }
}

/// One config of a described resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive configs and configs without a value.
    pub value: Option<String>,
    pub source: ConfigSource,
    /// True when the value is the built-in default (`source == DEFAULT_CONFIG`), as Kafka's admin client computes it.
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
}

/// The answer to ListOffsets for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    /// The timestamp of the found record, -1 for the earliest/latest queries.
    pub timestamp: i64,
    pub leader_epoch: i32,
}

/// The result of fetching one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub partition: i32,
    /// Data records at or above the requested offset, in offset order (control records are dropped).
    pub records: Vec<ConsumedRecord>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Where the next fetch of this partition should start: past every complete batch returned, including
    /// control batches and offsets removed by compaction.
    pub next_offset: i64,
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

    /// Fetches metadata for `topics` (`None` = all topics) and refreshes the cache. A topic-level error for an
    /// explicitly requested topic (for example UNKNOWN_TOPIC_OR_PARTITION) is returned as `ClientError::Kafka`.
    pub async fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<ClusterMetadata, ClientError> {
        let resp = self
            .send_any(ApiKey::Metadata, |v| metadata_request(v, topics))
            .await?;
        let fresh = cluster_metadata(resp);
        self.metadata.cluster_id.clone_from(&fresh.cluster_id);
        self.metadata.controller_id = fresh.controller_id;
        self.metadata.brokers.clone_from(&fresh.brokers);
        // Connections to brokers that left the cluster are closed.
        self.brokers.retain(|id, _| fresh.brokers.contains_key(id));
        for (name, topic) in &fresh.topics {
            if topic.error_code == 0 {
                self.metadata.topics.insert(name.clone(), topic.clone());
            } else {
                self.metadata.topics.remove(name);
            }
        }
        if topics.is_some() {
            for topic in fresh.topics.values() {
                ClientError::check(topic.error_code, Some(&format!("topic {}", topic.name)))?;
            }
        }
        Ok(fresh)
    }

    /// Metadata of one topic, from the cache or, when absent, from the cluster. A topic that was just created may
    /// briefly be unknown to the broker asked or lack leaders, so UNKNOWN_TOPIC_OR_PARTITION and
    /// LEADER_NOT_AVAILABLE are retried for about a second and a half before being returned.
    pub async fn topic(&mut self, name: &str) -> Result<TopicMetadata, ClientError> {
        const ATTEMPTS: u32 = 5;
        let transient = [
            ResponseError::UnknownTopicOrPartition.code(),
            ResponseError::LeaderNotAvailable.code(),
        ];
        let mut attempt = 0;
        loop {
            if let Some(topic) = self.metadata.topics.get(name) {
                return Ok(topic.clone());
            }
            match self.metadata(Some(&[name.to_owned()])).await {
                Ok(fresh) => {
                    return fresh.topics.get(name).cloned().ok_or_else(|| {
                        ClientError::MissingInResponse {
                            what: format!("topic {name} in Metadata"),
                        }
                    })
                }
                Err(e)
                    if attempt + 1 < ATTEMPTS
                        && e.kafka_code().is_some_and(|c| transient.contains(&c)) =>
                {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates a topic. `replication_factor` -1 (or `partitions` -1) asks for the broker default (CreateTopics v4+).
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<CreatedTopic, ClientError> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(ApiKey::CreateTopics, |_| {
                create_topics_request(name, partitions, replication_factor, configs, timeout_ms)
            })
            .await?;
        self.metadata.topics.remove(name);
        let topic = resp
            .topics
            .into_iter()
            .find(|t| t.name.as_str() == name)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("topic {name} in CreateTopics"),
            })?;
        ClientError::check(topic.error_code, topic.error_message.as_deref())?;
        Ok(CreatedTopic {
            name: name.to_owned(),
            topic_id: topic.topic_id,
            num_partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
        })
    }

    /// Deletes a topic by name.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), ClientError> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(ApiKey::DeleteTopics, |v| {
                delete_topics_request(v, name, timeout_ms)
            })
            .await?;
        self.metadata.topics.remove(name);
        let result = resp
            .responses
            .into_iter()
            .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some(name))
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("topic {name} in DeleteTopics"),
            })?;
        ClientError::check(result.error_code, result.error_message.as_deref())
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(&mut self, name: &str, total: i32) -> Result<(), ClientError> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(ApiKey::CreatePartitions, |_| {
                create_partitions_request(name, total, timeout_ms)
            })
            .await?;
        self.metadata.topics.remove(name);
        let result = resp
            .results
            .into_iter()
            .find(|t| t.name.as_str() == name)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("topic {name} in CreatePartitions"),
            })?;
        ClientError::check(result.error_code, result.error_message.as_deref())
    }

    /// Every config of a topic, defaults included.
    pub async fn describe_topic_configs(
        &mut self,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let resp = self
            .send_any(ApiKey::DescribeConfigs, |_| {
                describe_topic_configs_request(name)
            })
            .await?;
        let result = resp
            .results
            .into_iter()
            .find(|r| r.resource_type == RESOURCE_TYPE_TOPIC && r.resource_name.as_str() == name)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("topic {name} in DescribeConfigs"),
            })?;
        ClientError::check(result.error_code, result.error_message.as_deref())?;
        Ok(result
            .configs
            .into_iter()
            .map(|c| {
                let source = ConfigSource::from_wire(c.config_source);
                ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.map(|v| v.to_string()),
                    source,
                    is_default: source == ConfigSource::Default,
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                }
            })
            .collect())
    }

    /// Sets and deletes (reverts to default) topic configs in one IncrementalAlterConfigs request.
    pub async fn incremental_alter_topic_configs(
        &mut self,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<(), ClientError> {
        let resp = self
            .send_any(ApiKey::IncrementalAlterConfigs, |_| {
                alter_topic_configs_request(name, set, delete)
            })
            .await?;
        let result = resp
            .responses
            .into_iter()
            .find(|r| r.resource_type == RESOURCE_TYPE_TOPIC && r.resource_name.as_str() == name)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("topic {name} in IncrementalAlterConfigs"),
            })?;
        ClientError::check(result.error_code, result.error_message.as_deref())
    }

    /// Looks up an offset by timestamp: [`EARLIEST_TIMESTAMP`], [`LATEST_TIMESTAMP`], [`MAX_TIMESTAMP`] or a time in
    /// ms (the first offset whose timestamp is at or after it; offset -1 when there is none).
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<ListedOffset, ClientError> {
        let mut attempt = 0;
        loop {
            let result = self.list_offsets_once(topic, partition, timestamp).await;
            match result {
                Err(e) if self.should_retry(&e, attempt, true, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn list_offsets_once(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<ListedOffset, ClientError> {
        let leader = self.leader_for(topic, partition).await?;
        let version = self
            .broker_connection(leader)
            .await?
            .version(ApiKey::ListOffsets)?;
        if timestamp == MAX_TIMESTAMP && version < 7 {
            return Err(ClientError::VersionTooOld {
                what: "max-timestamp lookup",
                api: "ListOffsets",
                needed: 7,
                available: version,
            });
        }
        let resp = self
            .send_to_broker(leader, ApiKey::ListOffsets, Duration::ZERO, |_| {
                list_offsets_request(topic, partition, timestamp)
            })
            .await?;
        let p = resp
            .topics
            .into_iter()
            .filter(|t| t.name.as_str() == topic)
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("{topic}-{partition} in ListOffsets"),
            })?;
        ClientError::check(p.error_code, Some(&format!("{topic}-{partition}")))?;
        Ok(ListedOffset {
            offset: p.offset,
            timestamp: p.timestamp,
            leader_epoch: p.leader_epoch,
        })
    }

    /// Produces `records` as one batch to `topic`-`partition` and returns the base offset the leader assigned
    /// (-1 with `acks` 0, which gets no answer). Retries only errors that guarantee nothing was appended
    /// (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION...) and connection failures before sending.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[OwnedRecord],
        acks: i16,
        compression: Compression,
    ) -> Result<i64, ClientError> {
        let batch = encode_batch(records, compression)?;
        let mut attempt = 0;
        loop {
            let result = self
                .produce_once(topic, partition, batch.clone(), acks)
                .await;
            match result {
                Err(e) if self.should_retry(&e, attempt, false, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn produce_once(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> Result<i64, ClientError> {
        let leader = self.leader_for(topic, partition).await?;
        let timeout_ms = self.timeout_ms();
        let req = produce_request(topic, partition, batch, acks, timeout_ms);
        if acks == 0 {
            let conn = self.broker_connection(leader).await?;
            let version = conn.version(ApiKey::Produce)?;
            let result = conn.send_no_response(&req, version).await;
            if result.as_ref().is_err_and(ClientError::poisons_connection) {
                self.brokers.remove(&leader);
            }
            return result.map(|()| -1);
        }
        let resp = self
            .send_to_broker(leader, ApiKey::Produce, Duration::ZERO, |_| req)
            .await?;
        let p = resp
            .responses
            .into_iter()
            .filter(|t| t.name.as_str() == topic)
            .flat_map(|t| t.partition_responses)
            .find(|p| p.index == partition)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("{topic}-{partition} in Produce"),
            })?;
        if p.error_code != 0 {
            let mut message = p
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_else(|| format!("{topic}-{partition}"));
            for e in &p.record_errors {
                message.push_str(&format!(
                    "; record {}: {}",
                    e.batch_index,
                    e.batch_index_error_message.as_deref().unwrap_or("")
                ));
            }
            ClientError::check(p.error_code, Some(&message))?;
        }
        Ok(p.base_offset)
    }

    /// Fetches one partition from `offset`, waiting up to `max_wait_ms` for data and returning at most about
    /// `max_bytes` (the first batch is returned whole even when larger).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<FetchedPartition, ClientError> {
        let mut attempt = 0;
        loop {
            let mut results = self
                .fetch_partitions(topic, &[(partition, offset)], max_wait_ms, max_bytes)
                .await?;
            let result = results.pop().map(|(_, r)| r).unwrap_or_else(|| {
                Err(ClientError::MissingInResponse {
                    what: format!("{topic}-{partition} in Fetch"),
                })
            });
            match result {
                Err(e) if self.should_retry(&e, attempt, true, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Fetches several partitions of one topic, one request per leader, each partition from its own offset and
    /// up to about `partition_max_bytes` (Kafka's `max.partition.fetch.bytes`; a whole request is capped at
    /// `fetch.max.bytes`, 50 MiB, but never below `partition_max_bytes`). Brokers fill partitions in request
    /// order, so callers fetching many busy partitions should rotate the order between calls.
    /// Per-partition failures (OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER...) come back per partition and are
    /// not retried here; stale leaders are dropped from the cache so the next call re-routes.
    pub async fn fetch_partitions(
        &mut self,
        topic: &str,
        partitions: &[(i32, i64)],
        max_wait_ms: i32,
        partition_max_bytes: i32,
    ) -> Result<Vec<(i32, Result<FetchedPartition, ClientError>)>, ClientError> {
        let mut out = Vec::with_capacity(partitions.len());
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for &(partition, offset) in partitions {
            match self.leader_for(topic, partition).await {
                Ok(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((partition, offset)),
                Err(e) => out.push((partition, Err(e))),
            }
        }
        let topic_id = self
            .metadata
            .topics
            .get(topic)
            .map(|t| t.topic_id)
            .unwrap_or_default();
        // With several leaders, each request waits in turn; keep the total wait near max_wait_ms.
        let wait = if by_leader.len() > 1 {
            max_wait_ms / by_leader.len() as i32
        } else {
            max_wait_ms
        };
        for (leader, wanted) in by_leader {
            match self
                .fetch_from_leader(leader, topic, topic_id, &wanted, wait, partition_max_bytes)
                .await
            {
                Ok(results) => out.extend(results),
                Err(e) => {
                    let invalidate = e.invalidates_metadata() || e.poisons_connection();
                    out.extend(wanted.iter().map(|&(p, _)| (p, Err(e.duplicate()))));
                    if invalidate {
                        self.metadata.topics.remove(topic);
                    }
                }
            }
        }
        if out
            .iter()
            .any(|(_, r)| r.as_ref().is_err_and(ClientError::invalidates_metadata))
        {
            self.metadata.topics.remove(topic);
        }
        out.sort_by_key(|(p, _)| *p);
        Ok(out)
    }

    async fn fetch_from_leader(
        &mut self,
        leader: i32,
        topic: &str,
        topic_id: Uuid,
        wanted: &[(i32, i64)],
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<Vec<(i32, Result<FetchedPartition, ClientError>)>, ClientError> {
        let mut version = self
            .broker_connection(leader)
            .await?
            .version(ApiKey::Fetch)?;
        if topic_id.is_nil() {
            version = version.min(LAST_FETCH_VERSION_WITH_NAMES);
        }
        let extra_wait = Duration::from_millis(max_wait_ms.max(0) as u64);
        let req = fetch_request(topic, topic_id, wanted, max_wait_ms, max_bytes);
        let resp = self
            .send_to_broker_at(leader, version, extra_wait, req)
            .await?;
        ClientError::check(resp.error_code, Some("fetch session"))?;
        let mut results = Vec::with_capacity(wanted.len());
        for &(partition, offset) in wanted {
            let data = resp
                .responses
                .iter()
                .filter(|t| {
                    if version > LAST_FETCH_VERSION_WITH_NAMES {
                        t.topic_id == topic_id
                    } else {
                        t.topic.as_str() == topic
                    }
                })
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition);
            let result = match data {
                None => Err(ClientError::MissingInResponse {
                    what: format!("{topic}-{partition} in Fetch"),
                }),
                Some(p) => ClientError::check(
                    p.error_code,
                    Some(&format!("{topic}-{partition} at offset {offset}")),
                )
                .and_then(|()| {
                    let decoded = decode_fetched(p.records.clone().unwrap_or_default(), offset)?;
                    Ok(FetchedPartition {
                        partition,
                        records: decoded.records,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        next_offset: decoded.next_offset,
                    })
                }),
            };
            results.push((partition, result));
        }
        Ok(results)
    }

    /// The leader of `topic`-`partition`, refreshing metadata once when the cache does not know it.
    async fn leader_for(&mut self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        if let Some(leader) = self.cached_leader(topic, partition) {
            return Ok(leader);
        }
        let fresh = self.metadata(Some(&[topic.to_owned()])).await?;
        let known = fresh
            .topics
            .get(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.partition == partition));
        if !known {
            return Err(ClientError::Kafka {
                code: ResponseError::UnknownTopicOrPartition.code(),
                name: "UNKNOWN_TOPIC_OR_PARTITION".into(),
                message: Some(format!("{topic} has no partition {partition}")),
            });
        }
        self.cached_leader(topic, partition)
            .ok_or_else(|| ClientError::NoLeader {
                topic: topic.to_owned(),
                partition,
            })
    }

    fn cached_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self
            .metadata
            .topics
            .get(topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)?;
        (p.leader >= 0 && self.metadata.brokers.contains_key(&p.leader)).then_some(p.leader)
    }

    /// Decides whether a failed partition request is worth another try, and drops stale cache entries.
    /// `resend_safe` is false for Produce, where a lost response may hide a successful append.
    fn should_retry(
        &mut self,
        err: &ClientError,
        attempt: u32,
        resend_safe: bool,
        topic: &str,
    ) -> bool {
        if attempt >= self.config.retries {
            return false;
        }
        if err.invalidates_metadata() {
            self.metadata.topics.remove(topic);
            return true;
        }
        match err {
            ClientError::Connect { .. } => true,
            _ => resend_safe && err.is_retriable(),
        }
    }

    async fn backoff(&self, attempt: u32) {
        let pause = self
            .config
            .retry_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1));
        tokio::time::sleep(pause).await;
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// The connection for requests any broker may answer, (re)connecting to bootstrap servers, then to known brokers.
    async fn any_connection(&mut self) -> Result<&mut Connection, ClientError> {
        if self.any.is_none() {
            let mut candidates = self.bootstrap.clone();
            candidates.extend(self.metadata.brokers.values().map(BrokerMetadata::addr));
            let mut last = None;
            for addr in &candidates {
                match Connection::connect(addr, &self.config.client_id, self.config.request_timeout)
                    .await
                {
                    Ok(conn) => {
                        self.any = Some(conn);
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(%addr, error = %e, "bootstrap connection failed");
                        last = Some(e);
                    }
                }
            }
            if self.any.is_none() {
                return Err(ClientError::NoBootstrapReachable {
                    attempts: candidates.join(","),
                    last: Box::new(last.unwrap_or_else(|| {
                        ClientError::InvalidArgument("no bootstrap servers".into())
                    })),
                });
            }
        }
        self.any
            .as_mut()
            .ok_or_else(|| ClientError::InvalidArgument("no bootstrap servers".into()))
    }

    async fn broker_connection(&mut self, id: i32) -> Result<&mut Connection, ClientError> {
        if !self.brokers.contains_key(&id) {
            let addr = self
                .metadata
                .brokers
                .get(&id)
                .map(BrokerMetadata::addr)
                .ok_or_else(|| ClientError::MissingInResponse {
                    what: format!("broker {id} in Metadata"),
                })?;
            let conn =
                Connection::connect(&addr, &self.config.client_id, self.config.request_timeout)
                    .await?;
            self.brokers.insert(id, conn);
        }
        self.brokers
            .get_mut(&id)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("broker {id}"),
            })
    }

    async fn send_any<R: Request>(
        &mut self,
        key: ApiKey,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, ClientError> {
        let conn = self.any_connection().await?;
        let version = conn.version(key)?;
        let result = conn.send(&build(version), version, Duration::ZERO).await;
        if result.as_ref().is_err_and(ClientError::poisons_connection) {
            self.any = None;
        }
        result
    }

    async fn send_to_broker<R: Request>(
        &mut self,
        id: i32,
        key: ApiKey,
        extra_wait: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, ClientError> {
        let version = self.broker_connection(id).await?.version(key)?;
        self.send_to_broker_at(id, version, extra_wait, build(version))
            .await
    }

    async fn send_to_broker_at<R: Request>(
        &mut self,
        id: i32,
        version: i16,
        extra_wait: Duration,
        req: R,
    ) -> Result<R::Response, ClientError> {
        let conn = self.broker_connection(id).await?;
        let result = conn.send(&req, version, extra_wait).await;
        if result.as_ref().is_err_and(ClientError::poisons_connection) {
            self.brokers.remove(&id);
        }
        result
    }
}

fn cluster_metadata(resp: MetadataResponse) -> ClusterMetadata {
    let ids = |v: Vec<BrokerId>| v.into_iter().map(|b| b.0).collect::<Vec<_>>();
    ClusterMetadata {
        cluster_id: resp.cluster_id.map(|c| c.to_string()),
        controller_id: resp.controller_id.0,
        brokers: resp
            .brokers
            .into_iter()
            .map(|b| {
                let node_id = b.node_id.0;
                (
                    node_id,
                    BrokerMetadata {
                        node_id,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.map(|r| r.to_string()),
                    },
                )
            })
            .collect(),
        topics: resp
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?.to_string();
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: ids(p.replica_nodes),
                        isr: ids(p.isr_nodes),
                        offline_replicas: ids(p.offline_replicas),
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                let topic = TopicMetadata {
                    name: name.clone(),
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    error_code: t.error_code,
                    partitions,
                };
                Some((name, topic))
            })
            .collect(),
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub(crate) fn metadata_request(version: i16, topics: Option<&[String]>) -> MetadataRequest {
    let topics = topics.map(|names| {
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
            .collect()
    });
    let req = MetadataRequest::default().with_topics(topics);
    // The field exists from v4 (earlier versions always allow auto-creation), and kafka-protocol refuses to
    // encode a non-default value that the version cannot carry.
    if version >= 4 {
        req.with_allow_auto_topic_creation(false)
    } else {
        req
    }
}

pub(crate) fn create_topics_request(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
    timeout_ms: i32,
) -> CreateTopicsRequest {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(str_bytes(k))
                .with_value(Some(str_bytes(v)))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(configs);
    CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(timeout_ms)
}

pub(crate) fn delete_topics_request(
    version: i16,
    name: &str,
    timeout_ms: i32,
) -> DeleteTopicsRequest {
    let req = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    if version >= 6 {
        req.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(name)))
        ])
    } else {
        req.with_topic_names(vec![topic_name(name)])
    }
}

pub(crate) fn create_partitions_request(
    name: &str,
    total: i32,
    timeout_ms: i32,
) -> CreatePartitionsRequest {
    let topic = CreatePartitionsTopic::default()
        .with_name(topic_name(name))
        .with_count(total)
        .with_assignments(None);
    CreatePartitionsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(timeout_ms)
}

pub(crate) fn describe_topic_configs_request(name: &str) -> DescribeConfigsRequest {
    let resource = DescribeConfigsResource::default()
        .with_resource_type(RESOURCE_TYPE_TOPIC)
        .with_resource_name(str_bytes(name))
        .with_configuration_keys(None);
    DescribeConfigsRequest::default().with_resources(vec![resource])
}

pub(crate) fn alter_topic_configs_request(
    name: &str,
    set: &[(String, String)],
    delete: &[String],
) -> IncrementalAlterConfigsRequest {
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(OP_SET)
                .with_value(Some(str_bytes(v)))
        })
        .collect();
    configs.extend(delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(str_bytes(k))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    let resource = AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TYPE_TOPIC)
        .with_resource_name(str_bytes(name))
        .with_configs(configs);
    IncrementalAlterConfigsRequest::default().with_resources(vec![resource])
}

pub(crate) fn list_offsets_request(
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsRequest {
    let partition = ListOffsetsPartition::default()
        .with_partition_index(partition)
        .with_timestamp(timestamp);
    ListOffsetsRequest::default()
        // -1: an ordinary consumer, not a follower replica.
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![partition])])
}

pub(crate) fn produce_request(
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
    timeout_ms: i32,
) -> ProduceRequest {
    let data = PartitionProduceData::default()
        .with_index(partition)
        .with_records(Some(batch));
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![data])])
}

pub(crate) fn fetch_request(
    topic: &str,
    topic_id: Uuid,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    partition_max_bytes: i32,
) -> FetchRequest {
    let partitions = partitions
        .iter()
        .map(|&(partition, offset)| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)
        })
        .collect();
    // Both the name (v4-12) and the id (v13+) are set; kafka-protocol writes whichever the version carries.
    let topic = FetchTopic::default()
        .with_topic(topic_name(topic))
        .with_topic_id(topic_id)
        .with_partitions(partitions);
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_MAX_BYTES.max(partition_max_bytes))
        // No incremental fetch session: every request is a full fetch.
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![topic])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::CLIENT_VERSIONS;
    use bytes::BytesMut;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    pub(super) fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
        CLIENT_VERSIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.clone())
            .unwrap()
    }

    /// Encodes at `version`, decodes back, and returns the decoded request.
    pub(super) fn round_trip<R: Encodable + Decodable>(req: &R, version: i16) -> R {
        let mut buf = BytesMut::new();
        req.encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("encode v{version}: {e:#}"));
        R::decode(&mut buf.freeze(), version).unwrap_or_else(|e| panic!("decode v{version}: {e:#}"))
    }

    #[test]
    fn every_request_encodes_at_every_client_version() {
        let configs = vec![("retention.ms".to_owned(), "1000".to_owned())];
        for v in versions(ApiKey::Metadata) {
            let req = round_trip(&metadata_request(v, Some(&["t".to_owned()])), v);
            assert_eq!(
                req.topics.unwrap()[0].name.as_deref().map(|n| n.as_str()),
                Some("t")
            );
            assert!(round_trip(&metadata_request(v, None), v).topics.is_none());
        }
        for v in versions(ApiKey::CreateTopics) {
            let req = round_trip(&create_topics_request("t", 3, 1, &configs, 1000), v);
            assert_eq!(req.topics[0].num_partitions, 3);
            assert_eq!(req.topics[0].configs[0].value.as_deref(), Some("1000"));
        }
        for v in versions(ApiKey::DeleteTopics) {
            let req = round_trip(&delete_topics_request(v, "t", 1000), v);
            let named = req.topic_names.len() + req.topics.len();
            assert_eq!(named, 1, "v{v}");
        }
        for v in versions(ApiKey::CreatePartitions) {
            assert_eq!(
                round_trip(&create_partitions_request("t", 4, 1000), v).topics[0].count,
                4
            );
        }
        for v in versions(ApiKey::DescribeConfigs) {
            assert_eq!(
                round_trip(&describe_topic_configs_request("t"), v).resources[0].resource_type,
                RESOURCE_TYPE_TOPIC
            );
        }
        for v in versions(ApiKey::IncrementalAlterConfigs) {
            let req = round_trip(
                &alter_topic_configs_request("t", &configs, &["cleanup.policy".to_owned()]),
                v,
            );
            let ops: Vec<i8> = req.resources[0]
                .configs
                .iter()
                .map(|c| c.config_operation)
                .collect();
            assert_eq!(ops, vec![OP_SET, OP_DELETE]);
        }
        for v in versions(ApiKey::ListOffsets) {
            let req = round_trip(&list_offsets_request("t", 2, EARLIEST_TIMESTAMP), v);
            assert_eq!(req.replica_id, BrokerId(-1));
            assert_eq!(req.topics[0].partitions[0].timestamp, EARLIEST_TIMESTAMP);
        }
        let batch = encode_batch(
            &[OwnedRecord {
                value: Some(Bytes::from_static(b"v")),
                ..OwnedRecord::default()
            }],
            Compression::None,
        )
        .unwrap();
        for v in versions(ApiKey::Produce) {
            let req = round_trip(&produce_request("t", 1, batch.clone(), -1, 1000), v);
            assert_eq!(req.topic_data[0].name.as_str(), "t");
            assert_eq!(
                req.topic_data[0].partition_data[0].records.as_ref(),
                Some(&batch)
            );
        }
        let id = Uuid::from_u128(42);
        for v in versions(ApiKey::Fetch) {
            let req = round_trip(&fetch_request("t", id, &[(0, 5), (1, 7)], 500, 1 << 20), v);
            let topic = &req.topics[0];
            if v > LAST_FETCH_VERSION_WITH_NAMES {
                assert_eq!(topic.topic_id, id);
            } else {
                assert_eq!(topic.topic.as_str(), "t");
            }
            assert_eq!(topic.partitions[1].fetch_offset, 7);
            assert_eq!(req.max_wait_ms, 500);
        }
    }

    #[test]
    fn metadata_response_becomes_sorted_cluster_metadata() {
        let resp = MetadataResponse::default()
            .with_controller_id(BrokerId(1))
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(str_bytes("::1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name("t")))
                .with_topic_id(Uuid::from_u128(7))
                .with_partitions(vec![
                    MetadataResponsePartition::default()
                        .with_partition_index(1)
                        .with_leader_id(BrokerId(1)),
                    MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(1))
                        .with_replica_nodes(vec![BrokerId(1)])
                        .with_isr_nodes(vec![BrokerId(1)]),
                ])]);
        let meta = cluster_metadata(resp);
        assert_eq!(meta.brokers[&1].addr(), "[::1]:9092");
        let t = &meta.topics["t"];
        assert_eq!(
            t.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(t.partitions[0].isr, vec![1]);
        assert_eq!(t.topic_id, Uuid::from_u128(7));
    }

    #[test]
    fn config_sources_use_kafka_names() {
        assert_eq!(
            ConfigSource::from_wire(1).to_string(),
            "DYNAMIC_TOPIC_CONFIG"
        );
        assert_eq!(ConfigSource::from_wire(5), ConfigSource::Default);
        assert_eq!(ConfigSource::from_wire(42).to_string(), "CONFIG_SOURCE_42");
    }
}
