//! `strom topic {create,list,describe,delete,alter,reassign,reassignments,elect-leaders}`: topic administration
//! through strom-client, with flags and output shaped like Kafka's `kafka-topics.sh`, `kafka-reassign-partitions.sh`
//! and `kafka-leader-election.sh`. Owns argument parsing and printing only; every request, error
//! code and retry lives in strom-client.

use anyhow::{bail, Context};
use clap::Subcommand;
use strom_client::{Client, ClientError, OngoingReassignment, PartitionOutcome, TopicMetadata};

use super::bootstrap::BootstrapArgs;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a topic. Prints `Created topic NAME.`
    Create {
        name: String,
        /// Number of partitions [default: the broker's num.partitions].
        #[arg(long)]
        partitions: Option<i32>,
        /// Replicas per partition [default: the broker's default.replication.factor].
        #[arg(long)]
        replication_factor: Option<i16>,
        /// Topic config override, KEY=VALUE (repeatable), e.g. --config retention.ms=60000.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed without change when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names, one per line, sorted.
    List {
        /// Leave out internal topics such as __consumer_offsets.
        #[arg(long)]
        exclude_internal: bool,
    },
    /// Describe one topic, or all: topic id, partitions with leader/replicas/ISR, and non-default configs.
    Describe {
        name: Option<String>,
        /// Leave out internal topics when describing all topics.
        #[arg(long)]
        exclude_internal: bool,
    },
    /// Delete a topic.
    Delete {
        name: String,
        /// Succeed without change when the topic does not exist.
        #[arg(long)]
        if_exists: bool,
    },
    /// Add partitions and/or change topic configs.
    Alter {
        name: String,
        /// New total number of partitions (can only grow).
        #[arg(long)]
        partitions: Option<i32>,
        /// Set a topic config, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Remove a topic config override, reverting to the default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
    },
    /// Move a partition to new replicas (the first is the preferred leader), or cancel a move in progress.
    /// Returns once the controller accepted it; the data moves in the background (see `reassignments`).
    Reassign {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        /// Target replicas, broker ids separated by commas, e.g. 2,3,1.
        #[arg(
            long,
            value_delimiter = ',',
            num_args = 1..,
            required_unless_present = "cancel",
            conflicts_with = "cancel"
        )]
        replicas: Vec<i32>,
        /// Cancel the reassignment in progress, reverting to the original replicas.
        #[arg(long)]
        cancel: bool,
    },
    /// List the partition reassignments in progress.
    Reassignments,
    /// Elect leaders: by default the preferred (first) replica of every partition, or of one topic or partition.
    ElectLeaders {
        /// Only this topic's partitions.
        #[arg(long)]
        topic: Option<String>,
        /// Only this partition of --topic.
        #[arg(long, requires = "topic")]
        partition: Option<i32>,
        /// Unclean election: give leaderless partitions a leader, even a replica outside the ISR (may lose data).
        #[arg(long)]
        unclean: bool,
    },
}

/// Kafka's error code for TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's error code for UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's error code for ELECTION_NOT_NEEDED: the partition already has the leader asked for.
const ELECTION_NOT_NEEDED: i16 = 84;

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = args.bootstrap.connect().await?;
    match args.command {
        Command::Create {
            name,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => {
            let result = client
                .create_topic(
                    &name,
                    partitions.unwrap_or(-1),
                    replication_factor.unwrap_or(-1),
                    &configs,
                )
                .await;
            match result {
                Ok(_) => println!("Created topic {name}."),
                Err(e) if if_not_exists && e.kafka_code() == Some(TOPIC_ALREADY_EXISTS) => {}
                Err(e) => return Err(e).with_context(|| format!("creating topic {name}")),
            }
        }
        Command::List { exclude_internal } => {
            let metadata = client.metadata(None).await.context("listing topics")?;
            for topic in metadata.topics.values() {
                if !(exclude_internal && topic.is_internal) {
                    println!("{}", topic.name);
                }
            }
        }
        Command::Describe {
            name,
            exclude_internal,
        } => {
            let topics: Vec<TopicMetadata> = match name {
                Some(name) => {
                    let metadata = client
                        .metadata(Some(std::slice::from_ref(&name)))
                        .await
                        .with_context(|| format!("describing topic {name}"))?;
                    metadata.topics.into_values().collect()
                }
                None => {
                    let metadata = client.metadata(None).await.context("listing topics")?;
                    metadata
                        .topics
                        .into_values()
                        .filter(|t| !(exclude_internal && t.is_internal))
                        .collect()
                }
            };
            // Partitions being moved also show their adding and removing replicas, as kafka-topics.sh does.
            let reassigning = match client.list_partition_reassignments().await {
                Ok(list) => list,
                Err(ClientError::UnsupportedApi { .. }) => Vec::new(),
                Err(e) => return Err(e).context("listing partition reassignments"),
            };
            for topic in &topics {
                describe(&mut client, topic, &reassigning).await?;
            }
        }
        Command::Delete { name, if_exists } => match client.delete_topic(&name).await {
            Ok(()) => {}
            Err(e) if if_exists && e.kafka_code() == Some(UNKNOWN_TOPIC_OR_PARTITION) => {}
            Err(e) => return Err(e).with_context(|| format!("deleting topic {name}")),
        },
        Command::Alter {
            name,
            partitions,
            configs,
            delete_configs,
        } => {
            if partitions.is_none() && configs.is_empty() && delete_configs.is_empty() {
                bail!("nothing to alter: give --partitions, --config or --delete-config");
            }
            if let Some(total) = partitions {
                client
                    .create_partitions(&name, total)
                    .await
                    .with_context(|| format!("growing {name} to {total} partitions"))?;
            }
            if !configs.is_empty() || !delete_configs.is_empty() {
                client
                    .incremental_alter_topic_configs(&name, &configs, &delete_configs)
                    .await
                    .with_context(|| format!("altering configs of {name}"))?;
            }
        }
        Command::Reassign {
            topic,
            partition,
            replicas,
            cancel,
        } => {
            let target = (!cancel).then_some(replicas);
            let outcomes = client
                .alter_partition_reassignments(vec![(topic.clone(), partition, target)])
                .await
                .with_context(|| format!("reassigning {topic}-{partition}"))?;
            let outcome = outcomes
                .into_iter()
                .find(|o| o.topic == topic && o.partition == partition)
                .with_context(|| format!("the broker did not answer for {topic}-{partition}"))?;
            if let Some(e) = outcome.error {
                return Err(e).with_context(|| format!("reassigning {topic}-{partition}"));
            }
            let verb = if cancel { "cancelled" } else { "started" };
            println!("Successfully {verb} partition reassignment for {topic}-{partition}.");
        }
        Command::Reassignments => {
            let ongoing = client
                .list_partition_reassignments()
                .await
                .context("listing partition reassignments")?;
            if ongoing.is_empty() {
                println!("No partition reassignments found.");
            }
            for r in &ongoing {
                println!(
                    "Topic: {}\tPartition: {}\tReplicas: {}\tAdding Replicas: {}\tRemoving Replicas: {}",
                    r.topic,
                    r.partition,
                    join_ids(&r.replicas),
                    join_ids(&r.adding_replicas),
                    join_ids(&r.removing_replicas)
                );
            }
        }
        Command::ElectLeaders {
            topic,
            partition,
            unclean,
        } => {
            let partitions = match (topic, partition) {
                (Some(topic), Some(partition)) => Some(vec![(topic, partition)]),
                (Some(topic), None) => {
                    let metadata = client
                        .topic(&topic)
                        .await
                        .with_context(|| format!("looking up topic {topic}"))?;
                    Some(
                        metadata
                            .partitions
                            .iter()
                            .map(|p| (topic.clone(), p.partition))
                            .collect(),
                    )
                }
                // clap refuses --partition without --topic.
                (None, _) => None,
            };
            let outcomes = client
                .elect_leaders(!unclean, partitions)
                .await
                .context("electing leaders")?;
            report_elections(if unclean { "UNCLEAN" } else { "PREFERRED" }, outcomes)?;
        }
    }
    Ok(())
}

