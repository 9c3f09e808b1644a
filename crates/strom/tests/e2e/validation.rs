//! Produce-side settings seen from a real client: auto-create off (the topic is refused, not created),
//! LogAppendTime topics (the broker's clock replaces the producer's), acks=0 (no response, records still
//! land), and another client library (kafka-python with the Java client's defaults: idempotence on, acks=all).

use std::time::Duration;

use rdkafka::message::{Message, Timestamp};
use strom_test_support::kafka::{self, Record, TestProducer};

use crate::util::{create_topic, now_ms, start_broker};

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
