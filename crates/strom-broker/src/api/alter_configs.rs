//! AlterConfigs (the legacy, replace-everything form): a topic's overrides become exactly the given set.
//! On a BROKER resource only the dynamic settings of `dynamic_broker_config` are accepted (replication throttle
//! rates, recorded per broker in the metadata log); every other broker setting is static.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use strom_metadata::ConfigResource;
use strom_protocol::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use strom_protocol::kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{str_bytes, RequestContext};
use crate::dynamic_broker_config::{
    broker_resource_id, validate_dynamic_broker_config, DynamicConfigError,
};
use crate::error_code::{self, Code};
use crate::topic_config::validate_topic_config;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let set: Vec<(String, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let (code, message) = if has_duplicate_keys(set.iter().map(|(name, _)| name.as_str())) {
            duplicate_keys()
        } else {
            alter_topic(
                ctx,
                resource.resource_type,
                &resource.resource_name,
                set,
                true,
                request.validate_only,
            )
            .await
        };
        responses.push(
            response
                .with_error_code(code)
                .with_error_message(message.map(|m| str_bytes(&m))),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// Whether a resource names one config more than once, which Kafka refuses before anything else.
pub(crate) fn has_duplicate_keys<'a>(mut names: impl Iterator<Item = &'a str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.any(|name| !seen.insert(name))
}

/// Kafka's answer for a resource that names one config twice (both AlterConfigs forms).
pub(crate) fn duplicate_keys() -> (i16, Option<String>) {
    (
        Code::InvalidRequest.code(),
        Some("Error due to duplicate config keys".into()),
    )
}

/// Applies topic config changes. `replace`: the given values become the whole override set (AlterConfigs);
/// otherwise values of `None` delete and others set (IncrementalAlterConfigs, already resolved to set/delete).
pub(crate) async fn alter_topic(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    resource_name: &str,
    changes: Vec<(String, Option<String>)>,
    replace: bool,
    validate_only: bool,
) -> (i16, Option<String>) {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            return alter_broker(ctx, resource_name, changes, replace, validate_only).await
        }
        _ => {
            return (
                Code::InvalidRequest.code(),
                Some("unsupported resource type".into()),
            )
        }
    }
    let image = ctx.broker.image();
    let Some(topic) = image.topic(resource_name) else {
        return (Code::UnknownTopicOrPartition.code(), None);
    };
    let mut set = BTreeMap::new();
    let mut delete = Vec::new();
    for (name, value) in changes {
        match value {
            Some(value) => {
                if let Err(e) = validate_topic_config(&name, &value) {
                    return (Code::InvalidConfig.code(), Some(e.to_string()));
                }
                set.insert(name, value);
            }
            None => delete.push(name),
        }
    }
    if replace {
        delete.extend(
            topic
                .configs
                .keys()
                .filter(|k| !set.contains_key(*k))
                .cloned(),
        );
    }
    if validate_only {
        return (0, None);
    }
    let record = match strom_metadata::alter_config_records(
        &image,
        ConfigResource::Topic(resource_name.to_string()),
        set,
        delete,
    ) {
        Ok(r) => r,
        Err(e) => return (error_code::topic_error(&e).code(), Some(e.to_string())),
    };
    match ctx.broker.propose_one(record).await {
        Ok(()) => (0, None),
        Err(e) => (error_code::topic_error(&e).code(), Some(e.to_string())),
    }
}

/// Applies dynamic broker config changes to one broker (or, for an empty name, the cluster default), with the
/// same `replace` semantics as `alter_topic`. Deleting a setting that is not set is a no-op, as in Kafka.
async fn alter_broker(
    ctx: &RequestContext<'_>,
    resource_name: &str,
    changes: Vec<(String, Option<String>)>,
    replace: bool,
    validate_only: bool,
) -> (i16, Option<String>) {
    let id = match broker_resource_id(resource_name) {
        Ok(id) => id,
        Err(m) => return (Code::InvalidRequest.code(), Some(m)),
    };
    let mut set = BTreeMap::new();
    let mut delete = Vec::new();
    for (name, value) in changes {
        match validate_dynamic_broker_config(&name, value.as_deref()) {
            Ok(()) => {}
            Err(DynamicConfigError::Static(m)) => return (Code::InvalidRequest.code(), Some(m)),
            Err(DynamicConfigError::Invalid(m)) => return (Code::InvalidConfig.code(), Some(m)),
        }
        match value {
            Some(value) => {
                set.insert(name, value.trim().to_string());
            }
            None => delete.push(name),
        }
    }
    let image = ctx.broker.image();
    let current = image.broker_configs.get(&id);
    if replace {
        delete.extend(
            current
                .into_iter()
                .flat_map(|c| c.keys())
                .filter(|k| !set.contains_key(*k))
                .cloned(),
        );
    }
    // Only keys actually set are deleted, so a DELETE of unset keys proposes nothing.
    delete.retain(|k| current.is_some_and(|c| c.contains_key(k)));
    if validate_only || (set.is_empty() && delete.is_empty()) {
        return (0, None);
    }
    let record =
        match strom_metadata::alter_config_records(&image, ConfigResource::Broker(id), set, delete)
        {
            Ok(r) => r,
            Err(e) => return (error_code::topic_error(&e).code(), Some(e.to_string())),
        };
    match ctx.broker.propose_one(record).await {
        Ok(()) => (0, None),
        Err(e) => (error_code::topic_error(&e).code(), Some(e.to_string())),
    }
}
