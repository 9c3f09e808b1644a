//! Three-node clusters under failure: kill -9 of a partition leader and of the controller (a group coordinator's
//! death is in `cluster_groups.rs`); a SIGSTOPped follower that leaves and rejoins the ISR; two of three nodes down (no write may be acknowledged);
//! a divergent log tail written with acks=1 that must be truncated when the old leader returns. Every test
//! checks acknowledged writes against what is read back at the end, and the leader-kill test also checks what a
//! consumer read while the failures happened (`ReadWriteChecker`).
//!
//! Timeouts come from `TestCluster`'s test settings: a dead broker is fenced after 2 s, a stuck follower leaves
//! the ISR after 2 s. The deadlines below are generous multiples of those, for debug builds on busy machines.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::Offset;
use strom_test_support::cluster::{
    controller_id, create_replicated_topic, partition_isr, partition_leader, partition_replicas,
    wait_for_full_isr, wait_for_leader,
};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{pause, wait_for, wait_until, ReadWriteChecker, TestCluster};

use crate::util::strom_bin;

/// How long a leader change, ISR change or restart may take before a test fails.
pub(crate) const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn start_cluster(extra_args: &[&str]) -> TestCluster {
    TestCluster::start(strom_bin(), 3, extra_args).expect("starting a 3-node strom cluster")
}

/// The harness itself: nodes launch on distinct ports with their own directories; pause/resume, kill -9/restart on
/// the same port and a clean stop act on one node only.
#[test]
fn cluster_processes_launch_pause_kill_and_stop() {
    let mut cluster = TestCluster::launch(strom_bin(), 3, &[]).unwrap();
    assert_eq!(cluster.ids(), vec![1, 2, 3]);
    let ports: HashSet<u16> = cluster
        .ids()
        .iter()
        .map(|&id| cluster.node(id).port())
        .collect();
    assert_eq!(ports.len(), 3);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    assert_ne!(cluster.data_dir(1), cluster.data_dir(2));

    cluster.pause(2).unwrap();
    assert!(!cluster
        .bootstrap_live()
        .contains(&cluster.node(2).bootstrap()));
    cluster.resume(2).unwrap();
    assert_eq!(cluster.bootstrap_live(), cluster.bootstrap());

    let pid = cluster.node(3).pid();
    cluster.kill9(3).unwrap();
    assert!(!cluster.node_mut(3).is_running());
    cluster.restart(3).unwrap();
    assert!(cluster.node_mut(3).is_running());
    assert_ne!(cluster.node(3).pid(), pid);

    // A paused node is resumed before SIGTERM, so it still stops cleanly.
    cluster.pause(1).unwrap();
    cluster.stop(1).unwrap();
    assert!(!cluster.node_mut(1).is_running());
    cluster.assert_no_panic();
}

/// A producer thread that writes unique values (`{prefix}-{i:09}`, keyed `k{i % 64}`) until stopped, registering
/// each value with the checker before handing it to librdkafka.
pub(crate) struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl Writer {
    pub(crate) fn start(
        producer: Arc<TestProducer>,
        topic: &'static str,
        prefix: &'static str,
        checker: Option<Arc<ReadWriteChecker>>,
    ) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("k{}", i % 64);
                    let value = format!("{prefix}-{i:09}");
                    if let Some(c) = &checker {
                        c.sent(value.as_bytes());
                    }
                    producer
                        .send(
                            &Record::new(topic)
                                .key(key.as_bytes())
                                .value(value.as_bytes()),
                        )
                        .unwrap();
                    i += 1;
                    if i.is_multiple_of(20) {
                        // A steady stream, not a flood: keeps librdkafka's queue (and the retry backlog after a
                        // leader dies) small.
                        pause(Duration::from_millis(2));
                    }
                }
                i
            })
        };
        Writer { stop, handle }
    }

    /// Stops the loop; returns how many records were handed to the producer.
    pub(crate) fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("writer thread")
    }
}

