//! `strom perf consume`, after `kafka-consumer-perf-test`: reads a topic through librdkafka and reports
//! records/s, MB/s and how long polls that returned data waited.
//!
//! Two modes: by assignment (every partition from its log start; needs nothing but Fetch/ListOffsets, so it
//! works on brokers without consumer groups; read in batches of up to 1,024 records straight from librdkafka's
//! consumer queue) and, with `--group`, as a member of a consumer group (one `poll()` per record, which also
//! serves rebalances). Owns the read loop and its accounting; offsets are never committed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{bindings as rdsys, Offset, TopicPartitionList};
use serde::Serialize;

use super::{ClientArgs, Latency, LatencySummary, MB};

/// Consume a topic and measure throughput.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    client: ClientArgs,

    /// Topic to consume.
    #[arg(long)]
    topic: String,

    /// Stop after this many records [default: every offset the topic holds when the tool starts; transaction
    /// markers take offsets but are no records, so give the count for a topic written in transactions].
    #[arg(long)]
    num_records: Option<u64>,

    /// Give up when no record arrives for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    timeout: f64,

    /// Join this consumer group (subscribe) instead of assigning every partition.
    #[arg(long)]
    group: Option<String>,

    /// Consumer `isolation.level`: read_committed (librdkafka's default: records of open and aborted
    /// transactions are held back or skipped) or read_uncommitted [default: the client's, read_committed].
    #[arg(long, value_parser = ["read_committed", "read_uncommitted"])]
    isolation_level: Option<String>,

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
    /// From subscribing/assigning to the last record.
    elapsed_s: f64,
    /// From subscribing/assigning to the first record: connection, offset lookup (and group join) time.
    first_record_s: f64,
    /// Over `elapsed_s - first_record_s`.
    records_per_sec: f64,
    mb_per_sec: f64,
    /// Time spent inside reads that returned records (one record per read in a group, up to 1,024 by
    /// assignment). Near zero while librdkafka's prefetch queue holds data; the tail shows waits for fetches.
    poll_wait_ms: LatencySummary,
}

pub(super) async fn run(args: Args) -> anyhow::Result<()> {
    let json = args.json;
    super::run_blocking(
        json,
        move || consume(&args),
        |report: &Report| {
            format!(
            "{} records ({:.2} MB) consumed in {:.2} s; first record after {:.3} s, then {:.1} records/sec \
             ({:.2} MB/sec); poll wait {}",
            report.records,
            report.bytes as f64 / MB,
            report.elapsed_s,
            report.first_record_s,
            report.records_per_sec,
            report.mb_per_sec,
            report.poll_wait_ms
            )
        },
    )
    .await
}

fn consume(args: &Args) -> anyhow::Result<Report> {
    let mut settings = vec![
        ("enable.auto.commit", "false".to_string()),
        ("enable.partition.eof", "false".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
        // When its prefetch queue passes queued.min.messages (100,000) librdkafka postpones the next fetch by
        // fetch.queue.backoff.ms, 1 s by default, and does not fetch again early when the queue drains. A
        // reader as fast as this one empties 100,000 small records in well under 100 ms and then waits out the
        // rest of the second: 1M x 100 B reads at ~0.2 M records/s instead of ~1.5 M. Measuring the broker
        // needs a client that asks again soon; -X fetch.queue.backoff.ms=1000 restores the default.
        ("fetch.queue.backoff.ms", "10".to_string()),
    ];
    // librdkafka's assign() needs a group.id. Assignment mode commits nothing, but librdkafka still looks up the
    // group's coordinator, so the first run against a fresh broker makes it create __consumer_offsets.
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| "strom-perf".to_string());
    settings.push(("group.id", group));
    if let Some(level) = &args.isolation_level {
        settings.push(("isolation.level", level.clone()));
    }
    let consumer = args.client.consumer(&settings)?;
    let metadata = super::fetch_topic_metadata(consumer.client(), &args.topic)?;
    let partitions = super::partitions_of(&metadata, &args.topic)?;
    let target = match args.num_records {
        Some(n) => n,
        None => {
            let mut total: u64 = 0;
            for &p in &partitions {
                let (low, high) = consumer
                    .fetch_watermarks(&args.topic, p, Duration::from_secs(30))
                    .with_context(|| format!("fetching watermarks of {}-{p}", args.topic))?;
                total += u64::try_from(high - low).unwrap_or(0);
            }
            if total == 0 {
                bail!(
                    "topic {} is empty; give --num-records to wait for data",
                    args.topic
                );
            }
            total
        }
    };

    let start = Instant::now();
    if args.group.is_some() {
        consumer
            .subscribe(&[&args.topic])
            .context("subscribing to the topic")?;
    } else {
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition_offset(&args.topic, p, Offset::Beginning)
                .context("building the assignment")?;
        }
        consumer.assign(&tpl).context("assigning partitions")?;
    }

    let timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let bar = super::progress(target, "records");
    let mut waits = Latency::new()?;
    let mut records: u64 = 0;
    let mut bytes: u64 = 0;
    let mut first_record: Option<Duration> = None;
    let mut last_record = start;
    // A group member must let rust-rdkafka's poll() serve rebalance events (a batch read would answer them with
    // an unassign); by assignment there are none, and batch reads keep the client's per-record cost down.
    let mut reader = if args.group.is_some() {
        Reader::Poll(&consumer)
    } else {
        Reader::Batch(BatchQueue::new(&consumer)?)
    };
    while records < target {
        let before = Instant::now();
        let mut got = false;
        let wanted = usize::try_from(target - records).unwrap_or(BATCH);
        reader.read(Duration::from_millis(100), wanted, |msg| match msg {
            Ok(len) => {
                records += 1;
                bytes += len;
                got = true;
            }
            Err(e) => eprintln!("warning: consumer error: {e}"),
        })?;
        if got {
            let now = Instant::now();
            waits.record(now - before);
            first_record.get_or_insert(now - start);
            last_record = now;
            bar.set_position(records);
        } else if last_record.elapsed() > timeout {
            eprintln!(
                "warning: no record for {:.1} s; stopping at {records} of {target}",
                timeout.as_secs_f64()
            );
            break;
        }
    }
    bar.finish_and_clear();
    let elapsed = last_record.duration_since(start).as_secs_f64();
    let first_record_s = first_record.map_or(0.0, |d| d.as_secs_f64());
    // Rates exclude the wait for the first record (group join, offset lookup), as Kafka's fetch.nMsg.sec does.
    let fetch_s = (elapsed - first_record_s).max(1e-9);
    Ok(Report {
        tool: "consume",
        topic: args.topic.clone(),
        records,
        bytes,
        elapsed_s: elapsed,
        first_record_s,
        records_per_sec: records as f64 / fetch_s,
        mb_per_sec: bytes as f64 / MB / fetch_s,
        poll_wait_ms: waits.summary(),
    })
}

