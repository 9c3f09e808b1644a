//! `strom perf`: load generators that are plain Kafka clients (librdkafka through the rdkafka crate), so the
//! same numbers can be taken against Strom or any other Kafka-compatible broker. `produce` and `consume` mirror
//! `kafka-producer-perf-test` / `kafka-consumer-perf-test`; `e2e` measures produce-to-consume latency.
//!
//! This module owns the shared pieces: client flags and the librdkafka client setup (config, consumer, topic
//! metadata), topic creation, the latency histogram and its summary, the progress bar and running a tool and
//! printing its report. It knows nothing of Strom's internals.

mod consume;
mod e2e;
mod produce;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};
use serde::Serialize;

use super::bootstrap::BootstrapArgs;

/// Kafka-compatible load tools.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    tool: Tool,
}

#[derive(clap::Subcommand)]
enum Tool {
    /// Produce records as fast as allowed and report throughput and send-to-ack latency.
    Produce(produce::Args),
    /// Consume a topic (all partitions from the beginning, or as a group) and report throughput.
    Consume(consume::Args),
    /// Produce at a fixed rate while consuming, and report end-to-end latency from payload timestamps.
    E2e(e2e::Args),
}

/// The tools run librdkafka's blocking APIs on their own threads; only topic creation is async.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    match args.tool {
        Tool::Produce(a) => produce::run(a).await,
        Tool::Consume(a) => consume::run(a).await,
        Tool::E2e(a) => e2e::run(a).await,
    }
}

/// Flags every tool shares: where the broker is and raw librdkafka overrides.
#[derive(clap::Args, Clone)]
struct ClientArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

    /// Extra librdkafka client property, KEY=VALUE (repeatable; applied last, so it overrides the tool's
    /// own settings).
    #[arg(short = 'X', long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

impl ClientArgs {
    /// A client config with the bootstrap servers, then `settings`, then the user's `-X` overrides.
    fn config(&self, settings: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap.bootstrap_server);
        for (k, v) in settings {
            config.set(*k, v);
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// A librdkafka consumer with `settings` (see [`ClientArgs::config`]).
    fn consumer(&self, settings: &[(&str, String)]) -> anyhow::Result<BaseConsumer> {
        self.config(settings)
            .create()
            .context("creating the consumer")
    }

    /// Whether the user's `-X` overrides set `key`.
    fn sets(&self, key: &str) -> bool {
        self.properties.iter().any(|(k, _)| k == key)
    }
}

/// Fetches `topic`'s metadata through `client`, which also connects it (the tools do this before their clock
/// starts).
fn fetch_topic_metadata<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> anyhow::Result<Metadata> {
    client
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .with_context(|| format!("fetching metadata for {topic}"))
}

/// The partition ids of `topic` in `metadata`; an error when the topic is missing, has an error or has no
/// partitions.
fn partitions_of(metadata: &Metadata, topic: &str) -> anyhow::Result<Vec<i32>> {
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("topic {topic} not in the metadata response");
    };
    if let Some(e) = t.error() {
        bail!("topic {topic}: {e:?}");
    }
    let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions (does it exist?)");
    }
    Ok(partitions)
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// How `--partitions` creates a missing topic.
#[derive(clap::Args, Clone)]
struct TopicArgs {
    /// Create the topic with this many partitions if it does not exist.
    #[arg(long)]
    partitions: Option<i32>,

    /// Replication factor of a topic `--partitions` creates.
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,

    /// Topic config of a topic `--partitions` creates, KEY=VALUE (repeatable), e.g.
    /// `min.insync.replicas=2` or Strom's `write.caching=false`.
    #[arg(long = "topic-config", value_name = "KEY=VALUE", value_parser = parse_property)]
    configs: Vec<(String, String)>,
}

