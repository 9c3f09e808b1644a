//! IncrementalAlterConfigs (KIP-339): SET, DELETE, APPEND and SUBTRACT on individual topic configs, and on the
//! dynamic broker settings (`dynamic_broker_config`) of a BROKER resource.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use strom_protocol::kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::alter_configs::{alter_topic, duplicate_keys, has_duplicate_keys};
use super::describe_configs::RESOURCE_BROKER;
use super::{str_bytes, RequestContext};
use crate::config::ConfigType;
use crate::error_code::Code;
use crate::topic_config::{effective_topic_config, topic_config_key};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        if has_duplicate_keys(resource.configs.iter().map(|c| c.name.as_str())) {
            let (code, message) = duplicate_keys();
            responses.push(
                response
                    .with_error_code(code)
                    .with_error_message(message.map(|m| str_bytes(&m))),
            );
            continue;
        }
        let overrides = ctx.broker.topic_overrides(&resource.resource_name);
        let mut changes = Vec::with_capacity(resource.configs.len());
        let mut invalid = None;
        let mut not_list = None;
        for c in &resource.configs {
            let name = c.name.to_string();
            let value = c.value.as_ref().map(|v| v.to_string());
            let change = match c.config_operation {
                SET => value.map(|v| (name.clone(), Some(v))),
                DELETE => Some((name.clone(), None)),
                // Only list-typed settings (Kafka: InvalidConfigurationException); no dynamic broker setting is.
                APPEND | SUBTRACT
                    if resource.resource_type == RESOURCE_BROKER
                        || topic_config_key(&name)
                            .is_none_or(|k| k.config_type != ConfigType::List) =>
                {
                    not_list = Some(format!(
                        "Config value {} is not allowed for config key: {name}",
                        if c.config_operation == APPEND {
                            "append"
                        } else {
                            "subtract"
                        }
                    ));
                    break;
                }
                APPEND | SUBTRACT => {
                    let current = topic_config_key(&name)
                        .map(|k| effective_topic_config(k, &overrides, &ctx.broker.config).0)
                        .unwrap_or_default();
                    let mut items: Vec<String> = current
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    for v in value
                        .iter()
                        .flat_map(|v| v.split(','))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                    {
                        if c.config_operation == APPEND {
                            if !items.iter().any(|i| i == v) {
                                items.push(v.to_string());
                            }
                        } else {
                            items.retain(|i| i != v);
                        }
                    }
                    Some((name.clone(), Some(items.join(","))))
                }
                _ => None,
            };
            match change {
                Some(change) => changes.push(change),
                None => {
                    invalid = Some(format!(
                        "invalid operation {} or missing value for `{name}`",
                        c.config_operation
                    ));
                    break;
                }
            }
        }
        let (code, message) = match (invalid, not_list) {
            (Some(m), _) => (Code::InvalidRequest.code(), Some(m)),
            (None, Some(m)) => (Code::InvalidConfig.code(), Some(m)),
            (None, None) => {
                alter_topic(
                    ctx,
                    resource.resource_type,
                    &resource.resource_name,
                    changes,
                    false,
                    request.validate_only,
                )
                .await
            }
        };
        responses.push(
            response
                .with_error_code(code)
                .with_error_message(message.map(|m| str_bytes(&m))),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
