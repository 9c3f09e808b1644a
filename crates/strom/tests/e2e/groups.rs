//! Consumer groups through librdkafka (classic protocol): three members of one group split six partitions
//! (each partition owned by exactly one member, every record consumed exactly once); a member that commits and
//! closes is resumed by the next one at the committed offset; committed offsets survive a broker restart
//! (replayed from `__consumer_offsets`); cooperative-sticky rebalances revoke only the partitions that move; auto-commit resumes a new member; two groups each read every record; a restarted static member gets
//! its assignment back without a rebalance. Stale generations and fencing are tested at the broker level
//! (`strom-broker/src/group_coordinator.rs`) and in strom-group; KIP-848 groups live in `groups_kip848.rs`, a
//! member killed with SIGKILL in `groups_killed_member.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::wait_for;

use crate::util::{create_topic, start_broker};

/// Broker flags that keep group tests quick: no initial rebalance delay, few offsets partitions.
pub(crate) const GROUP_ARGS: &[&str] = &[
    "--group-initial-rebalance-delay-ms",
    "0",
    "--offsets-topic-num-partitions",
    "4",
];

/// State a polling thread shares with the test.
type Shared<T> = Arc<Mutex<T>>;

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest");
    config.create().expect("group consumer")
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

pub(crate) fn assignment(consumer: &BaseConsumer) -> BTreeSet<i32> {
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
    let consumed: Shared<Vec<(usize, i32, i64, String)>> = Default::default();
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
    // The group itself is still known after the restart (ListGroups is rebuilt from the same records).
    let groups = consumer
        .fetch_group_list(None, Duration::from_secs(10))
        .unwrap();
    assert!(
        groups.groups().iter().any(|g| g.name() == "resume"),
        "group list after restart: {:?}",
        groups
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .collect::<Vec<_>>()
    );
    consumer.subscribe(&[topic]).unwrap();
    let got = consume_n(&consumer, 1);
    assert_eq!(got[0], (77, "0:77".to_string()));
    broker.assert_no_panic();
}

// ------------------------------------------------------------------------------------------------------------
// A member on its own polling thread, recording its assignment, rebalance callbacks and consumed records.

/// What a rebalance callback was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Assign,
    Revoke,
}

/// A rebalance callback: when, what, which partitions.
pub(crate) type Event = (Instant, Kind, BTreeSet<i32>);

/// Records every rebalance callback before librdkafka applies it.
pub(crate) struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let (kind, tpl) = match rebalance {
            Rebalance::Assign(tpl) => (Kind::Assign, tpl),
            Rebalance::Revoke(tpl) => (Kind::Revoke, tpl),
            Rebalance::Error(_) => return,
        };
        let partitions = tpl.elements().iter().map(|e| e.partition()).collect();
        self.events
            .lock()
            .unwrap()
            .push((Instant::now(), kind, partitions));
    }
}

/// A group member polling `topic` on its own thread until stopped; dropping the consumer at the end closes it
/// (a LeaveGroup for dynamic members).
pub(crate) struct Member {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    pub(crate) consumed: Arc<Mutex<Vec<(i32, i64, Instant)>>>,
    pub(crate) events: Arc<Mutex<Vec<Event>>>,
}

impl Member {
    pub(crate) fn spawn(config: ClientConfig, topic: &str) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let assignment: Arc<Mutex<BTreeSet<i32>>> = Default::default();
        let consumed: Arc<Mutex<Vec<(i32, i64, Instant)>>> = Default::default();
        let events: Arc<Mutex<Vec<Event>>> = Default::default();
        let thread = {
            let (stop, assignment, consumed, events) = (
                Arc::clone(&stop),
                Arc::clone(&assignment),
                Arc::clone(&consumed),
                Arc::clone(&events),
            );
            let topic = topic.to_string();
            thread::spawn(move || {
                let consumer: BaseConsumer<Recorder> =
                    BaseConsumer::from_config_and_context(&config, Recorder { events })
                        .expect("group consumer");
                consumer.subscribe(&[&topic]).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                        consumed
                            .lock()
                            .unwrap()
                            .push((m.partition(), m.offset(), Instant::now()));
                    }
                    let now: BTreeSet<i32> = consumer
                        .assignment()
                        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                        .unwrap_or_default();
                    *assignment.lock().unwrap() = now;
                }
            })
        };
        Member {
            stop,
            thread: Some(thread),
            assignment,
            consumed,
            events,
        }
    }

    pub(crate) fn assignment(&self) -> BTreeSet<i32> {
        self.assignment.lock().unwrap().clone()
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Stops polling and closes the consumer.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn member_config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest");
    for &(k, v) in extra {
        config.set(k, v);
    }
    config
}

