//! `strom perf produce`, after `kafka-producer-perf-test`: sends fixed-size records through librdkafka as fast
//! as allowed (or at a `--throughput` cap) and reports records/s, MB/s and send-to-delivery-report latency.
//!
//! Owns the send loop, throttling and the delivery-report accounting. The producer itself is librdkafka's; the
//! tool adds nothing a Kafka client would not do, so it measures any Kafka-compatible broker alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use serde::Serialize;

use super::{ClientArgs, Latency, LatencySummary, MB};

/// Produce records and measure throughput and latency.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    client: ClientArgs,

    /// Topic to produce to.
    #[arg(long)]
    topic: String,

    /// Records to send [default: 1000000 unless --duration is given].
    #[arg(long, conflicts_with = "duration")]
    num_records: Option<u64>,

    /// Send for this many seconds instead of a fixed count.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Value size of each record in bytes.
    #[arg(long, default_value_t = 100)]
    record_size: usize,

    /// Cap on records per second; -1 means unlimited.
    #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
    throughput: f64,

    /// Producer `acks`: all (= -1), 1 or 0.
    #[arg(long, default_value = "all", allow_hyphen_values = true)]
    acks: String,

    /// Producer `linger.ms`.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,

    /// Producer `batch.size` in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    batch_size: u64,

    /// Producer `compression.type`: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,

    /// Give each record a distinct 8-byte key (murmur2-partitioned) instead of none (sticky partitioning).
    #[arg(long)]
    keyed: bool,

    /// Enable the idempotent producer (`enable.idempotence=true`).
    #[arg(long)]
    idempotent: bool,

    /// Send in transactions (sets `transactional.id`, which implies idempotence): init_transactions once, then
    /// begin, send `--records-per-transaction` records, commit, and so on; the last transaction may be shorter.
    #[arg(long)]
    transactional: bool,

    /// Records per transaction with `--transactional`.
    #[arg(long, default_value_t = 1000, requires = "transactional")]
    records_per_transaction: u64,

    /// `transactional.id` with `--transactional` [default: strom-perf-<process id>].
    #[arg(long, requires = "transactional")]
    transactional_id: Option<String>,

    #[command(flatten)]
    topic_args: super::TopicArgs,

    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    tool: &'static str,
    topic: String,
    records: u64,
    bytes: u64,
    errors: u64,
    elapsed_s: f64,
    records_per_sec: f64,
    mb_per_sec: f64,
    latency_ms: LatencySummary,
    /// Committed transactions with `--transactional` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    transactions: Option<u64>,
    /// Per transaction: time to flush its records (until every delivery report arrived).
    #[serde(skip_serializing_if = "Option::is_none")]
    flush_ms: Option<LatencySummary>,
    /// Per transaction: time inside `commit_transaction` once its records are flushed (EndTxn round trip).
    #[serde(skip_serializing_if = "Option::is_none")]
    commit_ms: Option<LatencySummary>,
}

/// Delivery-report accounting, shared between the send loop and librdkafka's polling thread. `start` is the
/// clock every send time is measured on.
pub(super) struct Deliveries {
    pub(super) start: Instant,
    pub(super) delivered: AtomicU64,
    bytes: AtomicU64,
    pub(super) errors: AtomicU64,
    state: Mutex<DeliveryState>,
}

impl Deliveries {
    pub(super) fn new() -> anyhow::Result<Arc<Deliveries>> {
        Ok(Arc::new(Deliveries {
            start: Instant::now(),
            delivered: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            state: Mutex::new(DeliveryState {
                latency: Latency::new()?,
                first_error: None,
            }),
        }))
    }

    /// A librdkafka producer with `settings` (see `ClientArgs::config`) whose delivery reports land here.
    pub(super) fn producer(
        self: &Arc<Self>,
        client: &ClientArgs,
        settings: &[(&str, String)],
    ) -> anyhow::Result<ThreadedProducer<DeliveryContext>> {
        client
            .config(settings)
            .create_with_context(DeliveryContext(Arc::clone(self)))
            .context("creating the producer")
    }

    /// Send-to-delivery latency so far, and the first failure if any record failed.
    pub(super) fn latency(&self) -> anyhow::Result<(LatencySummary, Option<String>)> {
        match self.state.lock() {
            Ok(s) => Ok((s.latency.summary(), s.first_error.clone())),
            Err(_) => bail!("delivery accounting poisoned"),
        }
    }
}

struct DeliveryState {
    latency: Latency,
    first_error: Option<String>,
}

