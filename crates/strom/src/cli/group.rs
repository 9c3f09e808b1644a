//! `strom group {list,describe,delete,reset-offsets}`: consumer-group administration shaped like Kafka's
//! `kafka-consumer-groups.sh`. Owns argument parsing, the lag view (committed offset against log end, owner from
//! the member assignments), the reset plan (`plan_offset`: target per strategy, clamped to the log), `--to-datetime`
//! parsing, and printing as aligned tables or `--json`. Every request, coordinator lookup and error code lives in
//! strom-client. Does not join groups, and does not delete single committed offsets (OffsetDelete).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::{ArgGroup, Subcommand};
use serde::Serialize;
use strom_client::{
    decode_consumer_assignment, Client, GroupDescription, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};

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
    /// List groups with their protocol type and state, sorted by id.
    List {
        /// Only groups in this state (Empty, Stable, PreparingRebalance, CompletingRebalance, Dead); repeatable.
        /// Needs ListGroups v4+.
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
        /// Print {"groups":[{"group":..,"protocol_type":..,"state":..}]} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe a group. By default one line per partition: committed offset, log end offset, lag and owner.
    #[command(after_help = DESCRIBE_HELP)]
    Describe {
        group: String,
        /// One line per member with its number of assigned partitions.
        #[arg(long, conflicts_with = "state")]
        members: bool,
        /// With --members, also the group instance id and the assigned partitions.
        #[arg(long, requires = "members")]
        verbose: bool,
        /// The group's coordinator, assignment strategy, state and member count.
        #[arg(long)]
        state: bool,
        /// Print everything (partitions, members, state) as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete groups that have no members, together with their committed offsets.
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Reset the committed offsets of an inactive group. Prints the plan; commits only with --execute.
    ResetOffsets(ResetArgs),
}

const DESCRIBE_HELP: &str = "\
LAG is LOG-END-OFFSET minus CURRENT-OFFSET, `-` when the group has committed nothing for the partition.
Partitions are those the members are assigned plus those with committed offsets. With --json:
  {\"group\":\"g\",\"state\":\"Stable\",\"protocol_type\":\"consumer\",\"assignment_strategy\":\"range\",
   \"coordinator\":{\"id\":1,\"host\":\"h\",\"port\":9092},
   \"partitions\":[{\"topic\":\"t\",\"partition\":0,\"current_offset\":25,\"log_end_offset\":50,\"lag\":25,
                   \"consumer_id\":\"m-1\",\"host\":\"/127.0.0.1\",\"client_id\":\"c\"}],
   \"total_lag\":25,
   \"members\":[{\"consumer_id\":\"m-1\",\"group_instance_id\":null,\"host\":\"/127.0.0.1\",\"client_id\":\"c\",
                \"partition_count\":1,\"assignment\":[{\"topic\":\"t\",\"partitions\":[0]}]}]}
Unknown values are null.";

/// Reset committed offsets; exactly one of the --to-*/--shift-by strategies.
#[derive(clap::Args)]
#[command(group(
    ArgGroup::new("strategy")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])
))]
struct ResetArgs {
    group: String,

    /// Topic to reset, with all its partitions or only the listed ones: TOPIC or TOPIC:0,2,5. Repeatable.
    #[arg(
        long = "topic",
        value_name = "TOPIC[:P,P...]",
        value_parser = parse_topic_spec,
        required_unless_present = "all_topics"
    )]
    topics: Vec<TopicSpec>,

    /// Every partition the group has committed offsets for.
    #[arg(long, conflicts_with = "topics")]
    all_topics: bool,

    /// The log start offset.
    #[arg(long)]
    to_earliest: bool,

    /// The log end offset.
    #[arg(long)]
    to_latest: bool,

    /// This offset (clamped to the log).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,

    /// The first offset whose timestamp is at or after this time (the log end when there is none):
    /// YYYY-MM-DDTHH:mm:SS[.sss] in UTC, or with a zone: ...Z, ...+02:00, ...-0530.
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    to_datetime: Option<i64>,

    /// The committed offset moved by N (negative moves back), clamped to the log.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    shift_by: Option<i64>,

    /// Commit the new offsets. Without it nothing changes (a dry run).
    #[arg(long)]
    execute: bool,

    /// Only print the plan (the default; accepted for scripts written for Kafka).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,

    /// Print {"group":..,"executed":..,"offsets":[{"topic","partition","current_offset","new_offset"}]}.
    #[arg(long)]
    json: bool,
}