/// Waits until the members' assignments are disjoint, cover `0..partitions`, and have the given sizes.
fn wait_split(members: &[&Member], partitions: i32, sizes: &[usize], what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        let a: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let all: Vec<i32> = a.iter().flatten().copied().collect();
        let distinct: BTreeSet<i32> = all.iter().copied().collect();
        let mut got: Vec<usize> = a.iter().map(BTreeSet::len).collect();
        let mut want = sizes.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        Ok((got == want
            && all.len() == partitions as usize
            && distinct == (0..partitions).collect())
        .then_some(()))
    })
    .unwrap();
}

// ------------------------------------------------------------------------------------------------------------
// Cooperative-sticky.

/// Produces one record to each partition every 10 ms until stopped; returns how many went to each partition.
fn produce_continuously(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<BTreeMap<i32, i64>> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    thread::spawn(move || {
        let producer = TestProducer::with(&bootstrap, &[("acks", "all")]).unwrap();
        let mut sent = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            for p in 0..partitions {
                let n = sent.entry(p).or_insert(0i64);
                let value = format!("{p}:{n}");
                producer
                    .send(&Record::new(&topic).partition(p).value(value.as_bytes()))
                    .unwrap();
                *n += 1;
            }
            strom_test_support::pause(Duration::from_millis(10));
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
        sent
    })
}

#[test]
fn cooperative_sticky_keeps_consuming_the_partitions_that_do_not_move() {
    let broker = start_broker(GROUP_ARGS);
    let bootstrap = broker.bootstrap();
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    keeps_consuming_the_partitions_that_do_not_move(&broker, "coop", &|| {
        member_config(&bootstrap, "coop", &coop)
    });
}

/// One member owns all six partitions of a new topic `topic` while records flow; a second joins. The first
/// member's rebalance callbacks revoke only the partitions that move, and it reads each partition it keeps
/// exactly once, in order, including while the group rebalances.
pub(crate) fn keeps_consuming_the_partitions_that_do_not_move(
    broker: &strom_test_support::TestBroker,
    topic: &str,
    config: &dyn Fn() -> ClientConfig,
) {
    create_topic(broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();
    let first = Member::spawn(config(), topic);
    wait_split(&[&first], 6, &[6], "the first member owns all 6");
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_continuously(&bootstrap, topic, 6, Arc::clone(&stop));
    wait_for(
        "the first member consuming",
        Duration::from_secs(30),
        || Ok((first.consumed.lock().unwrap().len() >= 60).then_some(())),
    )
    .unwrap();

    let joined_at = Instant::now();
    let second = Member::spawn(config(), topic);
    wait_split(&[&first, &second], 6, &[3, 3], "a 3/3 split");
    let settled_at = Instant::now();
    // Keep producing a little after the split, then drain.
    strom_test_support::pause(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();

    let kept = first.assignment();
    let moved = second.assignment();
    // Wait until the first member has read everything produced to the partitions it kept.
    wait_for(
        "the first member drains its partitions",
        Duration::from_secs(60),
        || {
            let consumed = first.consumed.lock().unwrap();
            Ok(kept
                .iter()
                .all(|p| {
                    consumed
                        .iter()
                        .any(|(cp, o, _)| cp == p && *o + 1 == sent[p])
                })
                .then_some(()))
        },
    )
    .unwrap();

    // The first member's callbacks: one assignment of all six, then revocations of moving partitions only.
    let events = first.events();
    let revoked: BTreeSet<i32> = events
        .iter()
        .filter(|(_, k, _)| *k == Kind::Revoke)
        .flat_map(|(_, _, p)| p.iter().copied())
        .collect();
    assert_eq!(revoked, moved, "revoked {revoked:?}; events {events:?}");
    assert!(
        revoked.is_disjoint(&kept),
        "kept partitions were revoked: {events:?}"
    );

    // Each kept partition was read once, in order, from offset 0: never restarted by a revocation.
    let consumed = first.consumed.lock().unwrap().clone();
    for p in &kept {
        let offsets: Vec<i64> = consumed
            .iter()
            .filter(|(cp, _, _)| cp == p)
            .map(|(_, o, _)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..sent[p]).collect::<Vec<_>>(),
            "partition {p} was not read once in order by its keeper"
        );
        // And reading went on while the group rebalanced.
        let during = consumed
            .iter()
            .filter(|(cp, _, at)| cp == p && *at > joined_at && *at < settled_at)
            .count();
        assert!(
            during > 0,
            "nothing read from kept partition {p} during the rebalance ({:?})",
            settled_at - joined_at
        );
    }
    second.stop();
    first.stop();
    broker.assert_no_panic();
}

// ------------------------------------------------------------------------------------------------------------
// Auto-commit, two groups, static membership.

#[test]
fn auto_committed_offsets_resume_a_new_member() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "autocommit";
    create_topic(&broker, topic, 1, &[]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, topic, 1, 100);
    // Offsets are stored by hand as records are processed: rdkafka's Drop polls until the consumer is
    // closed, and with automatic storing those polls would store (and the closing commit commit) records
    // the test never saw.
    let auto = [
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "200"),
        ("enable.auto.offset.store", "false"),
    ];
    {
        let consumer: BaseConsumer = member_config(&bootstrap, "auto", &auto).create().unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let mut got = 0;
        wait_for("60 records", Duration::from_secs(60), || {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                assert_eq!(m.offset(), got);
                consumer.store_offset_from_message(&m)?;
                got += 1;
            }
            Ok((got == 60).then_some(()))
        })
        .unwrap();
        // No explicit commit: the 200 ms timer commits the stored offset.
        let mut last = Offset::Invalid;
        let found = wait_for(
            "an auto-commit of offset 60",
            Duration::from_secs(10),
            || {
                last = committed(&consumer, topic);
                Ok((last == Offset::Offset(60)).then_some(()))
            },
        );
        assert!(found.is_ok(), "committed offset is {last:?}");
    }
    let consumer: BaseConsumer = member_config(&bootstrap, "auto", &auto).create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let got = consume_n(&consumer, 1);
    assert_eq!(got[0], (60, "0:60".to_string()));
    broker.assert_no_panic();
}

