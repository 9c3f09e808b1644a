//! Transactions on a three-node cluster under kill -9: two librdkafka transactional producers run transactions
//! across every partition of a topic replicated 3 ways (committing most, aborting every fourth) while a
//! read_committed and a read_uncommitted consumer read along; mid-transaction the transaction coordinator's broker
//! is killed (found with FindCoordinator key type 1), or a data partition's leader, or the coordinator's broker
//! while the producer commits. The killed node comes back
//! later. Once every transaction has ended (the LSO reaches the high watermark on every partition) a final
//! read_committed and a final read_uncommitted read go to `TxnChecker` with everything else: no aborted record is
//! ever read under read_committed, committed transactions are whole, transactions of unknown outcome are
//! all-or-nothing, nothing is duplicated, and each producer's records keep their order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset};
use strom_test_support::cluster::{create_replicated_topic, partition_leader, wait_for_full_isr};
use strom_test_support::kafka::{assigned_consumer, consumer_config, producer_config};
use strom_test_support::txn_checker::{Isolation, TxnOutcome};
use strom_test_support::{pause, wait_until, TestCluster, TxnChecker};

use crate::cluster::{start_cluster, FAILOVER_TIMEOUT};
use crate::txn_coordinator::{find_coordinator, ENABLE};

const PARTITIONS: i32 = 4;
/// Records per transaction, spread round-robin over the partitions.
const RECORDS_PER_TXN: u32 = 8;
/// How long a client call (init, commit, abort) may take before the writer gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn txn_cluster() -> TestCluster {
    start_cluster(&[
        "--override",
        ENABLE,
        "--override",
        "transaction.state.log.num.partitions=3",
        "--override",
        "transaction.state.log.replication.factor=3",
        "--override",
        "transaction.state.log.min.isr=2",
    ])
}

/// What the writer thread shares with the test.
#[derive(Default)]
struct WriterState {
    stop: AtomicBool,
    /// True between the last record of a transaction handed to librdkafka and its commit or abort.
    in_txn: AtomicBool,
    /// True while `commit_transaction` runs (EndTxn, then the coordinator writes the markers).
    committing: AtomicBool,
    /// Transactions ended with a known outcome (committed or aborted).
    ended: AtomicU64,
    /// Producer instances created (1 + recreations after fatal errors).
    instances: AtomicU64,
}

/// A thread running transactions with one `transactional.id` until stopped: `RECORDS_PER_TXN` records each, every
/// fourth aborted, each record registered with the checker before it is handed to librdkafka and each outcome as
/// the client saw it. After a fatal error it creates a new producer instance with the same id, which fences the
/// old one and ends its open transaction, as an application would.
struct TxnWriter {
    state: Arc<WriterState>,
    handle: Option<JoinHandle<()>>,
}

/// librdkafka's producer with its own polling thread: commit and abort wait for delivery reports, which a
/// `BaseProducer` only gets when polled.
type TxnProducer = ThreadedProducer<DefaultProducerContext>;

impl TxnWriter {
    fn start(
        bootstrap: String,
        topic: &'static str,
        id: String,
        checker: Arc<TxnChecker>,
    ) -> TxnWriter {
        let state = Arc::new(WriterState::default());
        let handle = {
            let state = state.clone();
            thread::spawn(move || run_transactions(&bootstrap, topic, &id, &checker, &state))
        };
        TxnWriter {
            state,
            handle: Some(handle),
        }
    }

    fn ended(&self) -> u64 {
        self.state.ended.load(Ordering::SeqCst)
    }

    /// Waits until `more` transactions beyond `from` have ended.
    fn wait_ended(&self, from: u64, more: u64, what: &str) {
        wait_until(what, FAILOVER_TIMEOUT, || {
            assert!(
                !self.handle.as_ref().is_some_and(JoinHandle::is_finished),
                "the writer thread died"
            );
            Ok(self.ended() >= from + more)
        })
        .unwrap();
    }

    /// Waits until the writer is in the middle of a transaction (records sent, not yet committed or aborted).
    fn wait_mid_transaction(&self) {
        wait_flag(&self.state.in_txn, "the writer to be mid-transaction");
    }

