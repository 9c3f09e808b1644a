//! rdkafka (librdkafka) clients configured for tests against a local broker: short metadata refresh, IPv4 only,
//! Kafka-compatible partitioning, no consumer groups (consumers use `assign` with explicit offsets; groups are not
//! implemented yet), and a producer that records every delivery report into an [`AckHistory`].
//!
//! Everything here is synchronous: tests are plain `#[test]` functions, and the few admin futures are driven on a
//! private current-thread runtime. Nothing here may be called from inside an async runtime.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::history::AckHistory;
use crate::pause;

/// Settings every test client shares.
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        // The broker listens on 127.0.0.1 only; don't let "localhost" resolve to ::1 first.
        .set("broker.address.family", "v4")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("metadata.max.age.ms", "3000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("retry.backoff.ms", "50")
        .set("socket.timeout.ms", "30000")
        .set("client.id", "strom-e2e");
    c
}

/// A producer with Kafka's (Java) key partitioner and a short linger. Idempotence and acks are left to the test.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("request.timeout.ms", "30000");
    c
}

/// A consumer for `assign`-only use. `group.id` is set because librdkafka wants one on some paths, but nothing
/// here subscribes or commits.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("group.id", "strom-e2e")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    c
}

pub fn admin_config(bootstrap: &str) -> ClientConfig {
    base_config(bootstrap)
}

pub fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(admin_config(bootstrap).create()?)
}

/// Drives an rdkafka future (admin calls) to completion on a private runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a current-thread tokio runtime")
        .block_on(future)
}

/// Creates a topic (replication factor 1) and waits until metadata shows all its partitions with a leader, so a
/// producer started right after finds it.
pub fn create_topic(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for &(k, v) in configs {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics([&topic], &opts)).context("CreateTopics")?;
    for r in results {
        if let Err((topic, code)) = r {
            bail!("creating topic {topic:?} failed: {code:?}");
        }
    }
    crate::wait_for(
        &format!("topic {name} to have {partitions} partitions with leaders"),
        Duration::from_secs(30),
        || {
            let md = admin
                .inner()
                .fetch_metadata(Some(name), Duration::from_secs(5))?;
            let ok = md.topics().iter().any(|t| {
                t.name() == name
                    && t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            });
            Ok(ok.then_some(()))
        },
    )
}

/// Deletes a topic; returns the per-topic error code, if any.
pub fn delete_topic(admin: &AdminClient<DefaultClientContext>, name: &str) -> anyhow::Result<()> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in block_on(admin.delete_topics(&[name], &opts)).context("DeleteTopics")? {
        if let Err((topic, code)) = r {
            bail!("deleting topic {topic:?} failed: {code:?}");
        }
    }
    Ok(())
}

