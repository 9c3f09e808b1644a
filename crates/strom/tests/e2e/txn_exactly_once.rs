//! Exactly-once consume-transform-produce through crashes (issue 22, "what must be shown", one node).
//!
//! The application is a real separate process (this test binary re-run as `ctp_app_process`, the pattern of
//! `groups_killed_member.rs`), so it can be killed with SIGKILL: librdkafka's transactional producer and a
//! read_committed consumer read an input topic from the group's committed offsets, write one output record per
//! input record, and commit `send_offsets_to_transaction` + `commit_transaction` every few records. The tests
//! kill -9 the application mid-transaction (after records of the transaction reached the log, after its offsets
//! were sent, right before EndTxn) and restart it; kill -9 the broker mid-transaction and restart it on the same
//! data directory; and leave a killed application's transaction open until the coordinator aborts it on its
//! timeout. Each ends with the same checker: under read_committed the output holds each input record's result
//! exactly once, the group's committed offsets are the input's end offsets, and no transaction is left open (the
//! LSO is the high watermark).
//!
//! Also here: kafka-python's transactional producer and read_committed consumer (`py/txn_kafka_python.py`), whose
//! committed output librdkafka then reads back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use strom_test_support::kafka::{assigned_consumer, consumer_config, poll_until, producer_config};
use strom_test_support::TestBroker;

use crate::util::{create_topic, start_broker};

const TIMEOUT: Duration = Duration::from_secs(30);
const INPUT: &str = "eos-in";
const OUTPUT: &str = "eos-out";
const INPUT_PARTITIONS: i32 = 4;
const OUTPUT_PARTITIONS: i32 = 3;
const GROUP: &str = "eos-app";
const TXN_ID: &str = "eos-app-txn";

// The child's settings.
const APP_BOOTSTRAP: &str = "STROM_E2E_EOS_BOOTSTRAP";
const APP_PER_TXN: &str = "STROM_E2E_EOS_PER_TXN";
const APP_TXN_TIMEOUT_MS: &str = "STROM_E2E_EOS_TXN_TIMEOUT_MS";
const APP_PAUSE_MS: &str = "STROM_E2E_EOS_PAUSE_MS";

fn broker_flags(extra: &[&'static str]) -> Vec<&'static str> {
    let mut flags = vec![
        "--override",
        "transaction.apis.enable=true",
        "--override",
        "transaction.state.log.num.partitions=5",
        "--override",
        "offsets.topic.num.partitions=5",
    ];
    flags.extend_from_slice(extra);
    flags
}

/// The transformation the application applies: checkable from the input alone.
fn transform(value: &str) -> String {
    format!("{value}*3={}", value.parse::<i64>().unwrap_or(-1) * 3)
}

/// The output key naming the input record a result came from.
fn source_key(partition: i32, offset: i64) -> String {
    format!("{partition}@{offset}")
}

/// A progress line on stdout the parent waits for (libtest's own lines don't start with "EOS ").
fn event(what: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "EOS {}", what.replace('\n', " "));
    let _ = out.flush();
}

/// A crash-only application: any error ends the process (non-zero); the next instance fences the old producer
/// epoch in `init_transactions` (aborting what was open) and resumes from the group's committed offsets.
fn or_exit<T>(what: &str, r: Result<T, KafkaError>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("eos app: {what} failed: {e}");
        event(&format!("ERROR {what}: {e}"));
        std::process::exit(3)
    })
}

