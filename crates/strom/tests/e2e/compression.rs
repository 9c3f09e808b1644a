//! Compressed batches from librdkafka, one test per codec: the broker must store (or recompress) them so that a
//! consumer reads back every record intact, at the offset its acknowledgement named. A topic's
//! `compression.type` other than `producer` (set at creation, by IncrementalAlterConfigs, or as the broker's
//! default) makes the broker store every batch in that codec, as Kafka's LogValidator does: what a raw Fetch
//! returns is in the topic's codec and the records keep their offsets, keys, values, headers and timestamps.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::message::{Headers, Message};
use strom_storage::batch::iter_batches;
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::TestBroker;

use crate::util::{call, create_topic, start_broker};

const RECORDS: usize = 1000;

fn round_trip(codec: &str) {
    let broker = start_broker(&[]);
    let topic = format!("compressed-{codec}");
    create_topic(&broker, &topic, 2, &[]);
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
            ("compression.type", codec),
            ("linger.ms", "20"),
        ],
    )
    .unwrap();

    // Repetitive values compress well, so the batches really are compressed; the index keeps them unique.
    let values: Vec<String> = (0..RECORDS)
        .map(|i| {
            format!(
                "{codec} record {i:05} {}",
                "lorem ipsum dolor sit amet ".repeat(i % 7 + 1)
            )
        })
        .collect();
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        producer
            .send(
                &Record::new(&topic)
                    .key(key.as_bytes())
                    .value(v.as_bytes())
                    .header("codec", Some(codec.as_bytes())),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    assert_eq!(
        producer.failed(),
        0,
        "{codec}: delivery failures {:?}",
        producer.failures()
    );
    assert_eq!(producer.succeeded(), RECORDS);

    let read = kafka::consume_all(
        &broker.bootstrap(),
        &topic,
        RECORDS,
        Duration::from_secs(120),
    )
    .unwrap();
    producer
        .history()
        .check(&read)
        .unwrap_or_else(|e| panic!("{codec}: {e:#}"));
    assert_eq!(read.len(), RECORDS, "{codec}: extra records");
    for m in &read {
        let header = m
            .headers()
            .and_then(|h| h.iter().next())
            .expect("codec header");
        assert_eq!(
            (header.key, header.value),
            ("codec", Some(codec.as_bytes())),
            "{codec}: header"
        );
    }
    broker.assert_no_panic();
}

#[test]
fn gzip() {
    round_trip("gzip");
}

#[test]
fn snappy() {
    round_trip("snappy");
}

#[test]
fn lz4() {
    round_trip("lz4");
}

#[test]
fn zstd() {
    round_trip("zstd");
}

/// The codec ids (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) of every batch a raw Fetch v12 returns from
/// offset 0 of partition 0, and the number of records they hold.
fn stored_codecs(broker: &TestBroker, topic: &str) -> (Vec<u8>, i64) {
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(64 << 20)])]);
    let response: FetchResponse = call(broker, ApiKey::Fetch, 12, &request);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{partition:?}");
    let records = partition.records.clone().unwrap_or_default();
    let mut codecs = Vec::new();
    let mut count = 0;
    for item in iter_batches(&records) {
        let (header, _) = item.expect("a whole batch");
        codecs.push(header.compression());
        count += i64::from(header.records_count);
    }
    (codecs, count)
}

