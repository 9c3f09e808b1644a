//! librdkafka's test 0113 `h_delete_topic`: a cooperative-sticky member subscribed to two topics loses the
//! partitions of the one DeleteTopics removes, within a metadata refresh and a rebalance, as with Kafka, and
//! keeps those of the other. The deleted topic must not come back through a consumer's Metadata request
//! (auto-create is on in the broker, but a consumer's request does not allow it).
//!
//! With librdkafka 2.0.2 (the compat suite's) the sub-test still times out, but in `close()`, after the
//! assignment dropped the topic: a reference cycle between a lost partition and its fetch queue, fixed in
//! librdkafka 2.0.3 ("Fix close blocked by reference count in test 0113", #4187), so Kafka fails it too.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use strom_test_support::kafka;

use crate::groups::GROUP_ARGS;
use crate::util::{create_topic, start_broker};

/// (topic, partition) pairs the consumer is assigned.
fn assigned(consumer: &BaseConsumer) -> BTreeSet<(String, i32)> {
    consumer
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// Polls until `done` holds for the assignment, or panics after `timeout` with the last one.
fn poll_until(
    consumer: &BaseConsumer,
    timeout: Duration,
    what: &str,
    done: impl Fn(&BTreeSet<(String, i32)>) -> bool,
) -> BTreeSet<(String, i32)> {
    let deadline = Instant::now() + timeout;
    loop {
        // Errors here (UNKNOWN_TOPIC_OR_PART for the deleted topic) are expected and skipped.
        let _ = consumer.poll(Duration::from_millis(100));
        let now = assigned(consumer);
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: assignment still {now:?}"
        );
    }
}

#[test]
fn cooperative_member_drops_a_deleted_topic() {
    let broker = start_broker(GROUP_ARGS);
    let (kept, deleted) = ("kept-topic", "deleted-topic");
    create_topic(&broker, kept, 2, &[]);
    create_topic(&broker, deleted, 3, &[]);
    let mut config: ClientConfig = kafka::consumer_config(&broker.bootstrap());
    config
        .set("group.id", "delete-topic-group")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("topic.metadata.refresh.interval.ms", "1000");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&[kept, deleted]).expect("subscribe");
    let both = poll_until(
        &consumer,
        Duration::from_secs(30),
        "both topics assigned",
        |a| a.len() == 5,
    );
    assert_eq!(both.iter().filter(|(t, _)| t == deleted).count(), 3);

    let admin = kafka::admin(&broker.bootstrap()).expect("admin");
    kafka::delete_topic(&admin, deleted).expect("DeleteTopics");
    let started = Instant::now();
    let after = poll_until(
        &consumer,
        Duration::from_secs(15),
        "the deleted topic leaves the assignment",
        |a| a.iter().all(|(t, _)| t != deleted),
    );
    eprintln!(
        "deleted topic left the assignment after {:?}",
        started.elapsed()
    );
    assert_eq!(
        after,
        [(kept.to_string(), 0), (kept.to_string(), 1)]
            .into_iter()
            .collect(),
        "the other topic stays assigned"
    );
    // Nothing recreated it.
    let metadata = consumer
        .fetch_metadata(Some(deleted), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(
        metadata.topics()[0].error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    broker.assert_no_panic();
}
