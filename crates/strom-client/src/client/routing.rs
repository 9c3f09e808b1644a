//! How `Client` reaches the cluster: the bootstrap connection for requests any broker answers, one connection per
//! broker id for requests a partition leader or a group coordinator must answer, the metadata refresh that keeps
//! leaders and brokers current, and the retry policy (which errors are worth another try, the backoff between
//! tries). Part of `Client`'s `impl`, split off deliberately (see `client/mod.rs`). Builds no request but
//! Metadata and interprets no response but Metadata's; the calls that use these paths live in the sibling files.

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, BrokerId, MetadataResponse};
use kafka_protocol::protocol::Request;
use kafka_protocol::ResponseError;

use super::requests::metadata_request;
use super::{BrokerMetadata, Client, ClusterMetadata, PartitionMetadata, TopicMetadata};
use crate::connection::Connection;
use crate::error::ClientError;

impl Client {
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

    /// The leader of `topic`-`partition`, refreshing metadata once when the cache does not know it.
    pub(super) async fn leader_for(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<i32, ClientError> {
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
    pub(super) fn should_retry(
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

    pub(super) async fn backoff(&self, attempt: u32) {
        let pause = self
            .config
            .retry_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1));
        tokio::time::sleep(pause).await;
    }

    pub(super) fn timeout_ms(&self) -> i32 {
        i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// The connection for requests any broker may answer, (re)connecting to bootstrap servers, then to known brokers.
    pub(super) async fn any_connection(&mut self) -> Result<&mut Connection, ClientError> {
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

    pub(super) async fn broker_connection(
        &mut self,
        id: i32,
    ) -> Result<&mut Connection, ClientError> {
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

    pub(super) async fn send_any<R: Request>(
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

    pub(super) async fn send_to_broker<R: Request>(
        &mut self,
        id: i32,
        key: ApiKey,
        extra_wait: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, ClientError> {
        self.send_to_broker_versioned(id, key, extra_wait, build)
            .await
            .map(|(resp, _)| resp)
    }

    /// Like `send_to_broker`, also returning the version sent, for responses whose layout changes with it.
    pub(super) async fn send_to_broker_versioned<R: Request>(
        &mut self,
        id: i32,
        key: ApiKey,
        extra_wait: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<(R::Response, i16), ClientError> {
        let version = self.broker_connection(id).await?.version(key)?;
        self.send_to_broker_at(id, version, extra_wait, build(version))
            .await
            .map(|resp| (resp, version))
    }

    pub(super) async fn send_to_broker_at<R: Request>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use strom_protocol::str_bytes;
    use uuid::Uuid;

    use crate::client::requests::topic_name;

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
}
