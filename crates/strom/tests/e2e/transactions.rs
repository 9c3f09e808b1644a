//! Transactions end to end with librdkafka's transactional producer (rdkafka crate) against a real broker
//! serving both halves of issue 22 (coordinator and partitions): commit and abort, a read_committed consumer
//! sees exactly the committed records in order while read_uncommitted sees all of them, ListOffsets latest is
//! the LSO under read_committed while a transaction is open, a newer producer instance fences the older one
//! whose later writes never become visible, and consume-transform-produce with `send_offsets_to_transaction`
//! produces each input's result exactly once with the group's offsets committed in the same transactions.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use strom_test_support::kafka::{assigned_consumer, consumer_config, poll_until, producer_config};
use strom_test_support::TestBroker;

use crate::txn_partition::TXN_FLAGS;
use crate::util::{create_topic, start_broker};

const TIMEOUT: Duration = Duration::from_secs(30);

fn txn_producer(broker: &TestBroker, id: &str) -> BaseProducer {
    let p: BaseProducer = producer_config(&broker.bootstrap())
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p
}

fn send(p: &BaseProducer, topic: &str, key: &str, value: &str) {
    loop {
        match p.send(BaseRecord::to(topic).key(key).payload(value)) {
            Ok(()) => return,
            Err((e, _)) if e.to_string().contains("Queue full") => {
                p.poll(Duration::from_millis(10));
            }
            Err((e, _)) => panic!("send: {e}"),
        }
    }
}

/// (partition, key, value) of every record a consumer with `isolation` reads from the start of `topic`'s
/// `partitions`, in per-partition order, once `expected` arrived and nothing more came for a while.
fn read_all(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    isolation: &str,
    expected: usize,
) -> Vec<(i32, String, String)> {
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(
        &broker.bootstrap(),
        topic,
        &assignment,
        &[("isolation.level", isolation)],
    )
    .unwrap();
    let mut got = poll_until(&consumer, TIMEOUT, |got| got.len() >= expected).unwrap();
    got.extend(poll_until(&consumer, Duration::from_millis(1500), |_| false).unwrap_or_default());
    got.iter()
        .map(|m| {
            (
                m.partition(),
                String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap(),
                String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap(),
            )
        })
        .collect()
}

/// Latest offset of each partition as a consumer with `isolation` sees it (librdkafka's ListOffsets).
fn latest(broker: &TestBroker, topic: &str, partitions: i32, isolation: &str) -> Vec<i64> {
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| consumer.fetch_watermarks(topic, p, TIMEOUT).unwrap().1)
        .collect()
}

#[test]
fn rdkafka_commit_and_abort_read_committed_sees_exactly_the_committed_records() {
    let broker = start_broker(TXN_FLAGS);
    let topic = "txn-rk";
    create_topic(&broker, topic, 3, &[]);
    let producer = txn_producer(&broker, "rk-commit-abort");
    let mut committed = Vec::new();
    let mut all = 0;
    for (round, commit) in [(0, true), (1, false), (2, true), (3, false), (4, true)] {
        producer.begin_transaction().unwrap();
        for i in 0..40 {
            let key = format!("k{}", i % 7);
            let value = format!("r{round}-{i}");
            send(&producer, topic, &key, &value);
            if commit {
                committed.push((key, value));
            }
            all += 1;
        }
        if commit {
            producer.commit_transaction(TIMEOUT).unwrap();
        } else {
            producer.flush(TIMEOUT).unwrap();
            producer.abort_transaction(TIMEOUT).unwrap();
        }
    }
    let read = read_all(&broker, topic, 3, "read_committed", committed.len());
    assert_eq!(
        read.len(),
        committed.len(),
        "read_committed: exactly the committed records"
    );
    assert!(read
        .iter()
        .all(|(_, _, v)| v.starts_with("r0") || v.starts_with("r2") || v.starts_with("r4")));
    // In order: per key (one partition each), values appear in the order they were sent.
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, k, v) in &read {
        by_key.entry(k.clone()).or_default().push(v.clone());
    }
    let mut sent_by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &committed {
        sent_by_key.entry(k.clone()).or_default().push(v.clone());
    }
    assert_eq!(by_key, sent_by_key);
    assert_eq!(
        read_all(&broker, topic, 3, "read_uncommitted", all).len(),
        all
    );

    // With every transaction ended, the LSO is the high watermark; an open one holds it back.
    assert_eq!(
        latest(&broker, topic, 3, "read_committed"),
        latest(&broker, topic, 3, "read_uncommitted")
    );
    producer.begin_transaction().unwrap();
    for i in 0..30 {
        send(&producer, topic, &format!("k{i}"), "open");
    }
    producer.flush(TIMEOUT).unwrap();
    let lso = latest(&broker, topic, 3, "read_committed");
    let hw = latest(&broker, topic, 3, "read_uncommitted");
    assert!(
        lso.iter().zip(&hw).all(|(l, h)| l < h),
        "LSO {lso:?} below HW {hw:?}"
    );
    assert_eq!(
        read_all(&broker, topic, 3, "read_committed", committed.len()).len(),
        committed.len()
    );
    producer.commit_transaction(TIMEOUT).unwrap();
    let after = latest(&broker, topic, 3, "read_committed");
    assert_eq!(after, latest(&broker, topic, 3, "read_uncommitted"));
    assert!(
        after.iter().zip(&hw).all(|(a, h)| a > h),
        "the COMMIT markers: {after:?} vs {hw:?}"
    );
    assert_eq!(
        read_all(&broker, topic, 3, "read_committed", committed.len() + 30).len(),
        committed.len() + 30
    );
    broker.assert_no_panic();
}

