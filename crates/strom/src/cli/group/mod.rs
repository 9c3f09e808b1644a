//! `strom group {list,describe,delete,reset-offsets}`: consumer-group administration shaped like Kafka's
//! `kafka-consumer-groups.sh`. This file owns the command line (every subcommand's flags but reset-offsets'),
//! dispatch, and the two small subcommands (list, delete); `describe.rs` owns the lag and member views,
//! `reset_offsets.rs` the reset plan and `--to-datetime` parsing, `table.rs` the aligned-table printing they
//! share. Every request, coordinator lookup and error code lives in strom-client. Does not join groups, and does
//! not delete single committed offsets (OffsetDelete).

mod describe;
mod reset_offsets;
pub(crate) mod table;

use anyhow::{bail, Context};
use clap::Subcommand;
use strom_client::Client;

use super::bootstrap::BootstrapArgs;
use table::{format_table, or_dash};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: BootstrapArgs,

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
    #[command(after_help = describe::DESCRIBE_HELP)]
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
    ResetOffsets(reset_offsets::ResetArgs),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut client = args.bootstrap.connect().await?;
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
                describe::View::Json
            } else if members {
                describe::View::Members { verbose }
            } else if state {
                describe::View::State
            } else {
                describe::View::Offsets
            };
            describe::describe(&mut client, &group, view).await
        }
        Command::Delete { groups } => delete(&mut client, &groups).await,
        Command::ResetOffsets(reset) => reset_offsets::reset_offsets(&mut client, reset).await,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
