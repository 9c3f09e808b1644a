//! `strom txn {list,describe,abort}`: transaction administration shaped like Kafka's
//! `kafka-transactions.sh` (same columns). `list` asks every broker for the transactions it coordinates,
//! `describe` asks the transactional id's coordinator, `abort` writes an ABORT marker for a hanging
//! transaction on one partition through that partition's leader (WriteTxnMarkers, as Kafka's tool does with
//! `--producer-id --producer-epoch --coordinator-epoch`). Every request and error code lives in
//! strom-client. `find-hanging` and `abort --start-offset` need DescribeProducers (the partitions' producer
//! state), which Strom does not serve yet, so they are not offered.

use anyhow::Context;
use clap::Subcommand;
use strom_client::{Client, TransactionFilter};

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
    /// Abort a hanging transaction on one partition (an ABORT marker written by the partition's leader).
    Abort {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        #[arg(long = "producer-id")]
        producer_id: i64,
        #[arg(long = "producer-epoch")]
        producer_epoch: i16,
        /// The coordinator epoch the partition last saw for this producer.
        #[arg(long = "coordinator-epoch")]
        coordinator_epoch: i32,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = args.bootstrap.connect().await?;
    match args.command {
        Command::List {
            states,
            producer_ids,
            duration_ms,
            json,
        } => {
            let filter = TransactionFilter {
                states,
                producer_ids,
                min_duration_ms: duration_ms,
            };
            list(&mut client, &filter, json).await
        }
        Command::Describe {
            transactional_id,
            json,
        } => describe(&mut client, &transactional_id, json).await,
        Command::Abort {
            topic,
            partition,
            producer_id,
            producer_epoch,
            coordinator_epoch,
        } => {
            client
                .abort_transaction(
                    &topic,
                    partition,
                    producer_id,
                    producer_epoch,
                    coordinator_epoch,
                )
                .await
                .with_context(|| format!("aborting the transaction on {topic}-{partition}"))?;
            println!("Aborted the transaction of producer {producer_id} (epoch {producer_epoch}) on {topic}-{partition}.");
            Ok(())
        }
    }
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_millis() as i64);
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
