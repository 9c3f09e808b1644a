//! Produce-side settings seen from a real client: auto-create off (the topic is refused, not created),
//! LogAppendTime topics (the broker's clock replaces the producer's), CreateTime bounds
//! (`message.timestamp.before.max.ms` / `after.max.ms`: INVALID_TIMESTAMP naming each record, KIP-467),
//! acks=0 (no response, records still land), and another client library (kafka-python with the Java
//! client's defaults: idempotence on, acks=all).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use rdkafka::message::{Message, Timestamp};
use rdkafka::types::RDKafkaErrorCode;
use strom_protocol::records::{encode_record_batch, OwnedRecord};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::TestBroker;

use crate::util::{call, create_topic, now_ms, start_broker};

const INVALID_TIMESTAMP: i16 = 32;

/// One raw Produce of a single batch holding records with these timestamps, at `version`.
fn produce_timestamps(
    broker: &TestBroker,
    topic: &str,
    version: i16,
    compression: Compression,
    timestamps: &[i64],
) -> PartitionProduceResponse {
    let records: Vec<OwnedRecord> = timestamps
        .iter()
        .map(|ts| OwnedRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from(format!("at {ts}"))),
            timestamp: Some(*ts),
            ..OwnedRecord::default()
        })
        .collect();
    let batch = encode_record_batch(&records, compression, 0).unwrap();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, version, &request);
    response.responses[0].partition_responses[0].clone()
}

/// Records outside `message.timestamp.before.max.ms` / `after.max.ms` of the broker's clock are refused
/// as INVALID_TIMESTAMP (32); from Produce v8 `record_errors` names each one by its index with Kafka's
/// message, uncompressed or compressed; v7 gets the code alone; nothing of a refused batch is appended.
#[test]
fn out_of_range_timestamps_are_named_in_record_errors() {
    let broker = start_broker(&[]);
    let topic = "bounded-timestamps";
    create_topic(
        &broker,
        topic,
        1,
        &[
            ("message.timestamp.before.max.ms", "60000"),
            ("message.timestamp.after.max.ms", "60000"),
        ],
    );
    for compression in [Compression::None, Compression::Gzip] {
        let now = now_ms();
        let refused = produce_timestamps(
            &broker,
            topic,
            9,
            compression,
            &[now, now - 3_600_000, now + 30_000, now + 7_200_000],
        );
        assert_eq!(refused.error_code, INVALID_TIMESTAMP, "{refused:?}");
        assert_eq!(refused.base_offset, -1);
        let indexes: Vec<i32> = refused
            .record_errors
            .iter()
            .map(|e| e.batch_index)
            .collect();
        assert_eq!(indexes, [1, 3], "{compression:?}: {refused:?}");
        let message = refused.record_errors[0]
            .batch_index_error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with(&format!(
                "Timestamp {} of message with offset 1 is out of range",
                now - 3_600_000
            )),
            "{message}"
        );
        assert_eq!(
            refused
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
    }
    let old = produce_timestamps(
        &broker,
        topic,
        7,
        Compression::None,
        &[now_ms() - 3_600_000],
    );
    assert_eq!(old.error_code, INVALID_TIMESTAMP, "{old:?}");
    assert!(old.record_errors.is_empty());

    let accepted = produce_timestamps(
        &broker,
        topic,
        9,
        Compression::Lz4,
        &[now_ms(), now_ms() - 1000],
    );
    assert_eq!(accepted.error_code, 0, "{accepted:?}");
    assert_eq!(
        accepted.base_offset, 0,
        "nothing of the refused batches was appended"
    );
    broker.assert_no_panic();
}

/// Kafka 4's defaults: no lower bound, and at most one hour ahead of the broker's clock. librdkafka fails a
/// record two hours ahead at once with INVALID_TIMESTAMP (not retried until its message timeout) and delivers
/// one from a day ago.
#[test]
fn default_bounds_refuse_far_future_timestamps_at_once() {
    let broker = start_broker(&[]);
    let topic = "default-timestamps";
    create_topic(&broker, topic, 1, &[]);
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[("linger.ms", "0"), ("message.timeout.ms", "60000")],
    )
    .unwrap();
    let started = Instant::now();
    let future = producer
        .send_sync(
            &Record::new(topic)
                .partition(0)
                .value(b"from the future")
                .timestamp(now_ms() + 2 * 3_600_000),
        )
        .unwrap();
    match future {
        Err(e) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::InvalidTimestamp),
            "{e:?}"
        ),
        Ok(at) => panic!("a record two hours ahead was accepted at {at:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "retried instead of failed"
    );
    let old = producer
        .send_sync(
            &Record::new(topic)
                .partition(0)
                .value(b"yesterday")
                .timestamp(now_ms() - 24 * 3_600_000),
        )
        .unwrap();
    assert_eq!(old, Ok((0, 0)));
    broker.assert_no_panic();
}

