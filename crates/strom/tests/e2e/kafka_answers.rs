//! Edge-case answers compat/differential found different from Apache Kafka 4.4's, now as Kafka gives them, over
//! raw requests to a real broker: config ranges of Kafka's ConfigDef (`segment.bytes` at least 1 MiB, ...), a topic
//! named twice in one CreateTopics, a config key twice in one (Incremental)AlterConfigs resource, produce of an
//! empty records field or a zero-record batch (INVALID_RECORD, not the retriable CORRUPT_MESSAGE), and the -1 / null
//! fields of error answers (produce, fetch, ListOffsets, DeleteRecords, JoinGroup, DescribeConfigs).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_test_support::{wire, TestBroker};

use crate::util::{call, create_topic, start_broker};

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const INVALID_RECORD: i16 = 87;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MEMBER_ID_REQUIRED: i16 = 79;
const RESOURCE_TOPIC: i8 = 2;
const SET: i8 = 0;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create(
    broker: &TestBroker,
    names: &[&str],
    configs: &[(&str, &str)],
    validate_only: bool,
) -> CreateTopicsResponse {
    let topics = names
        .iter()
        .map(|name| {
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            create_topics_request::CreatableTopicConfig::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                )
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only);
    call(broker, ApiKey::CreateTopics, 7, &request)
}

/// Castagnoli CRC of a record batch (bitwise; the test batches are tiny).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A v2 batch header saying 0 records and carrying none, with a valid CRC.
fn zero_record_batch() -> Vec<u8> {
    let mut b = Vec::with_capacity(61);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&49i32.to_be_bytes()); // batch length
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&(-1i32).to_be_bytes()); // last offset delta
    b.extend_from_slice(&0i64.to_be_bytes()); // base timestamp
    b.extend_from_slice(&0i64.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&0i32.to_be_bytes()); // records count
    let crc = crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn produce(broker: &TestBroker, topic: &str, records: Option<Vec<u8>>) -> (i16, i64, i64) {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(records.map(Bytes::from)),
            ])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset, p.log_start_offset)
}

#[test]
fn topic_admin_edge_cases_answer_as_kafka() {
    let broker = start_broker(&[]);

    // Kafka 4.x's ConfigDef ranges: segment.bytes at least 1 MiB, segment.ms at least 1.
    for (key, value, min) in [
        ("segment.bytes", "10", "1048576"),
        ("segment.ms", "0", "1"),
        ("segment.index.bytes", "3", "4"),
    ] {
        let response = create(&broker, &["too-small"], &[(key, value)], false);
        let t = &response.topics[0];
        assert_eq!(t.error_code, INVALID_CONFIG, "{key}={value}: {t:?}");
        let message = t.error_message.as_ref().map(|m| m.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains(&format!("Value must be at least {min}"))),
            "{key}={value}: {message:?}"
        );
    }
    // ... and the internal config Kafka's tests (and Strom's) use for small segments.
    let response = create(
        &broker,
        &["small-segments"],
        &[("internal.segment.bytes", "1024")],
        false,
    );
    assert_eq!(response.topics[0].error_code, 0, "{:?}", response.topics[0]);

    // A name given twice: one result, INVALID_REQUEST, and no topic.
    let response = create(&broker, &["twice", "once", "twice"], &[], false);
    let results: Vec<(String, i16)> = response
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        results,
        [
            ("once".to_string(), 0),
            ("twice".to_string(), INVALID_REQUEST)
        ]
    );
    assert_eq!(
        response.topics[1]
            .error_message
            .as_ref()
            .map(|m| m.to_string()),
        Some("Duplicate topic name.".to_string())
    );
    let response = create(&broker, &["twice"], &[], false);
    assert_eq!(
        response.topics[0].error_code, 0,
        "the duplicate request must not have created it: {:?}",
        response.topics[0]
    );

    // validate_only answers the id the topic would have had, and creates nothing.
    let response = create(&broker, &["validated"], &[], true);
    assert_eq!(response.topics[0].error_code, 0);
    assert!(!response.topics[0].topic_id.is_nil());
    let response = create(&broker, &["validated"], &[], false);
    assert_eq!(response.topics[0].error_code, 0);

    // One key twice in a resource: INVALID_REQUEST, nothing applied (both AlterConfigs forms).
    create_topic(&broker, "dup-keys", 1, &[]);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("dup-keys"))
            .with_configs(
                ["1000", "2000"]
                    .iter()
                    .map(|v| {
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_config_operation(SET)
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            ),
    ]);
    let response: IncrementalAlterConfigsResponse =
        call(&broker, ApiKey::IncrementalAlterConfigs, 1, &request);
    let r = &response.responses[0];
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert_eq!(
        r.error_message.as_ref().map(|m| m.to_string()),
        Some("Error due to duplicate config keys".to_string())
    );
    let request = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("dup-keys"))
            .with_configs(
                ["1000", "2000"]
                    .iter()
                    .map(|v| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            ),
    ]);
    let response: AlterConfigsResponse = call(&broker, ApiKey::AlterConfigs, 2, &request);
    assert_eq!(response.responses[0].error_code, INVALID_REQUEST);

    // DescribeConfigs: retention.ms untouched, min.cleanable.dirty.ratio is a DOUBLE (6), documentation null
    // when not asked for.
    let request = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("dup-keys"))
            .with_configuration_keys(Some(vec![
                s("retention.ms"),
                s("min.cleanable.dirty.ratio"),
            ])),
    ]);
    let response: DescribeConfigsResponse = call(&broker, ApiKey::DescribeConfigs, 4, &request);
    let configs = &response.results[0].configs;
    let get = |name: &str| {
        configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} not described: {configs:?}"))
    };
    assert_eq!(
        get("retention.ms").value.as_ref().map(|v| v.to_string()),
        Some("604800000".to_string())
    );
    assert_eq!(get("min.cleanable.dirty.ratio").config_type, 6);
    assert!(
        configs.iter().all(|c| c.documentation.is_none()),
        "{configs:?}"
    );

    // ApiVersions advertises Produce from v0, as Kafka 4.x does (KAFKA-18659).
    let response: ApiVersionsResponse = call(
        &broker,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    );
    let produce = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("Produce advertised");
    assert_eq!(produce.min_version, 0);
    // ... while refusing those versions as Kafka does: the connection is closed, nothing answered.
    // Produce v2: acks 1, timeout 1000 ms, no topics.
    let body = [0, 1, 0, 0, 3, 232, 0, 0, 0, 0];
    let mut stream = wire::connect(broker.addr()).unwrap();
    wire::send(
        &mut stream,
        &wire::request_frame(ApiKey::Produce as i16, 2, 1, Some("e2e"), &body),
    )
    .unwrap();
    assert!(matches!(
        wire::read_reply(&mut stream, Duration::from_secs(10)).unwrap(),
        wire::Reply::Closed
    ));
    broker.assert_no_panic();
}

