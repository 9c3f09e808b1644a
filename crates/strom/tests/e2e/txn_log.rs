//! Transactions and producer state on the log side, as Kafka does it, with real clients against a real broker:
//! DeleteRecords and time retention may move the log start past an open transaction's first offset (bounded by
//! the high watermark only); the transaction stays open, the LSO a read_committed consumer sees is the log start
//! (never below it) until the marker, and the aborted records are never delivered under read_committed. A
//! compacted topic written by librdkafka's transactional producer (commits and aborts, several values per key)
//! is cleaned by Kafka's rules: read_committed and read_uncommitted consumers both see exactly the latest
//! committed value of every key and nothing aborted. An idempotent producer idle for `producer.id.expiration.ms`
//! is forgotten: the retry of its old batch, a duplicate before, is appended again afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DeleteRecordsRequest, DeleteRecordsResponse, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset};
use strom_test_support::kafka::{assigned_consumer, consumer_config, poll_until, producer_config};
use strom_test_support::kafka::{Record, TestProducer};
use strom_test_support::{wait_for, TestBroker};

use crate::txn_partition::{batch, TXN_FLAGS};
use crate::util::{call, create_topic, now_ms, start_broker};

const TIMEOUT: Duration = Duration::from_secs(30);
const OFFSET_OUT_OF_RANGE: i16 = 1;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;

