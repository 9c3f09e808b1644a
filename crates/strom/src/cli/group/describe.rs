//! `strom group describe`: the group's partitions with committed offset, log end offset, lag and owner (Kafka's
//! default view), its members (`--members`, `--verbose`), its state (`--state`), or all of it as JSON. Owns the
//! views and the decoding of `consumer` member assignments into them; the requests are strom-client's, the
//! table printing `table.rs`'s.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::Serialize;
use strom_client::{decode_consumer_assignment, Client, GroupDescription, LATEST_TIMESTAMP};

use super::table::{format_table, or_dash};

pub(super) const DESCRIBE_HELP: &str = "\
LAG is LOG-END-OFFSET minus CURRENT-OFFSET, `-` when the group has committed nothing for the partition.
LOG-END-OFFSET is the high watermark (ListOffsets latest, read_uncommitted) whatever isolation level the
group's consumers use, as kafka-consumer-groups.sh reports it: for a read_committed group the lag also counts
records of open transactions past the last stable offset, and transaction markers.
Partitions are those the members are assigned plus those with committed offsets. With --json:
  {\"group\":\"g\",\"state\":\"Stable\",\"protocol_type\":\"consumer\",\"assignment_strategy\":\"range\",
   \"coordinator\":{\"id\":1,\"host\":\"h\",\"port\":9092},
   \"partitions\":[{\"topic\":\"t\",\"partition\":0,\"current_offset\":25,\"log_end_offset\":50,\"lag\":25,
                   \"consumer_id\":\"m-1\",\"host\":\"/127.0.0.1\",\"client_id\":\"c\"}],
   \"total_lag\":25,
   \"members\":[{\"consumer_id\":\"m-1\",\"group_instance_id\":null,\"host\":\"/127.0.0.1\",\"client_id\":\"c\",
                \"partition_count\":1,\"assignment\":[{\"topic\":\"t\",\"partitions\":[0]}]}]}
Unknown values are null.";

pub(super) enum View {
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

pub(super) async fn describe(client: &mut Client, group: &str, view: View) -> anyhow::Result<()> {
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
        // A partition whose topic was deleted keeps its committed offset; it just has no log end. Latest under
        // read_uncommitted (the high watermark), as Kafka's ConsumerGroupCommand asks ListOffsets with the default
        // ListOffsetsOptions (READ_UNCOMMITTED) for every group, read_committed consumers or not.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_needs_both_offsets() {
        assert_eq!(lag(Some(25), Some(50)), Some(25));
        assert_eq!(lag(None, Some(50)), None);
        assert_eq!(lag(Some(25), None), None);
    }

    #[test]
    fn assignments_print_as_kafka_does() {
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