/// Run only as a child process of the tests below (which set the environment): the consume-transform-produce
/// application. Prints `EOS <event>` lines: STARTED, BEGIN, FLUSHED (part of the transaction is in the log),
/// OFFSETS (sent to the transaction), COMMITTING (EndTxn next), COMMITTED <records so far>, DONE.
#[test]
#[ignore = "the consume-transform-produce application the exactly-once tests run as a child process"]
fn ctp_app_process() {
    let Ok(bootstrap) = std::env::var(APP_BOOTSTRAP) else {
        return;
    };
    let setting = |name: &str| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} unset or not a number"))
    };
    let per_txn = setting(APP_PER_TXN) as usize;
    let pause = Duration::from_millis(setting(APP_PAUSE_MS));
    let txn_timeout = setting(APP_TXN_TIMEOUT_MS).to_string();
    let mut config = producer_config(&bootstrap);
    config
        .set("transactional.id", TXN_ID)
        .set("transaction.timeout.ms", &txn_timeout);
    if setting(APP_TXN_TIMEOUT_MS) < 30_000 {
        // librdkafka wants the socket and message timeouts within the transaction timeout.
        for key in [
            "socket.timeout.ms",
            "request.timeout.ms",
            "message.timeout.ms",
        ] {
            config.set(key, &txn_timeout);
        }
    }
    let producer: BaseProducer = or_exit("creating the producer", config.create());
    or_exit("init_transactions", producer.init_transactions(TIMEOUT));
    let consumer: BaseConsumer = or_exit(
        "creating the consumer",
        consumer_config(&bootstrap)
            .set("group.id", GROUP)
            .set("isolation.level", "read_committed")
            .create(),
    );
    // Where the last committed transaction left the input, and where the input ends (written before the app ran).
    let mut tpl = TopicPartitionList::new();
    for p in 0..INPUT_PARTITIONS {
        tpl.add_partition(INPUT, p);
    }
    let committed = or_exit(
        "committed offsets",
        consumer.committed_offsets(tpl, TIMEOUT),
    );
    let mut positions = BTreeMap::new();
    let mut ends = BTreeMap::new();
    let mut assign = TopicPartitionList::new();
    for e in committed.elements() {
        let at = match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        positions.insert(e.partition(), at);
        or_exit(
            "assign",
            assign.add_partition_offset(INPUT, e.partition(), Offset::Offset(at)),
        );
        let (_, high) = or_exit(
            "watermarks",
            consumer.fetch_watermarks(INPUT, e.partition(), TIMEOUT),
        );
        ends.insert(e.partition(), high);
    }
    or_exit("assign", consumer.assign(&assign));
    event(&format!("STARTED at {positions:?}"));
    let mut done = 0usize;
    let deadline = Instant::now() + Duration::from_secs(300);
    while positions.iter().any(|(p, at)| at < &ends[p]) {
        assert!(
            Instant::now() < deadline,
            "eos app: no end after 300 s at {positions:?}"
        );
        let mut batch: Vec<OwnedMessage> = Vec::new();
        let batch_deadline = Instant::now() + Duration::from_secs(2);
        while batch.len() < per_txn && Instant::now() < batch_deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => batch.push(m.detach()),
                Some(Err(e)) => eprintln!("eos app: poll: {e}"),
                None if !batch.is_empty() => break,
                None => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        or_exit("begin_transaction", producer.begin_transaction());
        event("BEGIN");
        for (i, m) in batch.iter().enumerate() {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            let key = source_key(m.partition(), m.offset());
            let out = transform(&value);
            loop {
                match producer.send(BaseRecord::to(OUTPUT).key(&key).payload(&out)) {
                    Ok(()) => break,
                    Err((e, _)) if e.to_string().contains("Queue full") => {
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => or_exit("send", Err(e)),
                }
            }
            positions.insert(m.partition(), m.offset() + 1);
            if i + 1 == batch.len().div_ceil(2) {
                // Half the transaction is in the log: a kill now leaves records of an open transaction behind.
                or_exit("flush", producer.flush(TIMEOUT));
                event("FLUSHED");
                strom_test_support::pause(pause);
            }
        }
        let mut offsets = TopicPartitionList::new();
        for (&p, &at) in &positions {
            or_exit(
                "offsets",
                offsets.add_partition_offset(INPUT, p, Offset::Offset(at)),
            );
        }
        let metadata = consumer
            .group_metadata()
            .unwrap_or_else(|| or_exit("group metadata", Err(KafkaError::Canceled)));
        or_exit(
            "send_offsets_to_transaction",
            producer.send_offsets_to_transaction(&offsets, &metadata, TIMEOUT),
        );
        event("OFFSETS");
        strom_test_support::pause(pause);
        event("COMMITTING");
        or_exit("commit_transaction", producer.commit_transaction(TIMEOUT));
        done += batch.len();
        event(&format!("COMMITTED {done}"));
    }
    event("DONE");
}

/// The application process; killed with SIGKILL when dropped.
struct App {
    child: Child,
    events: Receiver<String>,
}