    /// Waits until the writer is inside `commit_transaction`.
    fn wait_committing(&self) {
        wait_flag(&self.state.committing, "the writer to be committing");
    }

    /// Stops after the current transaction; returns how many producer instances it used.
    fn stop(mut self) -> u64 {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            handle.join().expect("writer thread");
        }
        self.state.instances.load(Ordering::SeqCst)
    }
}

impl Drop for TxnWriter {
    /// A failing test stops the writer too (after its current transaction), so it does not outlive the test.
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

/// Spins (1 ms steps: the windows are tens of milliseconds) until `flag` is set.
fn wait_flag(flag: &AtomicBool, what: &str) {
    let deadline = Instant::now() + FAILOVER_TIMEOUT;
    while !flag.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        pause(Duration::from_millis(1));
    }
}

fn new_producer(bootstrap: &str, id: &str) -> TxnProducer {
    let mut config = producer_config(bootstrap);
    // STROM_TEST_RDKAFKA_DEBUG=eos,protocol (librdkafka's `debug` contexts) logs the producers' transactional
    // requests to stderr, as for `kafka::consume_to_end`.
    if let Ok(contexts) = std::env::var("STROM_TEST_RDKAFKA_DEBUG") {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .try_init();
        config.set("debug", contexts);
    }
    let producer: TxnProducer = config
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "30000")
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "5000")
        .set("linger.ms", "2")
        .create()
        .expect("creating a transactional producer");
    // The coordinator may be moving (its broker just died): retriable errors are retried, anything else within
    // the failover time too (the new instance's InitProducerId must eventually succeed).
    let deadline = Instant::now() + FAILOVER_TIMEOUT;
    loop {
        match producer.init_transactions(CALL_TIMEOUT) {
            Ok(()) => return producer,
            Err(e) if Instant::now() < deadline => {
                eprintln!("{id}: init_transactions failed, retrying: {e}");
                pause(Duration::from_millis(200));
            }
            Err(e) => panic!("{id}: init_transactions kept failing for {FAILOVER_TIMEOUT:?}: {e}"),
        }
    }
}

/// What to do after a transactional call failed.
enum Next {
    Retry,
    Abort,
    Fatal,
}

fn classify(e: &KafkaError) -> Next {
    match e {
        KafkaError::Transaction(t) if t.is_retriable() => Next::Retry,
        KafkaError::Transaction(t) if t.txn_requires_abort() => Next::Abort,
        _ => Next::Fatal,
    }
}

/// Hands one record to librdkafka, polling while its queue is full. False if the send failed otherwise.
fn send(producer: &TxnProducer, topic: &str, partition: i32, value: &str) -> bool {
    loop {
        match producer.send(
            BaseRecord::to(topic)
                .partition(partition)
                .key(value)
                .payload(value),
        ) {
            Ok(()) => return true,
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                _,
            )) => {
                pause(Duration::from_millis(10));
            }
            Err((e, _)) => {
                eprintln!("send to partition {partition} failed: {e}");
                return false;
            }
        }
    }
}

/// Ends the current transaction: commit (retrying retriable errors) or abort. The outcome as the client saw it.
fn end_transaction(producer: &TxnProducer, commit: bool, name: &str, txn: u64) -> TxnOutcome {
    let mut commit = commit;
    for _ in 0..5 {
        let result = if commit {
            producer.commit_transaction(CALL_TIMEOUT)
        } else {
            producer.abort_transaction(CALL_TIMEOUT)
        };
        match result {
            Ok(()) if commit => return TxnOutcome::Committed,
            Ok(()) => return TxnOutcome::Aborted,
            Err(e) => {
                eprintln!(
                    "{name} transaction {txn}: {} failed: {e}",
                    if commit { "commit" } else { "abort" }
                );
                match classify(&e) {
                    Next::Retry => {}
                    Next::Abort => commit = false,
                    Next::Fatal => return TxnOutcome::Unknown,
                }
            }
        }
    }
    TxnOutcome::Unknown
}

