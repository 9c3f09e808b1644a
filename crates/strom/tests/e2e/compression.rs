//! Compressed batches from librdkafka, one test per codec: the broker must store (or recompress) them so that a
//! consumer reads back every record intact, at the offset its acknowledgement named.

use std::time::Duration;

use rdkafka::message::{Headers, Message};
use strom_test_support::kafka::{self, Record, TestProducer};

use crate::util::{create_topic, start_broker};

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