/// Acknowledged writes to `partition` so far.
fn acks_on(producer: &TestProducer, partition: i32) -> usize {
    producer
        .history()
        .snapshot()
        .iter()
        .filter(|a| a.partition == partition)
        .count()
}

/// Waits until `partition` gets `more` acknowledgements beyond `from`.
fn wait_for_acks_on(producer: &TestProducer, partition: i32, from: usize, more: usize, what: &str) {
    wait_until(what, FAILOVER_TIMEOUT, || {
        Ok(acks_on(producer, partition) >= from + more)
    })
    .unwrap();
}

/// Kills the leader of `topic`/`partition`, checks that a new leader is elected and that acknowledgements for
/// that partition resume, restarts the killed node and waits for a full ISR again. Returns the killed node.
fn kill_leader_and_recover(
    cluster: &mut TestCluster,
    producer: &TestProducer,
    topic: &str,
    partition: i32,
) -> i32 {
    let bootstrap = cluster.bootstrap();
    let leader = partition_leader(&bootstrap, topic, partition).unwrap();
    cluster.kill9(leader).unwrap();
    let killed_at = Instant::now();
    let acked_before = acks_on(producer, partition);

    let live = cluster.bootstrap_live();
    let new_leader =
        wait_for_leader(&live, topic, partition, FAILOVER_TIMEOUT, |l| l != leader).unwrap();
    wait_for_acks_on(
        producer,
        partition,
        acked_before,
        200,
        &format!("acks on partition {partition} to resume after killing its leader {leader}"),
    );
    eprintln!(
        "partition {partition}: leader {leader} killed, new leader {new_leader}, acks resumed after {:?}",
        killed_at.elapsed()
    );

    cluster.restart(leader).unwrap();
    wait_for_full_isr(&bootstrap, topic, 3, FAILOVER_TIMEOUT).unwrap();
    leader
}

/// kill -9 the leader of partition 0 and later of another partition while an idempotent acks=all producer
/// streams and a consumer reads along. Acks resume within seconds of each kill; in the end every acknowledged
/// record is in the log exactly once at its offset, nothing appears that was never sent, and no consumer ever read
/// a record that was later replaced (it would have read past the high watermark) or went backwards.
#[test]
fn leader_kill9_loses_no_acked_write() {
    let mut cluster = start_cluster(&[]);
    let bootstrap = cluster.bootstrap();
    let topic = "failover";
    create_replicated_topic(&bootstrap, topic, 6, 3, &[("min.insync.replicas", "2")]).unwrap();

    let checker = Arc::new(ReadWriteChecker::new());
    let producer = Arc::new(
        TestProducer::with(
            &bootstrap,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("linger.ms", "2"),
                ("message.timeout.ms", "300000"),
                ("request.timeout.ms", "5000"),
            ],
        )
        .unwrap(),
    );
    let writer = Writer::start(producer.clone(), topic, "fo", Some(checker.clone()));

    // A consumer reads every partition along the way; each record it returns is recorded in order.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let reading = reading.clone();
        let checker = checker.clone();
        let bootstrap = bootstrap.clone();
        thread::spawn(move || {
            let assignment: Vec<(i32, Offset)> = (0..6).map(|p| (p, Offset::Beginning)).collect();
            let consumer = kafka::assigned_consumer(&bootstrap, topic, &assignment, &[]).unwrap();
            while reading.load(Ordering::SeqCst) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    checker.read_message("concurrent consumer", &m);
                }
            }
        })
    };

    wait_until("2000 acknowledged writes", FAILOVER_TIMEOUT, || {
        Ok(producer.succeeded() >= 2000)
    })
    .unwrap();
    let first = kill_leader_and_recover(&mut cluster, &producer, topic, 0);

    // Another partition, preferably led by a different node this time.
    let second_partition = (1..6)
        .find(|&p| partition_leader(&bootstrap, topic, p).is_ok_and(|l| l != first))
        .unwrap_or(1);
    kill_leader_and_recover(&mut cluster, &producer, topic, second_partition);

    let acked_after_failures = producer.succeeded();
    wait_until("more acks with every node back", FAILOVER_TIMEOUT, || {
        Ok(producer.succeeded() >= acked_after_failures + 1000)
    })
    .unwrap();
    let sent = writer.stop();
    producer.flush(Duration::from_secs(300)).unwrap();
    reading.store(false, Ordering::SeqCst);
    reader.join().expect("reader thread");
    eprintln!(
        "sent {sent}, acknowledged {}, failed {} (first errors {:?})",
        producer.succeeded(),
        producer.failed(),
        producer.failures()
    );

    let read = kafka::consume_to_end(&bootstrap, topic, Duration::from_secs(120)).unwrap();
    let history = producer.history();
    history.check(&read).unwrap();
    checker.add_acks(&history.snapshot());
    let summary = checker.check(&read).unwrap();
    eprintln!("{summary}");
    assert!(
        summary.read_during_run > 0,
        "the concurrent consumer read nothing"
    );
    cluster.assert_no_panic();
}

