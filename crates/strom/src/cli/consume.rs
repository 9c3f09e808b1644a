//! `strom consume`: reads records from all partitions of a topic (or one) by assignment, without a consumer group,
//! and prints them like `kafka-console-consumer.sh` (or as JSON lines). Owns start-offset choice, the fetch loop,
//! the OFFSET_OUT_OF_RANGE reset and formatting; requests and record decoding live in strom-client.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use strom_client::{ConsumedRecord, TimestampType, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use super::bootstrap::{list_offset, BootstrapArgs};

/// Output formats, shown at the end of `strom consume --help`.
const FORMAT_HELP: &str = "\
Output: one record per line. By default only the value. --print-timestamp, --print-partition, --print-offset,
--print-headers and --print-key add fields in that order, separated by --field-separator (a tab), as
kafka-console-consumer does: `CreateTime:<ms>` (or `LogAppendTime:<ms>`), `Partition:<p>`, `Offset:<o>`,
headers as `k:v,k2:v2` (or `NO_HEADERS`), then key and value (`null` when absent).
With --json, one object per line instead:
  {\"partition\":0,\"offset\":5,\"timestamp\":1700000000000,\"key\":\"k\",\"value\":\"v\",\"headers\":{\"h\":\"x\"}}
with key, value and header values as strings or null. Bytes that are not UTF-8 are printed lossily.
Partitions are assigned, not group-managed; no offsets are committed. An out-of-range position is reset to the
earliest offset with a warning on stderr. On exit, `Processed a total of N messages` goes to stderr.";

/// Consume records from all partitions of a topic (or one) and print them.
#[derive(clap::Args)]
#[command(after_help = FORMAT_HELP)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

    /// Topic to consume.
    #[arg(long)]
    topic: String,

    /// Consume only this partition [default: all partitions present at start].
    #[arg(long)]
    partition: Option<i32>,

    /// Start at the earliest available offset instead of the end of the log.
    #[arg(long, conflicts_with = "offset")]
    from_beginning: bool,

    /// Start offset for every consumed partition: a number, `earliest` or `latest` [default: latest].
    #[arg(long, value_parser = parse_start)]
    offset: Option<Start>,

    /// Exit after printing this many records.
    #[arg(long)]
    max_messages: Option<u64>,

    /// Exit (successfully) after no record arrived for this long [default: run until killed].
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,

    /// Print each record as one JSON object per line.
    #[arg(long)]
    json: bool,

    /// Print the key before the value.
    #[arg(long)]
    print_key: bool,

    /// Print headers before the key/value.
    #[arg(long)]
    print_headers: bool,

    /// Print the partition.
    #[arg(long)]
    print_partition: bool,

    /// Print the offset.
    #[arg(long)]
    print_offset: bool,

    /// Print the timestamp (CreateTime:<ms> or LogAppendTime:<ms>).
    #[arg(long)]
    print_timestamp: bool,

    /// Separator between printed fields.
    #[arg(long, default_value = "\t")]
    field_separator: String,

    /// Longest time one fetch waits on the broker for new data.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    fetch_max_wait_ms: i32,

    /// Most bytes fetched per partition per request (Kafka's max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    max_partition_fetch_bytes: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Earliest,
    Latest,
    Offset(i64),
}

fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "earliest" => Ok(Start::Earliest),
        "latest" => Ok(Start::Latest),
        _ => match s.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(Start::Offset(o)),
            _ => Err(format!(
                "expected a non-negative offset, `earliest` or `latest`, got {s:?}"
            )),
        },
    }
}

