//! A consumer group on a three-node cluster survives the kill -9 of its group coordinator: consumption and
//! commits continue through the new coordinator, every produced record is consumed, and committed offsets
//! survive a second coordinator move. Split from `cluster.rs`, whose cluster start-up it uses.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use strom_test_support::cluster::{create_replicated_topic, group_coordinator};
use strom_test_support::kafka::{self, TestProducer};
use strom_test_support::wait_until;

use crate::cluster::{start_cluster, Writer, FAILOVER_TIMEOUT};

/// A consumer group reads a 3-partition RF 3 topic while a producer writes; the group's coordinator is killed
/// with -9. The consumer keeps consuming and committing (through the new coordinator), every produced record is
/// consumed at least once, and the committed offsets are still there after the coordinator moves again.
#[test]
fn group_survives_coordinator_death() {
    let mut cluster = start_cluster(&["--override", "offsets.topic.num.partitions=6"]);
    let bootstrap = cluster.bootstrap();
    let topic = "orders";
    let group = "survivors";
    create_replicated_topic(&bootstrap, topic, 3, 3, &[("min.insync.replicas", "2")]).unwrap();

    let producer = Arc::new(
        TestProducer::with(
            &bootstrap,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "300000"),
                ("request.timeout.ms", "5000"),
            ],
        )
        .unwrap(),
    );
    let writer = Writer::start(producer.clone(), topic, "order", None);

    let consumed: Arc<Mutex<HashSet<Vec<u8>>>> = Arc::default();
    let commits_ok = Arc::new(AtomicUsize::new(0));
    let consuming = Arc::new(AtomicBool::new(true));
    let consumer_thread = {
        let consumed = consumed.clone();
        let commits_ok = commits_ok.clone();
        let consuming = consuming.clone();
        let bootstrap = bootstrap.clone();
        thread::spawn(move || {
            let consumer = group_consumer(&bootstrap, group);
            consumer.subscribe(&[topic]).unwrap();
            let mut last_commit = Instant::now();
            while consuming.load(Ordering::SeqCst) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    if let Some(v) = m.payload() {
                        consumed.lock().unwrap().insert(v.to_vec());
                    }
                }
                if last_commit.elapsed() >= Duration::from_millis(300) {
                    last_commit = Instant::now();
                    // Errors are expected while the coordinator moves; the next commit retries.
                    if consumer.commit_consumer_state(CommitMode::Sync).is_ok() {
                        commits_ok.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            // Everything polled is stored (enable.auto.offset.store): a final commit of it all.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => panic!("final commit failed: {e}"),
            }
            // Copied out of the list: a TopicPartitionList from position() holds partition references that
            // keep librdkafka's destroy (when the consumer drops) waiting forever.
            let positions = offsets_of(&consumer.position().unwrap());
            consumer.unsubscribe();
            positions
        })
    };

    wait_until("the group to consume and commit", FAILOVER_TIMEOUT, || {
        Ok(consumed.lock().unwrap().len() >= 500 && commits_ok.load(Ordering::SeqCst) >= 3)
    })
    .unwrap();
    let coordinator = group_coordinator(&bootstrap, group).unwrap();
    cluster.kill9(coordinator).unwrap();
    let killed_at = Instant::now();
    let (consumed_at_kill, commits_at_kill) = (
        consumed.lock().unwrap().len(),
        commits_ok.load(Ordering::SeqCst),
    );
    wait_until(
        &format!("consumption and commits to continue after killing coordinator {coordinator}"),
        FAILOVER_TIMEOUT,
        || {
            Ok(consumed.lock().unwrap().len() >= consumed_at_kill + 500
                && commits_ok.load(Ordering::SeqCst) >= commits_at_kill + 3)
        },
    )
    .unwrap();
    let live = cluster.bootstrap_live();
    let new_coordinator = group_coordinator(&live, group).unwrap();
    assert_ne!(new_coordinator, coordinator);
    eprintln!(
        "coordinator {coordinator} killed; {new_coordinator} took over, commits resumed after {:?}",
        killed_at.elapsed()
    );
    cluster.restart(coordinator).unwrap();

    writer.stop();
    producer.flush(Duration::from_secs(300)).unwrap();
    eprintln!(
        "writer stopped and producer flushed after {:?}",
        killed_at.elapsed()
    );
    let acked: Vec<Vec<u8>> = producer
        .history()
        .snapshot()
        .into_iter()
        .filter_map(|a| a.value)
        .collect();
    wait_until(
        "the group to consume every acknowledged record",
        FAILOVER_TIMEOUT,
        || {
            let consumed = consumed.lock().unwrap();
            Ok(acked.iter().all(|v| consumed.contains(v)))
        },
    )
    .unwrap();
    eprintln!(
        "every acknowledged record consumed after {:?}",
        killed_at.elapsed()
    );
    consuming.store(false, Ordering::SeqCst);
    let expected = consumer_thread.join().expect("consumer thread");
    eprintln!("consumer closed; final positions {expected:?}");

    // The committed offsets are the final positions, and survive another coordinator failover.
    assert_eq!(expected.len(), 3, "positions {expected:?}");
    assert_eq!(committed_offsets(&bootstrap, group, topic), expected);
    let coordinator = group_coordinator(&bootstrap, group).unwrap();
    cluster.kill9(coordinator).unwrap();
    let live = cluster.bootstrap_live();
    wait_until(
        "committed offsets from the next coordinator",
        FAILOVER_TIMEOUT,
        || {
            Ok(
                group_coordinator(&live, group).is_ok_and(|c| c != coordinator)
                    && committed_offsets(&live, group, topic) == expected,
            )
        },
    )
    .unwrap();
    cluster.restart(coordinator).unwrap();
    cluster.assert_no_panic();
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.offset.store", "true")
        .set("auto.offset.reset", "earliest");
    config.create().expect("group consumer")
}

/// Partition → offset for the partitions of `tpl` that have an offset.
fn offsets_of(tpl: &TopicPartitionList) -> BTreeMap<i32, i64> {
    tpl.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// The group's committed offsets for partitions 0..3 of `topic`, asked by a consumer that does not join.
fn committed_offsets(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer = group_consumer(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(topic, p);
    }
    match consumer.committed_offsets(tpl, Duration::from_secs(10)) {
        Ok(committed) => offsets_of(&committed),
        Err(_) => BTreeMap::new(),
    }
}