/// The number of partitions metadata reports for `topic`.
pub fn partition_count(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<i32> {
    crate::wait_for(
        &format!("metadata for topic {topic}"),
        Duration::from_secs(30),
        || {
            let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .context("topic missing from metadata")?;
            if let Some(e) = t.error() {
                bail!("metadata error for {topic}: {e:?}");
            }
            Ok((!t.partitions().is_empty()).then(|| t.partitions().len() as i32))
        },
    )
}

/// A consumer assigned to the given partitions at the given offsets, with `extra` settings applied last.
pub fn assigned_consumer(
    bootstrap: &str,
    topic: &str,
    assignment: &[(i32, Offset)],
    extra: &[(&str, &str)],
) -> anyhow::Result<BaseConsumer> {
    let mut config = consumer_config(bootstrap);
    for &(k, v) in extra {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create()?;
    let mut tpl = TopicPartitionList::new();
    for &(p, offset) in assignment {
        tpl.add_partition_offset(topic, p, offset)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Reads every partition of `topic` from the beginning until `expected_count` records arrived. Fails after
/// `timeout` with what it got so far. Transient errors from `poll` are tolerated and reported on failure.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    expected_count: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let probe: BaseConsumer = consumer_config(bootstrap).create()?;
    let partitions = partition_count(&probe, topic)?;
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(bootstrap, topic, &assignment, &[])?;
    poll_until(&consumer, timeout, |got| got.len() >= expected_count)
        .with_context(|| format!("consuming {expected_count} records from {topic}"))
}

/// Reads every partition of `topic` from its log start up to the high watermark as of the call.
pub fn consume_to_end(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let probe: BaseConsumer = consumer_config(bootstrap).create()?;
    let partitions = partition_count(&probe, topic)?;
    let mut high = BTreeMap::new();
    for p in 0..partitions {
        let (_, h) = probe.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        high.insert(p, h);
    }
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    // STROM_TEST_RDKAFKA_DEBUG=fetch,msg (librdkafka's `debug` contexts) logs this consumer's fetches to stderr.
    let debug = std::env::var("STROM_TEST_RDKAFKA_DEBUG").ok();
    let mut extra = Vec::new();
    if let Some(contexts) = debug.as_deref() {
        // rdkafka hands librdkafka's log lines to the `log` crate; tracing-subscriber's default `tracing-log`
        // bridge prints them. Fails harmlessly when a subscriber is already installed.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .try_init();
        extra.push(("debug", contexts));
    }
    let consumer = assigned_consumer(bootstrap, topic, &assignment, &extra)?;
    // Incremental: `done` runs after every poll, and rescanning everything received each time is quadratic (at
    // ~150,000 records that alone outlasted a two-minute timeout).
    let mut reached: HashMap<i32, i64> = HashMap::new();
    let mut seen = 0;
    let result = poll_until(&consumer, timeout, |got| {
        for m in &got[seen..] {
            let e = reached.entry(m.partition()).or_insert(0);
            *e = (*e).max(m.offset() + 1);
        }
        seen = got.len();
        high.iter()
            .all(|(p, &h)| h == 0 || reached.get(p).copied().unwrap_or(0) >= h)
    });
    result.map_err(|e| {
        let stuck = stuck_partitions_report(bootstrap, topic, &high, &reached);
        e.context(format!(
            "consuming {topic} up to high watermarks {high:?}; {stuck}"
        ))
    })
}

/// For a consumer that stopped short: where each partition stopped, and what a fresh consumer started at that
/// offset gets, to tell a broker that does not serve the offset from a client that stopped asking.
fn stuck_partitions_report(
    bootstrap: &str,
    topic: &str,
    high: &BTreeMap<i32, i64>,
    reached: &HashMap<i32, i64>,
) -> String {
    let mut out = Vec::new();
    for (&p, &h) in high {
        let at = reached.get(&p).copied().unwrap_or(0);
        if h == 0 || at >= h {
            continue;
        }
        let now = watermarks(bootstrap, topic, p)
            .map(|w| format!("{w:?}"))
            .unwrap_or_else(|e| e.to_string());
        let probe = assigned_consumer(bootstrap, topic, &[(p, Offset::Offset(at))], &[])
            .and_then(|c| poll_until(&c, Duration::from_secs(5), |got| !got.is_empty()));
        let probe = match probe {
            Ok(got) => format!("a fresh consumer from {at} got offset {}", got[0].offset()),
            Err(e) => format!("a fresh consumer from {at} got nothing: {e:#}"),
        };
        out.push(format!(
            "partition {p} stopped at {at} of {h} (watermarks now {now}); {probe}"
        ));
    }
    out.join("; ")
}

/// Polls `consumer` until `done(received)` holds; fails after `timeout` with a summary.
pub fn poll_until(
    consumer: &BaseConsumer,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    while !done(&got) {
        if Instant::now() >= deadline {
            let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
            for m in &got {
                *per_partition.entry(m.partition()).or_default() += 1;
            }
            errors.dedup();
            bail!(
                "timed out after {timeout:?}: received {} records (per partition {per_partition:?}); errors seen: {errors:?}",
                got.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push(m.detach()),
            Some(Err(e)) if errors.len() < 50 => errors.push(e.to_string()),
            Some(Err(_)) | None => {}
        }
    }
    Ok(got)
}

/// Polls until the first error; fails if a record arrives first or nothing happens within `timeout`.
pub fn poll_for_error(consumer: &BaseConsumer, timeout: Duration) -> anyhow::Result<KafkaError> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => bail!(
                "expected an error, got a record at partition {} offset {}",
                m.partition(),
                m.offset()
            ),
            Some(Err(e)) => return Ok(e),
            None => {}
        }
    }
    bail!("no error within {timeout:?}")
}

/// `(low, high)` watermarks of one partition.
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
    let consumer: BaseConsumer = consumer_config(bootstrap).create()?;
    Ok(consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?)
}

/// One record to send. Borrowed fields keep the 100k-record loop free of extra copies.
#[derive(Clone, Debug, Default)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// CreateTime in milliseconds; librdkafka stamps "now" when unset.
    pub timestamp: Option<i64>,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

impl<'a> Record<'a> {
    pub fn new(topic: &'a str) -> Record<'a> {
        Record {
            topic,
            ..Record::default()
        }
    }
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }
    pub fn value(mut self, value: &'a [u8]) -> Self {
        self.value = Some(value);
        self
    }
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
    pub fn header(mut self, key: &'a str, value: Option<&'a [u8]>) -> Self {
        self.headers.push((key, value));
        self
    }
}

/// Where the broker said a record landed, or why it was not written.
pub type Outcome = Result<(i32, i64), KafkaError>;

/// Delivery ids: 0 means "don't keep the outcome" (fire-and-forget sends still feed the history).
const UNTRACKED: usize = 0;

/// The producer's context: records successful deliveries into the history and keeps tracked outcomes for `wait`.
pub struct RecordingContext {
    history: Arc<AckHistory>,
    outcomes: Mutex<HashMap<usize, Outcome>>,
    delivered: Condvar,
    failures: Mutex<Vec<KafkaError>>,
    failed: AtomicUsize,
    succeeded: AtomicUsize,
}

