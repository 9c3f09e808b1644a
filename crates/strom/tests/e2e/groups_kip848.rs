//! KIP-848 consumer groups through librdkafka (`group.protocol=consumer`): the broker assigns partitions
//! (server-side `uniform` assignor), members reconcile through ConsumerGroupHeartbeat, and offsets are
//! committed with the member epoch (OffsetCommit v9). Three members split six partitions and read every
//! record exactly once; a member's commit resumes the next member; ConsumerGroupDescribe is served; the
//! group's members, epochs and assignments survive a broker restart (ConsumerGroup* records in
//! `__consumer_offsets`), so consumption carries on without a rejoin or a re-read.
//! The classic protocol's tests are in `groups.rs`, whose `Member` harness this module reuses.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{wait_for, wire, TestBroker};

use crate::groups::{keeps_consuming_the_partitions_that_do_not_move, Member};
use crate::util::{create_topic, start_broker};

/// No initial delay, few offsets partitions, and a short KIP-848 heartbeat so reconciliation is quick.
pub(crate) const KIP848_ARGS: &[&str] = &[
    "--group-initial-rebalance-delay-ms",
    "0",
    "--offsets-topic-num-partitions",
    "4",
    "--group-consumer-heartbeat-interval-ms",
    "500",
    "--group-consumer-session-timeout-ms",
    "10000",
];

/// A consumer of the KIP-848 protocol. librdkafka refuses the classic session/heartbeat/assignment settings
/// with `group.protocol=consumer`; the broker decides them.
pub(crate) fn kip848_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest");
    config
}