fn broker_with(extra: &[&str]) -> TestBroker {
    let mut args: Vec<&str> = TXN_FLAGS.to_vec();
    args.extend_from_slice(extra);
    start_broker(&args)
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn txn_producer(broker: &TestBroker, id: &str) -> BaseProducer {
    let p: BaseProducer = producer_config(&broker.bootstrap())
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p
}

fn send(p: &BaseProducer, topic: &str, key: &str, value: &str, timestamp: Option<i64>) {
    loop {
        let mut record = BaseRecord::to(topic).partition(0).key(key).payload(value);
        if let Some(ts) = timestamp {
            record = record.timestamp(ts);
        }
        match p.send(record) {
            Ok(()) => return,
            Err((e, _)) if e.to_string().contains("Queue full") => {
                p.poll(Duration::from_millis(10));
            }
            Err((e, _)) => panic!("send: {e}"),
        }
    }
}

/// Plain (non-transactional) records to partition 0, acknowledged.
fn send_plain(broker: &TestBroker, topic: &str, values: &[String]) {
    let producer = TestProducer::with(&broker.bootstrap(), &[("acks", "all")]).unwrap();
    for v in values {
        producer
            .send(
                &Record::new(topic)
                    .partition(0)
                    .key(v.as_bytes())
                    .value(v.as_bytes()),
            )
            .unwrap();
    }
    producer.flush(TIMEOUT).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
}

/// (low watermark, latest offset) of partition 0 as a consumer with `isolation` sees them: ListOffsets
/// latest is the LSO under read_committed.
fn offsets(broker: &TestBroker, topic: &str, isolation: &str) -> (i64, i64) {
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    consumer.fetch_watermarks(topic, 0, TIMEOUT).unwrap()
}

/// DeleteRecords of partition 0 before `offset`: (error code, low watermark).
fn delete_records(broker: &TestBroker, topic: &str, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let response: DeleteRecordsResponse = call(broker, ApiKey::DeleteRecords, 2, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

/// (offset, key, value) of every record of partition 0 a consumer with `isolation` reads from the log start,
/// until the record whose value is `last` arrived.
fn read_until(
    broker: &TestBroker,
    topic: &str,
    isolation: &str,
    last: &str,
) -> Vec<(i64, String, String)> {
    let consumer = assigned_consumer(
        &broker.bootstrap(),
        topic,
        &[(0, Offset::Beginning)],
        &[("isolation.level", isolation)],
    )
    .unwrap();
    let got = poll_until(&consumer, TIMEOUT, |got| {
        got.iter().any(|m| m.payload() == Some(last.as_bytes()))
    })
    .unwrap();
    got.iter()
        .map(|m| {
            (
                m.offset(),
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

/// Raw read_committed Fetches of partition 0 from the log start to the high watermark: (control records seen,
/// aborted transactions the fetches named).
fn markers_and_aborted(broker: &TestBroker, topic: &str) -> (usize, usize) {
    let (mut markers, mut aborted) = (0, 0);
    let mut offset = 0;
    loop {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(1 << 20)
            .with_isolation_level(1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let response: FetchResponse = call(broker, ApiKey::Fetch, 11, &request);
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}");
        aborted += p.aborted_transactions.as_ref().map_or(0, Vec::len);
        let mut bytes = p.records.clone().unwrap_or_default();
        let mut next = offset;
        while !bytes.is_empty() {
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            for r in set.records {
                if r.offset >= offset {
                    markers += usize::from(r.control);
                    next = next.max(r.offset + 1);
                }
            }
        }
        if next == offset || next >= p.last_stable_offset {
            return (markers, aborted);
        }
        offset = next;
    }
}

fn values(read: &[(i64, String, String)]) -> Vec<&str> {
    read.iter().map(|(_, _, v)| v.as_str()).collect()
}

/// DeleteRecords past the first offset of a transaction librdkafka holds open: accepted up to the high
/// watermark (OFFSET_OUT_OF_RANGE beyond), the transaction stays open, and read_committed ListOffsets answers
/// the new log start (the LSO never below it) until the abort; the aborted records left above the log start
/// are never delivered under read_committed. Then time retention deleting the segment of an open transaction's
/// first records: the same.
#[test]
fn delete_records_and_retention_pass_an_open_transaction_as_kafka_does() {
    let broker = broker_with(&["--log-retention-check-interval-ms", "200"]);
    let topic = "txnlog-dr";
    create_topic(&broker, topic, 1, &[]);
    let before: Vec<String> = (0..3).map(|i| format!("before-{i}")).collect();
    send_plain(&broker, topic, &before); // 0..2
    let producer = txn_producer(&broker, "txnlog-dr");
    producer.begin_transaction().unwrap();
    for i in 0..3 {
        send(
            &producer,
            topic,
            &format!("o{i}"),
            &format!("open-{i}"),
            None,
        ); // 3..5
    }
    producer.flush(TIMEOUT).unwrap();
    let after: Vec<String> = (0..3).map(|i| format!("after-{i}")).collect();
    send_plain(&broker, topic, &after); // 6..8
    assert_eq!(offsets(&broker, topic, "read_uncommitted"), (0, 9));
    assert_eq!(offsets(&broker, topic, "read_committed"), (0, 3));

    // Past the open transaction's first offset: Kafka allows it; the LSO becomes the log start.
    assert_eq!(delete_records(&broker, topic, 5), (0, 5));
    assert_eq!(offsets(&broker, topic, "read_committed"), (5, 5));
    assert_eq!(offsets(&broker, topic, "read_uncommitted"), (5, 9));
    // Never past the high watermark.
    assert_eq!(
        delete_records(&broker, topic, 10).0,
        OFFSET_OUT_OF_RANGE,
        "DeleteRecords beyond the high watermark"
    );

    // The transaction is still open: the abort ends it (its marker at 9).
    producer.abort_transaction(TIMEOUT).unwrap();
    let (_, lso) = wait_for("the LSO to pass the abort marker", TIMEOUT, || {
        let o = offsets(&broker, topic, "read_committed");
        Ok((o.1 == 10).then_some(o))
    })
    .unwrap();
    assert_eq!(lso, 10);
    send_plain(&broker, topic, &["end".to_string()]); // 10
    let committed = read_until(&broker, topic, "read_committed", "end");
    assert_eq!(values(&committed), ["after-0", "after-1", "after-2", "end"]);
    let uncommitted = read_until(&broker, topic, "read_uncommitted", "end");
    assert_eq!(
        values(&uncommitted),
        ["open-2", "after-0", "after-1", "after-2", "end"]
    );
    assert_eq!(uncommitted[0].0, 5);

    // Time retention: an open transaction's records carry an hour-old timestamp and fill a segment of their
    // own; newer plain records roll it. Retention deletes it, past the transaction's first offset.
    let topic = "txnlog-retention";
    create_topic(
        &broker,
        topic,
        1,
        &[
            ("retention.ms", "60000"),
            ("internal.segment.bytes", "1024"),
        ],
    );
    let old = now_ms() - 3_600_000;
    producer.begin_transaction().unwrap();
    let padding = "x".repeat(100);
    for i in 0..20 {
        send(
            &producer,
            topic,
            &format!("o{i}"),
            &format!("old-{i}-{padding}"),
            Some(old),
        );
    }
    producer.flush(TIMEOUT).unwrap();
    let fresh: Vec<String> = (0..3).map(|i| format!("fresh-{i}")).collect();
    send_plain(&broker, topic, &fresh); // 20..22
    let (start, lso) = wait_for("retention to delete the old segment", TIMEOUT, || {
        let o = offsets(&broker, topic, "read_committed");
        Ok((o.0 > 0).then_some(o))
    })
    .unwrap();
    assert_eq!(start, 20);
    assert_eq!(
        lso, 20,
        "the LSO is the log start while the transaction is open"
    );
    assert_eq!(offsets(&broker, topic, "read_uncommitted"), (20, 23));
    producer.commit_transaction(TIMEOUT).unwrap();
    let (_, lso) = wait_for("the LSO to pass the commit marker", TIMEOUT, || {
        let o = offsets(&broker, topic, "read_committed");
        Ok((o.1 == 24).then_some(o))
    })
    .unwrap();
    assert_eq!(lso, 24);
    broker.assert_no_panic();
}

/// A compacted topic written by librdkafka's transactional producer: 12 transactions, three of them aborted
/// (the aborted ones write every key, so an aborted value would be the latest of each), two values per key
/// per transaction. Once the cleaner (every 200 ms, 1 KiB segments) has run, read_committed and
/// read_uncommitted consumers both see, per key, exactly the latest committed value, and no aborted value at
/// all.
#[test]
fn compaction_of_a_transactional_topic_keeps_exactly_the_committed_latest_values() {
    let broker = broker_with(&["--log-retention-check-interval-ms", "200"]);
    let topic = "txnlog-compacted";
    create_topic(
        &broker,
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("internal.segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
        ],
    );
    let producer = txn_producer(&broker, "txnlog-compact");
    let keys = 6;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut aborted_values = Vec::new();
    let mut produced = 0;
    for n in 0..12 {
        let abort = [1, 4, 7].contains(&n);
        producer.begin_transaction().unwrap();
        for i in 0..keys {
            if !abort && (i + n) % 3 == 0 {
                continue;
            }
            for copy in ["a", "b"] {
                let key = format!("k{i}");
                let value = format!("t{n}-{key}-{copy}-padding-padding");
                send(&producer, topic, &key, &value, None);
                produced += 1;
                if abort {
                    aborted_values.push(value);
                } else if copy == "b" {
                    expected.insert(key, value);
                }
            }
        }
        producer.flush(TIMEOUT).unwrap();
        if abort {
            producer.abort_transaction(TIMEOUT).unwrap();
        } else {
            producer.commit_transaction(TIMEOUT).unwrap();
        }
    }
    send_plain(&broker, topic, &["end".to_string()]);
    expected.insert("end".to_string(), "end".to_string());
    produced += 1;

    let check = |isolation: &str| -> Result<(), String> {
        let read = read_until(&broker, topic, isolation, "end");
        let aborted: Vec<&str> = read
            .iter()
            .map(|(_, _, v)| v.as_str())
            .filter(|v| aborted_values.iter().any(|a| a == v))
            .collect();
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        for (_, k, v) in read.iter().filter(|(_, k, _)| !k.starts_with("filler-")) {
            latest.insert(k.clone(), v.clone());
        }
        if !aborted.is_empty() {
            return Err(format!("{isolation}: aborted values {aborted:?}"));
        }
        if read.len() >= produced {
            return Err(format!(
                "{isolation}: nothing cleaned yet ({} records)",
                read.len()
            ));
        }
        if latest != expected {
            return Err(format!(
                "{isolation}: latest {latest:?}, expected {expected:?}"
            ));
        }
        Ok(())
    };
    // The cleaner runs in the background: wait until a read_uncommitted reader finds the aborted records
    // gone and the log shrunk.
    let mut last = String::new();
    let cleaned = wait_for("the cleaner", Duration::from_secs(60), || {
        Ok(match check("read_uncommitted") {
            Ok(()) => Some(()),
            Err(e) => {
                last = e;
                None
            }
        })
    });
    assert!(cleaned.is_ok(), "{last}");
    check("read_committed").unwrap();
    check("read_uncommitted").unwrap();
    // With delete.retention.ms=0 the three ABORT markers go two cleaner passes after their data did, and
    // their aborted-transaction entries with them; markers of transactions with data left stay.
    // A live topic keeps getting writes (here a filler key), which keeps the cleaner running.
    let mut seen = (0, 0);
    let mut round = 0;
    let gone = wait_for("aborted markers to go", Duration::from_secs(60), || {
        round += 1;
        send_plain(
            &broker,
            topic,
            &[format!("filler-{round}-padding-padding-padding")],
        );
        seen = markers_and_aborted(&broker, topic);
        Ok((seen.0 <= 9 && seen.1 == 0).then_some(seen))
    });
    let (markers, aborted) = gone.unwrap_or_else(|e| panic!("{e:#}: (markers, aborted) {seen:?}"));
    assert!(
        markers > 0,
        "the markers of transactions with data left stay"
    );
    assert_eq!(aborted, 0);
    check("read_committed").unwrap();
    check("read_uncommitted").unwrap();
    broker.assert_no_panic();
}

/// Produce v9, acks=all, to partition 0: (error code, base offset).
fn produce(broker: &TestBroker, topic: &str, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// `producer.id.expiration.ms` (3 s here, checked every 500 ms): while the idempotent producer is known, the
/// retry of its batch is answered as a duplicate (the original offset, nothing appended) and a sequence gap is
/// OUT_OF_ORDER_SEQUENCE_NUMBER; once it has been idle past the expiration, its state is gone and the very
/// same batch is appended again as Kafka does for a producer it does not know.
#[test]
fn idle_idempotent_producer_ids_expire() {
    let broker = broker_with(&[
        "--override",
        "producer.id.expiration.ms=3000",
        "--override",
        "producer.id.expiration.check.interval.ms=500",
    ]);
    let topic = "txnlog-expiry";
    create_topic(&broker, topic, 1, &[]);
    let response: InitProducerIdResponse = call(
        &broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(response.error_code, 0);
    let (pid, epoch) = (response.producer_id.0, response.producer_epoch);

    let first = batch(pid, epoch, 0, false, &["a", "b"]);
    assert_eq!(produce(&broker, topic, first.clone()), (0, 0));
    assert_eq!(produce(&broker, topic, first.clone()), (0, 0), "duplicate");
    let gap = batch(pid, epoch, 5, false, &["gap"]);
    assert_eq!(produce(&broker, topic, gap).0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(offsets(&broker, topic, "read_uncommitted").1, 2);

    // Idle past the expiration plus two checks.
    strom_test_support::pause(Duration::from_millis(3_000 + 1_500));
    assert_eq!(
        produce(&broker, topic, first),
        (0, 2),
        "the forgotten producer's batch is appended again"
    );
    assert_eq!(offsets(&broker, topic, "read_uncommitted").1, 4);
    broker.assert_no_panic();
}
