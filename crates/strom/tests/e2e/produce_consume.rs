//! Produce and consume through librdkafka: volume with idempotence and Kafka's key partitioning, every record field
//! (headers, CreateTime, null key, null value), the record size limit, ListOffsets (earliest, latest, by time,
//! MAX_TIMESTAMP over raw wire) and fetches from an offset beyond the log end.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::partition_for_key;

use crate::util::{create_topic, now_ms, start_broker};

const KEYED_RECORDS: usize = 100_000;
const KEYED_PARTITIONS: i32 = 8;

/// 100k keyed records with acks=all and idempotence: none lost, none duplicated, each at the offset its
/// acknowledgement named, in send order within each partition, and on the partition Kafka's Java client would pick.
#[test]
fn hundred_thousand_keyed_records_round_trip_in_order() {
    let broker = start_broker(&[]);
    let topic = "keyed";
    create_topic(&broker, topic, KEYED_PARTITIONS, &[]);

    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("queue.buffering.max.messages", "200000"),
        ],
    )
    .unwrap();
    for i in 0..KEYED_RECORDS {
        // 5000 distinct keys, so every key carries ~20 records whose order must survive.
        let key = format!("key-{}", i % 5000);
        let value = format!("seq-{i:07}");
        producer
            .send(
                &Record::new(topic)
                    .key(key.as_bytes())
                    .value(value.as_bytes()),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(180)).unwrap();
    assert_eq!(
        producer.failed(),
        0,
        "delivery failures: {:?}",
        producer.failures()
    );
    assert_eq!(producer.succeeded(), KEYED_RECORDS);

    let read = kafka::consume_all(
        &broker.bootstrap(),
        topic,
        KEYED_RECORDS,
        Duration::from_secs(180),
    )
    .unwrap();
    producer.history().check(&read).unwrap();
    assert_eq!(
        read.len(),
        KEYED_RECORDS,
        "more records read than were produced"
    );

    let mut total_high = 0;
    for p in 0..KEYED_PARTITIONS {
        let (low, high) = kafka::watermarks(&broker.bootstrap(), topic, p).unwrap();
        assert_eq!(low, 0, "partition {p} log start offset");
        total_high += high;
    }
    assert_eq!(total_high, KEYED_RECORDS as i64, "sum of high watermarks");

    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for m in &read {
        let key = m.key().expect("every record here has a key");
        assert_eq!(
            m.partition(),
            partition_for_key(key, KEYED_PARTITIONS),
            "key {:?} landed on the wrong partition",
            String::from_utf8_lossy(key)
        );
        let value = std::str::from_utf8(m.payload().expect("value")).unwrap();
        let seq: usize = value.strip_prefix("seq-").unwrap().parse().unwrap();
        by_partition
            .entry(m.partition())
            .or_default()
            .push((m.offset(), seq));
    }
    assert_eq!(
        by_partition.len(),
        KEYED_PARTITIONS as usize,
        "every partition received records"
    );
    for (p, mut records) in by_partition {
        records.sort_unstable();
        for pair in records.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "partition {p}: offset {} holds seq {} but the later offset {} holds the earlier seq {}",
                pair[0].0,
                pair[0].1,
                pair[1].0,
                pair[1].1
            );
        }
    }
    broker.assert_no_panic();
}

/// Fetches big enough to go out by sendfile(2) straight from the segment file, with partition limits that fall
/// mid-batch (so the read ends at the last whole batch) and a second consumer with a tiny limit (one batch per
/// fetch, KIP-74): every record comes back byte for byte, at its offset, exactly once.
#[test]
fn sendfile_fetches_return_the_stored_records() {
    const RECORDS: usize = 3000;
    let broker = start_broker(&[]);
    let topic = "zerocopy";
    create_topic(&broker, topic, 1, &[]);
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[("linger.ms", "20"), ("batch.size", "50000")],
    )
    .unwrap();
    let values: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| {
            let mut v = format!("record-{i:05}-").into_bytes();
            v.extend((0..1000).map(|j| ((i * 31 + j) % 251) as u8));
            v
        })
        .collect();
    for v in &values {
        producer
            .send(&Record::new(topic).partition(0).value(v))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(
        producer.succeeded(),
        RECORDS,
        "failures: {:?}",
        producer.failures()
    );

    for limits in [
        [
            ("max.partition.fetch.bytes", "300000"),
            ("fetch.max.bytes", "700000"),
            ("message.max.bytes", "700000"),
        ],
        [
            ("max.partition.fetch.bytes", "1"),
            ("fetch.max.bytes", "1000"),
            ("message.max.bytes", "1000"),
        ],
    ] {
        let consumer = kafka::assigned_consumer(
            &broker.bootstrap(),
            topic,
            &[(0, Offset::Beginning)],
            &limits,
        )
        .unwrap();
        let read = kafka::poll_until(&consumer, Duration::from_secs(60), |got| {
            got.len() >= RECORDS
        })
        .unwrap();
        assert_eq!(
            read.len(),
            RECORDS,
            "{limits:?}: more records than produced"
        );
        for (i, m) in read.iter().enumerate() {
            assert_eq!(
                m.offset(),
                i as i64,
                "{limits:?}: offsets in order, no gaps"
            );
            assert!(
                m.payload() == Some(values[i].as_slice()),
                "{limits:?}: record at offset {i} differs from what was produced"
            );
        }
    }
    broker.assert_no_panic();
}