/// Prints the outcome of an election as `kafka-leader-election.sh` does, and fails when any partition failed
/// for a reason other than already having the leader asked for.
fn report_elections(kind: &str, outcomes: Vec<PartitionOutcome>) -> anyhow::Result<()> {
    let mut elected = Vec::new();
    let mut not_needed = Vec::new();
    let mut failed = 0;
    for o in outcomes {
        let tp = format!("{}-{}", o.topic, o.partition);
        match o.error {
            None => elected.push(tp),
            Some(e) if e.kafka_code() == Some(ELECTION_NOT_NEEDED) => not_needed.push(tp),
            Some(e) => {
                eprintln!("Error completing leader election ({kind}) for partition: {tp}: {e}");
                failed += 1;
            }
        }
    }
    if !elected.is_empty() {
        println!(
            "Successfully completed leader election ({kind}) for partitions {}",
            elected.join(", ")
        );
    }
    if !not_needed.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            not_needed.join(", ")
        );
    }
    if failed > 0 {
        bail!("{failed} partition(s) could not be elected");
    }
    Ok(())
}

/// Prints one topic as `kafka-topics.sh --describe` does: a summary line, then one line per partition.
async fn describe(
    client: &mut Client,
    topic: &TopicMetadata,
    reassigning: &[OngoingReassignment],
) -> anyhow::Result<()> {
    let configs = match client.describe_topic_configs(&topic.name).await {
        Ok(entries) => entries
            .into_iter()
            .filter(|c| !c.is_default)
            .map(|c| {
                let value = if c.sensitive {
                    "<sensitive>".to_owned()
                } else {
                    c.value.unwrap_or_else(|| "null".into())
                };
                format!("{}={}", c.name, value)
            })
            .collect::<Vec<_>>()
            .join(","),
        // A broker without DescribeConfigs still gets partitions described.
        Err(e @ ClientError::UnsupportedApi { .. }) => format!("<{e}>"),
        Err(e) => return Err(e).with_context(|| format!("describing configs of {}", topic.name)),
    };
    let replication_factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let topic_id = if topic.topic_id.is_nil() {
        "none".to_owned()
    } else {
        topic.topic_id.to_string()
    };
    println!(
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.name,
        topic_id,
        topic.partitions.len(),
        replication_factor,
        configs
    );
    for p in &topic.partitions {
        let leader = if p.leader >= 0 {
            p.leader.to_string()
        } else {
            "none".to_owned()
        };
        let mut line = format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            topic.name,
            p.partition,
            leader,
            join_ids(&p.replicas),
            join_ids(&p.isr)
        );
        if let Some(r) = reassigning
            .iter()
            .find(|r| r.topic == topic.name && r.partition == p.partition)
        {
            line.push_str(&format!(
                "\tAdding Replicas: {}\tRemoving Replicas: {}",
                join_ids(&r.adding_replicas),
                join_ids(&r.removing_replicas)
            ));
        }
        if !p.offline_replicas.is_empty() {
            line.push_str(&format!("\tOffline: {}", join_ids(&p.offline_replicas)));
        }
        println!("{line}");
    }
    Ok(())
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
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

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_key_value("a="), Ok(("a".into(), String::new())));
        assert!(parse_key_value("=b").is_err());
        assert!(parse_key_value("ab").is_err());
    }
}