#[test]
fn two_groups_on_one_topic_each_read_every_record() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "shared";
    create_topic(&broker, topic, 3, &[]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, topic, 3, 50);
    let a = Member::spawn(member_config(&bootstrap, "group-a", &[]), topic);
    let b = Member::spawn(member_config(&bootstrap, "group-b", &[]), topic);
    for (name, m) in [("group-a", &a), ("group-b", &b)] {
        wait_for(
            &format!("{name} reads 150 records"),
            Duration::from_secs(60),
            || Ok((m.consumed.lock().unwrap().len() >= 150).then_some(())),
        )
        .unwrap();
    }
    strom_test_support::pause(Duration::from_millis(300));
    for m in [&a, &b] {
        let consumed = m.consumed.lock().unwrap();
        let distinct: BTreeSet<(i32, i64)> = consumed.iter().map(|(p, o, _)| (*p, *o)).collect();
        assert_eq!(consumed.len(), 150);
        assert_eq!(distinct.len(), 150);
    }
    a.stop();
    b.stop();
    broker.assert_no_panic();
}

#[test]
fn restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "static";
    create_topic(&broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();
    let config = |instance: &str| {
        member_config(
            &bootstrap,
            "static",
            &[
                ("group.instance.id", instance),
                ("session.timeout.ms", "15000"),
            ],
        )
    };
    let a = Member::spawn(config("instance-a"), topic);
    let b = Member::spawn(config("instance-b"), topic);
    wait_split(&[&a, &b], 6, &[3, 3], "a 3/3 split");
    // Let b's callbacks settle, then remember them.
    strom_test_support::pause(Duration::from_millis(500));
    let a_partitions = a.assignment();
    let b_partitions = b.assignment();
    let b_events = b.events().len();

    // A static member's close sends no LeaveGroup; it comes back with the same group.instance.id.
    a.stop();
    let a2 = Member::spawn(config("instance-a"), topic);
    wait_for(
        "the restarted member owns its old partitions",
        Duration::from_secs(30),
        || Ok((a2.assignment() == a_partitions).then_some(())),
    )
    .unwrap();
    strom_test_support::pause(Duration::from_secs(2));
    assert_eq!(b.assignment(), b_partitions);
    assert_eq!(
        b.events().len(),
        b_events,
        "the other member saw a rebalance: {:?}",
        b.events()
    );
    // Records still reach both.
    produce(&bootstrap, topic, 6, 10);
    wait_for("both members read", Duration::from_secs(30), || {
        let ra = a2.consumed.lock().unwrap().len();
        let rb = b.consumed.lock().unwrap().len();
        Ok((ra >= 30 && rb >= 30).then_some(()))
    })
    .unwrap();
    a2.stop();
    b.stop();
    broker.assert_no_panic();
}

