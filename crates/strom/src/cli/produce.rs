//! `strom produce`: reads lines from stdin and produces each as a record, like `kafka-console-producer.sh`.
//! Owns line reading, key splitting, partition choice (explicit, murmur2 of the key, or sticky per batch for
//! keyless lines) and batching; requests, retries and record encoding live in strom-client.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::ValueEnum;
use strom_client::{partition_for_key, Compression, OwnedRecord};

use super::bootstrap::BootstrapArgs;
use tokio::sync::mpsc;

/// Input rules, shown at the end of `strom produce --help`.
const INPUT_HELP: &str = "\
Each stdin line (without its trailing newline or CRLF) becomes one record value; with --key-separator the text
before the first separator is the key and a line without it is an error. Keyed records go to
murmur2(key) % partitions like Kafka's default partitioner; keyless records go to one partition per batch,
rotating. Lines are sent in batches of whatever stdin has ready (up to --batch-size lines). Prints nothing on
success; exits non-zero on the first failure.";

/// Produce stdin lines as records.
#[derive(clap::Args)]
#[command(after_help = INPUT_HELP)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

    /// Topic to produce to.
    #[arg(long)]
    topic: String,

    /// Send every record to this partition [default: murmur2(key) for keyed lines, otherwise one partition per
    /// batch, rotating].
    #[arg(long)]
    partition: Option<i32>,

    /// Split each line at the first SEP into key and value; a line without SEP is an error.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,

    /// Acknowledgement required from the broker: -1 (or all) = all in-sync replicas, 1 = leader, 0 = none.
    #[arg(long, default_value = "-1", value_parser = parse_acks, allow_hyphen_values = true)]
    acks: i16,

    /// Compression codec for record batches.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,

    /// Header added to every record, KEY=VALUE (repeatable; keys must be distinct).
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    headers: Vec<(String, String)>,

    /// Most lines sent in one round of produce requests.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// Payload bytes after which a round is sent even if more lines are ready, keeping requests well under the
/// broker's default 1 MiB `message.max.bytes`.
const MAX_ROUND_BYTES: usize = 512 * 1024;

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut headers: Vec<(String, Option<Bytes>)> = Vec::new();
    for (k, v) in &args.headers {
        if headers.iter().any(|(existing, _)| existing == k) {
            bail!("header {k:?} given twice");
        }
        headers.push((k.clone(), Some(Bytes::copy_from_slice(v.as_bytes()))));
    }
    let mut client = args.bootstrap.connect().await?;
    let topic = client
        .topic(&args.topic)
        .await
        .with_context(|| format!("looking up topic {}", args.topic))?;
    let num_partitions = i32::try_from(topic.partitions.len()).context("partition count")?;
    if num_partitions == 0 {
        bail!("topic {} has no partitions", args.topic);
    }
    if let Some(p) = args.partition {
        if !(0..num_partitions).contains(&p) {
            bail!(
                "partition {p} does not exist; {} has {num_partitions} partitions",
                args.topic
            );
        }
    }

    let mut lines = spawn_stdin_reader();
    let mut line_number: u64 = 0;
    // Keyless lines stick to one partition per round, starting somewhere arbitrary so that many short-lived
    // producers spread out.
    let mut sticky = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        % num_partitions as u32) as i32;
    let compression = Compression::from(args.compression);

    while let Some(first) = lines.recv().await {
        // Take everything already read, without waiting for more.
        let mut round = vec![first.context("reading stdin")?];
        let mut round_bytes = round[0].len();
        while round.len() < args.batch_size as usize && round_bytes < MAX_ROUND_BYTES {
            match lines.try_recv() {
                Ok(line) => {
                    let line = line.context("reading stdin")?;
                    round_bytes += line.len();
                    round.push(line);
                }
                Err(_) => break,
            }
        }

        let mut by_partition: BTreeMap<i32, Vec<OwnedRecord>> = BTreeMap::new();
        for line in round {
            line_number += 1;
            let (key, value) = split_line(line, args.key_separator.as_deref().map(str::as_bytes))
                .with_context(|| {
                format!(
                    "no key separator {:?} on line {line_number}",
                    args.key_separator.as_deref().unwrap_or("")
                )
            })?;
            let partition = match (args.partition, &key) {
                (Some(p), _) => p,
                (None, Some(key)) => partition_for_key(key, num_partitions),
                (None, None) => sticky,
            };
            by_partition
                .entry(partition)
                .or_default()
                .push(OwnedRecord {
                    key,
                    value: Some(value),
                    headers: headers.clone(),
                    timestamp: None,
                });
        }
        sticky = (sticky + 1) % num_partitions;

        for (partition, records) in by_partition {
            client
                .produce(&args.topic, partition, &records, args.acks, compression)
                .await
                .with_context(|| {
                    format!(
                        "producing {} records to {}-{partition}",
                        records.len(),
                        args.topic
                    )
                })?;
        }
    }
    Ok(())
}

/// Reads stdin on a plain thread (stdin reads block) and hands each line to the async side, so the producer can
/// tell "more input is ready" from "stdin would block" with `try_recv`. Lines are bytes; `\n` and a preceding
/// `\r` are stripped.
fn spawn_stdin_reader() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16 * 1024);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut stdin = stdin.lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    if tx.blocking_send(Ok(line)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// Splits a line into (key, value) at the first `separator`; `None` separator means no key.
/// Errors (with `None`) when a separator is configured but absent, as Kafka's console producer does.
fn split_line(line: Vec<u8>, separator: Option<&[u8]>) -> Option<(Option<Bytes>, Bytes)> {
    let line = Bytes::from(line);
    let Some(sep) = separator.filter(|s| !s.is_empty()) else {
        return Some((None, line));
    };
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((Some(line.slice(..at)), line.slice(at + sep.len()..)))
}

fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(format!("acks must be -1 (all), 0 or 1, got {s:?}")),
    }
}

/// Parses `KEY=VALUE`, splitting at the first `=` (values may contain `=`).
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str, sep: Option<&str>) -> Option<(Option<String>, String)> {
        split_line(line.as_bytes().to_vec(), sep.map(str::as_bytes)).map(|(k, v)| {
            (
                k.map(|k| String::from_utf8_lossy(&k).into_owned()),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
    }

    #[test]
    fn key_is_text_before_first_separator() {
        assert_eq!(
            split("k:v:w", Some(":")),
            Some((Some("k".into()), "v:w".into()))
        );
        assert_eq!(
            split("k::v", Some("::")),
            Some((Some("k".into()), "v".into()))
        );
        assert_eq!(
            split(":v", Some(":")),
            Some((Some(String::new()), "v".into()))
        );
        assert_eq!(split("no-sep", Some(":")), None);
        assert_eq!(split("a:b", None), Some((None, "a:b".into())));
    }

    #[test]
    fn acks_accepts_kafka_spellings() {
        assert_eq!(parse_acks("all"), Ok(-1));
        assert_eq!(parse_acks("-1"), Ok(-1));
        assert_eq!(parse_acks("1"), Ok(1));
        assert!(parse_acks("2").is_err());
    }
}
