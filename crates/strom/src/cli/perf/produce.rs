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
            format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {} errors, in {:.2} s; latency {}",
            report.records,
            report.records_per_sec,
            report.mb_per_sec,
            report.errors,
            report.elapsed_s,
            report.latency_ms
            )
        },
    )
    .await
}

fn produce(args: &Args) -> anyhow::Result<Report> {
    if args.record_size == 0 {
        bail!("--record-size must be at least 1");
    }
    let deliveries = Deliveries::new()?;
    let mut settings = vec![
        ("acks", args.acks.clone()),
        ("linger.ms", args.linger_ms.to_string()),
        ("batch.size", args.batch_size.to_string()),
        ("compression.type", args.compression.clone()),
        ("enable.idempotence", args.idempotent.to_string()),
        // Room for a full second of 100-byte records at high rates before send() pushes back.
        ("queue.buffering.max.messages", "1000000".to_string()),
        ("queue.buffering.max.kbytes", "1048576".to_string()),
    ];
    if !args.idempotent && !args.client.sets("enable.idempotence") {
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
    })
}

#[derive(Clone, Copy)]
enum Limit {
    Records(u64),
    Until(Duration),
}
