//! `strom topic {create,list,describe,delete,alter}`: topic administration through strom-client, with flags and
//! output shaped like Kafka's `kafka-topics.sh`. Owns argument parsing and printing only; every request, error
//! code and retry lives in strom-client.

use anyhow::{bail, Context};
use clap::Subcommand;
use strom_client::{Client, ClientError, TopicMetadata};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Broker(s) to bootstrap from: host:port[,host:port...].
    #[arg(
        long,
        global = true,
        env = "STROM_BOOTSTRAP_SERVER",
        default_value = "localhost:9092"
    )]
    bootstrap_server: String,

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
}

/// Kafka's error code for TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's error code for UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.bootstrap_server)
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?;
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
            for topic in &topics {
                describe(&mut client, topic).await?;
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
    }
    Ok(())
}

/// Prints one topic as `kafka-topics.sh --describe` does: a summary line, then one line per partition.
async fn describe(client: &mut Client, topic: &TopicMetadata) -> anyhow::Result<()> {
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