/// Pause after a retriable fetch error (leader moving, broker restarting) before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = args.bootstrap.connect().await?;
    let topic = client
        .topic(&args.topic)
        .await
        .with_context(|| format!("looking up topic {}", args.topic))?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions.iter().any(|m| m.partition == p) => vec![p],
        Some(p) => bail!(
            "partition {p} does not exist; {} has {} partitions",
            args.topic,
            topic.partitions.len()
        ),
        None => topic.partitions.iter().map(|m| m.partition).collect(),
    };
    let start = match (args.from_beginning, args.offset) {
        (true, _) => Start::Earliest,
        (false, Some(start)) => start,
        (false, None) => Start::Latest,
    };

    // Position per partition: the next offset to fetch.
    let mut positions: Vec<(i32, i64)> = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let offset = match start {
            Start::Offset(o) => o,
            Start::Earliest => list_offset(&mut client, &args.topic, p, EARLIEST_TIMESTAMP).await?,
            Start::Latest => list_offset(&mut client, &args.topic, p, LATEST_TIMESTAMP).await?,
        };
        positions.push((p, offset));
    }

    let mut printer = Printer::new(&args);
    let mut printed: u64 = 0;
    let mut last_data = Instant::now();
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let result: anyhow::Result<()> = async {
        loop {
            if args.max_messages.is_some_and(|max| printed >= max) {
                return Ok(());
            }
            let mut max_wait = args.fetch_max_wait_ms;
            if let Some(timeout) = timeout {
                let left = timeout.saturating_sub(last_data.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                max_wait = max_wait.min(i32::try_from(left.as_millis()).unwrap_or(i32::MAX));
            }

            let results = client
                .fetch_partitions(&args.topic, &positions, max_wait, args.max_partition_fetch_bytes)
                .await
                .context("fetching")?;
            let mut new_positions: HashMap<i32, i64> = HashMap::new();
            let mut retry = false;
            for (partition, result) in results {
                match result {
                    Ok(fetched) => {
                        for record in &fetched.records {
                            if args.max_messages.is_some_and(|max| printed >= max) {
                                break;
                            }
                            printer.print(partition, record)?;
                            printed += 1;
                        }
                        if !fetched.records.is_empty() {
                            last_data = Instant::now();
                        }
                        new_positions.insert(partition, fetched.next_offset);
                    }
                    Err(e) if e.is_offset_out_of_range() => {
                        let old = positions.iter().find(|(p, _)| *p == partition).map_or(-1, |(_, o)| *o);
                        let earliest = list_offset(&mut client, &args.topic, partition, EARLIEST_TIMESTAMP).await?;
                        eprintln!(
                            "warning: offset {old} is out of range for {}-{partition}; resetting to earliest offset {earliest}",
                            args.topic
                        );
                        new_positions.insert(partition, earliest);
                    }
                    Err(e) if e.is_retriable() => {
                        tracing::debug!(partition, error = %e, "retriable fetch error");
                        retry = true;
                    }
                    Err(e) => return Err(e).with_context(|| format!("fetching {}-{partition}", args.topic)),
                }
            }
            printer.flush()?;
            for (p, offset) in &mut positions {
                if let Some(next) = new_positions.get(p) {
                    *offset = *next;
                }
            }
            // Brokers fill partitions in request order; rotating keeps a busy first partition from starving others.
            positions.rotate_left(1);
            if retry {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    .await;
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => {
            eprintln!("Processed a total of {printed} messages");
            Ok(())
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Formats records to a buffered stdout.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    key: bool,
    headers: bool,
    partition: bool,
    offset: bool,
    timestamp: bool,
    separator: String,
}

impl Printer {
    fn new(args: &Args) -> Printer {
        Printer {
            out: std::io::BufWriter::new(std::io::stdout()),
            json: args.json,
            key: args.print_key,
            headers: args.print_headers,
            partition: args.print_partition,
            offset: args.print_offset,
            timestamp: args.print_timestamp,
            separator: args.field_separator.clone(),
        }
    }

    fn print(&mut self, partition: i32, record: &ConsumedRecord) -> std::io::Result<()> {
        let line = if self.json {
            json_line(partition, record)
        } else {
            self.text_line(partition, record)
        };
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn text_line(&self, partition: i32, record: &ConsumedRecord) -> String {
        let mut fields: Vec<String> = Vec::new();
        if self.timestamp {
            let kind = match record.timestamp_type {
                TimestampType::Creation => "CreateTime",
                TimestampType::LogAppend => "LogAppendTime",
            };
            fields.push(format!("{kind}:{}", record.timestamp));
        }
        if self.partition {
            fields.push(format!("Partition:{partition}"));
        }
        if self.offset {
            fields.push(format!("Offset:{}", record.offset));
        }
        if self.headers {
            if record.headers.is_empty() {
                fields.push("NO_HEADERS".to_owned());
            } else {
                let headers: Vec<String> = record
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", text_or_null(v.as_ref())))
                    .collect();
                fields.push(headers.join(","));
            }
        }
        if self.key {
            fields.push(text_or_null(record.key.as_ref()));
        }
        fields.push(text_or_null(record.value.as_ref()));
        fields.join(&self.separator)
    }
}

fn text_or_null(bytes: Option<&Bytes>) -> String {
    bytes.map_or_else(
        || "null".to_owned(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

fn json_line(partition: i32, record: &ConsumedRecord) -> String {
    let text = |b: Option<&Bytes>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let headers: serde_json::Map<String, serde_json::Value> = record
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(text(v.as_ref()))))
        .collect();
    serde_json::json!({
        "partition": partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": text(record.key.as_ref()),
        "value": text(record.value.as_ref()),
        "headers": headers,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            offset: 7,
            timestamp: 1000,
            timestamp_type: TimestampType::Creation,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"x"))),
                ("n".into(), None),
            ],
        }
    }

    #[test]
    fn json_has_all_fields() {
        let v: serde_json::Value = serde_json::from_str(&json_line(3, &record())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"partition":3,"offset":7,"timestamp":1000,"key":"k","value":"v","headers":{"h":"x","n":null}})
        );
    }

    #[test]
    fn text_fields_follow_kafka_console_consumer_order() {
        let printer = Printer {
            out: std::io::BufWriter::new(std::io::stdout()),
            json: false,
            key: true,
            headers: true,
            partition: true,
            offset: true,
            timestamp: true,
            separator: "\t".into(),
        };
        assert_eq!(
            printer.text_line(3, &record()),
            "CreateTime:1000\tPartition:3\tOffset:7\th:x,n:null\tk\tv"
        );
    }

    #[test]
    fn start_parses_kafka_spellings() {
        assert_eq!(parse_start("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_start("latest"), Ok(Start::Latest));
        assert_eq!(parse_start("42"), Ok(Start::Offset(42)));
        assert!(parse_start("-1").is_err());
    }
}
