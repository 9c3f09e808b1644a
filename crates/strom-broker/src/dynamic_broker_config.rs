//! Dynamic broker configs: the few broker settings Kafka lets IncrementalAlterConfigs / AlterConfigs change at
//! runtime that Strom accepts, kept in the metadata log per broker (`ConfigResource::Broker`, the cluster-wide
//! default under `CLUSTER_DEFAULT`). Only the replication throttle rates that `kafka-reassign-partitions
//! --throttle` sets and `--verify` clears are accepted: they are validated and recorded, and DescribeConfigs
//! reports them, but Strom does not throttle replication. Every other broker setting is static (the config
//! file) and refused with INVALID_REQUEST.

use strom_metadata::MetadataImage;
use strom_protocol::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsSynonym,
};
use strom_protocol::str_bytes;

use crate::config::ConfigType;
use crate::topic_config::ConfigSource;

/// The id under which the cluster-wide default (Kafka's BROKER resource with an empty name) is recorded.
pub(crate) const CLUSTER_DEFAULT: i32 = -1;

/// A broker setting that may be changed at runtime.
pub(crate) struct DynamicBrokerConfig {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static str,
}

/// Kafka's `QuotaConfig.brokerQuotaConfigs` rates (LONG, at least 0, default Long.MAX_VALUE = unlimited).
pub(crate) const DYNAMIC_BROKER_CONFIGS: &[DynamicBrokerConfig] = &[
    DynamicBrokerConfig {
        name: "leader.replication.throttled.rate",
        doc: "Upper bound (bytes/sec) on leader-side replication of the replicas in a topic's \
              leader.replication.throttled.replicas. Recorded; Strom does not throttle replication.",
    },
    DynamicBrokerConfig {
        name: "follower.replication.throttled.rate",
        doc: "Upper bound (bytes/sec) on follower-side replication of the replicas in a topic's \
              follower.replication.throttled.replicas. Recorded; Strom does not throttle replication.",
    },
    DynamicBrokerConfig {
        name: "replica.alter.log.dirs.io.max.bytes.per.second",
        doc: "Upper bound (bytes/sec) on disk IO moving replicas between log dirs. Recorded; Strom does not \
              throttle replica moves.",
    },
];

/// The default of every rate: unlimited.
pub(crate) const DEFAULT_RATE: &str = "9223372036854775807";

/// Looks a dynamic broker setting up by name.
pub(crate) fn dynamic_broker_config(name: &str) -> Option<&'static DynamicBrokerConfig> {
    DYNAMIC_BROKER_CONFIGS.iter().find(|c| c.name == name)
}

/// The recorded id of a BROKER resource name: empty for the cluster default, else a broker id (Kafka accepts
/// any non-negative id, registered or not).
pub(crate) fn broker_resource_id(name: &str) -> Result<i32, String> {
    if name.is_empty() {
        return Ok(CLUSTER_DEFAULT);
    }
    match name.parse::<i32>() {
        Ok(id) if id >= 0 => Ok(id),
        _ => Err(format!("invalid broker id `{name}`")),
    }
}

/// Why a change to a broker setting is refused: INVALID_REQUEST for a setting that is not dynamic,
/// INVALID_CONFIG for a bad value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DynamicConfigError {
    Static(String),
    Invalid(String),
}

/// Checks one broker setting about to be set (`Some`) or deleted (`None`).
pub(crate) fn validate_dynamic_broker_config(
    name: &str,
    value: Option<&str>,
) -> Result<(), DynamicConfigError> {
    if dynamic_broker_config(name).is_none() {
        return Err(DynamicConfigError::Static(format!(
            "broker setting `{name}` cannot be changed at runtime in Strom (only {}); change it in the \
             config file",
            DYNAMIC_BROKER_CONFIGS
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    match value {
        Some(v) if !v.trim().parse::<i64>().is_ok_and(|r| r >= 0) => {
            Err(DynamicConfigError::Invalid(format!(
                "invalid value `{v}` for `{name}`: must be a long of at least 0"
            )))
        }
        _ => Ok(()),
    }
}

/// The DescribeConfigs entries of the dynamic settings for `node_id` (`None`: the cluster default): the
/// broker's own value, else the cluster default, else unlimited; not read-only. Synonyms in Kafka's order.
pub(crate) fn describe_dynamic_broker_configs(
    image: &MetadataImage,
    node_id: Option<i32>,
    wanted: &dyn Fn(&str) -> bool,
    include_synonyms: bool,
    include_documentation: bool,
) -> Vec<DescribeConfigsResourceResult> {
    let own = node_id.and_then(|id| image.broker_configs.get(&id));
    let default = image.broker_configs.get(&CLUSTER_DEFAULT);
    DYNAMIC_BROKER_CONFIGS
        .iter()
        .filter(|c| wanted(c.name))
        .map(|c| {
            let mut layers = Vec::new();
            if let Some(v) = own.and_then(|m| m.get(c.name)) {
                layers.push((v.as_str(), ConfigSource::DynamicBrokerConfig));
            }
            if let Some(v) = default.and_then(|m| m.get(c.name)) {
                layers.push((v.as_str(), ConfigSource::DynamicDefaultBrokerConfig));
            }
            layers.push((DEFAULT_RATE, ConfigSource::DefaultConfig));
            let (value, source) = layers[0];
            let mut entry = DescribeConfigsResourceResult::default()
                .with_name(str_bytes(c.name))
                .with_value(Some(str_bytes(value)))
                .with_read_only(false)
                .with_config_source(source as i8)
                .with_config_type(ConfigType::Long.code());
            if include_synonyms {
                entry.synonyms = layers
                    .iter()
                    .map(|(v, s)| {
                        DescribeConfigsSynonym::default()
                            .with_name(str_bytes(c.name))
                            .with_value(Some(str_bytes(v)))
                            .with_source(*s as i8)
                    })
                    .collect();
            }
            if include_documentation {
                entry.documentation = Some(str_bytes(c.doc));
            }
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert_eq!(broker_resource_id(""), Ok(CLUSTER_DEFAULT));
        assert_eq!(broker_resource_id("3"), Ok(3));
        assert!(broker_resource_id("-2").is_err());
        assert!(broker_resource_id("x").is_err());
        let rate = "leader.replication.throttled.rate";
        assert_eq!(validate_dynamic_broker_config(rate, Some("1000")), Ok(()));
        assert_eq!(validate_dynamic_broker_config(rate, Some("0")), Ok(()));
        assert_eq!(validate_dynamic_broker_config(rate, None), Ok(()));
        assert!(matches!(
            validate_dynamic_broker_config(rate, Some("-1")),
            Err(DynamicConfigError::Invalid(_))
        ));
        assert!(matches!(
            validate_dynamic_broker_config(rate, Some("fast")),
            Err(DynamicConfigError::Invalid(_))
        ));
        assert!(matches!(
            validate_dynamic_broker_config("log.retention.ms", None),
            Err(DynamicConfigError::Static(_))
        ));
    }
}
