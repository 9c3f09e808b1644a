//! Log compaction: a `cleanup.policy=compact` topic with tiny segments, written as 50 rounds of the keys k0..k9
//! with increasing values. The broker's cleaner (run in the retention loop, every 200 ms here) rewrites the sealed
//! segments until only the latest value of each key is left there; a consumer reading from the beginning then sees
//! fewer records than were produced, offsets strictly increasing (with gaps), and the last value of every key.
//! Keyless records are refused as INVALID_RECORD (KIP-467): librdkafka fails them at once, and the
//! ProduceResponse names each one in `record_errors`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use strom_protocol::records::{encode_record_batch, OwnedRecord};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{wait_for, wire};

use crate::util::{create_topic, start_broker};

const KEYS: usize = 10;
const ROUNDS: usize = 50;

#[test]
fn compacted_topic_keeps_the_latest_value_of_each_key() {
    let broker = start_broker(&["--log-retention-check-interval-ms", "200"]);
    let topic = "compacted";
    create_topic(
        &broker,
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("internal.segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            let key = format!("k{k}");
            let value = format!("k{k}-v{round:02} padding padding");
            producer
                .send(
                    &Record::new(topic)
                        .partition(0)
                        .key(key.as_bytes())
                        .value(value.as_bytes()),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
    let total = KEYS * ROUNDS;
    let (_, high) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(high, total as i64);

    let read = wait_for(
        "the cleaner to shrink the log",
        Duration::from_secs(60),
        || {
            let read = kafka::consume_to_end(&broker.bootstrap(), topic, Duration::from_secs(30))?;
            Ok((read.len() < total).then_some(read))
        },
    )
    .unwrap();

    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    let mut last_offset = -1;
    for m in &read {
        assert!(
            m.offset() > last_offset,
            "offsets must strictly increase: {} after {last_offset}",
            m.offset()
        );
        last_offset = m.offset();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
        assert!(value.starts_with(&format!("{key}-v")), "{key} => {value}");
        latest.insert(key, value);
    }
    assert_eq!(
        last_offset,
        high - 1,
        "the newest record is never compacted away"
    );
    assert_eq!(latest.len(), KEYS, "every key keeps a record: {latest:?}");
    for k in 0..KEYS {
        assert_eq!(
            latest.get(&format!("k{k}")).map(String::as_str),
            Some(format!("k{k}-v{:02} padding padding", ROUNDS - 1).as_str()),
            "latest value of k{k}"
        );
    }
    let (low, high_after) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(
        (low, high_after),
        (0, high),
        "compaction moves neither log start nor log end"
    );
    broker.assert_no_panic();
}

/// A keyless record to a compacted topic is INVALID_RECORD (KIP-467), which librdkafka does not retry: the
/// delivery fails at once, not at `message.timeout.ms`.
#[test]
fn keyless_record_to_a_compacted_topic_fails_at_once_as_invalid_record() {
    let broker = start_broker(&[]);
    let topic = "compacted-keyless";
    create_topic(&broker, topic, 1, &[("cleanup.policy", "compact")]);
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[("linger.ms", "0"), ("message.timeout.ms", "60000")],
    )
    .unwrap();
    let started = Instant::now();
    let id = producer
        .send_tracked(&Record::new(topic).partition(0).value(b"no key"))
        .unwrap();
    let outcome = producer.wait(id, Duration::from_secs(90)).unwrap();
    let elapsed = started.elapsed();
    match outcome {
        Err(e) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::InvalidRecord),
            "{e:?}"
        ),
        Ok(at) => panic!("a keyless record was accepted by a compacted topic at {at:?}"),
    }
    assert!(
        elapsed < Duration::from_secs(10),
        "the delivery failed after {elapsed:?}: retried instead of failed"
    );
    // A keyed record still goes in.
    let ok = producer
        .send_sync(&Record::new(topic).partition(0).key(b"k").value(b"v"))
        .unwrap();
    assert_eq!(ok, Ok((0, 0)));
}

/// The ProduceResponse on the wire: INVALID_RECORD (87), and from v8 `record_errors` naming each keyless
/// record by its index in the batch with Kafka's message, plus `error_message`; v7 has the code alone.
#[test]
fn keyless_records_are_named_in_record_errors() {
    const INVALID_RECORD: i16 = 87;
    let broker = start_broker(&[]);
    let topic = "compacted-wire";
    create_topic(&broker, topic, 1, &[("cleanup.policy", "compact")]);
    let record = |key: Option<&'static [u8]>| OwnedRecord {
        key: key.map(Bytes::from_static),
        value: Some(Bytes::from_static(b"v")),
        ..OwnedRecord::default()
    };
    let produce = |version: i16, records: &[OwnedRecord]| -> PartitionProduceResponse {
        let batch = encode_record_batch(records, Compression::None, 0).unwrap();
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]);
        let mut stream = wire::connect(broker.addr()).unwrap();
        let frame = wire::encode_request(ApiKey::Produce as i16, version, 1, &request).unwrap();
        wire::send(&mut stream, &frame).unwrap();
        let wire::Reply::Frame(reply) =
            wire::read_reply(&mut stream, Duration::from_secs(10)).unwrap()
        else {
            panic!("no Produce v{version} response");
        };
        let response = wire::decode_response::<ProduceResponse>(&reply, version)
            .unwrap()
            .1;
        response.responses[0].partition_responses[0].clone()
    };
    let message =
        format!("Compacted topic cannot accept message without key in topic partition {topic}-0.");

    let single = produce(9, &[record(None)]);
    assert_eq!(single.error_code, INVALID_RECORD, "{single:?}");
    assert_eq!(single.base_offset, -1);
    assert_eq!(single.record_errors.len(), 1, "{single:?}");
    assert_eq!(single.record_errors[0].batch_index, 0);
    assert_eq!(
        single.record_errors[0]
            .batch_index_error_message
            .as_ref()
            .map(|m| m.to_string()),
        Some(message.clone())
    );
    assert_eq!(
        single.error_message.as_ref().map(|m| m.to_string()),
        Some(message.clone())
    );

    // Every keyless record of the batch is named; the batch is refused whole.
    let mixed = produce(9, &[record(None), record(Some(b"k")), record(None)]);
    assert_eq!(mixed.error_code, INVALID_RECORD, "{mixed:?}");
    let indexes: Vec<i32> = mixed.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![0, 2]);

    let old = produce(7, &[record(None)]);
    assert_eq!(old.error_code, INVALID_RECORD, "{old:?}");
    assert!(old.record_errors.is_empty());

    let keyed = produce(9, &[record(Some(b"k"))]);
    assert_eq!(keyed.error_code, 0, "{keyed:?}");
    assert_eq!(
        keyed.base_offset, 0,
        "nothing of the refused batches was appended"
    );
}
