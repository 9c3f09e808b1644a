//! `strom perf e2e`: a producer at a fixed rate and a consumer in the same process; each payload carries its
//! send time on the process's monotonic clock, so end-to-end latency (send call → record returned by the
//! consumer's poll) needs no clock synchronisation.
//!
//! Owns the paced send loop, the payload stamp and the receive loop. The consumer is assigned every partition
//! at its high watermark taken before the first send, so it sees exactly this run's records; no group needed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use super::produce::{Deliveries, DeliveryContext};
use super::{ClientArgs, Latency, LatencySummary};

/// Payload prefix: 8 bytes run id, 8 bytes send time in nanoseconds since the run's clock started.
const STAMP_LEN: usize = 16;

/// Measure end-to-end latency at a fixed produce rate.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    client: ClientArgs,

    /// Topic to produce to and consume from.
    #[arg(long)]
    topic: String,

    /// Records per second.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,

    /// Value size of each record in bytes (at least 16, the timestamp stamp).
    #[arg(long, default_value_t = 100)]
    record_size: usize,

    /// Seconds to produce for.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    duration: f64,

    /// Seconds at the start whose records are sent but left out of the percentiles (connections, first
    /// fetches).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    warmup: f64,

    /// Producer `linger.ms`.
    #[arg(long, default_value_t = 1)]
    linger_ms: u64,

    /// Producer `acks`: all (= -1), 1 or 0.
    #[arg(long, default_value = "all", allow_hyphen_values = true)]
    acks: String,

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
    sent: u64,
    received: u64,
    errors: u64,
    achieved_rate: f64,
    /// Send call to the consumer's poll returning the record, after the warm-up.
    e2e_latency_ms: LatencySummary,
    /// Send call to the producer's delivery report (all records).
    ack_latency_ms: LatencySummary,
}

pub(super) async fn run(args: Args) -> anyhow::Result<()> {
    super::ensure_topic(&args.client, &args.topic, &args.topic_args).await?;
    let json = args.json;
    super::run_blocking(
        json,
        move || e2e(&args),
        |report: &Report| {
            format!(
                "{} sent, {} received at {:.1} records/sec; end-to-end latency {}; ack latency {}",
                report.sent,
                report.received,
                report.achieved_rate,
                report.e2e_latency_ms,
                report.ack_latency_ms
            )
        },
    )
    .await
}

fn e2e(args: &Args) -> anyhow::Result<Report> {
    if args.record_size < STAMP_LEN {
        bail!("--record-size must be at least {STAMP_LEN}");
    }
    if args.rate <= 0.0 || args.duration <= 0.0 {
        bail!("--rate and --duration must be positive");
    }
    let deliveries = Deliveries::new()?;
    let clock = deliveries.start;
    let run_id = u64::from(std::process::id()) << 32 | u64::from(clock.elapsed().subsec_nanos());

    let producer = deliveries.producer(
        &args.client,
        &[
            ("acks", args.acks.clone()),
            ("linger.ms", args.linger_ms.to_string()),
        ],
    )?;
    let consumer = args.client.consumer(&[
        ("enable.auto.commit", "false".to_string()),
        ("enable.partition.eof", "false".to_string()),
        ("fetch.wait.max.ms", "500".to_string()),
        // Needed by librdkafka's assign(); no group is joined and nothing is committed.
        ("group.id", "strom-perf-e2e".to_string()),
    ])?;

    // Start every partition at its current end, so only this run's records come back.
    let metadata = super::fetch_topic_metadata(producer.client(), &args.topic)?;
    let mut tpl = TopicPartitionList::new();
    for p in super::partitions_of(&metadata, &args.topic)? {
        let (_, high) = consumer
            .fetch_watermarks(&args.topic, p, Duration::from_secs(30))
            .with_context(|| format!("fetching watermarks of {}-{p}", args.topic))?;
        tpl.add_partition_offset(&args.topic, p, Offset::Offset(high))
            .context("building the assignment")?;
    }
    consumer.assign(&tpl).context("assigning partitions")?;

    let sent = AtomicU64::new(0);
    let done_sending = AtomicBool::new(false);
    // Sending starts right after this, so the warm-up window is measured from here.
    let warmup_nanos =
        (clock.elapsed() + Duration::from_secs_f64(args.warmup.max(0.0))).as_nanos() as u64;
    let (received, e2e) = std::thread::scope(|s| {
        let receiver =
            s.spawn(|| receive(&consumer, run_id, clock, warmup_nanos, &sent, &done_sending));
        let send_result = send(args, &producer, run_id, clock, &sent);
        done_sending.store(true, Ordering::Release);
        let received = receiver.join();
        send_result?;
        match received {
            Ok(r) => r,
            Err(_) => bail!("the receive loop panicked"),
        }
    })?;

    let (ack, first_error) = deliveries.latency()?;
    let errors = deliveries.errors.load(Ordering::Relaxed);
    if let Some(e) = first_error {
        eprintln!("warning: {errors} records failed; first error: {e}");
    }
    let sent = sent.load(Ordering::Relaxed);
    Ok(Report {
        tool: "e2e",
        topic: args.topic.clone(),
        sent,
        received,
        errors,
        achieved_rate: sent as f64 / args.duration,
        e2e_latency_ms: e2e.summary(),
        ack_latency_ms: ack,
    })
}