// ------------------------------------------------------------------------------------------------------------
// A member that closes while records keep arriving.

#[test]
fn a_closing_member_hands_over_its_partitions_while_producing_continues() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "handover";
    create_topic(&broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();

    // Members commit every record before polling again, so whoever takes a partition over resumes exactly
    // where its previous owner stopped.
    let consumed: Shared<Vec<(usize, i32, i64)>> = Default::default();
    let assignments: Shared<BTreeMap<usize, BTreeSet<i32>>> = Default::default();
    let stops: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut threads = Vec::new();
    for (member, stop) in stops.iter().enumerate() {
        let (stop, assignments, consumed, bootstrap) = (
            Arc::clone(stop),
            Arc::clone(&assignments),
            Arc::clone(&consumed),
            bootstrap.clone(),
        );
        threads.push(thread::spawn(move || {
            let consumer = group_consumer(&bootstrap, "handover");
            consumer.subscribe(&[topic]).unwrap();
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                    consumed
                        .lock()
                        .unwrap()
                        .push((member, m.partition(), m.offset()));
                    let _ = consumer.commit_message(&m, CommitMode::Sync);
                }
                assignments
                    .lock()
                    .unwrap()
                    .insert(member, assignment(&consumer));
            }
            assignments.lock().unwrap().remove(&member);
            // Dropping the consumer closes it: a LeaveGroup, so the group rebalances at once.
        }));
    }
    let split = |sizes: &[usize]| {
        let sizes = sizes.to_vec();
        let assignments = Arc::clone(&assignments);
        move || {
            let a = assignments.lock().unwrap();
            let mut got: Vec<usize> = a.values().map(BTreeSet::len).collect();
            got.sort_unstable();
            let distinct: BTreeSet<i32> = a.values().flatten().copied().collect();
            Ok((got == sizes && distinct.len() == 6).then_some(()))
        }
    };
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(60),
        split(&[2, 2, 2]),
    )
    .unwrap();
    let owned_by_leaver = assignments.lock().unwrap()[&2].clone();

    let producing = Arc::new(AtomicBool::new(false));
    let producer = produce_continuously(&bootstrap, topic, 6, Arc::clone(&producing));
    strom_test_support::pause(Duration::from_millis(800));
    stops[2].store(true, Ordering::Relaxed);
    wait_for(
        "two members with three partitions each",
        Duration::from_secs(60),
        split(&[3, 3]),
    )
    .unwrap();
    strom_test_support::pause(Duration::from_millis(800));
    producing.store(true, Ordering::Relaxed);
    let sent: BTreeMap<i32, i64> = producer.join().unwrap();
    let total: i64 = sent.values().sum();
    wait_for(
        "every produced record consumed",
        Duration::from_secs(60),
        || {
            let c = consumed.lock().unwrap();
            let distinct: BTreeSet<(i32, i64)> = c.iter().map(|(_, p, o)| (*p, *o)).collect();
            Ok((distinct.len() as i64 >= total).then_some(()))
        },
    )
    .unwrap();
    strom_test_support::pause(Duration::from_millis(500));
    for stop in &stops {
        stop.store(true, Ordering::Relaxed);
    }
    for t in threads {
        t.join().unwrap();
    }

    let consumed = consumed.lock().unwrap();
    let distinct: BTreeSet<(i32, i64)> = consumed.iter().map(|(_, p, o)| (*p, *o)).collect();
    let expected: BTreeSet<(i32, i64)> = sent
        .iter()
        .flat_map(|(&p, &n)| (0..n).map(move |o| (p, o)))
        .collect();
    assert_eq!(distinct, expected, "lost or unexpected records");
    assert_eq!(
        consumed.len() as i64,
        total,
        "{} duplicates",
        consumed.len() as i64 - total
    );
    // The leaver's partitions were read by the others after it left.
    for p in &owned_by_leaver {
        assert!(
            consumed
                .iter()
                .any(|(member, partition, _)| *member != 2 && partition == p),
            "partition {p} never moved to another member"
        );
    }
    broker.assert_no_panic();
}