/// With `--partitions`: creates the topic unless it already exists. An existing topic is used as it is; its
/// partition count and configs are not changed.
async fn ensure_topic(client: &ClientArgs, topic: &str, args: &TopicArgs) -> anyhow::Result<()> {
    let Some(partitions) = args.partitions else {
        return Ok(());
    };
    let admin: AdminClient<DefaultClientContext> = client
        .config(&[])
        .create()
        .context("creating the admin client")?;
    let mut new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(args.replication_factor),
    );
    for (k, v) in &args.configs {
        new_topic = new_topic.set(k, v);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .with_context(|| format!("creating topic {topic}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Mebibytes, as Kafka's perf tools count "MB".
const MB: f64 = 1024.0 * 1024.0;

/// Latencies in microseconds, 1 µs to 10 minutes at 3 significant digits.
struct Latency(Histogram<u64>);

impl Latency {
    fn new() -> anyhow::Result<Latency> {
        Ok(Latency(
            Histogram::new_with_bounds(1, 600_000_000, 3).context("creating a histogram")?,
        ))
    }

    fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    fn summary(&self) -> LatencySummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        LatencySummary {
            count: self.0.len(),
            mean: self.0.mean() / 1000.0,
            p50: ms(self.0.value_at_quantile(0.50)),
            p95: ms(self.0.value_at_quantile(0.95)),
            p99: ms(self.0.value_at_quantile(0.99)),
            p999: ms(self.0.value_at_quantile(0.999)),
            max: ms(self.0.max()),
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Serialize, Clone, Copy)]
struct LatencySummary {
    count: u64,
    mean: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "avg {:.2}, p50 {:.2}, p95 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ms",
            self.mean, self.p50, self.p95, self.p99, self.p999, self.max
        )
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal, so logs and `--json` output stay clean.
fn progress(total: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    let template = format!(
        "{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Sleeps the calling thread. The perf loops run on dedicated OS threads (`spawn_blocking`), never on a
/// tokio worker, which is the only place the workspace lint against `std::thread::sleep` guards.
#[allow(clippy::disallowed_methods)]
fn sleep_blocking(d: Duration) {
    std::thread::sleep(d);
}

/// A record's size as the perf tools count it (Kafka's perf tools count value bytes; keys are added when
/// there are any): key + value length.
fn record_bytes(msg: &impl rdkafka::Message) -> u64 {
    (msg.payload().map_or(0, <[u8]>::len) + msg.key().map_or(0, <[u8]>::len)) as u64
}

/// Runs a tool's blocking loop on a thread of its own (`spawn_blocking`), then prints its report: one JSON
/// object with `--json`, otherwise the line `human` makes of it.
async fn run_blocking<R: Serialize + Send + 'static>(
    json: bool,
    tool: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
    human: impl FnOnce(&R) -> String,
) -> anyhow::Result<()> {
    let report = tokio::task::spawn_blocking(tool).await??;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", human(&report));
    }
    Ok(())
}

/// Fixed payload bytes: random uppercase letters like Kafka's perf tool, so compression sees realistic
/// rather than all-zero data. A small xorshift keeps the tool free of an RNG dependency.
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_reports_milliseconds() {
        let mut l = Latency::new().unwrap();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50 - 50.0).abs() < 0.1, "{}", s.p50);
        assert!((s.p99 - 99.0).abs() < 0.1, "{}", s.p99);
        assert!((s.max - 100.0).abs() < 0.1, "{}", s.max);
    }

    #[test]
    fn payload_is_letters_and_deterministic() {
        let p = payload(64, 7);
        assert_eq!(p.len(), 64);
        assert!(p.iter().all(u8::is_ascii_uppercase));
        assert_eq!(p, payload(64, 7));
    }

    #[test]
    fn property_needs_a_key() {
        assert_eq!(
            parse_property("linger.ms=5").unwrap(),
            ("linger.ms".to_string(), "5".to_string())
        );
        assert!(parse_property("=5").is_err());
        assert!(parse_property("nokey").is_err());
    }
}
