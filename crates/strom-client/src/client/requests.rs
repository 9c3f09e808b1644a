//! The pure request builders behind `Client`'s topic admin and data calls (Metadata, CreateTopics, DeleteTopics,
//! CreatePartitions, DescribeConfigs, IncrementalAlterConfigs, ListOffsets, Produce, Fetch): arguments in, a
//! kafka-protocol message out, with the version-dependent fields filled as each version needs. No I/O and no
//! response handling. Unit-tested by encoding every builder at every version this client may negotiate; the
//! test helpers for that serve the group and replica builders' tests too. Group and replica requests are built
//! beside their calls in `groups.rs` and `replicas.rs`.

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
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, FetchRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
    MetadataRequest, ProduceRequest, TopicName,
};
use strom_protocol::str_bytes;
use uuid::Uuid;

/// Kafka's `ConfigResource.Type.TOPIC`.
pub(super) const RESOURCE_TYPE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operations (Kafka's `AlterConfigOp.OpType`).
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// Kafka's default `fetch.max.bytes`: the most one Fetch response may carry across all partitions.
const FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;
/// Fetch v13+ names topics by id; v12 is the last version with names.
pub(super) const LAST_FETCH_VERSION_WITH_NAMES: i16 = 12;

/// A topic name field holding a copy of `name`.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(str_bytes(name))
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
pub(crate) mod tests {
    use super::*;
    use crate::client::EARLIEST_TIMESTAMP;
    use crate::records::{encode_batch, OwnedRecord};
    use crate::versions::CLIENT_VERSIONS;
    use bytes::BytesMut;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::{Decodable, Encodable};
    use kafka_protocol::records::Compression;

    pub(crate) fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
        CLIENT_VERSIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.clone())
            .unwrap()
    }

    /// Encodes at `version`, decodes back, and returns the decoded request.
    pub(crate) fn round_trip<R: Encodable + Decodable>(req: &R, version: i16) -> R {
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
}