/// Sends at `args.rate` for `args.duration`, each record stamped with its send time, then flushes.
fn send(
    args: &Args,
    producer: &ThreadedProducer<DeliveryContext>,
    run_id: u64,
    clock: Instant,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let mut payload = super::payload(args.record_size, run_id);
    payload[..8].copy_from_slice(&run_id.to_be_bytes());
    let start = clock.elapsed();
    let duration = Duration::from_secs_f64(args.duration);
    let bar = super::progress((args.rate * args.duration) as u64, "records");
    let mut n: u64 = 0;
    loop {
        let due = Duration::from_secs_f64(n as f64 / args.rate);
        if due >= duration {
            break;
        }
        let now = clock.elapsed().saturating_sub(start);
        if due > now {
            super::sleep_blocking(due - now);
        }
        let sent_at = clock.elapsed().as_nanos() as u64;
        payload[8..STAMP_LEN].copy_from_slice(&sent_at.to_be_bytes());
        let record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&args.topic, sent_at as usize).payload(&payload[..]);
        producer
            .send(record)
            .map_err(|(e, _)| e)
            .context("sending a record")?;
        n += 1;
        sent.store(n, Ordering::Relaxed);
        if n.is_multiple_of(1024) {
            bar.set_position(n);
        }
    }
    bar.finish_and_clear();
    producer
        .flush(Duration::from_secs(60))
        .context("waiting for outstanding deliveries")
}

/// Polls until every sent record arrived after sending stopped, or 10 s passed without a new one.
fn receive(
    consumer: &BaseConsumer,
    run_id: u64,
    clock: Instant,
    warmup_nanos: u64,
    sent: &AtomicU64,
    done_sending: &AtomicBool,
) -> anyhow::Result<(u64, Latency)> {
    let mut latency = Latency::new()?;
    let mut received: u64 = 0;
    let mut last_progress = Instant::now();
    loop {
        if done_sending.load(Ordering::Acquire) {
            if received >= sent.load(Ordering::Relaxed) {
                break;
            }
            if last_progress.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "warning: stopped waiting with {received} of {} records received",
                    sent.load(Ordering::Relaxed)
                );
                break;
            }
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(msg)) => {
                let now = clock.elapsed().as_nanos() as u64;
                let Some(stamp) = msg.payload().and_then(|p| p.get(..STAMP_LEN)) else {
                    continue;
                };
                let (id, at) = stamp.split_at(8);
                if id != run_id.to_be_bytes() {
                    continue;
                }
                let mut t = [0u8; 8];
                t.copy_from_slice(at);
                let sent_at = u64::from_be_bytes(t);
                received += 1;
                last_progress = Instant::now();
                if sent_at >= warmup_nanos {
                    latency.record(Duration::from_nanos(now.saturating_sub(sent_at)));
                }
            }
            Some(Err(e)) => eprintln!("warning: consumer error: {e}"),
            None => {}
        }
    }
    Ok((received, latency))
}
