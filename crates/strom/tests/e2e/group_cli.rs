//! `strom group` as a user runs it, as subprocesses against a real broker whose group was driven by librdkafka: a
//! consumer reads half of two partitions and commits offset 25 on each; `describe` reports the owner while it is
//! a member and lag 25 per partition (50 in all) after it left; `list` finds the group by state; `reset-offsets`
//! refuses an active group, changes nothing as a dry run and moves the offsets with `--execute`; `delete` refuses a
//! group with members and removes an empty one. Plan arithmetic and datetime parsing are unit-tested in
//! `cli/group.rs`; the client requests in strom-client.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{pause, wait_for};

use crate::util::{create_topic, start_broker, strom_bin};

/// No initial rebalance delay and few offsets partitions keep the group quick to form.
const GROUP_ARGS: &[&str] = &[
    "--group-initial-rebalance-delay-ms",
    "0",
    "--offsets-topic-num-partitions",
    "4",
];

const TOPIC: &str = "lagging";
const GROUP: &str = "lag-group";

/// What a finished `strom` subprocess printed.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "success {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.success, self.stdout, self.stderr
        )
    }
}

/// Runs `strom group ARGS --bootstrap-server BS`, killing it after a minute.
fn group(bootstrap: &str, args: &[&str]) -> Output {
    let mut child = Command::new(strom_bin())
        .arg("group")
        .args(args)
        .args(["--bootstrap-server", bootstrap])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning strom group {args:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        pause(Duration::from_millis(20));
    };
    let output = Output {
        success: status.is_some_and(|s| s.success()),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "strom group {args:?} did not finish: {output:?}"
    );
    output
}

fn group_ok(bootstrap: &str, args: &[&str]) -> Output {
    let out = group(bootstrap, args);
    assert!(out.success, "strom group {args:?} failed: {out:?}");
    out
}

fn json(bootstrap: &str, args: &[&str]) -> Value {
    let out = group_ok(bootstrap, args);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
}

fn describe(bootstrap: &str) -> Value {
    json(bootstrap, &["describe", GROUP, "--json"])
}

/// (partition, current offset, log end offset, lag) of one line of the describe JSON.
type Lag = (i64, Option<i64>, Option<i64>, Option<i64>);

fn offsets(described: &Value) -> Vec<Lag> {
    described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["topic"], TOPIC, "{described}");
            (
                p["partition"].as_i64().unwrap(),
                p["current_offset"].as_i64(),
                p["log_end_offset"].as_i64(),
                p["lag"].as_i64(),
            )
        })
        .collect()
}

fn listed(bootstrap: &str, extra: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(extra);
    json(bootstrap, &args)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_owned(),
                g["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Subscribes as a member of GROUP, reads until at least 25 records of each partition arrived, and commits
/// offset 25 on both partitions.
fn consume_half_and_commit(bootstrap: &str) -> BaseConsumer {
    let mut config: ClientConfig = kafka::consumer_config(bootstrap);
    config
        .set("group.id", GROUP)
        .set("client.id", "lag-client")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut seen = [0usize; 2];
    wait_for(
        "25 records from each partition",
        Duration::from_secs(60),
        || {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                if let Some(n) = seen.get_mut(m.partition() as usize) {
                    *n += 1;
                }
            }
            Ok(seen.iter().all(|&n| n >= 25).then_some(()))
        },
    )
    .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(25))
            .unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
    consumer
}