/// Headers (including a null-valued one and a repeated key), explicit CreateTime, null key, null value and empty
/// key/value come back exactly as sent.
#[test]
fn record_fields_round_trip() {
    let broker = start_broker(&[]);
    let topic = "fields";
    create_topic(&broker, topic, 1, &[]);
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();

    let ts = 1_700_000_000_123_i64;
    let sent = [
        Record::new(topic)
            .key(b"k0")
            .value(b"with headers")
            .timestamp(ts)
            .header("h1", Some(b"v1"))
            .header("h-null", None)
            .header("h-empty", Some(b""))
            .header("h1", Some(b"v1-again")),
        Record::new(topic).value(b"null key").timestamp(ts + 1),
        Record::new(topic).key(b"tombstone").timestamp(ts + 2),
        Record::new(topic).key(b"").value(b"").timestamp(ts + 3),
        Record::new(topic)
            .key(b"binary")
            .value(&[0, 255, 1, 254, 0])
            .timestamp(ts + 4),
    ];
    for (i, r) in sent.iter().enumerate() {
        let outcome = producer.send_sync(&r.clone().partition(0)).unwrap();
        assert_eq!(
            outcome.unwrap(),
            (0, i as i64),
            "record {i} acknowledged at an unexpected offset"
        );
    }

    let read = kafka::consume_all(
        &broker.bootstrap(),
        topic,
        sent.len(),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(read.len(), sent.len());
    for (i, (r, m)) in sent.iter().zip(&read).enumerate() {
        assert_eq!(m.offset(), i as i64);
        assert_eq!(m.key(), r.key, "record {i} key");
        assert_eq!(m.payload(), r.value, "record {i} value");
        assert_eq!(
            m.timestamp(),
            Timestamp::CreateTime(r.timestamp.unwrap()),
            "record {i} timestamp"
        );
        let got_headers: Vec<(String, Option<Vec<u8>>)> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let want_headers: Vec<(String, Option<Vec<u8>>)> = r
            .headers
            .iter()
            .map(|&(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(got_headers, want_headers, "record {i} headers");
    }
    broker.assert_no_panic();
}

/// A 900 KB record fits the default 1 MiB-ish `message.max.bytes` (1048588) and round-trips; a 1.5 MB one is
/// rejected by the broker with MESSAGE_TOO_LARGE and takes no offset.
#[test]
fn large_record_round_trips_and_oversized_is_rejected() {
    let broker = start_broker(&["--message-max-bytes", "1048588"]);
    let topic = "big";
    create_topic(&broker, topic, 1, &[]);
    // Raise the client's own limits far above the broker's, so the broker is the one that says no.
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
            ("message.max.bytes", "10000000"),
            ("batch.size", "10000000"),
            ("linger.ms", "0"),
        ],
    )
    .unwrap();

    let big: Vec<u8> = (0..900 * 1024).map(|i| (i % 251) as u8).collect();
    let outcome = producer
        .send_sync(&Record::new(topic).key(b"big").value(&big))
        .unwrap();
    assert_eq!(outcome.unwrap(), (0, 0), "900 KB record");

    let too_big = vec![b'x'; 1_500_000];
    let outcome = producer
        .send_sync(&Record::new(topic).key(b"too-big").value(&too_big))
        .unwrap();
    match outcome {
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {}
        other => panic!("a 1.5 MB record should fail with MessageSizeTooLarge, got {other:?}"),
    }

    let outcome = producer
        .send_sync(&Record::new(topic).key(b"after").value(b"small"))
        .unwrap();
    assert_eq!(
        outcome.unwrap(),
        (0, 1),
        "the rejected record must not take an offset"
    );

    let read = kafka::consume_all(&broker.bootstrap(), topic, 2, Duration::from_secs(60)).unwrap();
    assert_eq!(read[0].offset(), 0);
    assert!(
        read[0].payload() == Some(&big[..]),
        "900 KB record came back altered"
    );
    assert_eq!(read[1].payload(), Some(&b"small"[..]));
    broker.assert_no_panic();
}

/// ListOffsets: earliest and latest through the watermarks, and by timestamp: the first offset whose timestamp is
/// at or after the target, or "none" (-1, librdkafka's `Offset::End`) past the last record.
#[test]
fn list_offsets_earliest_latest_and_by_time() {
    let broker = start_broker(&[]);
    let topic = "times";
    create_topic(&broker, topic, 1, &[]);
    let producer = TestProducer::with(&broker.bootstrap(), &[("acks", "all")]).unwrap();
    let base = now_ms() - 100_000;
    let values: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    for (i, v) in values.iter().enumerate() {
        let r = Record::new(topic)
            .partition(0)
            .value(v.as_bytes())
            .timestamp(base + i as i64 * 1000);
        producer.send(&r).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());

    assert_eq!(
        kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap(),
        (0, 10)
    );

    let consumer = kafka::assigned_consumer(&broker.bootstrap(), topic, &[], &[]).unwrap();
    let cases = [
        (base - 1, Offset::Offset(0)),
        (base, Offset::Offset(0)),
        (base + 3500, Offset::Offset(4)),
        (base + 4000, Offset::Offset(4)),
        (base + 9000, Offset::Offset(9)),
        (base + 9001, Offset::End),
    ];
    for (ts, expected) in cases {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(ts))
            .unwrap();
        let result = consumer
            .offsets_for_times(tpl, Duration::from_secs(10))
            .unwrap();
        let elem = result
            .find_partition(topic, 0)
            .expect("partition in result");
        assert_eq!(elem.error(), Ok(()), "ListOffsets error for timestamp {ts}");
        assert_eq!(
            elem.offset(),
            expected,
            "offset for timestamp base{:+}",
            ts - base
        );
    }
    broker.assert_no_panic();
}