/// A `--topic` value: a topic and, optionally, some of its partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TopicSpec {
    topic: String,
    partitions: Option<Vec<i32>>,
}

/// Where a reset moves each partition's committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    /// Milliseconds since the epoch.
    Datetime(i64),
    ShiftBy(i64),
}

/// What the plan needs to know about one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PartitionOffsets {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    log_start: i64,
    log_end: i64,
    /// For `--to-datetime`: ListOffsets' answer for the timestamp, `None` when no record is that recent.
    at_time: Option<i64>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.bootstrap_server)
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?;
    match args.command {
        Command::List { states, json } => list(&mut client, &states, json).await,
        Command::Describe {
            group,
            members,
            verbose,
            state,
            json,
        } => {
            let view = if json {
                View::Json
            } else if members {
                View::Members { verbose }
            } else if state {
                View::State
            } else {
                View::Offsets
            };
            describe(&mut client, &group, view).await
        }
        Command::Delete { groups } => delete(&mut client, &groups).await,
        Command::ResetOffsets(reset) => reset_offsets(&mut client, reset).await,
    }
}

async fn list(client: &mut Client, states: &[String], json: bool) -> anyhow::Result<()> {
    let groups = client.list_groups(states).await.context("listing groups")?;
    if json {
        let groups: Vec<_> = groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "group": g.group_id,
                    "protocol_type": g.protocol_type,
                    "state": g.state,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "groups": groups }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = groups
        .into_iter()
        .map(|g| {
            vec![
                g.group_id,
                or_dash(g.protocol_type),
                g.state.unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!(
        "{}",
        format_table(&["GROUP", "PROTOCOL-TYPE", "STATE"], &rows)
    );
    Ok(())
}

enum View {
    Offsets,
    Members { verbose: bool },
    State,
    Json,
}

/// One line of the default describe view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct PartitionLag {
    topic: String,
    partition: i32,
    current_offset: Option<i64>,
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    consumer_id: Option<String>,
    host: Option<String>,
    client_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct MemberView {
    consumer_id: String,
    group_instance_id: Option<String>,
    host: String,
    client_id: String,
    partition_count: usize,
    assignment: Vec<AssignedTopic>,
}

#[derive(Debug, Clone, Serialize)]
struct AssignedTopic {
    topic: String,
    partitions: Vec<i32>,
}

#[derive(Debug, Serialize)]
struct Coordinator {
    id: i32,
    host: String,
    port: i32,
}

#[derive(Debug, Serialize)]
struct GroupView {
    group: String,
    state: String,
    protocol_type: String,
    assignment_strategy: String,
    coordinator: Coordinator,
    partitions: Vec<PartitionLag>,
    total_lag: i64,
    members: Vec<MemberView>,
}

/// The group's description, or a clear error when it does not exist (GROUP_ID_NOT_FOUND from DescribeGroups v6,
/// state Dead before).
async fn describe_existing(client: &mut Client, group: &str) -> anyhow::Result<GroupDescription> {
    match client.describe_group(group).await {
        Ok(d) if d.state != "Dead" => Ok(d),
        Ok(_) => bail!("Consumer group '{group}' does not exist."),
        Err(e) if e.is_group_not_found() => bail!("Consumer group '{group}' does not exist."),
        Err(e) => Err(e).with_context(|| format!("describing group {group}")),
    }
}

async fn describe(client: &mut Client, group: &str, view: View) -> anyhow::Result<()> {
    let d = describe_existing(client, group).await?;
    let members = member_views(&d)?;
    let summary = |d: &GroupDescription| {
        vec![
            d.group_id.clone(),
            format!("{} ({})", d.coordinator.addr(), d.coordinator.node_id),
            or_dash(d.protocol.clone()),
            d.state.clone(),
            d.members.len().to_string(),
        ]
    };
    match view {
        View::State => {
            let header = [
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "#MEMBERS",
            ];
            print!("{}", format_table(&header, &[summary(&d)]));
            return Ok(());
        }
        View::Members { verbose } => {
            print_state_note(&d);
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    let mut row = vec![d.group_id.clone(), m.consumer_id.clone()];
                    if verbose {
                        row.push(m.group_instance_id.clone().unwrap_or_else(|| "-".into()));
                    }
                    row.extend([
                        or_dash(m.host.clone()),
                        m.client_id.clone(),
                        m.partition_count.to_string(),
                    ]);
                    if verbose {
                        row.push(format_assignment(&m.assignment));
                    }
                    row
                })
                .collect();
            let header: &[&str] = if verbose {
                &[
                    "GROUP",
                    "CONSUMER-ID",
                    "GROUP-INSTANCE-ID",
                    "HOST",
                    "CLIENT-ID",
                    "#PARTITIONS",
                    "ASSIGNMENT",
                ]
            } else {
                &["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
            };
            print!("{}", format_table(header, &rows));
            return Ok(());
        }
        View::Offsets | View::Json => {}
    }

    let committed = client
        .committed_offsets(group, None)
        .await
        .with_context(|| format!("fetching committed offsets of {group}"))?;
    let mut rows: BTreeMap<(String, i32), PartitionLag> = BTreeMap::new();
    for m in &members {
        for t in &m.assignment {
            for &p in &t.partitions {
                rows.insert(
                    (t.topic.clone(), p),
                    PartitionLag {
                        topic: t.topic.clone(),
                        partition: p,
                        current_offset: None,
                        log_end_offset: None,
                        lag: None,
                        consumer_id: Some(m.consumer_id.clone()),
                        host: Some(m.host.clone()),
                        client_id: Some(m.client_id.clone()),
                    },
                );
            }
        }
    }
    for c in committed {
        let row = rows
            .entry((c.topic.clone(), c.partition))
            .or_insert_with(|| PartitionLag {
                topic: c.topic.clone(),
                partition: c.partition,
                current_offset: None,
                log_end_offset: None,
                lag: None,
                consumer_id: None,
                host: None,
                client_id: None,
            });
        row.current_offset = (c.offset >= 0).then_some(c.offset);
    }
    let mut partitions: Vec<PartitionLag> = rows.into_values().collect();
    for row in &mut partitions {
        // A partition whose topic was deleted keeps its committed offset; it just has no log end.
        match client
            .list_offsets(&row.topic, row.partition, LATEST_TIMESTAMP)
            .await
        {
            Ok(listed) => row.log_end_offset = Some(listed.offset),
            Err(e) => tracing::warn!(topic = %row.topic, partition = row.partition, error = %e,
                "no log end offset"),
        }
        row.lag = lag(row.current_offset, row.log_end_offset);
    }
    let total_lag: i64 = partitions.iter().filter_map(|r| r.lag).sum();

    if let View::Json = view {
        let out = GroupView {
            group: d.group_id.clone(),
            state: d.state.clone(),
            protocol_type: d.protocol_type.clone(),
            assignment_strategy: d.protocol.clone(),
            coordinator: Coordinator {
                id: d.coordinator.node_id,
                host: d.coordinator.host.clone(),
                port: d.coordinator.port,
            },
            partitions,
            total_lag,
            members,
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    print_state_note(&d);
    let dash = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let rows: Vec<Vec<String>> = partitions
        .into_iter()
        .map(|r| {
            vec![
                group.to_owned(),
                r.topic,
                r.partition.to_string(),
                dash(r.current_offset),
                dash(r.log_end_offset),
                dash(r.lag),
                r.consumer_id.unwrap_or_else(|| "-".into()),
                or_dash(r.host.unwrap_or_default()),
                r.client_id.unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ];
    print!("{}", format_table(&header, &rows));
    Ok(())
}

/// Kafka's remarks above a describe table: an inactive or rebalancing group explains its empty columns.
fn print_state_note(d: &GroupDescription) {
    match d.state.as_str() {
        "Empty" => println!("Consumer group '{}' has no active members.\n", d.group_id),
        "PreparingRebalance" | "CompletingRebalance" => {
            println!("Warning: Consumer group '{}' is rebalancing.\n", d.group_id)
        }
        _ => {}
    }
}

/// Members with their decoded assignments. Only the `consumer` protocol's assignment format is known; members
/// of other protocol types (Connect...) are listed without partitions.
fn member_views(d: &GroupDescription) -> anyhow::Result<Vec<MemberView>> {
    let consumer = d.protocol_type == "consumer" || d.protocol_type.is_empty();
    if !consumer && !d.members.is_empty() {
        eprintln!(
            "Group '{}' has protocol type {:?}, not consumer: member assignments are not shown.",
            d.group_id, d.protocol_type
        );
    }
    let mut out = Vec::with_capacity(d.members.len());
    for m in &d.members {
        let assignment = if consumer {
            decode_consumer_assignment(&m.assignment)
                .with_context(|| format!("assignment of member {}", m.member_id))?
        } else {
            Vec::new()
        };
        let assignment: Vec<AssignedTopic> = assignment
            .into_iter()
            .map(|(topic, mut partitions)| {
                partitions.sort_unstable();
                AssignedTopic { topic, partitions }
            })
            .collect();
        out.push(MemberView {
            consumer_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            host: m.client_host.clone(),
            client_id: m.client_id.clone(),
            partition_count: assignment.iter().map(|t| t.partitions.len()).sum(),
            assignment,
        });
    }
    Ok(out)
}

/// Kafka's `topic(0,1),other(2)`, or `-` for no partitions.
fn format_assignment(assignment: &[AssignedTopic]) -> String {
    if assignment.is_empty() {
        return "-".into();
    }
    assignment
        .iter()
        .map(|t| {
            let ps: Vec<String> = t.partitions.iter().map(i32::to_string).collect();
            format!("{}({})", t.topic, ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Log end minus committed offset, when both are known (negative when the log was truncated below the commit).
fn lag(committed: Option<i64>, log_end: Option<i64>) -> Option<i64> {
    Some(log_end? - committed?)
}

async fn delete(client: &mut Client, groups: &[String]) -> anyhow::Result<()> {
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for group in groups {
        match client.delete_group(group).await {
            Ok(()) => deleted.push(format!("'{group}'")),
            Err(e) => {
                let reason = match e.kafka_code() {
                    Some(NON_EMPTY_GROUP) => format!(
                        "{e}: the group has active members; stop its consumers (or wait for their sessions \
                         to expire) and try again"
                    ),
                    _ if e.is_group_not_found() => format!("{e}: no such group"),
                    _ => e.to_string(),
                };
                failed.push(format!(
                    "* Group '{group}' could not be deleted due to: {reason}"
                ));
            }
        }
    }
    if !deleted.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            deleted.join(", ")
        );
    }
    if !failed.is_empty() {
        bail!(
            "Deletion of some consumer groups failed:\n{}",
            failed.join("\n")
        );
    }
    Ok(())
}

/// Kafka's NON_EMPTY_GROUP error code.
const NON_EMPTY_GROUP: i16 = 68;

async fn reset_offsets(client: &mut Client, args: ResetArgs) -> anyhow::Result<()> {
    let to = match (
        args.to_earliest,
        args.to_latest,
        args.to_offset,
        args.to_datetime,
        args.shift_by,
    ) {
        (true, ..) => ResetTo::Earliest,
        (_, true, ..) => ResetTo::Latest,
        (_, _, Some(o), ..) => ResetTo::Offset(o),
        (.., Some(t), _) => ResetTo::Datetime(t),
        (.., Some(n)) => ResetTo::ShiftBy(n),
        // clap's required "strategy" group makes this unreachable; say so rather than guess.
        _ => {
            bail!("give one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
        }
    };
    let group = args.group.as_str();

    // Kafka refuses to move the offsets of a group whose members may commit over them.
    let state = match client.describe_group(group).await {
        Ok(d) => d.state,
        Err(e) if e.is_group_not_found() => "Dead".to_owned(),
        Err(e) => return Err(e).with_context(|| format!("describing group {group}")),
    };
    if state != "Empty" && state != "Dead" {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
        );
    }

    let partitions: Vec<(String, i32)> = if args.all_topics {
        client
            .committed_offsets(group, None)
            .await
            .with_context(|| format!("fetching committed offsets of {group}"))?
            .into_iter()
            .filter(|c| c.offset >= 0)
            .map(|c| (c.topic, c.partition))
            .collect()
    } else {
        let mut out = Vec::new();
        for spec in &args.topics {
            let meta = client
                .topic(&spec.topic)
                .await
                .with_context(|| format!("looking up topic {}", spec.topic))?;
            let existing: Vec<i32> = meta.partitions.iter().map(|p| p.partition).collect();
            match &spec.partitions {
                None => out.extend(existing.iter().map(|&p| (spec.topic.clone(), p))),
                Some(wanted) => {
                    for &p in wanted {
                        if !existing.contains(&p) {
                            bail!(
                                "partition {p} does not exist; {} has {} partitions",
                                spec.topic,
                                existing.len()
                            );
                        }
                        out.push((spec.topic.clone(), p));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    };
    if partitions.is_empty() {
        bail!("no partitions to reset for group '{group}'");
    }

    let mut wanted: Vec<(String, Vec<i32>)> = Vec::new();
    for (t, p) in &partitions {
        match wanted.last_mut() {
            Some((last, ps)) if last == t => ps.push(*p),
            _ => wanted.push((t.clone(), vec![*p])),
        }
    }
    let committed: BTreeMap<(String, i32), i64> = client
        .committed_offsets(group, Some(&wanted))
        .await
        .with_context(|| format!("fetching committed offsets of {group}"))?
        .into_iter()
        .filter(|c| c.offset >= 0)
        .map(|c| ((c.topic, c.partition), c.offset))
        .collect();

    let mut plan = Vec::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        let log_start = list_offset(client, &topic, partition, EARLIEST_TIMESTAMP).await?;
        let log_end = list_offset(client, &topic, partition, LATEST_TIMESTAMP).await?;
        let at_time = match to {
            ResetTo::Datetime(ts) => {
                Some(list_offset(client, &topic, partition, ts).await?).filter(|&o| o >= 0)
            }
            _ => None,
        };
        let p = PartitionOffsets {
            committed: committed.get(&(topic.clone(), partition)).copied(),
            topic,
            partition,
            log_start,
            log_end,
            at_time,
        };
        let new_offset = plan_offset(to, &p).map_err(anyhow::Error::msg)?;
        plan.push((p, new_offset));
    }

    if args.execute {
        let offsets: Vec<(String, i32, i64)> = plan
            .iter()
            .map(|(p, o)| (p.topic.clone(), p.partition, *o))
            .collect();
        let results = client
            .commit_offsets(group, -1, "", &offsets)
            .await
            .with_context(|| format!("committing offsets of {group}"))?;
        let failures: Vec<String> = results
            .into_iter()
            .filter_map(|r| {
                r.result
                    .err()
                    .map(|e| format!("* {}-{}: {e}", r.topic, r.partition))
            })
            .collect();
        if !failures.is_empty() {
            bail!(
                "committing offsets of group '{group}' failed for:\n{}",
                failures.join("\n")
            );
        }
    }

    if args.json {
        let offsets: Vec<_> = plan
            .iter()
            .map(|(p, o)| {
                serde_json::json!({
                    "topic": p.topic,
                    "partition": p.partition,
                    "current_offset": p.committed,
                    "new_offset": o,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "group": group, "executed": args.execute, "offsets": offsets })
        );
    } else {
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|(p, o)| {
                vec![
                    group.to_owned(),
                    p.topic.clone(),
                    p.partition.to_string(),
                    o.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            format_table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &rows)
        );
    }
    if !args.execute && !args.dry_run {
        eprintln!("Dry run: nothing was committed. Add --execute to commit these offsets.");
    }
    Ok(())
}

async fn list_offset(
    client: &mut Client,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> anyhow::Result<i64> {
    Ok(client
        .list_offsets(topic, partition, timestamp)
        .await
        .with_context(|| format!("listing offsets of {topic}-{partition}"))?
        .offset)
}

/// The new committed offset of one partition, clamped to [log start, log end] as Kafka does (an offset outside
/// the log would only be reset again by the consumer's `auto.offset.reset`).
fn plan_offset(to: ResetTo, p: &PartitionOffsets) -> Result<i64, String> {
    let target = match to {
        ResetTo::Earliest => p.log_start,
        ResetTo::Latest => p.log_end,
        ResetTo::Offset(o) => o,
        // No record at or after the time: the end of the log, where the next record will go.
        ResetTo::Datetime(_) => p.at_time.unwrap_or(p.log_end),
        ResetTo::ShiftBy(n) => p
            .committed
            .ok_or_else(|| {
                format!(
                    "cannot shift the offset of {}-{}: the group has no committed offset there",
                    p.topic, p.partition
                )
            })?
            .saturating_add(n),
    };
    Ok(clamp(target, p.log_start, p.log_end))
}

fn clamp(offset: i64, log_start: i64, log_end: i64) -> i64 {
    offset.min(log_end).max(log_start)
}

/// Parses `TOPIC` or `TOPIC:P,P...`.
fn parse_topic_spec(s: &str) -> Result<TopicSpec, String> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((topic, list)) => {
            let ps = list
                .split(',')
                .map(|p| match p.trim().parse::<i32>() {
                    Ok(p) if p >= 0 => Ok(p),
                    _ => Err(format!("{p:?} is not a partition number in {s:?}")),
                })
                .collect::<Result<Vec<i32>, String>>()?;
            (topic, Some(ps))
        }
    };
    if topic.is_empty() {
        return Err(format!("no topic name in {s:?}"));
    }
    Ok(TopicSpec {
        topic: topic.to_owned(),
        partitions,
    })
}

/// Parses `YYYY-MM-DDTHH:mm:SS[.fraction][zone]` into milliseconds since the epoch. Without a zone the time is
/// UTC (Kafka's tool uses the local zone; a CLI whose meaning changes with the machine's zone is a trap). Zones:
/// `Z`, `±HH:MM`, `±HHMM`, `±HH`. The fraction is cut to milliseconds.
fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = |why: &str| {
        format!(
            "{s:?} is not a datetime like 2026-11-24T06:00:00.000 (optionally +02:00 or Z): {why}"
        )
    };
    let (date, rest) = s
        .split_once(['T', 't', ' '])
        .ok_or_else(|| bad("no T between date and time"))?;
    let mut d = date.splitn(3, '-');
    let num = |part: Option<&str>, digits: usize, what: &str| -> Result<i64, String> {
        match part {
            Some(p) if p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<i64>().map_err(|_| bad(what))
            }
            _ => Err(bad(what)),
        }
    };
    let year = num(d.next(), 4, "year")?;
    let month = num(d.next(), 2, "month")?;
    let day = num(d.next(), 2, "day")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }

    // The zone starts at `Z`, `+` or `-` (the time part has no other `-`).
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (time, None),
    };
    let mut t = hms.splitn(3, ':');
    let hour = num(t.next(), 2, "hour")?;
    let minute = num(t.next(), 2, "minute")?;
    let second = num(t.next(), 2, "second")?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time"));
    }
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let ms = format!("{f:0<3}");
            ms[..3].parse::<i64>().map_err(|_| bad("fraction"))?
        }
        Some(_) => return Err(bad("fraction")),
    };
    let offset_seconds = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let body = &z[1..];
            let (h, m) = match body.len() {
                2 => (body, "00"),
                4 => body.split_at(2),
                5 if body.as_bytes()[2] == b':' => (&body[..2], &body[3..]),
                _ => return Err(bad("zone")),
            };
            let h = num(Some(h), 2, "zone")?;
            let m = num(Some(m), 2, "zone")?;
            if h > 18 || m > 59 {
                return Err(bad("zone"));
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds) * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Left-aligned columns separated by two spaces, header first; no trailing spaces.
fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(committed: Option<i64>, log_start: i64, log_end: i64) -> PartitionOffsets {
        PartitionOffsets {
            topic: "t".into(),
            partition: 0,
            committed,
            log_start,
            log_end,
            at_time: None,
        }
    }

    #[test]
    fn plan_targets_and_clamps_to_the_log() {
        let p = partition(Some(25), 10, 50);
        let cases = [
            (ResetTo::Earliest, Ok(10)),
            (ResetTo::Latest, Ok(50)),
            (ResetTo::Offset(30), Ok(30)),
            (ResetTo::Offset(0), Ok(10)),
            (ResetTo::Offset(500), Ok(50)),
            (ResetTo::ShiftBy(-5), Ok(20)),
            (ResetTo::ShiftBy(-100), Ok(10)),
            (ResetTo::ShiftBy(100), Ok(50)),
            (ResetTo::ShiftBy(i64::MAX), Ok(50)),
            // No record at or after the time: the log end.
            (ResetTo::Datetime(0), Ok(50)),
        ];
        for (to, want) in cases {
            assert_eq!(plan_offset(to, &p), want, "{to:?}");
        }
        let found = PartitionOffsets {
            at_time: Some(42),
            ..p.clone()
        };
        assert_eq!(plan_offset(ResetTo::Datetime(0), &found), Ok(42));
        let err = plan_offset(ResetTo::ShiftBy(1), &partition(None, 0, 5)).unwrap_err();
        assert!(err.contains("no committed offset"), "{err}");
        // Earliest/latest/offset need no committed offset.
        assert_eq!(
            plan_offset(ResetTo::Offset(3), &partition(None, 0, 5)),
            Ok(3)
        );
    }

    #[test]
    fn clamp_keeps_offsets_inside_the_log() {
        assert_eq!(clamp(-1, 0, 0), 0);
        assert_eq!(clamp(7, 5, 9), 7);
        assert_eq!(clamp(4, 5, 9), 5);
        assert_eq!(clamp(10, 5, 9), 9);
    }

    #[test]
    fn datetimes_parse_as_utc_or_with_a_zone() {
        let cases = [
            ("1970-01-01T00:00:00", 0),
            ("1970-01-01T00:00:00.000Z", 0),
            ("2026-11-24T06:00:00.000", 1_795_500_000_000),
            ("2026-11-24T07:00:00.000+01:00", 1_795_500_000_000),
            ("2026-11-24T07:00:00+0100", 1_795_500_000_000),
            ("2026-11-24T05:00:00-01", 1_795_500_000_000),
            ("2024-02-29T23:59:59.123+05:30", 1_709_231_399_123),
            ("2024-02-29T23:59:59.1234567+05:30", 1_709_231_399_123),
            ("2024-02-29T23:59:59.1+05:30", 1_709_231_399_100),
            ("1969-12-31T23:00:00Z", -3_600_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_datetime(s), Ok(want), "{s}");
        }
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T06:00",
            "2023-02-29T00:00:00",
            "2026-13-01T00:00:00",
            "2026-11-24T24:00:00",
            "2026-11-24T06:00:00.",
            "2026-11-24T06:00:00+1",
            "2026-11-24T06:00:00+19:00",
            "26-11-24T06:00:00",
            "2026-11-24T06:00:00 UTC",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn topic_specs() {
        assert_eq!(
            parse_topic_spec("t"),
            Ok(TopicSpec {
                topic: "t".into(),
                partitions: None
            })
        );
        assert_eq!(
            parse_topic_spec("t:0,2, 5"),
            Ok(TopicSpec {
                topic: "t".into(),
                partitions: Some(vec![0, 2, 5])
            })
        );
        for bad in ["", ":1", "t:", "t:a", "t:-1", "t:1,,2"] {
            assert!(parse_topic_spec(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lag_needs_both_offsets() {
        assert_eq!(lag(Some(25), Some(50)), Some(25));
        assert_eq!(lag(None, Some(50)), None);
        assert_eq!(lag(Some(25), None), None);
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let cmd = <Args as clap::Args>::augment_args(clap::Command::new("group"));
        let matches =
            cmd.try_get_matches_from(std::iter::once("group").chain(args.iter().copied()))?;
        <Args as clap::FromArgMatches>::from_arg_matches(&matches)
    }

    #[test]
    fn command_lines() {
        <Args as clap::Args>::augment_args(clap::Command::new("group")).debug_assert();
        let ok = [
            &["list", "--state", "Stable", "--state", "Empty"][..],
            &["describe", "g", "--members", "--verbose", "--json"],
            &["describe", "g", "--state"],
            &["delete", "a", "b"],
            &["reset-offsets", "g", "--topic", "t:0,1", "--shift-by", "-5"],
            &[
                "reset-offsets",
                "g",
                "--all-topics",
                "--to-earliest",
                "--execute",
            ],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--topic",
                "u",
                "--to-datetime",
                "2026-11-24T06:00:00.000",
            ],
        ];
        for args in ok {
            assert!(parse(args).is_ok(), "{args:?}: {:?}", parse(args).err());
        }
        let bad = [
            &["delete"][..],
            &["describe", "g", "--members", "--state"],
            &["describe", "g", "--verbose"],
            &["reset-offsets", "g", "--topic", "t"],
            &["reset-offsets", "g", "--to-earliest"],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-earliest",
                "--to-latest",
            ],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--all-topics",
                "--to-earliest",
            ],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-latest",
                "--execute",
                "--dry-run",
            ],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-datetime",
                "yesterday",
            ],
        ];
        for args in bad {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["g".to_owned(), "topic-long".to_owned(), "0".to_owned()],
            vec!["g".to_owned(), "t".to_owned(), "10".to_owned()],
        ];
        assert_eq!(
            format_table(&["GROUP", "TOPIC", "PARTITION"], &rows),
            "GROUP  TOPIC       PARTITION\n\
             g      topic-long  0\n\
             g      t           10\n"
        );
        assert_eq!(
            format_assignment(&[
                AssignedTopic {
                    topic: "a".into(),
                    partitions: vec![0, 1]
                },
                AssignedTopic {
                    topic: "b".into(),
                    partitions: vec![2]
                }
            ]),
            "a(0,1),b(2)"
        );
    }
}