fn run_transactions(
    bootstrap: &str,
    topic: &str,
    id: &str,
    checker: &TxnChecker,
    state: &WriterState,
) {
    let mut txn = 0u64;
    while !state.stop.load(Ordering::SeqCst) {
        let instance = state.instances.fetch_add(1, Ordering::SeqCst);
        let name = format!("{id}#{instance}");
        let producer = new_producer(bootstrap, id);
        // Transactions of this instance until it fails fatally or the test stops.
        while !state.stop.load(Ordering::SeqCst) {
            if let Err(e) = producer.begin_transaction() {
                eprintln!("{name}: begin_transaction failed: {e}");
                break;
            }
            let mut sent_all = true;
            for seq in 0..RECORDS_PER_TXN {
                let partition = (seq % PARTITIONS as u32) as i32;
                let value = format!("{name}/{txn:05}/{seq:02}");
                checker.sent(&name, txn, seq, partition, value.as_bytes());
                if !send(&producer, topic, partition, &value) {
                    sent_all = false;
                    break;
                }
            }
            state.in_txn.store(true, Ordering::SeqCst);
            // Gives a kill a window to land while the transaction is open.
            pause(Duration::from_millis(30));
            let commit = sent_all && txn % 4 != 3;
            state.committing.store(commit, Ordering::SeqCst);
            let outcome = end_transaction(&producer, commit, &name, txn);
            state.committing.store(false, Ordering::SeqCst);
            state.in_txn.store(false, Ordering::SeqCst);
            checker.outcome(&name, txn, outcome);
            txn += 1;
            if outcome == TxnOutcome::Unknown {
                break;
            }
            state.ended.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A consumer of every partition from the beginning with one isolation level, feeding the checker until stopped.
struct LiveReader {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<usize>>,
}

impl LiveReader {
    fn start(
        bootstrap: &str,
        topic: &'static str,
        isolation: Isolation,
        checker: Arc<TxnChecker>,
    ) -> LiveReader {
        let level = match isolation {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        };
        let assignment: Vec<(i32, Offset)> =
            (0..PARTITIONS).map(|p| (p, Offset::Beginning)).collect();
        let consumer =
            assigned_consumer(bootstrap, topic, &assignment, &[("isolation.level", level)])
                .unwrap();
        let name = format!("live {level} consumer");
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut read = 0;
                while !stop.load(Ordering::SeqCst) {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                        checker.read_message(&name, isolation, &m);
                        read += 1;
                    }
                }
                read
            })
        };
        LiveReader {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .map_or(0, |h| h.join().expect("reader thread"))
    }
}

impl Drop for LiveReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Latest offset of each partition as a consumer with `isolation` sees it: the LSO under read_committed.
fn latest(bootstrap: &str, topic: &str, isolation: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", isolation)
        .create()?;
    (0..PARTITIONS)
        .map(|p| {
            Ok((
                p,
                consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))?
                    .1,
            ))
        })
        .collect()
}

/// Every record a consumer with `isolation` reads from the start of every partition up to `end` (its position,
/// which moves past control batches and aborted records, reaches `end` on every partition).
fn read_to(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
    end: &BTreeMap<i32, i64>,
) -> Vec<OwnedMessage> {
    let assignment: Vec<(i32, Offset)> = (0..PARTITIONS).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(
        bootstrap,
        topic,
        &assignment,
        &[("isolation.level", isolation)],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got: Vec<OwnedMessage> = Vec::new();
    let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                reached.insert(m.partition(), m.offset() + 1);
                got.push(m.detach());
                continue;
            }
            Some(Err(e)) => eprintln!("{isolation} final read: {e}"),
            None => {}
        }
        let position = consumer.position().unwrap();
        let done = end.iter().all(|(&p, &e)| {
            let at = position
                .find_partition(topic, p)
                .and_then(|tp| tp.offset().to_raw())
                .unwrap_or(0)
                .max(reached.get(&p).copied().unwrap_or(0));
            at >= e
        });
        if done {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{isolation} final read stopped short of {end:?}: reached {reached:?}, positions {position:?}"
        );
    }
}