/// SIGSTOP a follower of partition 0: within replica.lag.time.max.ms (2 s) plus slack the ISR shrinks to the
/// other two and acks=all writes go on; after SIGCONT the follower catches up and rejoins the ISR.
#[test]
fn paused_follower_leaves_and_rejoins_isr() {
    let mut cluster = start_cluster(&[]);
    let bootstrap = cluster.bootstrap();
    let topic = "lagging";
    create_replicated_topic(&bootstrap, topic, 1, 3, &[("min.insync.replicas", "2")]).unwrap();
    let producer = TestProducer::with(
        &bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "60000"),
        ],
    )
    .unwrap();
    for i in 0..100 {
        let value = format!("before-{i}");
        producer
            .send(&Record::new(topic).value(value.as_bytes()))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    // A follower that is not the controller, so the quorum (and the ISR change) does not wait for it.
    let leader = partition_leader(&bootstrap, topic, 0).unwrap();
    let controller = controller_id(&bootstrap).unwrap_or(-1);
    let followers: Vec<i32> = partition_replicas(&bootstrap, topic, 0)
        .unwrap()
        .into_iter()
        .filter(|&r| r != leader)
        .collect();
    let follower = followers
        .iter()
        .copied()
        .find(|&f| f != controller)
        .unwrap_or(followers[0]);
    cluster.pause(follower).unwrap();
    let paused_at = Instant::now();

    // This write waits for the paused follower until the leader drops it from the ISR, then succeeds.
    let outcome = producer
        .send_sync(&Record::new(topic).value(b"while-paused-0"))
        .unwrap();
    assert!(
        outcome.is_ok(),
        "acks=all write failed with a follower paused: {outcome:?}"
    );
    let live = cluster.bootstrap_live();
    let expected: Vec<i32> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != follower)
        .collect();
    wait_until(
        &format!("ISR of {topic}-0 to shrink to {expected:?}"),
        Duration::from_secs(20),
        || Ok(partition_isr(&live, topic, 0)? == expected),
    )
    .unwrap();
    eprintln!(
        "follower {follower} paused; ISR shrank and the write was acked after {:?}",
        paused_at.elapsed()
    );
    for i in 1..200 {
        let value = format!("while-paused-{i}");
        producer
            .send(&Record::new(topic).value(value.as_bytes()))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());

    cluster.resume(follower).unwrap();
    let all = cluster.ids();
    wait_until(
        &format!("follower {follower} to rejoin the ISR of {topic}-0"),
        FAILOVER_TIMEOUT,
        || Ok(partition_isr(&bootstrap, topic, 0)? == all),
    )
    .unwrap();
    for i in 0..100 {
        let value = format!("after-{i}");
        producer
            .send(&Record::new(topic).value(value.as_bytes()))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());

    let read = kafka::consume_to_end(&bootstrap, topic, Duration::from_secs(60)).unwrap();
    producer.history().check(&read).unwrap();
    assert_eq!(read.len(), 400);
    cluster.assert_no_panic();
}

