//! DeleteRecords as Kafka serves it (`Partition.deleteRecordsOnLeader`), on a three-node cluster so that the
//! high watermark can lag the log end: -1 means the high watermark, only the leader deletes, never past the
//! high watermark, never on a compact-only topic.

use std::time::Duration;

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strom_protocol::records::{encode_record_batch, OwnedRecord};
use strom_test_support::cluster::{controller_id, create_replicated_topic, partition_leader};
use strom_test_support::{wait_until, TestBroker};

use crate::cluster::start_cluster;
use crate::util::call;

/// Kafka's DeleteRecords on a three-node cluster: -1 means the high watermark, not the log end (a paused
/// follower holds the high watermark back while acks=1 writes move the leader's log end); an offset past the
/// high watermark is OFFSET_OUT_OF_RANGE; a follower answers NOT_LEADER_OR_FOLLOWER; a compact-only topic is
/// POLICY_VIOLATION. Errors carry low watermark -1.
#[test]
fn delete_records_stops_at_the_high_watermark_on_the_leader_only() {
    let name = |topic: &str| TopicName(StrBytes::from_string(topic.to_string()));
    let produce = |node: &TestBroker, topic: &str, acks: i16| {
        let records: Vec<OwnedRecord> = (0..5)
            .map(|i| OwnedRecord {
                value: Some(format!("r{i}").into_bytes().into()),
                ..OwnedRecord::default()
            })
            .collect();
        let batch =
            encode_record_batch(&records, kafka_protocol::records::Compression::None, 0).unwrap();
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]);
        let response: ProduceResponse = call(node, ApiKey::Produce, 9, &request);
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        p.base_offset
    };
    // (error code, low watermark) of a DeleteRecords of partition 0 at `offset`.
    let delete = |node: &TestBroker, topic: &str, offset: i64| {
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])]);
        let response: DeleteRecordsResponse = call(node, ApiKey::DeleteRecords, 2, &request);
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };

    // A long replica.lag.time.max.ms keeps the paused follower in the ISR, so the high watermark stays put.
    let mut cluster = start_cluster(&["--override", "replica.lag.time.max.ms=120000"]);
    let bootstrap = cluster.bootstrap();
    let topic = "delete-records";
    create_replicated_topic(&bootstrap, topic, 1, 3, &[]).unwrap();
    let leader = partition_leader(&bootstrap, topic, 0).unwrap();
    let controller = controller_id(&bootstrap).unwrap_or(-1);
    let followers: Vec<i32> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    let paused = followers
        .iter()
        .copied()
        .find(|&f| f != controller)
        .unwrap_or(followers[0]);
    let other = followers.iter().copied().find(|&f| f != paused).unwrap();
    assert_eq!(produce(cluster.node(leader), topic, -1), 0);

    cluster.pause(paused).unwrap();
    assert_eq!(produce(cluster.node(leader), topic, 1), 5);
    // Log end 10, high watermark 5.
    assert_eq!(
        delete(cluster.node(leader), topic, 7),
        (1, -1),
        "past the high watermark"
    );
    assert_eq!(
        delete(cluster.node(leader), topic, -1),
        (0, 5),
        "-1 is the high watermark"
    );
    assert_eq!(
        delete(cluster.node(other), topic, -1),
        (6, -1),
        "a follower refuses"
    );

    cluster.resume(paused).unwrap();
    wait_until(
        "the high watermark to reach 10",
        Duration::from_secs(30),
        || Ok(delete(cluster.node(leader), topic, -1) == (0, 10)),
    )
    .unwrap();

    create_replicated_topic(
        &bootstrap,
        "compact-only",
        1,
        3,
        &[("cleanup.policy", "compact")],
    )
    .unwrap();
    let leader = partition_leader(&bootstrap, "compact-only", 0).unwrap();
    assert_eq!(
        delete(cluster.node(leader), "compact-only", -1),
        (44, -1),
        "POLICY_VIOLATION"
    );
    cluster.assert_no_panic();
}