/// Runs transactions on a fresh 3-node cluster; `fail` is called with the cluster and the first writer (whose
/// transactional id is `id`), waits for the moment it wants and kills a node (returning it); the writers must get
/// `AFTER` more transactions through, the node comes back, `AFTER` more go through; then everything is checked.
fn run_with_failure(
    topic: &'static str,
    id: &'static str,
    fail: impl FnOnce(&mut TestCluster, &TxnWriter) -> i32,
) {
    const AFTER: u64 = 6;
    let started = Instant::now();
    let mut cluster = txn_cluster();
    let bootstrap = cluster.bootstrap();
    create_replicated_topic(
        &bootstrap,
        topic,
        PARTITIONS,
        3,
        &[("min.insync.replicas", "2")],
    )
    .unwrap();
    let checker = Arc::new(TxnChecker::new());
    let readers = [Isolation::ReadCommitted, Isolation::ReadUncommitted]
        .map(|i| LiveReader::start(&bootstrap, topic, i, checker.clone()));
    // Two producers with their own transactional ids (and so, likely, coordinators), interleaving their
    // transactions on the same partitions; the failure is timed by the first.
    let writers: Vec<TxnWriter> = [id, &format!("{id}-2")]
        .into_iter()
        .map(|w| TxnWriter::start(bootstrap.clone(), topic, w.to_string(), checker.clone()))
        .collect();
    let wait_all = |what: &str| {
        let ended: Vec<u64> = writers.iter().map(TxnWriter::ended).collect();
        for (w, from) in writers.iter().zip(ended) {
            w.wait_ended(from, AFTER, what);
        }
    };
    wait_all("the first transactions");

    let killed = fail(&mut cluster, &writers[0]);
    let killed_at = Instant::now();
    wait_all(&format!(
        "transactions to resume after killing node {killed}"
    ));
    eprintln!(
        "{id}: node {killed} killed; {AFTER} more transactions of each producer ended after {:?}",
        killed_at.elapsed()
    );
    cluster.restart(killed).unwrap();
    wait_for_full_isr(&bootstrap, topic, 3, FAILOVER_TIMEOUT).unwrap();
    wait_all(&format!("transactions after node {killed} returned"));
    let instances: u64 = writers.into_iter().map(TxnWriter::stop).sum();
    let live_reads: usize = readers.into_iter().map(LiveReader::stop).sum();

    // Every transaction ended: the LSO must reach the high watermark on every partition (a transaction the
    // failover left hanging would hold it back forever).
    let mut end = BTreeMap::new();
    wait_until(
        "the LSO to reach the high watermark on every partition",
        FAILOVER_TIMEOUT,
        || {
            let committed = latest(&bootstrap, topic, "read_committed")?;
            let uncommitted = latest(&bootstrap, topic, "read_uncommitted")?;
            end = uncommitted.clone();
            Ok(committed == uncommitted)
        },
    )
    .unwrap();
    let final_committed = read_to(&bootstrap, topic, "read_committed", &end);
    let final_uncommitted = read_to(&bootstrap, topic, "read_uncommitted", &end);
    let summary = checker
        .check(&final_committed, &final_uncommitted)
        .unwrap_or_else(|e| {
            panic!(
                "{e:#}\n{}\n{}",
                partition_dumps(&cluster, topic),
                cluster.log_tails(30)
            )
        });
    eprintln!(
        "{id}: {summary}; {instances} producer instance(s), {live_reads} live reads, log ends {end:?}, {:?} in all",
        started.elapsed()
    );
    assert!(summary.committed as u64 >= AFTER, "{summary}");
    assert!(summary.aborted >= 1, "{summary}");
    assert!(
        summary.final_committed > 0 && summary.final_uncommitted > summary.final_committed,
        "{summary}"
    );
    cluster.assert_no_panic();
}