#[test]
fn group_list_describe_reset_and_delete() {
    let broker = start_broker(GROUP_ARGS);
    let bs = broker.bootstrap();
    let bs = bs.as_str();
    create_topic(&broker, TOPIC, 2, &[]);
    let producer = TestProducer::with(bs, &[("acks", "all")]).unwrap();
    for p in 0..2 {
        for i in 0..50 {
            let value = format!("{p}:{i}");
            producer
                .send(&Record::new(TOPIC).partition(p).value(value.as_bytes()))
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());

    let consumer = consume_half_and_commit(bs);

    // While the consumer is a member: it owns both partitions, and the group can be neither reset nor deleted.
    let active = describe(bs);
    assert_eq!(active["state"], "Stable", "{active}");
    assert_eq!(active["protocol_type"], "consumer", "{active}");
    let members = active["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{active}");
    assert_eq!(members[0]["partition_count"], 2, "{active}");
    assert_eq!(members[0]["client_id"], "lag-client", "{active}");
    let member_id = members[0]["consumer_id"].as_str().unwrap().to_owned();
    for p in active["partitions"].as_array().unwrap() {
        assert_eq!(p["consumer_id"], member_id.as_str(), "{active}");
    }
    assert_eq!(
        offsets(&active),
        vec![
            (0, Some(25), Some(50), Some(25)),
            (1, Some(25), Some(50), Some(25))
        ]
    );
    let text = group_ok(bs, &["describe", GROUP]).stdout;
    assert!(
        text.starts_with("GROUP") && text.contains("LOG-END-OFFSET") && text.contains(&member_id),
        "{text}"
    );
    let text = group_ok(bs, &["describe", GROUP, "--members"]).stdout;
    assert!(
        text.contains("#PARTITIONS") && text.contains(&member_id),
        "{text}"
    );
    let text = group_ok(bs, &["describe", GROUP, "--state"]).stdout;
    assert!(text.contains("Stable"), "{text}");
    let refused = group(
        bs,
        &["reset-offsets", GROUP, "--topic", TOPIC, "--to-earliest"],
    );
    assert!(
        !refused.success && refused.stderr.contains("can only be reset if the group"),
        "{refused:?}"
    );
    let refused = group(bs, &["delete", GROUP]);
    assert!(
        !refused.success && refused.stderr.contains("NON_EMPTY_GROUP"),
        "{refused:?}"
    );
    assert!(listed(bs, &["--state", "Stable"]).contains(&(GROUP.to_owned(), "Stable".to_owned())));

    // Closing the consumer leaves the group; the committed offsets stay.
    consumer.unsubscribe();
    drop(consumer);
    wait_for("the group to be empty", Duration::from_secs(30), || {
        Ok((describe(bs)["state"] == "Empty").then_some(()))
    })
    .unwrap();
    let idle = describe(bs);
    assert_eq!(
        offsets(&idle),
        vec![
            (0, Some(25), Some(50), Some(25)),
            (1, Some(25), Some(50), Some(25))
        ]
    );
    assert_eq!(idle["total_lag"], 50, "{idle}");
    assert!(idle["members"].as_array().unwrap().is_empty(), "{idle}");
    for p in idle["partitions"].as_array().unwrap() {
        assert!(p["consumer_id"].is_null(), "{idle}");
    }
    let text = group_ok(bs, &["list"]).stdout;
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().next() == Some(GROUP)),
        "{text}"
    );
    assert!(listed(bs, &[]).contains(&(GROUP.to_owned(), "Empty".to_owned())));
    assert!(!listed(bs, &["--state", "Stable"])
        .iter()
        .any(|(g, _)| g == GROUP));

    // A dry run prints the plan and commits nothing.
    let plan = group_ok(
        bs,
        &["reset-offsets", GROUP, "--topic", TOPIC, "--to-earliest"],
    );
    let rows: Vec<Vec<&str>> = plan
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
            vec![GROUP, TOPIC, "0", "0"],
            vec![GROUP, TOPIC, "1", "0"],
        ],
        "{plan:?}"
    );
    assert!(plan.stderr.contains("Dry run"), "{plan:?}");
    assert_eq!(describe(bs)["total_lag"], 50);

    // --execute commits the plan.
    let executed = json(
        bs,
        &[
            "reset-offsets",
            GROUP,
            "--topic",
            TOPIC,
            "--to-earliest",
            "--execute",
            "--json",
        ],
    );
    assert_eq!(executed["executed"], true, "{executed}");
    assert_eq!(executed["offsets"][0]["current_offset"], 25, "{executed}");
    let reset = describe(bs);
    assert_eq!(
        offsets(&reset),
        vec![
            (0, Some(0), Some(50), Some(50)),
            (1, Some(0), Some(50), Some(50))
        ]
    );
    assert_eq!(reset["total_lag"], 100, "{reset}");

    // One partition, relative to its committed offset, clamped to the log end.
    group_ok(
        bs,
        &[
            "reset-offsets",
            GROUP,
            "--topic",
            &format!("{TOPIC}:1"),
            "--shift-by",
            "70",
            "--execute",
        ],
    );
    assert_eq!(
        offsets(&describe(bs)),
        vec![
            (0, Some(0), Some(50), Some(50)),
            (1, Some(50), Some(50), Some(0))
        ]
    );

    // Deleting the empty group removes it and its offsets.
    let deleted = group_ok(bs, &["delete", GROUP]);
    assert!(deleted.stdout.contains("successful"), "{deleted:?}");
    assert!(!listed(bs, &[]).iter().any(|(g, _)| g == GROUP));
    let gone = group(bs, &["describe", GROUP]);
    assert!(
        !gone.success && gone.stderr.contains("does not exist"),
        "{gone:?}"
    );
    broker.assert_no_panic();
}