/// With two of three nodes killed, min.insync.replicas=2 cannot be met (and the metadata quorum is gone): every
/// acks=all write must fail, none may be acknowledged. After the restart writes succeed and nothing acknowledged
/// before the outage is lost.
#[test]
fn two_of_three_down_never_false_acks() {
    let mut cluster = start_cluster(&[]);
    let bootstrap = cluster.bootstrap();
    let topic = "quorum";
    create_replicated_topic(&bootstrap, topic, 3, 3, &[("min.insync.replicas", "2")]).unwrap();
    let checker = ReadWriteChecker::new();

    let before = TestProducer::with(&bootstrap, &[("acks", "all")]).unwrap();
    for i in 0..300 {
        let value = format!("before-{i}");
        before
            .send(
                &Record::new(topic)
                    .key(format!("k{i}").as_bytes())
                    .value(value.as_bytes()),
            )
            .unwrap();
    }
    before.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(before.failed(), 0, "{:?}", before.failures());
    checker.add_acks(&before.history().snapshot());

    let survivor = 3;
    cluster.kill9(1).unwrap();
    cluster.kill9(2).unwrap();
    let during = TestProducer::with(
        &cluster.bootstrap_live(),
        &[
            ("acks", "all"),
            ("enable.idempotence", "false"),
            ("retries", "1000000"),
            ("message.timeout.ms", "5000"),
            ("request.timeout.ms", "4000"),
        ],
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..60 {
        let value = format!("during-{i}");
        ids.push(
            during
                .send_tracked(&Record::new(topic).partition(i % 3).value(value.as_bytes()))
                .unwrap(),
        );
    }
    let mut errors = BTreeMap::<String, usize>::new();
    let mut false_acks = Vec::new();
    for id in ids {
        match during.wait(id, Duration::from_secs(60)).unwrap() {
            Ok(position) => false_acks.push(position),
            Err(e) => *errors.entry(error_name(&e)).or_default() += 1,
        }
    }
    assert!(
        false_acks.is_empty(),
        "node {survivor} alone acknowledged acks=all writes at {false_acks:?} (errors for the rest: {errors:?})"
    );
    eprintln!("with two nodes down every write failed: {errors:?}");
    drop(during);

    cluster.restart(1).unwrap();
    cluster.restart(2).unwrap();
    cluster.wait_for_brokers(3, FAILOVER_TIMEOUT).unwrap();
    wait_for_full_isr(&bootstrap, topic, 3, FAILOVER_TIMEOUT).unwrap();

    let after = TestProducer::with(&bootstrap, &[("acks", "all")]).unwrap();
    for i in 0..300 {
        let value = format!("after-{i}");
        after
            .send(
                &Record::new(topic)
                    .key(format!("k{i}").as_bytes())
                    .value(value.as_bytes()),
            )
            .unwrap();
    }
    after.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(after.failed(), 0, "{:?}", after.failures());
    checker.add_acks(&after.history().snapshot());

    let read = kafka::consume_to_end(&bootstrap, topic, Duration::from_secs(60)).unwrap();
    let summary = checker.check(&read).unwrap();
    eprintln!("{summary}");
    cluster.assert_no_panic();
}

/// librdkafka's name for a delivery error, for the summary.
fn error_name(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => e.to_string(),
    }
}