/// Every node's replica of every partition of `topic`, one line per batch, for a failure message: offsets, producer
/// id and epoch, sequences, leader epoch, and for a control batch COMMIT/ABORT with its coordinator epoch; then the
/// aborted-transaction index entries (`.txnindex`: producer id, first offset..marker offset). Built from
/// `strom dump-log --print-records`, so a failure that happens once in many runs leaves its evidence in the log.
fn partition_dumps(cluster: &TestCluster, topic: &str) -> String {
    let mut out = String::new();
    for id in cluster.ids() {
        for p in 0..PARTITIONS {
            let dir = cluster.partition_dir(id, topic, p);
            out.push_str(&format!("==== node {id} {topic}-{p} ====\n"));
            let mut files: Vec<_> = match std::fs::read_dir(&dir) {
                Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => {
                    out.push_str(&format!("cannot list {}: {e}\n", dir.display()));
                    continue;
                }
            };
            files.sort();
            for f in files
                .iter()
                .filter(|f| f.extension().is_some_and(|x| x == "log"))
            {
                match std::process::Command::new(crate::util::strom_bin())
                    .args(["dump-log", "--print-records"])
                    .arg(f)
                    .output()
                {
                    Ok(o) => out.push_str(&condense_dump(&String::from_utf8_lossy(&o.stdout))),
                    Err(e) => out.push_str(&format!("dump-log {}: {e}\n", f.display())),
                }
            }
            for f in files
                .iter()
                .filter(|f| f.extension().is_some_and(|x| x == "txnindex"))
            {
                let bytes = std::fs::read(f).unwrap_or_default();
                for e in bytes.chunks_exact(34) {
                    let i = |at: usize| {
                        i64::from_be_bytes(e[at..at + 8].try_into().unwrap_or([0xff; 8]))
                    };
                    out.push_str(&format!(
                        "txnindex {}: pid {} aborted {}..{} lso {}\n",
                        f.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                        i(2),
                        i(10),
                        i(18),
                        i(26)
                    ));
                }
            }
        }
    }
    out
}

/// One short line per batch of `strom dump-log --print-records` output (see [`partition_dumps`]).
fn condense_dump(dump: &str) -> String {
    let field = |line: &str, name: &str| -> String {
        line.split(&format!("{name}: "))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string()
    };
    let mut out = String::new();
    let mut control = false;
    for line in dump.lines() {
        if line.starts_with("baseOffset:") {
            control = field(line, "isControl") == "true";
            out.push_str(&format!(
                "{}-{} pid {} e{} seq {}-{} le{}{}",
                field(line, "baseOffset"),
                field(line, "lastOffset"),
                field(line, "producerId"),
                field(line, "producerEpoch"),
                field(line, "baseSequence"),
                field(line, "lastSequence"),
                field(line, "partitionLeaderEpoch"),
                if control { "" } else { "\n" }
            ));
        } else if control && line.starts_with("| offset:") {
            // Control record key: version (2 bytes), type (2 bytes: 0 ABORT, 1 COMMIT); value: version, coordinator
            // epoch.
            let kind = if line.contains("key: \\x00\\x00\\x00\\x01") {
                "COMMIT"
            } else if line.contains("key: \\x00\\x00\\x00\\x00") {
                "ABORT"
            } else {
                "CONTROL?"
            };
            out.push_str(&format!(" {kind} {}\n", field(line, "payload")));
            control = false;
        }
    }
    out
}

/// kill -9 of the transaction coordinator's broker while a transaction is open: the coordinator moves to the new
/// leader of its `__transaction_state` partition, the producer finishes the transaction through it (or, after a
/// fatal error, a new instance fences it and the open transaction is aborted), and later transactions go on.
#[test]
fn txn_coordinator_kill9_mid_transaction_keeps_transactions_atomic() {
    let id = "txn-cluster-coordinator";
    run_with_failure("txn-coord-kill", id, |cluster, writer| {
        let live = cluster.ids()[0];
        let coordinator = find_coordinator(cluster.node(live), id);
        writer.wait_mid_transaction();
        cluster.kill9(coordinator).unwrap();
        coordinator
    });
}