/// Carries each record's send time (nanoseconds since `Deliveries::start`) as the delivery opaque, so no
/// allocation happens per record.
pub(super) struct DeliveryContext(pub(super) Arc<Deliveries>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at_nanos: usize) {
        let d = &self.0;
        let now = d.start.elapsed();
        let latency = now.saturating_sub(Duration::from_nanos(sent_at_nanos as u64));
        match result {
            Ok(msg) => {
                d.delivered.fetch_add(1, Ordering::Relaxed);
                d.bytes
                    .fetch_add(super::record_bytes(msg), Ordering::Relaxed);
                if let Ok(mut s) = d.state.lock() {
                    s.latency.record(latency);
                }
            }
            Err((e, _)) => {
                d.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut s) = d.state.lock() {
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

pub(super) async fn run(args: Args) -> anyhow::Result<()> {
    super::ensure_topic(&args.client, &args.topic, &args.topic_args).await?;
    let json = args.json;
    super::run_blocking(
        json,
        move || produce(&args),
        |report: &Report| {
            let mut line = format!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {} errors, in {:.2} s; latency {}",
                report.records,
                report.records_per_sec,
                report.mb_per_sec,
                report.errors,
                report.elapsed_s,
                report.latency_ms
            );
            if let (Some(n), Some(flush), Some(commit)) =
                (report.transactions, &report.flush_ms, &report.commit_ms)
            {
                line.push_str(&format!(
                    "; {n} transactions committed; flush {flush}; commit {commit}"
                ));
            }
            line
        },
    )
    .await
}

fn produce(args: &Args) -> anyhow::Result<Report> {
    if args.record_size == 0 {
        bail!("--record-size must be at least 1");
    }
    if args.records_per_transaction == 0 {
        bail!("--records-per-transaction must be at least 1");
    }
    let deliveries = Deliveries::new()?;
    let mut settings = vec![
        ("acks", args.acks.clone()),
        ("linger.ms", args.linger_ms.to_string()),
        ("batch.size", args.batch_size.to_string()),
        ("compression.type", args.compression.clone()),
        (
            "enable.idempotence",
            (args.idempotent || args.transactional).to_string(),
        ),
        // Room for a full second of 100-byte records at high rates before send() pushes back.
        ("queue.buffering.max.messages", "1000000".to_string()),
        ("queue.buffering.max.kbytes", "1048576".to_string()),
    ];
    if args.transactional {
        // Everything else stays librdkafka's default for a transactional producer (transaction.timeout.ms
        // 60 s; acks=all and max.in.flight 5 as idempotence requires).
        let id = args
            .transactional_id
            .clone()
            .unwrap_or_else(|| format!("strom-perf-{}", std::process::id()));
        settings.push(("transactional.id", id));
    }
    if !args.idempotent && !args.transactional && !args.client.sets("enable.idempotence") {
        // librdkafka builds one ProduceRequest per partition and, with the default threshold of 1, creates
        // one only while no other waits unsent: a pass over 10,000 partitions then ships one partition's
        // batch and the client caps the rate (0.23 M against 0.65 M records/s here). librdkafka requires 1
        // with idempotence.
        settings.push((
            "queue.buffering.backpressure.threshold",
            "100000".to_string(),
        ));
    }
    let producer = deliveries.producer(&args.client, &settings)?;
    // Connect and learn the partitions before the clock starts.
    super::fetch_topic_metadata(producer.client(), &args.topic)?;
    // Find the transaction coordinator and get a producer id and epoch before the clock starts, too.
    let mut txn = if args.transactional {
        producer
            .init_transactions(TXN_TIMEOUT)
            .context("init_transactions")?;
        Some(Transactions {
            per: args.records_per_transaction,
            open: 0,
            committed: 0,
            flush: Latency::new()?,
            commit: Latency::new()?,
        })
    } else {
        None
    };

    let payload = super::payload(args.record_size, 0x5eed);
    let limit = match (args.num_records, args.duration) {
        (Some(n), _) => Limit::Records(n),
        (None, Some(s)) if s > 0.0 => Limit::Until(Duration::from_secs_f64(s)),
        (None, Some(_)) => bail!("--duration must be positive"),
        (None, None) => Limit::Records(1_000_000),
    };
    let bar = match limit {
        Limit::Records(n) => super::progress(n, "records"),
        Limit::Until(_) => super::progress(0, "records"),
    };

    let clock = &deliveries.start;
    let send_start = clock.elapsed();
    let mut sent: u64 = 0;
    loop {
        let now = clock.elapsed();
        match limit {
            Limit::Records(n) if sent >= n => break,
            Limit::Until(d) if now.saturating_sub(send_start) >= d => break,
            _ => {}
        }
        if args.throughput > 0.0 {
            // Kafka's ThroughputThrottler: sleep whenever we are ahead of the schedule.
            let due = send_start + Duration::from_secs_f64(sent as f64 / args.throughput);
            if due > now {
                super::sleep_blocking(due - now);
            }
        }
        if let Some(t) = &mut txn {
            if t.open == t.per {
                t.commit(&producer)?;
            }
            if t.open == 0 {
                producer.begin_transaction().context("begin_transaction")?;
            }
            t.open += 1;
        }
        let key = sent.to_be_bytes();
        let sent_at = clock.elapsed().as_nanos() as usize;
        let mut record = BaseRecord::with_opaque_to(&args.topic, sent_at).payload(&payload[..]);
        if args.keyed {
            record = record.key(&key[..]);
        }
        // A full local queue is back-pressure, as a blocking send() is in the Java client: wait and retry.
        let mut attempts: u32 = 0;
        while let Err((e, r)) = producer.send(record) {
            match e {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) if attempts < 60_000 => {
                    attempts += 1;
                    record = r;
                    super::sleep_blocking(Duration::from_millis(1));
                }
                e => return Err(e).context("sending a record"),
            }
        }
        sent += 1;
        if sent.is_multiple_of(4096) {
            bar.set_position(deliveries.delivered.load(Ordering::Relaxed));
        }
    }
    if let Some(t) = &mut txn {
        if t.open > 0 {
            t.commit(&producer)?;
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("waiting for outstanding deliveries")?;
    let elapsed = clock.elapsed().saturating_sub(send_start);
    bar.finish_and_clear();

    let records = deliveries.delivered.load(Ordering::Relaxed);
    let bytes = deliveries.bytes.load(Ordering::Relaxed);
    let errors = deliveries.errors.load(Ordering::Relaxed);
    let (latency, first_error) = deliveries.latency()?;
    if let Some(e) = first_error {
        eprintln!("warning: {errors} records failed; first error: {e}");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(Report {
        tool: "produce",
        topic: args.topic.clone(),
        records,
        bytes,
        errors,
        elapsed_s: secs,
        records_per_sec: records as f64 / secs,
        mb_per_sec: bytes as f64 / MB / secs,
        latency_ms: latency,
        transactions: txn.as_ref().map(|t| t.committed),
        flush_ms: txn.as_ref().map(|t| t.flush.summary()),
        commit_ms: txn.as_ref().map(|t| t.commit.summary()),
    })
}

/// Waits until librdkafka holds no undelivered record, with `rd_kafka_flush`.
///
/// Not rust-rdkafka's `flush` (which its `commit_transaction` calls first): that one calls `rd_kafka_flush`
/// without waiting and then polls the producer's event queue for up to 100 ms; with a `ThreadedProducer` the
/// polling thread takes the delivery reports off that queue, so each flush sleeps the whole 100 ms, and 1,000
/// commits would measure 100 s of client sleep rather than the broker. With delivery reports as events (as
/// rust-rdkafka sets them up) `rd_kafka_flush` waits on librdkafka's message counter instead, so the flush in
/// `commit_transaction` that follows finds nothing to wait for.
#[allow(unsafe_code)]
fn flush(producer: &ThreadedProducer<DeliveryContext>, timeout: Duration) -> anyhow::Result<()> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `native_ptr` is the live rd_kafka_t the borrowed producer owns; rd_kafka_flush only reads the
    // handle's counters and wakes its broker threads.
    let err = unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms) };
    if err != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        bail!(
            "flushing the transaction's records: {}",
            RDKafkaErrorCode::from(err)
        );
    }
    Ok(())
}

/// How long init_transactions and each commit may take before the tool gives up.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// The transaction loop's state with `--transactional`.
struct Transactions {
    /// Records per transaction.
    per: u64,
    /// Records sent in the open transaction; 0 when none is open.
    open: u64,
    committed: u64,
    /// Time to flush each transaction's records.
    flush: Latency,
    /// Time inside each `commit_transaction` after the flush.
    commit: Latency,
}

impl Transactions {
    /// Commits the open transaction: waits until every record of it has its delivery report, then
    /// `commit_transaction` (EndTxn). The two steps are timed apart.
    fn commit(&mut self, producer: &ThreadedProducer<DeliveryContext>) -> anyhow::Result<()> {
        let before = Instant::now();
        flush(producer, TXN_TIMEOUT)?;
        let flushed = Instant::now();
        self.flush.record(flushed - before);
        producer
            .commit_transaction(TXN_TIMEOUT)
            .context("commit_transaction")?;
        self.commit.record(flushed.elapsed());
        self.committed += 1;
        self.open = 0;
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Limit {
    Records(u64),
    Until(Duration),
}