impl App {
    fn start(broker: &TestBroker, per_txn: usize, txn_timeout_ms: u64, pause_ms: u64) -> App {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "txn_exactly_once::ctp_app_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(APP_BOOTSTRAP, broker.bootstrap())
            .env(APP_PER_TXN, per_txn.to_string())
            .env(APP_TXN_TIMEOUT_MS, txn_timeout_ms.to_string())
            .env(APP_PAUSE_MS, pause_ms.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(e) = line.strip_prefix("EOS ") {
                    if tx.send(e.to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        App { child, events }
    }

    /// Waits for an event starting with `prefix`; None when the process ended first (its last event, if an
    /// error, is returned as Err). Panics after `timeout`.
    fn wait_for(&self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if e.starts_with(prefix) => return Ok(e),
                Ok(e) => last = e,
                Err(RecvTimeoutError::Disconnected) => return Err(last),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the app sent no {prefix} within {timeout:?} (last event: {last})")
                }
            }
        }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the process to end; true if it finished the input (exit 0).
    fn finish(mut self, timeout: Duration) -> Result<(), String> {
        let outcome = self.wait_for("DONE", timeout);
        let status = self.child.wait().unwrap();
        match outcome {
            Ok(_) if status.success() => Ok(()),
            Ok(_) => Err(format!("DONE but exit {status}")),
            Err(last) => Err(format!("exit {status}, last event {last}")),
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `n` input records (values 0..n, keys spread over the partitions) without transactions.
fn write_input(broker: &TestBroker, n: usize) {
    create_topic(broker, INPUT, INPUT_PARTITIONS, &[]);
    create_topic(broker, OUTPUT, OUTPUT_PARTITIONS, &[]);
    let plain: BaseProducer = producer_config(&broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..n {
        plain
            .send(
                BaseRecord::to(INPUT)
                    .key(&format!("k{i}"))
                    .payload(&i.to_string()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        plain.poll(Duration::ZERO);
    }
    plain.flush(TIMEOUT).unwrap();
}

fn read(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    isolation: &str,
    expected: usize,
) -> Vec<OwnedMessage> {
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(
        &broker.bootstrap(),
        topic,
        &assignment,
        &[("isolation.level", isolation)],
    )
    .unwrap();
    let mut got = poll_until(&consumer, TIMEOUT, |got| got.len() >= expected)
        .unwrap_or_else(|e| panic!("reading {topic} {isolation}: {e:#}"));
    // Anything beyond the expected count (a duplicate) must be seen too: read on until 2 s pass without a record.
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.detach());
            quiet_since = Instant::now();
        }
    }
    got
}

fn text(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
}

/// Latest offsets of `topic` as a consumer with `isolation` sees them (ListOffsets: the LSO under read_committed).
fn latest(broker: &TestBroker, topic: &str, partitions: i32, isolation: &str) -> Vec<i64> {
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| consumer.fetch_watermarks(topic, p, TIMEOUT).unwrap().1)
        .collect()
}

/// The group's committed offsets on the input.
fn committed_offsets(broker: &TestBroker) -> Vec<i64> {
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("group.id", GROUP)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..INPUT_PARTITIONS {
        tpl.add_partition(INPUT, p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT).unwrap();
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => -1,
        })
        .collect()
}

/// The exactly-once check: every input record's result exactly once under read_committed, nothing else, the
/// group's offsets at the input's end, no transaction left open on the output. Returns how many output records
/// read_uncommitted sees (the aborted attempts included).
fn check_exactly_once(broker: &TestBroker, n: usize) -> usize {
    let input = read(broker, INPUT, INPUT_PARTITIONS, "read_uncommitted", n);
    assert_eq!(input.len(), n, "the input");
    let expected: BTreeMap<String, String> = input
        .iter()
        .map(|m| {
            (
                source_key(m.partition(), m.offset()),
                transform(&text(m.payload())),
            )
        })
        .collect();
    let output = read(broker, OUTPUT, OUTPUT_PARTITIONS, "read_committed", n);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &output {
        seen.entry(text(m.key()))
            .or_default()
            .push(text(m.payload()));
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(duplicated.is_empty(), "duplicated results: {duplicated:?}");
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert!(missing.is_empty(), "lost results: {missing:?}");
    let extra: Vec<_> = seen.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(extra.is_empty(), "results of no input record: {extra:?}");
    for (k, v) in &seen {
        assert_eq!(&v[0], &expected[k], "the result of {k}");
    }
    assert_eq!(output.len(), n);

    let ends = latest(broker, INPUT, INPUT_PARTITIONS, "read_uncommitted");
    assert_eq!(
        committed_offsets(broker),
        ends,
        "the group's committed offsets are the input's end offsets"
    );
    assert_eq!(
        latest(broker, OUTPUT, OUTPUT_PARTITIONS, "read_committed"),
        latest(broker, OUTPUT, OUTPUT_PARTITIONS, "read_uncommitted"),
        "no transaction left open on the output (LSO = high watermark)"
    );
    read(broker, OUTPUT, OUTPUT_PARTITIONS, "read_uncommitted", n).len()
}

/// Test A: the application is killed with SIGKILL mid-transaction three times — once with half its
/// transaction's records in the log, once after its offsets went to the transaction, once right before EndTxn —
/// and restarted each time; the last instance finishes the input.
#[test]
fn app_killed_mid_transaction_and_restarted_is_exactly_once() {
    let broker = start_broker(&broker_flags(&[]));
    let n = 400;
    write_input(&broker, n);
    let t0 = Instant::now();
    let mut kills = Vec::new();
    for stage in ["FLUSHED", "OFFSETS", "COMMITTING"] {
        let app = App::start(&broker, 20, 60_000, 100);
        // Let each instance commit once, so every restart makes progress.
        let committed = app
            .wait_for("COMMITTED", Duration::from_secs(60))
            .unwrap_or_else(|last| panic!("the app ended before committing: {last}"));
        app.wait_for(stage, Duration::from_secs(60))
            .unwrap_or_else(|last| panic!("the app ended before {stage}: {last}"));
        app.kill9();
        kills.push(format!("{stage} after {committed}"));
    }
    let app = App::start(&broker, 20, 60_000, 0);
    app.finish(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("the last instance did not finish: {e}"));
    let uncommitted = check_exactly_once(&broker, n);
    // The first kill left half a transaction (10 records) in the log, aborted by the next instance's
    // InitProducerId: read_uncommitted sees those, read_committed does not.
    assert!(
        uncommitted >= n + 10,
        "aborted attempts visible to read_uncommitted: {uncommitted} of {n}"
    );
    eprintln!(
        "app kill -9 at {kills:?}: {n} inputs, {uncommitted} output records under read_uncommitted, exactly {n} \
         under read_committed, in {:?}",
        t0.elapsed()
    );
    broker.assert_no_panic();
}

/// Test B: the broker is killed with SIGKILL mid-transaction while the application runs (once with half a
/// transaction in the log, once after its offsets were sent, once as EndTxn goes out) and restarted on the same
/// data directory. The application either rides it out (librdkafka retries) or fails and is restarted, as a
/// crash-only app is. Last, the application and the broker are killed together and both restarted.
#[test]
fn broker_killed_mid_transaction_is_exactly_once() {
    let mut broker = start_broker(&broker_flags(&[]));
    let n = 300;
    write_input(&broker, n);
    let t0 = Instant::now();
    let mut app = App::start(&broker, 20, 60_000, 200);
    let mut restarts = 0;
    for stage in ["FLUSHED", "OFFSETS", "COMMITTING"] {
        let ready = app
            .wait_for("COMMITTED", Duration::from_secs(60))
            .and_then(|_| app.wait_for(stage, Duration::from_secs(60)));
        if let Err(last) = ready {
            panic!("the app ended before the broker kill at {stage}: {last}");
        }
        broker.kill9().unwrap();
        broker.restart().unwrap();
        // A crash-only application: if the kill failed its transaction it exits, and is started again.
        if let Err(last) = app.wait_for("COMMITTED", Duration::from_secs(90)) {
            eprintln!("the app ended after the broker kill at {stage} ({last}); restarting it");
            restarts += 1;
            app = App::start(&broker, 20, 60_000, 200);
        }
    }
    // Both at once, as in a machine crash: the application and the broker killed with half a transaction in the
    // log. The restarted broker reloads the open transaction from `__transaction_state` and the producer state
    // from the log; the new instance's InitProducerId aborts the transaction.
    let ready = app
        .wait_for("COMMITTED", Duration::from_secs(60))
        .and_then(|_| app.wait_for("FLUSHED", Duration::from_secs(60)));
    if let Err(last) = ready {
        panic!("the app ended before the last kill: {last}");
    }
    app.kill9();
    broker.kill9().unwrap();
    broker.restart().unwrap();
    app = App::start(&broker, 20, 60_000, 0);
    // The instance running now finishes the input; one that fails (a broker-side error it saw late) is replaced.
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        match app.finish(Duration::from_secs(120)) {
            Ok(()) => break Ok(()),
            Err(e) if attempts < 3 => {
                eprintln!("the app failed after the broker kills ({e}); restarting it");
                restarts += 1;
                app = App::start(&broker, 20, 60_000, 0);
            }
            Err(e) => break Err(e),
        }
    };
    outcome.unwrap_or_else(|e| panic!("the last instance did not finish: {e}"));
    let uncommitted = check_exactly_once(&broker, n);
    assert!(
        uncommitted >= n + 10,
        "the half transaction of the app killed with the broker is in the log, aborted: {uncommitted} of {n}"
    );
    eprintln!(
        "broker kill -9 three times mid-transaction, then app and broker together: {restarts} more app restarts, \
         {uncommitted} output records under read_uncommitted, exactly {n} under read_committed, in {:?}",
        t0.elapsed()
    );
    broker.assert_no_panic();
}

/// A transaction left open by a killed client (no new instance to fence it) is aborted by the coordinator once
/// `transaction.timeout.ms` has passed: the LSO, held back at the open transaction's first offset, moves to the
/// high watermark, read_committed never sees the killed transaction's records, the group's offsets stay at the
/// last commit; and a new instance then finishes the input exactly once.
#[test]
fn killed_client_transaction_is_aborted_after_its_timeout() {
    let broker = start_broker(&broker_flags(&[
        "--override",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
    ]));
    let n = 200;
    write_input(&broker, n);
    let timeout_ms = 4000;
    let app = App::start(&broker, 20, timeout_ms, 300);
    let committed = app
        .wait_for("COMMITTED", Duration::from_secs(60))
        .unwrap_or_else(|last| panic!("the app ended before committing: {last}"));
    let done: usize = committed
        .strip_prefix("COMMITTED ")
        .and_then(|s| s.parse().ok())
        .unwrap();
    app.wait_for("FLUSHED", Duration::from_secs(60))
        .unwrap_or_else(|last| panic!("the app ended before FLUSHED: {last}"));
    app.kill9();
    let killed = Instant::now();

    let lso = latest(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_committed");
    let hw = latest(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_uncommitted");
    assert!(
        lso.iter().zip(&hw).any(|(l, h)| l < h),
        "the killed client's open transaction holds the LSO {lso:?} below the high watermark {hw:?}"
    );
    let open_records = hw.iter().sum::<i64>() - lso.iter().sum::<i64>();
    strom_test_support::wait_for(
        "the coordinator to abort the timed-out transaction",
        Duration::from_secs(60),
        || {
            let lso = latest(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_committed");
            let hw = latest(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_uncommitted");
            Ok((lso == hw).then_some(()))
        },
    )
    .unwrap();
    let aborted_after = killed.elapsed();
    let hw_after = latest(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_uncommitted");
    assert!(
        hw_after.iter().zip(&hw).all(|(a, b)| a >= b) && hw_after != hw,
        "ABORT markers written: {hw:?} -> {hw_after:?}"
    );
    // Only the committed transactions' results are readable; the group's offsets are those of the last commit.
    let visible = read(&broker, OUTPUT, OUTPUT_PARTITIONS, "read_committed", done);
    assert_eq!(visible.len(), done, "read_committed after the abort");
    assert_eq!(
        committed_offsets(&broker).iter().sum::<i64>(),
        done as i64,
        "the group's offsets cover exactly the committed records"
    );

    let app = App::start(&broker, 20, timeout_ms, 0);
    app.finish(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("the next instance did not finish: {e}"));
    check_exactly_once(&broker, n);
    eprintln!(
        "killed client's transaction ({open_records} records open) aborted {aborted_after:?} after the kill \
         (transaction.timeout.ms={timeout_ms})"
    );
    broker.assert_no_panic();
}

/// kafka-python 3.0.12's transactional producer against the broker (`py/txn_kafka_python.py`): commit and
/// abort, read_committed vs read_uncommitted consumers, end offsets and admin ListOffsets under both isolation
/// levels, zombie fencing, consume-transform-produce with `send_offsets_to_transaction`. The script checks
/// each step and prints a summary; librdkafka then reads the committed output back.
#[test]
fn kafka_python_transactions() {
    let probe = Command::new("python3")
        .args(["-c", "import kafka; print(kafka.__version__)"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "kafka-python is not importable (pip install kafka-python==3.0.12; .ci/run installs it): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("python3 not found ({e}); .ci/run installs it with kafka-python"),
    }
    let broker = start_broker(&broker_flags(&[]));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/py/txn_kafka_python.py"
    );
    let out = Command::new("python3")
        .args([script, &broker.bootstrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.starts_with("txn_kafka_python:") && last.contains(" 0 failed"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let passed: usize = last
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "{last}");
    // The script's committed records, read by another client library: exactly the committed values, in order.
    let committed: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("COMMITTED-VALUES "))
        .flat_map(|l| l.split(',').map(str::to_string))
        .collect();
    assert!(!committed.is_empty(), "stdout:\n{stdout}");
    let got = read(&broker, "py-txn", 1, "read_committed", committed.len());
    let values: Vec<String> = got.iter().map(|m| text(m.payload())).collect();
    assert_eq!(
        values, committed,
        "librdkafka read_committed of kafka-python's transactions"
    );
    let all = read(
        &broker,
        "py-txn",
        1,
        "read_uncommitted",
        committed.len() + 1,
    );
    assert!(
        all.len() > committed.len(),
        "the aborted records are in the log too"
    );
    eprintln!("{last}");
    broker.assert_no_panic();
}