/// Records per batch read.
const BATCH: usize = 1024;

/// How the tool reads records: one `poll()` per record, or batches straight from the consumer queue.
enum Reader<'c> {
    Poll(&'c BaseConsumer),
    Batch(BatchQueue<'c>),
}

impl Reader<'_> {
    /// Waits up to `timeout` for at most `wanted` records and hands each one that arrived to `each` as its key +
    /// value length, or the error librdkafka delivered in its place. Returns as soon as anything arrived.
    fn read(
        &mut self,
        timeout: Duration,
        wanted: usize,
        mut each: impl FnMut(Result<u64, String>),
    ) -> anyhow::Result<()> {
        match self {
            Reader::Poll(consumer) => match consumer.poll(timeout) {
                Some(Ok(msg)) => each(Ok(super::record_bytes(&msg))),
                Some(Err(e)) => each(Err(e.to_string())),
                None => {}
            },
            Reader::Batch(queue) => {
                // What is queued, without waiting; if nothing is, wait for one record (a blocking batch read
                // waits for a full batch or the timeout, which would stall the last partial batch).
                if queue.read(Duration::ZERO, wanted, &mut each)? == 0 {
                    queue.read(timeout, 1, &mut each)?;
                }
            }
        }
        Ok(())
    }
}

/// The consumer's queue read with `rd_kafka_consume_batch_queue`: one queue lock and a few clock reads per batch
/// instead of per record. Per-record `poll()` spends about a third of the reading thread's time on the queue's
/// lock, clock reads and event wrapping, so at 1.3-1.8 M records/s it measures the client's poll loop rather
/// than the broker.
struct BatchQueue<'c> {
    queue: *mut rdsys::rd_kafka_queue_t,
    messages: Vec<*mut rdsys::rd_kafka_message_t>,
    _consumer: &'c BaseConsumer,
}

impl<'c> BatchQueue<'c> {
    #[allow(unsafe_code)]
    fn new(consumer: &'c BaseConsumer) -> anyhow::Result<Self> {
        // SAFETY: `native_ptr` is the live rd_kafka_t the borrowed consumer owns and outlives `self` ('c). The
        // call returns a new reference to its consumer queue, released in `drop`.
        let queue = unsafe { rdsys::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
        if queue.is_null() {
            bail!("the consumer has no consumer queue");
        }
        Ok(Self {
            queue,
            messages: vec![std::ptr::null_mut(); BATCH],
            _consumer: consumer,
        })
    }

    /// Reads up to `max` (≤ BATCH) records, waiting up to `timeout` for them, hands each to `each` and destroys
    /// it. Returns how many arrived.
    #[allow(unsafe_code)]
    fn read(
        &mut self,
        timeout: Duration,
        max: usize,
        each: &mut impl FnMut(Result<u64, String>),
    ) -> anyhow::Result<usize> {
        let max = max.min(self.messages.len());
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `messages` has room for `max` pointers; librdkafka writes at most that many and returns how
        // many it wrote (or -1).
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue,
                timeout_ms,
                self.messages.as_mut_ptr(),
                max,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            bail!("rd_kafka_consume_batch_queue failed");
        };
        let n = n.min(max);
        for &m in &self.messages[..n] {
            // SAFETY: the first `n` slots were just written by the call above, each with an owned, live message;
            // it is read here and destroyed right after, exactly once.
            let msg = unsafe { &*m };
            if msg.err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                each(Ok((msg.key_len + msg.len) as u64));
            } else {
                each(Err(
                    rdkafka::types::RDKafkaErrorCode::from(msg.err).to_string()
                ));
            }
            // SAFETY: `m` is owned by us (see above) and not touched after this call.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
        Ok(n)
    }
}

impl Drop for BatchQueue<'_> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: releases the reference `new` took; the queue is not used afterwards.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue) };
    }
}
