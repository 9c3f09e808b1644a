//! Metadata: brokers, cluster id, controller, and topics with their partitions, leaders and ISR, from one
//! metadata image. Unknown topics are auto-created when both the broker (`auto.create.topics.enable`) and the
//! request (v4+ `allow_auto_topic_creation`) allow it; invalid names get INVALID_TOPIC_EXCEPTION. A v12 request
//! naming any topic by a non-zero id is resolved by ids alone, unknown ones getting UNKNOWN_TOPIC_ID.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use strom_metadata::{validate_topic_name, NewTopic, TopicImage};
use strom_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use strom_protocol::kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, TopicName,
};
use uuid::Uuid;

use super::{
    cluster_authorized_operations, str_bytes, topic_authorized_operations, RequestContext,
    AUTHORIZED_OPERATIONS_OMITTED,
};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=12;

pub(crate) async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match request.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
    };
    let allow_auto_create = broker.config.auto_create_topics_enable
        && (ctx.version < 4 || request.allow_auto_topic_creation);

    let mut image = ctx.image.clone();
    let mut topics = Vec::new();
    match requested {
        None => {
            for topic in image.topics.values() {
                topics.push(topic_response(
                    topic,
                    request.include_topic_authorized_operations,
                ));
            }
        }
        // Before v12 a topic has no id and (v10-11) must be named: Kafka rejects the request as invalid, which
        // its error response reports on every topic.
        Some(list)
            if ctx.version < 12 && list.iter().any(|(name, id)| name.is_none() || !id.is_nil()) =>
        {
            for (name, id) in list {
                topics.push(error_topic(
                    Some(name.as_deref().unwrap_or("")),
                    id,
                    Code::InvalidRequest,
                ));
            }
        }
        // v12+: as soon as one topic carries a non-zero id, Kafka resolves the request by ids alone (names are
        // ignored, no auto-creation): unknown ids first, with UNKNOWN_TOPIC_ID, then the known topics, each once.
        Some(list) if list.iter().any(|(_, id)| !id.is_nil()) => {
            let mut ids: Vec<Uuid> = list
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| !id.is_nil())
                .collect();
            let mut seen = std::collections::HashSet::new();
            ids.retain(|id| seen.insert(*id));
            let (known, unknown): (Vec<Uuid>, Vec<Uuid>) = ids
                .into_iter()
                .partition(|id| image.topic_by_id(*id).is_some());
            for id in unknown {
                topics.push(error_topic(None, id, Code::UnknownTopicId));
            }
            for id in known {
                if let Some(topic) = image.topic_by_id(id) {
                    topics.push(topic_response(
                        topic,
                        request.include_topic_authorized_operations,
                    ));
                }
            }
        }
        Some(list) => {
            for (name, id) in list {
                let name = match name {
                    Some(name) => name,
                    None => match image.topic_by_id(id) {
                        Some(t) => t.name.clone(),
                        None => {
                            topics.push(error_topic(None, id, Code::UnknownTopicId));
                            continue;
                        }
                    },
                };
                if let Some(topic) = image.topic(&name) {
                    topics.push(topic_response(
                        topic,
                        request.include_topic_authorized_operations,
                    ));
                    continue;
                }
                if validate_topic_name(&name).is_err() {
                    topics.push(error_topic(
                        Some(&name),
                        Uuid::nil(),
                        Code::InvalidTopicException,
                    ));
                    continue;
                }
                if !allow_auto_create {
                    topics.push(error_topic(
                        Some(&name),
                        Uuid::nil(),
                        Code::UnknownTopicOrPartition,
                    ));
                    continue;
                }
                let new_topic = NewTopic {
                    name: name.clone(),
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: BTreeMap::new(),
                    configs: BTreeMap::new(),
                };
                match broker.create_topic(&new_topic).await {
                    Ok(_) | Err(strom_metadata::TopicError::TopicAlreadyExists(_)) => {
                        image = broker.image();
                        match image.topic(&name) {
                            Some(topic) => topics.push(topic_response(
                                topic,
                                request.include_topic_authorized_operations,
                            )),
                            None => topics.push(error_topic(
                                Some(&name),
                                Uuid::nil(),
                                Code::LeaderNotAvailable,
                            )),
                        }
                    }
                    Err(e) => topics.push(error_topic(
                        Some(&name),
                        Uuid::nil(),
                        error_code::topic_error(&e),
                    )),
                }
            }
        }
    }

    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(b.port)
                .with_rack(b.rack.as_deref().map(str_bytes))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(&image.cluster_id)))
        .with_controller_id(BrokerId(image.controller_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            cluster_authorized_operations()
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}

fn topic_response(topic: &TopicImage, include_ops: bool) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .values()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_error_code(if p.leader < 0 {
                    Code::LeaderNotAvailable.code()
                } else {
                    0
                })
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&r| BrokerId(r)).collect())
                .with_isr_nodes(p.isr.iter().map(|&r| BrokerId(r)).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(if include_ops {
            topic_authorized_operations()
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}

fn error_topic(name: Option<&str>, id: Uuid, code: Code) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