#[test]
fn rdkafka_zombie_producer_is_fenced_and_its_writes_never_visible() {
    let broker = start_broker(TXN_FLAGS);
    let topic = "txn-zombie";
    create_topic(&broker, topic, 2, &[]);
    let zombie = txn_producer(&broker, "rk-zombie");
    zombie.begin_transaction().unwrap();
    for i in 0..10 {
        send(&zombie, topic, &format!("k{i}"), "zombie-before");
    }
    zombie.flush(TIMEOUT).unwrap();

    // A new instance with the same transactional.id: the zombie's open transaction is aborted.
    let fresh = txn_producer(&broker, "rk-zombie");
    fresh.begin_transaction().unwrap();
    for i in 0..10 {
        send(&fresh, topic, &format!("k{i}"), "fresh");
    }
    fresh.commit_transaction(TIMEOUT).unwrap();

    for i in 0..10 {
        let _ = zombie.send(
            BaseRecord::to(topic)
                .key(&format!("k{i}"))
                .payload("zombie-after"),
        );
    }
    let _ = zombie.flush(TIMEOUT);
    let err = zombie.commit_transaction(TIMEOUT).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("fenced"), "{err}");

    let read = read_all(&broker, topic, 2, "read_committed", 10);
    assert_eq!(read.len(), 10);
    assert!(read.iter().all(|(_, _, v)| v == "fresh"), "{read:?}");
    broker.assert_no_panic();
}

#[test]
fn rdkafka_consume_transform_produce_is_exactly_once() {
    let broker = start_broker(TXN_FLAGS);
    let (input, output, group) = ("ctp-in", "ctp-out", "ctp-app");
    create_topic(&broker, input, 1, &[]);
    create_topic(&broker, output, 2, &[]);
    let n = 60usize;
    let plain: BaseProducer = producer_config(&broker.bootstrap()).create().unwrap();
    for i in 0..n {
        plain
            .send(
                BaseRecord::to(input)
                    .key(&format!("k{i}"))
                    .payload(&format!("{i}")),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    plain.flush(TIMEOUT).unwrap();

    let producer = txn_producer(&broker, "ctp-app");
    // The app: read from the group's committed offset, write value*2, commit offsets with the output.
    let run = |batch: usize, commit: bool| {
        let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
            .set("group.id", group)
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(input, 0);
        let committed = consumer.committed_offsets(tpl, TIMEOUT).unwrap();
        let start = match committed.elements()[0].offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        let mut assign = TopicPartitionList::new();
        assign
            .add_partition_offset(input, 0, Offset::Offset(start))
            .unwrap();
        consumer.assign(&assign).unwrap();
        let got = poll_until(&consumer, TIMEOUT, |got| got.len() >= batch).unwrap();
        producer.begin_transaction().unwrap();
        let mut next = start;
        for m in got.iter().take(batch) {
            let v: i64 = std::str::from_utf8(m.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            send(
                &producer,
                output,
                &format!("in{}", m.offset()),
                &format!("{}", v * 2),
            );
            next = m.offset() + 1;
        }
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(input, 0, Offset::Offset(next))
            .unwrap();
        producer
            .send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), TIMEOUT)
            .unwrap();
        if commit {
            producer.commit_transaction(TIMEOUT).unwrap();
        } else {
            // A BaseProducer's delivery reports must be polled before an abort.
            producer.flush(TIMEOUT).unwrap();
            producer.abort_transaction(TIMEOUT).unwrap();
        }
    };
    run(20, true);
    run(15, false); // aborted: neither the output nor the offsets count
    run(25, true);
    run(15, true);
    let read = read_all(&broker, output, 2, "read_committed", n);
    let mut keys: Vec<_> = read
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect();
    keys.sort();
    let mut expected: Vec<_> = (0..n)
        .map(|i| (format!("in{i}"), format!("{}", i * 2)))
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "each input's result exactly once");
    // The group's committed offset is the end of the input.
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(input, 0);
    let committed = consumer.committed_offsets(tpl, TIMEOUT).unwrap();
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(n as i64));
    broker.assert_no_panic();
}
