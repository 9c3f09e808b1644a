//! `strom group reset-offsets`: moves an inactive group's committed offsets, as Kafka's `--reset-offsets`. Owns
//! the flags, the plan (`plan_offset`: the target per strategy, clamped to the log), `--topic` and
//! `--to-datetime` parsing, and printing the plan; commits only with `--execute`. The requests are
//! strom-client's, the table printing `table.rs`'s.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::ArgGroup;
use strom_client::{Client, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use super::table::format_table;
use crate::cli::bootstrap::list_offset;

/// Reset committed offsets; exactly one of the --to-*/--shift-by strategies.
#[derive(clap::Args)]
#[command(group(
    ArgGroup::new("strategy")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])
))]
pub(super) struct ResetArgs {
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

pub(super) async fn reset_offsets(client: &mut Client, args: ResetArgs) -> anyhow::Result<()> {
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
}