pub(crate) fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize) {
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

#[test]
fn three_kip848_members_split_six_partitions_and_read_each_record_once() {
    let broker = start_broker(KIP848_ARGS);
    let topic = "kip848";
    create_topic(&broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();
    let members: Vec<Member> = (0..3)
        .map(|_| Member::spawn(kip848_config(&bootstrap, "kip848"), topic))
        .collect();
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(60),
        || {
            let a: Vec<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
            let all: Vec<i32> = a.iter().flatten().copied().collect();
            let distinct: BTreeSet<i32> = all.iter().copied().collect();
            Ok(
                (a.iter().all(|s| s.len() == 2) && all.len() == 6 && distinct.len() == 6)
                    .then_some(()),
            )
        },
    )
    .unwrap();
    let settled: Vec<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
    // The broker sees a KIP-848 group: three members at the assignment epoch, assigned by `uniform`.
    wait_for("a Stable consumer group", Duration::from_secs(30), || {
        let group = describe(&broker, "kip848")?;
        Ok((group.group_state.as_str() == "Stable").then_some(group))
    })
    .map(|group| {
        assert_eq!(group.error_code, 0);
        assert_eq!(group.assignor_name.as_str(), "uniform");
        assert_eq!(group.members.len(), 3);
        for m in &group.members {
            assert_eq!(m.member_epoch, group.assignment_epoch);
            assert_eq!(m.assignment.topic_partitions[0].partitions.len(), 2);
            assert_eq!(m.assignment.topic_partitions[0].topic_name.as_str(), topic);
        }
    })
    .unwrap();

    produce(&bootstrap, topic, 6, 100);
    wait_for("600 records consumed", Duration::from_secs(60), || {
        let n: usize = members
            .iter()
            .map(|m| m.consumed.lock().unwrap().len())
            .sum();
        Ok((n >= 600).then_some(()))
    })
    .unwrap();
    strom_test_support::pause(Duration::from_millis(500));
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (i, m) in members.iter().enumerate() {
        for (p, o, _) in m.consumed.lock().unwrap().iter() {
            assert!(
                settled[i].contains(p),
                "member {i} read partition {p} but owns {:?}",
                settled[i]
            );
            seen.insert((*p, *o));
            total += 1;
        }
    }
    assert_eq!(total, 600, "duplicates or extra records");
    assert_eq!(seen.len(), 600);
    for m in members {
        m.stop();
    }
    broker.assert_no_panic();
}

/// ConsumerGroupDescribe v1 for one group over a raw connection.
fn describe(broker: &TestBroker, group: &str) -> anyhow::Result<DescribedGroup> {
    let request = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let api_key = ApiKey::ConsumerGroupDescribe as i16;
    let mut stream = wire::connect(broker.addr())?;
    wire::send(&mut stream, &wire::encode_request(api_key, 1, 7, &request)?)?;
    let wire::Reply::Frame(frame) = wire::read_reply(&mut stream, Duration::from_secs(10))? else {
        anyhow::bail!("no ConsumerGroupDescribe response");
    };
    let (_, response) = wire::decode_response::<ConsumerGroupDescribeResponse>(&frame, 1)?;
    response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no group in the response"))
}

#[test]
fn kip848_revokes_only_the_partitions_that_move() {
    let broker = start_broker(KIP848_ARGS);
    let bootstrap = broker.bootstrap();
    keeps_consuming_the_partitions_that_do_not_move(&broker, "kip848-moves", &|| {
        kip848_config(&bootstrap, "kip848-moves")
    });
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

#[test]
fn kip848_member_commits_resume_the_next_member() {
    let broker = start_broker(KIP848_ARGS);
    let topic = "kip848-resume";
    create_topic(&broker, topic, 1, &[]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, topic, 1, 100);
    {
        let consumer: BaseConsumer = kip848_config(&bootstrap, "kip848-resume").create().unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let got = consume_n(&consumer, 40);
        assert_eq!(got[0], (0, "0:0".to_string()));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(40))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }
    let consumer: BaseConsumer = kip848_config(&bootstrap, "kip848-resume").create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let got = consume_n(&consumer, 1);
    assert_eq!(got[0], (40, "0:40".to_string()));
    broker.assert_no_panic();
}

#[test]
fn kip848_members_keep_their_epochs_and_partitions_across_a_broker_restart() {
    let mut broker = start_broker(KIP848_ARGS);
    let topic = "kip848-restart";
    let group = "kip848-restart";
    create_topic(&broker, topic, 4, &[]);
    let bootstrap = broker.bootstrap();
    let members: Vec<Member> = (0..2)
        .map(|_| Member::spawn(kip848_config(&bootstrap, group), topic))
        .collect();
    // Nothing is committed (no auto-commit): produce only once the partitions stopped moving.
    wait_for("two partitions each", Duration::from_secs(60), || {
        let a: Vec<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
        let distinct: BTreeSet<i32> = a.iter().flatten().copied().collect();
        Ok((a.iter().all(|s| s.len() == 2) && distinct.len() == 4).then_some(()))
    })
    .unwrap();
    produce(&bootstrap, topic, 4, 100);
    let consumed = |members: &[Member]| -> usize {
        members
            .iter()
            .map(|m| m.consumed.lock().unwrap().len())
            .sum()
    };
    wait_for("400 records consumed", Duration::from_secs(60), || {
        Ok((consumed(&members) >= 400).then_some(()))
    })
    .unwrap();
    let stable = |broker: &TestBroker| {
        wait_for("a Stable consumer group", Duration::from_secs(30), || {
            let g = describe(broker, group)?;
            Ok((g.group_state.as_str() == "Stable" && g.members.len() == 2).then_some(g))
        })
        .unwrap()
    };
    let members_of = |g: &DescribedGroup| -> BTreeSet<(String, i32, Vec<i32>)> {
        g.members
            .iter()
            .map(|m| {
                let parts = m
                    .assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect();
                (m.member_id.to_string(), m.member_epoch, parts)
            })
            .collect()
    };
    let before = stable(&broker);
    for m in &before.members {
        assert!(
            m.client_host.as_str().starts_with("/127.0.0.1"),
            "client_host {:?}",
            m.client_host
        );
    }
    let assignments: Vec<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
    let events: Vec<usize> = members.iter().map(|m| m.events().len()).collect();

    broker.stop().unwrap();
    broker.restart().unwrap();
    produce(&bootstrap, topic, 4, 100);
    wait_for("800 records consumed", Duration::from_secs(60), || {
        Ok((consumed(&members) >= 800).then_some(()))
    })
    .unwrap();
    let after = stable(&broker);
    assert_eq!(members_of(&after), members_of(&before));
    assert_eq!(after.group_epoch, before.group_epoch);
    let now: Vec<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
    assert_eq!(now, assignments);

    strom_test_support::pause(Duration::from_millis(500));
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (m, before) in members.iter().zip(events) {
        for (p, o, _) in m.consumed.lock().unwrap().iter() {
            seen.insert((*p, *o));
            total += 1;
        }
        // No rebalance callback since the restart: the group carried on as it was.
        assert_eq!(m.events().len(), before, "{:?}", m.events());
    }
    assert_eq!(
        total, 800,
        "records read twice (a member rejoined and re-read)"
    );
    assert_eq!(seen.len(), 800);
    for m in members {
        m.stop();
    }
    broker.assert_no_panic();
}