/// kill -9 of the transaction coordinator's broker while the producer commits: EndTxn may have been persisted as
/// PrepareCommit with markers still to write, in which case the new coordinator loads it and completes the commit;
/// either way the transaction is all-or-nothing and its outcome matches what the producer was told.
#[test]
#[ignore = "issue 22, cause not fixed: ~1 run in 35-280, a transaction librdkafka reported committed lacks its 2 \
            records of one partition on every replica (log has the COMMIT, not the data); librdkafka reused their \
            sequence numbers for the next transaction, i.e. it purged them as aborted (ABORT_TXN purge) yet \
            commit_transaction succeeded. Run with --ignored; a failure prints every replica's batches and markers"]
fn txn_coordinator_kill9_during_commit_keeps_transactions_atomic() {
    let id = "txn-cluster-commit";
    run_with_failure("txn-commit-kill", id, |cluster, writer| {
        let live = cluster.ids()[0];
        let coordinator = find_coordinator(cluster.node(live), id);
        writer.wait_committing();
        cluster.kill9(coordinator).unwrap();
        coordinator
    });
}

/// kill -9 of a data partition's leader while a transaction is open: the partition's new leader rebuilds the
/// producer state (ids, epochs, sequences, the open transaction) from its replica, so the transaction completes
/// once, with its markers, and the LSO moves on.
#[test]
fn partition_leader_kill9_mid_transaction_keeps_transactions_atomic() {
    let id = "txn-cluster-leader";
    let topic = "txn-leader-kill";
    run_with_failure(topic, id, |cluster, writer| {
        let live = cluster.ids()[0];
        let coordinator = find_coordinator(cluster.node(live), id);
        // A partition led by another node than the coordinator, so that only the data side fails.
        let bootstrap = cluster.bootstrap_live();
        let leader = (0..PARTITIONS)
            .map(|p| partition_leader(&bootstrap, topic, p).unwrap())
            .find(|&l| l != coordinator)
            .expect("every partition is led by the coordinator's node");
        writer.wait_mid_transaction();
        cluster.kill9(leader).unwrap();
        leader
    });
}

/// The failure dump's condensed form of `strom dump-log --print-records` output: one line per batch, control batches
/// with their marker type.
#[test]
fn txn_cluster_failure_dump_condenses_batches_and_markers() {
    let dump = "Dumping x.log\n\
        baseOffset: 0 lastOffset: 1 count: 2 baseSequence: 0 lastSequence: 1 producerId: 7 producerEpoch: 0 partitionLeaderEpoch: 0 isTransactional: true isControl: false position: 0\n\
        | offset: 0 timestamp: 1 keySize: 1 valueSize: 1 sequence: 0 headerKeys: [] key: a payload: a\n\
        | offset: 1 timestamp: 1 keySize: 1 valueSize: 1 sequence: 1 headerKeys: [] key: b payload: b\n\
        baseOffset: 2 lastOffset: 2 count: 1 baseSequence: -1 lastSequence: -1 producerId: 7 producerEpoch: 0 partitionLeaderEpoch: 1 isTransactional: true isControl: true position: 193\n\
        | offset: 2 timestamp: 1 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] key: \\x00\\x00\\x00\\x01 payload: \\x00\\x00\\x00\\x00\\x00\\x02\n\
        baseOffset: 3 lastOffset: 3 count: 1 baseSequence: -1 lastSequence: -1 producerId: 7 producerEpoch: 1 partitionLeaderEpoch: 1 isTransactional: true isControl: true position: 271\n\
        | offset: 3 timestamp: 1 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] key: \\x00\\x00\\x00\\x00 payload: \\x00\\x00\\x00\\x00\\x00\\x02\n";
    assert_eq!(
        condense_dump(dump),
        "0-1 pid 7 e0 seq 0-1 le0\n\
         2-2 pid 7 e0 seq -1--1 le1 COMMIT \\x00\\x00\\x00\\x00\\x00\\x02\n\
         3-3 pid 7 e1 seq -1--1 le1 ABORT \\x00\\x00\\x00\\x00\\x00\\x02\n"
    );
}
