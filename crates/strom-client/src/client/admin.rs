//! Topic and config admin calls on [`Client`]: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs and
//! IncrementalAlterConfigs, each sent over the bootstrap connection (any broker takes them; the broker forwards
//! to the controller) and each dropping the topic from the metadata cache when it changed the topic. Part of
//! `Client`'s `impl`, split off deliberately (see `client/mod.rs`). Requests are built in `requests.rs`; group
//! and replica admin calls live in `groups.rs` and `replicas.rs`.

use kafka_protocol::messages::ApiKey;
use uuid::Uuid;

use super::requests::{
    alter_topic_configs_request, create_partitions_request, create_topics_request,
    delete_topics_request, describe_topic_configs_request, RESOURCE_TYPE_TOPIC,
};
use super::{response_entry, Client};
use crate::error::ClientError;

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

impl Client {
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
        let topic = response_entry(
            resp.topics,
            |t| t.name.as_str() == name,
            || format!("topic {name} in CreateTopics"),
        )?;
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
        let result = response_entry(
            resp.responses,
            |t| t.name.as_deref().map(|n| n.as_str()) == Some(name),
            || format!("topic {name} in DeleteTopics"),
        )?;
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
        let result = response_entry(
            resp.results,
            |t| t.name.as_str() == name,
            || format!("topic {name} in CreatePartitions"),
        )?;
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
        let result = response_entry(
            resp.results,
            |r| r.resource_type == RESOURCE_TYPE_TOPIC && r.resource_name.as_str() == name,
            || format!("topic {name} in DescribeConfigs"),
        )?;
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
        let result = response_entry(
            resp.responses,
            |r| r.resource_type == RESOURCE_TYPE_TOPIC && r.resource_name.as_str() == name,
            || format!("topic {name} in IncrementalAlterConfigs"),
        )?;
        ClientError::check(result.error_code, result.error_message.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