/// ListOffsets MAX_TIMESTAMP (-3, raw ListOffsets v9): the offset and timestamp of the record carrying the
/// highest timestamp (Kafka 3.8+), not the last offset of the batch holding it. Three records stamped +100,
/// +400, +200 in one batch give offset 1.
#[test]
fn list_offsets_max_timestamp_names_the_record() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use strom_test_support::wire;

    let broker = start_broker(&[]);
    let topic = "max-ts";
    create_topic(&broker, topic, 1, &[]);
    // A long linger so the three records travel as one batch.
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[("acks", "all"), ("linger.ms", "500")],
    )
    .unwrap();
    let base = now_ms() - 100_000;
    for (i, delta) in [100, 400, 200].into_iter().enumerate() {
        let value = format!("m{i}");
        let r = Record::new(topic)
            .partition(0)
            .value(value.as_bytes())
            .timestamp(base + delta);
        producer.send(&r).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());

    let version = 9;
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-3)])]);
    let mut stream = wire::connect(broker.addr()).unwrap();
    let frame = wire::encode_request(ApiKey::ListOffsets as i16, version, 1, &request).unwrap();
    wire::send(&mut stream, &frame).unwrap();
    let wire::Reply::Frame(reply) = wire::read_reply(&mut stream, Duration::from_secs(10)).unwrap()
    else {
        panic!("no ListOffsets response");
    };
    let response = wire::decode_response::<ListOffsetsResponse>(&reply, version)
        .unwrap()
        .1;
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!((p.offset, p.timestamp), (1, base + 400));
    broker.assert_no_panic();
}

/// A fetch beyond the log end gets OFFSET_OUT_OF_RANGE: with auto.offset.reset=earliest librdkafka restarts from
/// the log start, with auto.offset.reset=error it reports the error to the application.
#[test]
fn out_of_range_fetch_resets_or_reports() {
    let broker = start_broker(&[]);
    let topic = "oor";
    create_topic(&broker, topic, 1, &[]);
    let producer = TestProducer::with(&broker.bootstrap(), &[("acks", "all")]).unwrap();
    for i in 0..5 {
        producer
            .send(
                &Record::new(topic)
                    .partition(0)
                    .value(format!("r{i}").as_bytes()),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.succeeded(), 5, "{:?}", producer.failures());

    let far = [(0, Offset::Offset(10_000_000))];
    let earliest = kafka::assigned_consumer(
        &broker.bootstrap(),
        topic,
        &far,
        &[("auto.offset.reset", "earliest")],
    )
    .unwrap();
    let got = kafka::poll_until(&earliest, Duration::from_secs(60), |got| got.len() >= 5).unwrap();
    let offsets: Vec<i64> = got.iter().map(|m| m.offset()).collect();
    assert_eq!(
        offsets,
        vec![0, 1, 2, 3, 4],
        "earliest reset must restart at the log start"
    );

    let error = kafka::assigned_consumer(
        &broker.bootstrap(),
        topic,
        &far,
        &[("auto.offset.reset", "error")],
    )
    .unwrap();
    let e = kafka::poll_for_error(&error, Duration::from_secs(60)).unwrap();
    match e {
        KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange)
        | KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset) => {}
        other => {
            panic!("expected OFFSET_OUT_OF_RANGE (or librdkafka's AutoOffsetReset), got {other:?}")
        }
    }
    broker.assert_no_panic();
}