/// Produces `n` records with librdkafka in `codec` to partition 0 of `topic`, all acknowledged.
fn produce(broker: &TestBroker, topic: &str, codec: &str, n: usize) -> TestProducer {
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
            ("compression.type", codec),
            ("linger.ms", "20"),
        ],
    )
    .unwrap();
    let timestamp = crate::util::now_ms() - 60_000;
    for i in 0..n {
        let key = format!("k{i}");
        let value = format!("{codec} record {i:05} {}", "abc ".repeat(i % 5 + 1));
        producer
            .send(
                &Record::new(topic)
                    .partition(0)
                    .key(key.as_bytes())
                    .value(value.as_bytes())
                    .timestamp(timestamp + i as i64)
                    .header("h", Some(b"v")),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
    producer
}

/// Consumes the topic back and checks every record against the producer's acknowledgements (offsets,
/// keys, values), plus the header and the producer's timestamps.
fn check_round_trip(broker: &TestBroker, topic: &str, producer: &TestProducer, n: usize) {
    let read = kafka::consume_all(&broker.bootstrap(), topic, n, Duration::from_secs(60)).unwrap();
    producer
        .history()
        .check(&read)
        .unwrap_or_else(|e| panic!("{topic}: {e:#}"));
    assert_eq!(read.len(), n);
    let first = read
        .iter()
        .map(|m| m.timestamp().to_millis())
        .min()
        .flatten();
    for m in &read {
        let header = m.headers().and_then(|h| h.iter().next()).expect("header");
        assert_eq!((header.key, header.value), ("h", Some(&b"v"[..])));
        let ts = m.timestamp().to_millis().expect("a timestamp");
        assert_eq!(
            Some(ts - m.offset()),
            first,
            "{topic}: timestamp of offset {}",
            m.offset()
        );
    }
}

#[test]
fn topic_compression_type_recompresses_on_the_broker() {
    const N: usize = 300;
    let broker = start_broker(&[]);
    // lz4 from the producer, gzip in the log.
    create_topic(&broker, "to-gzip", 1, &[("compression.type", "gzip")]);
    let producer = produce(&broker, "to-gzip", "lz4", N);
    let (codecs, count) = stored_codecs(&broker, "to-gzip");
    assert!(!codecs.is_empty());
    assert!(codecs.iter().all(|c| *c == 1), "stored codecs {codecs:?}");
    assert_eq!(count, N as i64);
    check_round_trip(&broker, "to-gzip", &producer, N);

    // zstd from the producer, stored uncompressed.
    create_topic(
        &broker,
        "to-none",
        1,
        &[("compression.type", "uncompressed")],
    );
    let producer = produce(&broker, "to-none", "zstd", N);
    let (codecs, _) = stored_codecs(&broker, "to-none");
    assert!(codecs.iter().all(|c| *c == 0), "stored codecs {codecs:?}");
    check_round_trip(&broker, "to-none", &producer, N);

    // `producer` keeps the producer's codec; then IncrementalAlterConfigs switches the topic to zstd at
    // level 10 and later batches are zstd.
    create_topic(&broker, "altered", 1, &[]);
    produce(&broker, "altered", "snappy", 50);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("altered"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("compression.type"))
                    .with_value(Some(StrBytes::from_static_str("zstd"))),
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("compression.zstd.level"))
                    .with_value(Some(StrBytes::from_static_str("10"))),
            ]),
    ]);
    let altered: IncrementalAlterConfigsResponse =
        call(&broker, ApiKey::IncrementalAlterConfigs, 1, &request);
    assert_eq!(altered.responses[0].error_code, 0, "{altered:?}");
    // The new config reaches the partition through the metadata log: retry until a batch lands as zstd.
    let codecs = strom_test_support::wait_for(
        "a batch produced after the alter stored as zstd",
        Duration::from_secs(10),
        || {
            produce(&broker, "altered", "snappy", 1);
            let codecs = stored_codecs(&broker, "altered").0;
            Ok((codecs.last() == Some(&4)).then_some(codecs))
        },
    )
    .unwrap();
    assert_eq!(codecs[0], 2, "batches before the alter stay snappy");
    broker.assert_no_panic();
}

#[test]
fn broker_default_compression_type_applies_to_new_topics() {
    let broker = start_broker(&["--override", "compression.type=snappy"]);
    create_topic(&broker, "default-snappy", 1, &[]);
    let producer = produce(&broker, "default-snappy", "gzip", 100);
    let (codecs, count) = stored_codecs(&broker, "default-snappy");
    assert!(codecs.iter().all(|c| *c == 2), "stored codecs {codecs:?}");
    assert_eq!(count, 100);
    check_round_trip(&broker, "default-snappy", &producer, 100);
    broker.assert_no_panic();
}
