//! DescribeConfigs: every topic config (with its value, source, synonyms, type and documentation, as Kafka
//! lists them) and every broker setting of this node: the static ones (`read_only`) and the dynamic throttle rates
//! (not read-only); a null or empty `configuration_keys` means all of them, as in Kafka. Other broker settings
//! are static in Strom (AlterConfigs of them is refused), where Kafka reports more of its settings as dynamic.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use strom_protocol::kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{str_bytes, RequestContext};
use crate::config::BrokerConfig;
use crate::dynamic_broker_config::describe_dynamic_broker_configs;
use crate::error_code::Code;
use crate::topic_config::{ConfigSource, TOPIC_CONFIGS};

pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=4;

pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            // Kafka (`ConfigHelper.describeConfigs`): a null or an empty key list asks for every config.
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            match resource.resource_type {
                RESOURCE_TOPIC => {
                    let Some(topic) = ctx.image.topic(&resource.resource_name) else {
                        return result.with_error_code(Code::UnknownTopicOrPartition.code());
                    };
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .filter(|k| wanted(k.name))
                        .map(|k| {
                            topic_entry(
                                ctx,
                                k,
                                &topic.configs,
                                request.include_synonyms,
                                request.include_documentation,
                            )
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    let name = resource.resource_name.as_str();
                    if !name.is_empty() && name != ctx.broker.node_id().to_string() {
                        return result
                            .with_error_code(Code::InvalidRequest.code())
                            .with_error_message(Some(str_bytes(
                                "unexpected broker id; describe the broker you are connected to",
                            )));
                    }
                    let cfg = &ctx.broker.config;
                    let mut configs: Vec<_> = BrokerConfig::KEYS
                        .iter()
                        .filter(|k| wanted(k.name))
                        .map(|k| {
                            let explicit = cfg.explicit.contains(k.name);
                            let source = if explicit {
                                ConfigSource::StaticBrokerConfig
                            } else {
                                ConfigSource::DefaultConfig
                            };
                            let value = cfg.get(k.name).unwrap_or_default();
                            let mut entry = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(k.name))
                                .with_value(Some(str_bytes(&value)))
                                .with_read_only(true)
                                .with_config_source(source as i8)
                                .with_config_type(k.config_type.code());
                            if request.include_synonyms {
                                let mut synonyms = Vec::new();
                                if explicit {
                                    synonyms.push(synonym(
                                        k.name,
                                        &value,
                                        ConfigSource::StaticBrokerConfig,
                                    ));
                                }
                                synonyms.push(synonym(
                                    k.name,
                                    k.default,
                                    ConfigSource::DefaultConfig,
                                ));
                                entry.synonyms = synonyms;
                            }
                            // Kafka sends null unless asked for documentation.
                            entry.documentation =
                                request.include_documentation.then(|| str_bytes(k.doc));
                            entry
                        })
                        .collect();
                    configs.extend(describe_dynamic_broker_configs(
                        &ctx.image,
                        (!name.is_empty()).then(|| ctx.broker.node_id()),
                        &wanted,
                        request.include_synonyms,
                        request.include_documentation,
                    ));
                    result.with_configs(configs)
                }
                _ => result
                    .with_error_code(Code::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("unsupported resource type"))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn topic_entry(
    ctx: &RequestContext<'_>,
    key: &crate::topic_config::TopicConfigKey,
    overrides: &std::collections::BTreeMap<String, String>,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let broker = &ctx.broker.config;
    let (value, source) = crate::topic_config::effective_topic_config(key, overrides, broker);
    let mut entry = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(key.name))
        .with_value(Some(str_bytes(&value)))
        .with_config_source(source as i8)
        .with_config_type(key.config_type.code());
    if include_synonyms {
        let mut synonyms = Vec::new();
        if let Some(v) = overrides.get(key.name) {
            synonyms.push(synonym(key.name, v, ConfigSource::TopicConfig));
        }
        if let Some(syn) = key.broker_synonym {
            if broker.explicit.contains(syn) {
                if let Some(v) = broker.get(syn) {
                    synonyms.push(synonym(syn, &v, ConfigSource::StaticBrokerConfig));
                }
            }
            synonyms.push(synonym(syn, key.default, ConfigSource::DefaultConfig));
        }
        entry.synonyms = synonyms;
    }
    // Kafka sends null unless asked for documentation.
    entry.documentation = include_documentation.then(|| str_bytes(key.doc));
    entry
}

fn synonym(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_source(source as i8)
}