/// A divergent tail: both followers are frozen while the leader takes acks=1 writes that only it has; the
/// leader is killed, a follower takes over and accepts new writes at the same offsets. When the old leader
/// returns it must truncate its tail to the new leader's log: afterwards all three replicas hold byte-identical
/// logs, and the acks=1 records are gone.
#[test]
fn divergent_tail_is_truncated() {
    // The followers must stay in the ISR while frozen (so one can be elected after the leader dies), so this
    // test gives them more time than the others do: neither fenced (session timeout) nor dropped from the ISR
    // (lag time) during the few seconds they are paused.
    let mut cluster = start_cluster(&[
        "--override",
        "replica.lag.time.max.ms=30000",
        "--override",
        "broker.session.timeout.ms=8000",
    ]);
    let bootstrap = cluster.bootstrap();
    let topic = "diverge";
    create_replicated_topic(&bootstrap, topic, 1, 3, &[("min.insync.replicas", "2")]).unwrap();

    let committed = TestProducer::with(
        &bootstrap,
        &[("acks", "all"), ("enable.idempotence", "true")],
    )
    .unwrap();
    for i in 0..200 {
        let value = format!("committed-{i}");
        committed
            .send(&Record::new(topic).value(value.as_bytes()))
            .unwrap();
    }
    committed.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(committed.failed(), 0, "{:?}", committed.failures());

    let leader = partition_leader(&bootstrap, topic, 0).unwrap();
    let followers: Vec<i32> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    for &f in &followers {
        cluster.pause(f).unwrap();
    }
    let paused_at = Instant::now();
    // A follower's fetch parked at the leader before the pause would carry the next writes into the frozen
    // follower's socket buffer. Let those fetches run out (replica.fetch.wait.max.ms is 200 ms in tests), so
    // the writes below reach the old leader only.
    strom_test_support::pause(Duration::from_millis(700));

    // acks=1 to the old leader only: acknowledged, never replicated.
    let uncommitted_values: Vec<String> = (0..50).map(|i| format!("divergent-{i}")).collect();
    {
        let only_leader = TestProducer::with(
            &cluster.node(leader).bootstrap(),
            &[
                ("acks", "1"),
                ("enable.idempotence", "false"),
                ("message.timeout.ms", "5000"),
            ],
        )
        .unwrap();
        for value in &uncommitted_values {
            only_leader
                .send(&Record::new(topic).partition(0).value(value.as_bytes()))
                .unwrap();
        }
        only_leader.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(
            only_leader.succeeded(),
            uncommitted_values.len(),
            "the leader should take acks=1 writes with its followers frozen: {:?}",
            only_leader.failures()
        );
        cluster.kill9(leader).unwrap();
        only_leader
            .inner()
            .purge(PurgeConfig::default().queue().inflight());
    }
    for &f in &followers {
        cluster.resume(f).unwrap();
    }
    eprintln!(
        "followers {followers:?} were frozen for {:?}; old leader {leader} killed",
        paused_at.elapsed()
    );

    let live = cluster.bootstrap_live();
    let new_leader = wait_for_leader(&live, topic, 0, FAILOVER_TIMEOUT, |l| l != leader).unwrap();
    assert!(followers.contains(&new_leader));
    for i in 0..100 {
        let value = format!("new-leader-{i}");
        committed
            .send(&Record::new(topic).value(value.as_bytes()))
            .unwrap();
    }
    committed.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(committed.failed(), 0, "{:?}", committed.failures());

    cluster.restart(leader).unwrap();
    let all = cluster.ids();
    wait_until(
        &format!("old leader {leader} to rejoin the ISR of {topic}-0"),
        FAILOVER_TIMEOUT,
        || Ok(partition_isr(&bootstrap, topic, 0)? == all),
    )
    .unwrap();
    // Production has stopped and all three are in the ISR: the logs converge once the followers' fetches reach
    // the log end. They are compared while running (the data is in the page cache) and again after a clean stop.
    wait_until(
        "the three replicas' logs to be identical",
        FAILOVER_TIMEOUT,
        || Ok(identical_logs(&cluster, topic)?.is_ok()),
    )
    .unwrap();

    let read = kafka::consume_to_end(&bootstrap, topic, Duration::from_secs(60)).unwrap();
    committed.history().check(&read).unwrap();
    let divergent: HashSet<&[u8]> = uncommitted_values.iter().map(|v| v.as_bytes()).collect();
    let survivors: Vec<i64> = read
        .iter()
        .filter(|m| m.payload().is_some_and(|v| divergent.contains(v)))
        .map(|m| m.offset())
        .collect();
    assert!(
        survivors.is_empty(),
        "acks=1 records that only the old leader had are still readable at offsets {survivors:?}"
    );
    assert_eq!(read.len(), 300);

    cluster.stop_all().unwrap();
    if let Err(difference) = identical_logs(&cluster, topic).unwrap() {
        panic!("replica logs differ after a clean stop: {difference}");
    }
    cluster.assert_no_panic();
}