#[test]
fn data_path_errors_answer_as_kafka() {
    let broker = start_broker(&[]);
    create_topic(&broker, "errs", 1, &[]);
    create_topic(&broker, "empty", 1, &[]);

    // No records, or a batch of none: INVALID_RECORD (not retried by clients). As from Kafka, the log start
    // offset is -1 for the request Kafka refuses before the log and the real one for the batch its log refuses.
    assert_eq!(produce(&broker, "errs", None), (INVALID_RECORD, -1, -1));
    assert_eq!(
        produce(&broker, "errs", Some(Vec::new())),
        (INVALID_RECORD, -1, -1)
    );
    assert_eq!(
        produce(&broker, "errs", Some(zero_record_batch())),
        (INVALID_RECORD, -1, 0)
    );

    // A fetch beyond the log end and one of an unknown partition: offsets -1; the unknown partition
    // also carries an empty aborted_transactions list.
    let fetch_partition = |partition: i32, offset: i64| {
        fetch_request::FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20)
    };
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(s("errs")))
            .with_partitions(vec![fetch_partition(0, 5), fetch_partition(7, 0)])]);
    let response: FetchResponse = call(&broker, ApiKey::Fetch, 12, &request);
    let partitions = &response.responses[0].partitions;
    let beyond = &partitions[0];
    assert_eq!(beyond.error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(
        (
            beyond.high_watermark,
            beyond.last_stable_offset,
            beyond.log_start_offset
        ),
        (-1, -1, -1)
    );
    let unknown = &partitions[1];
    assert_eq!(unknown.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(unknown.aborted_transactions, Some(Vec::new()));
    assert_eq!((unknown.high_watermark, unknown.log_start_offset), (-1, -1));

    // ListOffsets by time on an empty topic: no offset, leader epoch -1.
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(s("empty")))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(1_000),
            ])]);
    let response: ListOffsetsResponse = call(&broker, ApiKey::ListOffsets, 7, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!((p.error_code, p.offset, p.leader_epoch), (0, -1, -1));

    // DeleteRecords beyond the high watermark: OFFSET_OUT_OF_RANGE, low watermark -1.
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
            .with_name(TopicName(s("errs")))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(5),
            ])]);
    let response: DeleteRecordsResponse = call(&broker, ApiKey::DeleteRecords, 2, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (OFFSET_OUT_OF_RANGE, -1));

    // A JoinGroup refused (v7+: MEMBER_ID_REQUIRED) carries protocol_name null.
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::new())]);
    let response: JoinGroupResponse = call(&broker, ApiKey::JoinGroup, 7, &request);
    assert_eq!(response.error_code, MEMBER_ID_REQUIRED);
    assert_eq!(response.protocol_name, None);
    broker.assert_no_panic();
}