#[test]
fn auto_create_off_refuses_unknown_topics() {
    let broker = start_broker(&["--auto-create-topics-enable", "false"]);
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("message.timeout.ms", "3000")]).unwrap();
    let outcome = producer
        .send_sync(&Record::new("never-created").value(b"x"))
        .unwrap();
    assert!(
        outcome.is_err(),
        "produce to a missing topic succeeded: {outcome:?}"
    );
    let consumer: rdkafka::consumer::BaseConsumer = kafka::consumer_config(&broker.bootstrap())
        .create()
        .unwrap();
    let metadata = rdkafka::consumer::Consumer::fetch_metadata(
        &consumer,
        Some("never-created"),
        Duration::from_secs(10),
    )
    .unwrap();
    let topic = &metadata.topics()[0];
    assert_eq!(
        topic.error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    assert!(topic.partitions().is_empty());

    // With auto-create on (the default), the same produce creates the topic with num.partitions partitions.
    let broker = start_broker(&["--num-partitions", "3"]);
    let producer = TestProducer::with(&broker.bootstrap(), &[]).unwrap();
    let outcome = producer
        .send_sync(&Record::new("auto-made").value(b"x"))
        .unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    let consumer: rdkafka::consumer::BaseConsumer = kafka::consumer_config(&broker.bootstrap())
        .create()
        .unwrap();
    assert_eq!(kafka::partition_count(&consumer, "auto-made").unwrap(), 3);
    broker.assert_no_panic();
}

#[test]
fn log_append_time_replaces_the_producer_timestamp() {
    let broker = start_broker(&[]);
    create_topic(
        &broker,
        "appendtime",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    create_topic(&broker, "createtime", 1, &[]);
    let producer = TestProducer::with(&broker.bootstrap(), &[]).unwrap();
    let before = now_ms();
    for topic in ["appendtime", "createtime"] {
        let outcome = producer
            .send_sync(&Record::new(topic).value(b"v").timestamp(1_000))
            .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    let after = now_ms();
    let got = kafka::consume_all(
        &broker.bootstrap(),
        "appendtime",
        1,
        Duration::from_secs(30),
    )
    .unwrap();
    match got[0].timestamp() {
        Timestamp::LogAppendTime(t) => assert!(
            (before..=after).contains(&t),
            "{t} not in {before}..={after}"
        ),
        other => panic!("expected LogAppendTime, got {other:?}"),
    }
    let got = kafka::consume_all(
        &broker.bootstrap(),
        "createtime",
        1,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(got[0].timestamp(), Timestamp::CreateTime(1_000));
}

#[test]
fn acks_zero_records_land() {
    let broker = start_broker(&[]);
    create_topic(&broker, "acks0", 2, &[]);
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "0"), ("linger.ms", "5")]).unwrap();
    for i in 0..2000 {
        let v = format!("v{i}");
        producer
            .send(&Record::new("acks0").key(v.as_bytes()).value(v.as_bytes()))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(producer.failed(), 0);
    let got =
        kafka::consume_all(&broker.bootstrap(), "acks0", 2000, Duration::from_secs(60)).unwrap();
    let mut values: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 2000);
}

/// kafka-python, configured like the Java client's defaults. Skipped (with a notice) when the module is not
/// installed; `.ci/run` installs it.
#[test]
fn kafka_python_idempotent_acks_all() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import kafka"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("NOTICE: kafka-python not installed; skipping (pip install kafka-python)");
        return;
    }
    let broker = start_broker(&[]);
    let script = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic("pyclient", num_partitions=4, replication_factor=1)])
producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
futures = [producer.send("pyclient", key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"%d" % i)]) for i in range(5000)]
producer.flush()
acked = [f.get(timeout=30) for f in futures]
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
consumer.assign([TopicPartition("pyclient", p) for p in range(4)])
consumer.seek_to_beginning()
seen = {}
for m in consumer:
    seen[(m.partition, m.offset)] = (m.key, m.value, m.headers)
    if len(seen) == len(acked):
        break
for md in acked:
    key, value, headers = seen[(md.partition, md.offset)]
    assert value == b"v" + key[1:], (key, value)
    assert headers == [("h", key[1:])], headers
print("OK", len(seen))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &broker.bootstrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK 5000"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    broker.assert_no_panic();
}