/// The concatenated `.log` segments of `<topic>-0` on every node: `Ok(())` when all are identical, otherwise
/// `Err(description)` of the first difference.
fn identical_logs(cluster: &TestCluster, topic: &str) -> anyhow::Result<Result<(), String>> {
    let mut logs = Vec::new();
    for id in cluster.ids() {
        logs.push((id, segment_bytes(&cluster.partition_dir(id, topic, 0))?));
    }
    let (first_id, first) = &logs[0];
    for (id, log) in &logs[1..] {
        if log != first {
            let at = first
                .iter()
                .zip(log.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(log.len()));
            return Ok(Err(format!(
                "node {first_id} has {} bytes, node {id} has {} bytes, first difference at byte {at}",
                first.len(),
                log.len()
            )));
        }
    }
    Ok(Ok(()))
}

/// Every `.log` segment of a partition directory, in base-offset order, concatenated.
fn segment_bytes(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut segments: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    segments.retain(|p| p.extension().is_some_and(|e| e == "log"));
    // Zero-padded base offsets sort by name.
    segments.sort();
    let mut bytes = Vec::new();
    for s in segments {
        bytes.extend(std::fs::read(s)?);
    }
    Ok(bytes)
}

/// kill -9 the active controller: another node takes over, and topics can be created, written and read.
#[test]
fn controller_failover() {
    let mut cluster = start_cluster(&[]);
    let bootstrap = cluster.bootstrap();
    let controller = wait_for("a controller", FAILOVER_TIMEOUT, || {
        let id = controller_id(&bootstrap)?;
        Ok((id >= 0).then_some(id))
    })
    .unwrap();
    cluster.kill9(controller).unwrap();
    let killed_at = Instant::now();

    let live = cluster.bootstrap_live();
    let new_controller = wait_for("a new controller", FAILOVER_TIMEOUT, || {
        let id = controller_id(&live)?;
        Ok((id >= 0 && id != controller).then_some(id))
    })
    .unwrap();
    eprintln!(
        "controller {controller} killed; node {new_controller} took over after {:?}",
        killed_at.elapsed()
    );

    // Two live brokers: replication factor 2 is the most a new topic can get.
    let topic = "after-failover";
    create_replicated_topic(&live, topic, 3, 2, &[]).unwrap();
    let producer = TestProducer::with(&live, &[("acks", "all")]).unwrap();
    for i in 0..300 {
        let value = format!("v{i}");
        producer
            .send(
                &Record::new(topic)
                    .key(format!("k{i}").as_bytes())
                    .value(value.as_bytes()),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
    let read = kafka::consume_to_end(&live, topic, Duration::from_secs(60)).unwrap();
    producer.history().check(&read).unwrap();
    assert_eq!(read.len(), 300);

    // The old controller comes back as a follower of the quorum and serves the new topic's metadata.
    cluster.restart(controller).unwrap();
    cluster.wait_for_brokers(3, FAILOVER_TIMEOUT).unwrap();
    let consumer: BaseConsumer = kafka::consumer_config(&cluster.node(controller).bootstrap())
        .create()
        .unwrap();
    assert_eq!(kafka::partition_count(&consumer, topic).unwrap(), 3);
    cluster.assert_no_panic();
}
