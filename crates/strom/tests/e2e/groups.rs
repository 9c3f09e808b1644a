//! Consumer groups through librdkafka: three members of one group split six partitions (each partition owned
//! by exactly one member, every record consumed exactly once); a member that commits and closes is resumed
//! by the next one at the committed offset; committed offsets survive a broker restart (replayed from
//! `__consumer_offsets`). The state machine's corner cases (stale generations, fencing) are unit-tested in
//! strom-group; these tests check that a real client gets through the whole protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::wait_for;

use crate::util::{create_topic, start_broker};

/// Broker flags that keep group tests quick: no initial rebalance delay, few offsets partitions.
const GROUP_ARGS: &[&str] = &[
    "--group-initial-rebalance-delay-ms",
    "0",
    "--offsets-topic-num-partitions",
    "4",
];

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest");
    config.create().expect("group consumer")
}

fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize) {
    let producer = TestProducer::with(bootstrap, &[("acks", "all")]).unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            let value = format!("{p}:{i}");
            producer
                .send(&Record::new(topic).partition(p).value(value.as_bytes()))
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
}

fn assignment(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

#[test]
fn three_members_split_six_partitions_and_consume_each_record_once() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "grouped";
    create_topic(&broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();

    // Each member polls on its own thread (a member that stops polling stalls the rebalance), committing
    // every record before it polls again, so a partition that moves is resumed where its old owner stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let assignments: Arc<Mutex<BTreeMap<usize, BTreeSet<i32>>>> = Default::default();
    let consumed: Arc<Mutex<Vec<(usize, i32, i64, String)>>> = Default::default();
    let mut threads = Vec::new();
    for member in 0..3 {
        let (stop, assignments, consumed, bootstrap) = (
            Arc::clone(&stop),
            Arc::clone(&assignments),
            Arc::clone(&consumed),
            bootstrap.clone(),
        );
        threads.push(thread::spawn(move || {
            let consumer = group_consumer(&bootstrap, "three");
            consumer.subscribe(&[topic]).unwrap();
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let value =
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                    consumed
                        .lock()
                        .unwrap()
                        .push((member, m.partition(), m.offset(), value));
                    let _ = consumer.commit_message(&m, CommitMode::Sync);
                }
                assignments
                    .lock()
                    .unwrap()
                    .insert(member, assignment(&consumer));
            }
            consumer.unsubscribe();
        }));
    }

    // Wait until the group settled: three members, two partitions each, no overlap.
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(60),
        || {
            let a = assignments.lock().unwrap();
            let all: Vec<i32> = a.values().flatten().copied().collect();
            let distinct: BTreeSet<i32> = all.iter().copied().collect();
            Ok((a.len() == 3
                && a.values().all(|s| s.len() == 2)
                && all.len() == 6
                && distinct.len() == 6)
                .then_some(()))
        },
    )
    .unwrap();
    let settled = assignments.lock().unwrap().clone();

    produce(&bootstrap, topic, 6, 100);
    wait_for("600 records consumed", Duration::from_secs(60), || {
        Ok((consumed.lock().unwrap().len() >= 600).then_some(()))
    })
    .unwrap();
    // A little longer, to catch duplicates delivered late.
    strom_test_support::pause(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }

    let consumed = consumed.lock().unwrap();
    let distinct: BTreeSet<(i32, i64)> = consumed.iter().map(|(_, p, o, _)| (*p, *o)).collect();
    assert_eq!(consumed.len(), 600, "duplicates or extra records");
    assert_eq!(distinct.len(), 600);
    // Every partition was read by the one member that owned it after the group settled.
    for (member, partition, _, _) in consumed.iter() {
        assert!(
            settled[member].contains(partition),
            "member {member} read partition {partition} but owns {:?}",
            settled[member]
        );
    }
    broker.assert_no_panic();
}

fn consume_n(consumer: &BaseConsumer, n: usize) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    wait_for(&format!("{n} records"), Duration::from_secs(60), || {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            got.push((m.offset(), value));
        }
        Ok((got.len() >= n).then_some(()))
    })
    .unwrap();
    got
}

fn committed(consumer: &BaseConsumer, topic: &str) -> Offset {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let tpl = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    tpl.elements()[0].offset()
}

#[test]
fn committed_offsets_resume_the_next_member_and_survive_a_broker_restart() {
    let mut broker = start_broker(GROUP_ARGS);
    let topic = "resumed";
    create_topic(&broker, topic, 1, &[]);
    produce(&broker.bootstrap(), topic, 1, 100);

    // First member: read 40, commit after the 40th, leave.
    {
        let consumer = group_consumer(&broker.bootstrap(), "resume");
        consumer.subscribe(&[topic]).unwrap();
        let got = consume_n(&consumer, 40);
        assert_eq!(got[0], (0, "0:0".to_string()));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(40))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
        assert_eq!(committed(&consumer, topic), Offset::Offset(40));
        consumer.unsubscribe();
    }

    // Second member of the same group starts at the committed offset, not at the beginning.
    {
        let consumer = group_consumer(&broker.bootstrap(), "resume");
        consumer.subscribe(&[topic]).unwrap();
        let got = consume_n(&consumer, 10);
        assert_eq!(got[0], (40, "0:40".to_string()));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(77))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
        consumer.unsubscribe();
    }

    // A clean restart replays __consumer_offsets.
    broker.stop().unwrap();
    broker.restart().unwrap();
    let consumer = group_consumer(&broker.bootstrap(), "resume");
    assert_eq!(committed(&consumer, topic), Offset::Offset(77));
    consumer.subscribe(&[topic]).unwrap();
    let got = consume_n(&consumer, 1);
    assert_eq!(got[0], (77, "0:77".to_string()));
    broker.assert_no_panic();
}
