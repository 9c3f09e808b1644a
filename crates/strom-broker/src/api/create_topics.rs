//! CreateTopics: validates names, partition counts, replication factors and configs, then records each
//! topic through the metadata quorum and opens its logs. `validate_only` checks without creating. Results
//! carry the topic id, the partition count, the replication factor and (v5+) the effective configs.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

use strom_metadata::{MetadataRecord, NewTopic, TopicError};
use strom_protocol::kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use strom_protocol::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use uuid::Uuid;

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};
use crate::topic_config::{effective_topic_config, validate_topic_config, TOPIC_CONFIGS};

pub(crate) const VERSIONS: RangeInclusive<i16> = 2..=7;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let mut results = Vec::with_capacity(request.topics.len());
    // A name given twice is created neither time: Kafka answers it once, after the other results.
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    for topic in &request.topics {
        if !seen.insert(&topic.name) && !duplicates.contains(&topic.name) {
            duplicates.push(topic.name.clone());
        }
    }
    for topic in request.topics {
        if duplicates.contains(&topic.name) {
            continue;
        }
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let mut configs = BTreeMap::new();
        let mut config_error = None;
        for c in &topic.configs {
            let Some(value) = c.value.as_ref() else {
                continue;
            };
            if let Err(e) = validate_topic_config(&c.name, value) {
                config_error = Some(e.to_string());
                break;
            }
            configs.insert(c.name.to_string(), value.to_string());
        }
        if let Some(message) = config_error {
            results.push(
                result
                    .with_error_code(Code::InvalidConfig.code())
                    .with_error_message(Some(str_bytes(&message))),
            );
            continue;
        }
        let new_topic = NewTopic {
            name: name.clone(),
            num_partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: configs.clone(),
        };
        let outcome: Result<Uuid, TopicError> = if request.validate_only {
            strom_metadata::create_topic_records(
                &ctx.image,
                &new_topic,
                broker.config.num_partitions,
                broker.config.default_replication_factor,
            )
            // Kafka answers the id the topic would have had.
            .map(|record| match record {
                MetadataRecord::CreateTopic { topic_id, .. } => topic_id,
                _ => Uuid::nil(),
            })
        } else {
            broker.create_topic(&new_topic).await
        };
        match outcome {
            Ok(id) => {
                let image = broker.image();
                let (partitions, rf) = image
                    .topic(&name)
                    .map(|t| {
                        (
                            t.partitions.len() as i32,
                            t.partitions
                                .values()
                                .next()
                                .map_or(1, |p| p.replicas.len() as i16),
                        )
                    })
                    .unwrap_or((
                        if topic.num_partitions > 0 {
                            topic.num_partitions
                        } else {
                            broker.config.num_partitions
                        },
                        if topic.replication_factor > 0 {
                            topic.replication_factor
                        } else {
                            broker.config.default_replication_factor
                        },
                    ));
                let described = TOPIC_CONFIGS
                    .iter()
                    .map(|k| {
                        let (value, source) = effective_topic_config(k, &configs, &broker.config);
                        CreatableTopicConfigs::default()
                            .with_name(str_bytes(k.name))
                            .with_value(Some(str_bytes(&value)))
                            .with_config_source(source as i8)
                    })
                    .collect();
                results.push(
                    result
                        .with_topic_id(id)
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf)
                        .with_configs(Some(described)),
                );
            }
            Err(e) => {
                let code = error_code::topic_error(&e);
                results.push(
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(&e.to_string()))),
                );
            }
        }
    }
    results.extend(duplicates.into_iter().map(|name| {
        CreatableTopicResult::default()
            .with_name(name)
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_error_code(Code::InvalidRequest.code())
            .with_error_message(Some(str_bytes("Duplicate topic name.")))
    }));
    CreateTopicsResponse::default().with_topics(results)
}