impl ClientContext for RecordingContext {}

impl ProducerContext for RecordingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let outcome = match result {
            Ok(m) => {
                self.history
                    .record(m.partition(), m.offset(), m.key(), m.payload());
                self.succeeded.fetch_add(1, Ordering::SeqCst);
                Ok((m.partition(), m.offset()))
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                let mut failures = self.failures.lock().expect("failures lock");
                if failures.len() < 20 {
                    failures.push(e.clone());
                }
                Err(e.clone())
            }
        };
        if id != UNTRACKED {
            self.outcomes
                .lock()
                .expect("outcomes lock")
                .insert(id, outcome);
            self.delivered.notify_all();
        }
    }
}

/// A librdkafka producer whose background thread serves delivery reports into an [`AckHistory`].
pub struct TestProducer {
    producer: ThreadedProducer<RecordingContext>,
    next_id: AtomicUsize,
}

impl TestProducer {
    pub fn new(config: &ClientConfig) -> anyhow::Result<TestProducer> {
        let context = RecordingContext {
            history: Arc::new(AckHistory::new()),
            outcomes: Mutex::new(HashMap::new()),
            delivered: Condvar::new(),
            failures: Mutex::new(Vec::new()),
            failed: AtomicUsize::new(0),
            succeeded: AtomicUsize::new(0),
        };
        let producer = ThreadedProducer::from_config_and_context(config, context)?;
        Ok(TestProducer {
            producer,
            next_id: AtomicUsize::new(1),
        })
    }

    /// `producer_config(bootstrap)` with `extra` settings applied on top.
    pub fn with(bootstrap: &str, extra: &[(&str, &str)]) -> anyhow::Result<TestProducer> {
        let mut config = producer_config(bootstrap);
        for &(k, v) in extra {
            config.set(k, v);
        }
        TestProducer::new(&config)
    }

    pub fn history(&self) -> Arc<AckHistory> {
        self.producer.context().history.clone()
    }

    pub fn inner(&self) -> &ThreadedProducer<RecordingContext> {
        &self.producer
    }

    pub fn succeeded(&self) -> usize {
        self.producer.context().succeeded.load(Ordering::SeqCst)
    }

    pub fn failed(&self) -> usize {
        self.producer.context().failed.load(Ordering::SeqCst)
    }

    /// The first few delivery errors seen.
    pub fn failures(&self) -> Vec<KafkaError> {
        self.producer
            .context()
            .failures
            .lock()
            .expect("failures lock")
            .clone()
    }

    /// Enqueues a record whose outcome only feeds the history and counters. Waits while the local queue is full.
    pub fn send(&self, record: &Record<'_>) -> anyhow::Result<()> {
        self.enqueue(record, UNTRACKED)
    }

    /// Enqueues a record and returns an id for [`TestProducer::wait`].
    pub fn send_tracked(&self, record: &Record<'_>) -> anyhow::Result<usize> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.enqueue(record, id)?;
        Ok(id)
    }

    /// Waits for the delivery report of a tracked send.
    pub fn wait(&self, id: usize, timeout: Duration) -> anyhow::Result<Outcome> {
        let ctx = self.producer.context();
        let deadline = Instant::now() + timeout;
        let mut outcomes = ctx.outcomes.lock().expect("outcomes lock");
        loop {
            if let Some(outcome) = outcomes.remove(&id) {
                return Ok(outcome);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("no delivery report for send #{id} within {timeout:?}");
            }
            outcomes = ctx
                .delivered
                .wait_timeout(outcomes, deadline - now)
                .expect("outcomes lock")
                .0;
        }
    }

    /// Sends one record and waits for its delivery report (bounded by librdkafka's message.timeout.ms + slack).
    pub fn send_sync(&self, record: &Record<'_>) -> anyhow::Result<Outcome> {
        let id = self.send_tracked(record)?;
        self.wait(id, Duration::from_secs(120))
    }

    pub fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        self.producer
            .flush(timeout)
            .context("flushing the producer")
    }

    fn enqueue(&self, record: &Record<'_>, id: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut r: BaseRecord<'_, [u8], [u8], usize> =
                BaseRecord::with_opaque_to(record.topic, id);
            if let Some(p) = record.partition {
                r = r.partition(p);
            }
            if let Some(k) = record.key {
                r = r.key(k);
            }
            if let Some(v) = record.value {
                r = r.payload(v);
            }
            if let Some(ts) = record.timestamp {
                r = r.timestamp(ts);
            }
            if !record.headers.is_empty() {
                let mut h = OwnedHeaders::new_with_capacity(record.headers.len());
                for &(key, value) in &record.headers {
                    h = h.insert(Header { key, value });
                }
                r = r.headers(h);
            }
            match self.producer.send(r) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    // The background thread drains the queue as deliveries complete.
                    pause(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(e).context("enqueueing a record"),
            }
        }
    }
}
