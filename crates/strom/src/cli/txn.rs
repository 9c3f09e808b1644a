//! `strom txn {list,describe,describe-producers,find-hanging,abort}`: transaction administration shaped like
//! Kafka's `kafka-transactions.sh` (same commands, options and columns). `list` asks every broker for the
//! transactions it coordinates, `describe` asks the transactional id's coordinator, `describe-producers` asks a
//! partition's leader (or `--broker-id`) for its producers (DescribeProducers), `find-hanging` runs Kafka's
//! FindHangingTransactions search over the partitions of a broker or topic, and `abort` writes an ABORT marker
//! for a hanging transaction on one partition through that partition's leader (WriteTxnMarkers), naming it by
//! its `--start-offset` (the producer is looked up with DescribeProducers) or by `--producer-id
//! --producer-epoch --coordinator-epoch`. Every request and error code lives in strom-client.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use clap::Subcommand;
use kafka_protocol::ResponseError;
use strom_client::{Client, ClientError, ProducerStateInfo, TransactionFilter};

use super::bootstrap::BootstrapArgs;
use super::group::table::format_table;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List transactions with their coordinator, producer id and state, sorted by transactional id.
    List {
        /// Only transactions in this state (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
        /// CompleteAbort); repeatable.
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
        /// Only transactions of this producer id; repeatable.
        #[arg(long = "producer-id", value_name = "ID")]
        producer_ids: Vec<i64>,
        /// Only transactions open for longer than this many milliseconds.
        #[arg(long = "duration-filter", value_name = "MS")]
        duration_ms: Option<i64>,
        /// Only transactional ids this regular expression matches as a whole (ListTransactions v2, KIP-1152).
        #[arg(long = "transactional-id-pattern", value_name = "REGEX")]
        transactional_id_pattern: Option<String>,
        /// Print {"transactions":[...]} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe one transactional id: producer, epoch, state, timeout, start time and partitions.
    Describe {
        #[arg(long = "transactional-id", value_name = "ID")]
        transactional_id: String,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The producers of one partition: id, epoch, last coordinator epoch, last sequence, last timestamp and the
    /// start offset of an open transaction (DescribeProducers, asked of the leader unless --broker-id is given).
    DescribeProducers {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        /// Ask this replica instead of the leader.
        #[arg(long = "broker-id", value_name = "ID")]
        broker_id: Option<i32>,
        /// Print {"producers":[...]} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Find hanging transactions: transactions open on a partition for longer than the maximum transaction
    /// timeout whose producer's transactional id is unknown or no longer has the partition in its transaction
    /// (Kafka's FindHangingTransactions). Searches the partitions of --broker-id, or of --topic [--partition].
    FindHanging {
        /// Search the partitions this broker holds a replica of, asking it.
        #[arg(long = "broker-id", value_name = "ID")]
        broker_id: Option<i32>,
        /// Search this topic only.
        #[arg(long)]
        topic: Option<String>,
        /// Search this partition of --topic only.
        #[arg(long, requires = "topic")]
        partition: Option<i32>,
        /// Only transactions open longer than this many minutes count (Kafka's default, 15).
        #[arg(
            long = "max-transaction-timeout",
            value_name = "MIN",
            default_value_t = 15
        )]
        max_transaction_timeout_min: i64,
        /// Print {"hanging":[...]} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Abort a hanging transaction on one partition (an ABORT marker written by the partition's leader), named
    /// by --start-offset, or by --producer-id with --producer-epoch and --coordinator-epoch.
    Abort {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        /// The first offset of the transaction on the partition (as describe-producers and find-hanging show).
        #[arg(long = "start-offset", conflicts_with_all = ["producer_id", "producer_epoch", "coordinator_epoch"])]
        start_offset: Option<i64>,
        #[arg(long = "producer-id", required_unless_present = "start_offset")]
        producer_id: Option<i64>,
        #[arg(long = "producer-epoch", required_unless_present = "start_offset")]
        producer_epoch: Option<i16>,
        /// The coordinator epoch the partition last saw for this producer (-1 is sent as 0, as Kafka's tool does).
        #[arg(long = "coordinator-epoch", required_unless_present = "start_offset")]
        coordinator_epoch: Option<i32>,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = args.bootstrap.connect().await?;
    match args.command {
        Command::List {
            states,
            producer_ids,
            duration_ms,
            transactional_id_pattern,
            json,
        } => {
            let filter = TransactionFilter {
                states,
                producer_ids,
                min_duration_ms: duration_ms,
                transactional_id_pattern,
            };
            list(&mut client, &filter, json).await
        }
        Command::Describe {
            transactional_id,
            json,
        } => describe(&mut client, &transactional_id, json).await,
        Command::DescribeProducers {
            topic,
            partition,
            broker_id,
            json,
        } => describe_producers(&mut client, &topic, partition, broker_id, json).await,
        Command::FindHanging {
            broker_id,
            topic,
            partition,
            max_transaction_timeout_min,
            json,
        } => {
            let scope = match (broker_id, topic) {
                (None, None) => bail!(
                    "find-hanging needs --topic or --broker-id to limit the scope of the search"
                ),
                (broker, topic) => Scope {
                    broker,
                    topic,
                    partition,
                },
            };
            let max_timeout_ms = max_transaction_timeout_min.saturating_mul(60_000);
            find_hanging(&mut client, &scope, max_timeout_ms, json).await
        }
        Command::Abort {
            topic,
            partition,
            start_offset: Some(start_offset),
            ..
        } => {
            let p = client
                .abort_transaction_at(&topic, partition, start_offset)
                .await
                .with_context(|| {
                    format!(
                        "aborting the transaction at offset {start_offset} of {topic}-{partition}"
                    )
                })?;
            println!(
                "Aborted the transaction of producer {} (epoch {}) starting at offset {start_offset} on {topic}-{partition}.",
                p.producer_id, p.producer_epoch
            );
            Ok(())
        }
        Command::Abort {
            topic,
            partition,
            start_offset: None,
            producer_id,
            producer_epoch,
            coordinator_epoch,
        } => {
            let (Some(producer_id), Some(producer_epoch), Some(coordinator_epoch)) =
                (producer_id, producer_epoch, coordinator_epoch)
            else {
                bail!("abort needs --start-offset, or --producer-id, --producer-epoch and --coordinator-epoch");
            };
            client
                .abort_transaction(
                    &topic,
                    partition,
                    producer_id,
                    producer_epoch,
                    // A producer that never saw a marker shows -1; 0 is at or below any coordinator epoch.
                    coordinator_epoch.max(0),
                )
                .await
                .with_context(|| format!("aborting the transaction on {topic}-{partition}"))?;
            println!("Aborted the transaction of producer {producer_id} (epoch {producer_epoch}) on {topic}-{partition}.");
            Ok(())
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

fn or_none(v: i64) -> String {
    if v >= 0 {
        v.to_string()
    } else {
        "None".into()
    }
}

async fn describe_producers(
    client: &mut Client,
    topic: &str,
    partition: i32,
    broker_id: Option<i32>,
    json: bool,
) -> anyhow::Result<()> {
    let asked = (topic.to_owned(), partition);
    let on = broker_id.map_or("leader".into(), |b| format!("broker {b}"));
    let producers = client
        .describe_producers(std::slice::from_ref(&asked), broker_id)
        .await
        .and_then(|mut answers| {
            answers.pop().map(|(_, a)| a).unwrap_or_else(|| {
                Err(ClientError::MissingInResponse {
                    what: format!("{topic}-{partition} in DescribeProducers"),
                })
            })
        })
        .with_context(|| format!("describing the producers of {topic}-{partition} on {on}"))?;
    if json {
        let rows: Vec<_> = producers
            .iter()
            .map(|p| {
                serde_json::json!({
                    "producer_id": p.producer_id,
                    "producer_epoch": p.producer_epoch,
                    "coordinator_epoch": p.coordinator_epoch,
                    "last_sequence": p.last_sequence,
                    "last_timestamp": p.last_timestamp,
                    "current_transaction_start_offset":
                        (p.current_txn_start_offset >= 0).then_some(p.current_txn_start_offset),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "producers": rows }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = producers
        .iter()
        .map(|p| {
            vec![
                p.producer_id.to_string(),
                p.producer_epoch.to_string(),
                p.coordinator_epoch.to_string(),
                p.last_sequence.to_string(),
                p.last_timestamp.to_string(),
                or_none(p.current_txn_start_offset),
            ]
        })
        .collect();
    print!(
        "{}",
        format_table(
            &[
                "ProducerId",
                "ProducerEpoch",
                "LatestCoordinatorEpoch",
                "LastSequence",
                "LastTimestamp",
                "CurrentTransactionStartOffset",
            ],
            &rows
        )
    );
    Ok(())
}

/// Where find-hanging looks.
struct Scope {
    broker: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
}

/// An open transaction on a partition, as DescribeProducers showed it.
struct OpenTxn {
    topic: String,
    partition: i32,
    producer: ProducerStateInfo,
}

/// Kafka asks DescribeProducers for at most this many partitions at a time.
const FIND_HANGING_BATCH: usize = 500;

/// Kafka's FindHangingTransactions: every open transaction (on the partitions in `scope`) whose producer's
/// last write is older than `max_timeout_ms` is a candidate; it is hanging when no transactional id maps to its
/// producer id (ListTransactions), the id is unknown to its coordinator (DescribeTransactions), or the id's
/// current transaction does not include the partition (so the coordinator will never write its marker).
async fn find_hanging(
    client: &mut Client,
    scope: &Scope,
    max_timeout_ms: i64,
    json: bool,
) -> anyhow::Result<()> {
    let partitions = partitions_to_search(client, scope).await?;
    let mut candidates = Vec::new();
    for batch in partitions.chunks(FIND_HANGING_BATCH) {
        let answers = client
            .describe_producers(batch, scope.broker)
            .await
            .with_context(|| format!("describing the producers of {} partitions", batch.len()))?;
        let now = now_ms();
        for ((topic, partition), answer) in answers {
            let producers = answer
                .with_context(|| format!("describing the producers of {topic}-{partition}"))?;
            for producer in producers {
                if producer.current_txn_start_offset >= 0
                    && now.saturating_sub(producer.last_timestamp) > max_timeout_ms
                {
                    candidates.push(OpenTxn {
                        topic: topic.clone(),
                        partition,
                        producer,
                    });
                }
            }
        }
    }
    let hanging = if candidates.is_empty() {
        candidates
    } else {
        filter_hanging(client, candidates).await?
    };
    let now = now_ms();
    let duration_min = |t: &OpenTxn| now.saturating_sub(t.producer.last_timestamp) / 60_000;
    if json {
        let rows: Vec<_> = hanging
            .iter()
            .map(|t| {
                serde_json::json!({
                    "topic": t.topic,
                    "partition": t.partition,
                    "producer_id": t.producer.producer_id,
                    "producer_epoch": t.producer.producer_epoch,
                    "coordinator_epoch": t.producer.coordinator_epoch,
                    "start_offset": t.producer.current_txn_start_offset,
                    "last_timestamp": t.producer.last_timestamp,
                    "duration_min": duration_min(t),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "hanging": rows }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = hanging
        .iter()
        .map(|t| {
            vec![
                t.topic.clone(),
                t.partition.to_string(),
                t.producer.producer_id.to_string(),
                t.producer.producer_epoch.to_string(),
                t.producer.coordinator_epoch.to_string(),
                t.producer.current_txn_start_offset.to_string(),
                t.producer.last_timestamp.to_string(),
                duration_min(t).to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        format_table(
            &[
                "Topic",
                "Partition",
                "ProducerId",
                "ProducerEpoch",
                "CoordinatorEpoch",
                "StartOffset",
                "LastTimestamp",
                "Duration(min)",
            ],
            &rows
        )
    );
    Ok(())
}

/// The partitions find-hanging searches: the one named, or those of the topic (or of every topic, internal
/// ones included) with a replica on `--broker-id` when it is given.
async fn partitions_to_search(
    client: &mut Client,
    scope: &Scope,
) -> anyhow::Result<Vec<(String, i32)>> {
    if let (Some(topic), Some(partition)) = (&scope.topic, scope.partition) {
        return Ok(vec![(topic.clone(), partition)]);
    }
    let topics = match &scope.topic {
        Some(t) => vec![client
            .topic(t)
            .await
            .with_context(|| format!("describing topic {t}"))?],
        None => client
            .metadata(None)
            .await
            .context("listing topics")?
            .topics
            .into_values()
            .collect(),
    };
    Ok(topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| scope.broker.is_none_or(|b| p.replicas.contains(&b)))
                .map(|p| (t.name.clone(), p.partition))
        })
        .collect())
}

/// The candidates the coordinators will not finish (Kafka's `filterHangingTransactions`).
async fn filter_hanging(
    client: &mut Client,
    candidates: Vec<OpenTxn>,
) -> anyhow::Result<Vec<OpenTxn>> {
    let producer_ids: BTreeSet<i64> = candidates.iter().map(|t| t.producer.producer_id).collect();
    let listed = client
        .list_transactions(&TransactionFilter {
            producer_ids: producer_ids.iter().copied().collect(),
            ..TransactionFilter::default()
        })
        .await
        .with_context(|| {
            format!(
                "listing the transactions of {} producers",
                producer_ids.len()
            )
        })?;
    let ids: BTreeMap<i64, String> = listed
        .into_iter()
        .filter(|t| producer_ids.contains(&t.producer_id))
        .map(|t| (t.producer_id, t.transactional_id))
        .collect();
    // The partitions each transactional id's current transaction has; None when its coordinator does not
    // know the id.
    let mut in_txn: BTreeMap<String, Option<BTreeSet<(String, i32)>>> = BTreeMap::new();
    for id in ids.values() {
        if in_txn.contains_key(id) {
            continue;
        }
        let partitions = match client.describe_transaction(id).await {
            Ok(d) => Some(d.partitions.into_iter().collect()),
            Err(e) if e.kafka_code() == Some(ResponseError::TransactionalIdNotFound.code()) => None,
            Err(e) => return Err(e).with_context(|| format!("describing transactional id {id}")),
        };
        in_txn.insert(id.clone(), partitions);
    }
    Ok(candidates
        .into_iter()
        .filter(|t| {
            match ids
                .get(&t.producer.producer_id)
                .and_then(|id| in_txn.get(id))
            {
                Some(Some(partitions)) => !partitions.contains(&(t.topic.clone(), t.partition)),
                // No transactional id for the producer, or its coordinator does not know it.
                _ => true,
            }
        })
        .collect())
}

async fn list(client: &mut Client, filter: &TransactionFilter, json: bool) -> anyhow::Result<()> {
    let listed = client
        .list_transactions(filter)
        .await
        .context("listing transactions")?;
    if json {
        let txns: Vec<_> = listed
            .iter()
            .map(|t| {
                serde_json::json!({
                    "transactional_id": t.transactional_id,
                    "coordinator": t.coordinator_id,
                    "producer_id": t.producer_id,
                    "state": t.state,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "transactions": txns }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .into_iter()
        .map(|t| {
            vec![
                t.transactional_id,
                t.coordinator_id.to_string(),
                t.producer_id.to_string(),
                t.state,
            ]
        })
        .collect();
    print!(
        "{}",
        format_table(
            &[
                "TransactionalId",
                "Coordinator",
                "ProducerId",
                "TransactionState"
            ],
            &rows
        )
    );
    Ok(())
}

async fn describe(client: &mut Client, transactional_id: &str, json: bool) -> anyhow::Result<()> {
    let d = client
        .describe_transaction(transactional_id)
        .await
        .with_context(|| format!("describing transactional id {transactional_id}"))?;
    let now = now_ms();
    let duration = (d.start_time_ms >= 0).then(|| now - d.start_time_ms);
    let partitions: Vec<String> = d
        .partitions
        .iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "coordinator": d.coordinator.node_id,
                "transactional_id": d.transactional_id,
                "producer_id": d.producer_id,
                "producer_epoch": d.producer_epoch,
                "state": d.state,
                "timeout_ms": d.timeout_ms,
                "start_time_ms": d.start_time_ms,
                "duration_ms": duration,
                "partitions": partitions,
            })
        );
        return Ok(());
    }
    let row = vec![
        d.coordinator.node_id.to_string(),
        d.transactional_id,
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state,
        d.timeout_ms.to_string(),
        if d.start_time_ms >= 0 {
            d.start_time_ms.to_string()
        } else {
            "None".into()
        },
        duration.map_or("None".into(), |d| d.to_string()),
        partitions.join(","),
    ];
    print!(
        "{}",
        format_table(
            &[
                "CoordinatorId",
                "TransactionalId",
                "ProducerId",
                "ProducerEpoch",
                "TransactionState",
                "TransactionTimeoutMs",
                "CurrentTransactionStartTimeMs",
                "TransactionDurationMs",
                "TopicPartitions",
            ],
            &[row]
        )
    );
    Ok(())
}
