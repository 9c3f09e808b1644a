//! The `strom` command-line tools as a user runs them, as subprocesses against a real broker: `topic
//! create/list/describe/delete/reassign/reassignments/elect-leaders`, `produce` from stdin lines, `consume --json`,
//! `perf produce/consume/e2e --json` and `dump-log`. What they report is checked against librdkafka's view of the same broker. Also kcat (librdkafka's CLI) against Strom, when it is installed.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use strom_test_support::{kafka, partition_for_key, pause};

use crate::util::{create_topic, start_broker, strom_bin};

/// What a finished subprocess left behind.
struct Output {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program args` with `stdin` fed in, killing it if it outlives `timeout`.
fn run(program: &Path, args: &[&str], stdin: &str, timeout: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {} {args:?}: {e}", program.display()));
    let mut input = child.stdin.take().expect("stdin pipe");
    let stdin = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
        // Dropping `input` closes the pipe: the tool sees EOF.
    });
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
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
    let deadline = Instant::now() + timeout;
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
    writer.join().unwrap();
    let output = Output {
        success: status.is_some_and(|s| s.success()),
        code: status.and_then(|s| s.code()),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "{} {args:?} did not finish within {timeout:?}: {output:?}",
        program.display()
    );
    output
}

fn strom(args: &[&str], stdin: &str) -> Output {
    run(strom_bin(), args, stdin, Duration::from_secs(60))
}

fn strom_ok(args: &[&str], stdin: &str) -> Output {
    let out = strom(args, stdin);
    assert!(out.success, "strom {args:?} failed: {out:?}");
    out
}

#[test]
fn topic_produce_consume_commands() {
    let broker = start_broker(&[]);
    let bs = broker.bootstrap();
    let bs = bs.as_str();
    let topic = "cli-topic";

    strom_ok(
        &[
            "topic",
            "create",
            topic,
            "--partitions",
            "3",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    let probe: BaseConsumer = kafka::consumer_config(bs).create().unwrap();
    assert_eq!(
        kafka::partition_count(&probe, topic).unwrap(),
        3,
        "partitions after `strom topic create`"
    );

    let again = strom(
        &[
            "topic",
            "create",
            topic,
            "--partitions",
            "3",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    assert!(
        !again.success,
        "creating an existing topic must fail: {again:?}"
    );
    assert!(
        format!("{}{}", again.stdout, again.stderr)
            .to_lowercase()
            .contains("exist"),
        "the failure should say the topic already exists: {again:?}"
    );

    let list = strom_ok(&["topic", "list", "--bootstrap-server", bs], "");
    assert!(
        list.stdout.lines().any(|l| l.trim() == topic),
        "`topic list` should print {topic} on a line: {list:?}"
    );

    let describe = strom_ok(&["topic", "describe", topic, "--bootstrap-server", bs], "");
    assert!(
        describe.stdout.contains(topic),
        "`topic describe` should name the topic: {describe:?}"
    );
    for p in 0..3 {
        assert!(
            describe
                .stdout
                .lines()
                .any(|l| l.contains(&format!("Partition: {p}"))
                    || l.contains(&format!("partition {p}"))
                    || l.split_whitespace().next() == Some(&p.to_string())),
            "`topic describe` should show partition {p}: {describe:?}"
        );
    }

    let lines = [
        "alpha:one",
        "beta:two",
        "gamma:three",
        "delta:four",
        "epsilon:five:with:colons",
    ];
    let input = lines.join("\n") + "\n";
    strom_ok(
        &[
            "produce",
            "--topic",
            topic,
            "--key-separator",
            ":",
            "--bootstrap-server",
            bs,
        ],
        &input,
    );

    let consumed = strom_ok(
        &[
            "consume",
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            "5",
            "--json",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    let records: Vec<serde_json::Value> = consumed
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("`consume --json` line {l:?} is not JSON: {e}"))
        })
        .collect();
    assert_eq!(
        records.len(),
        5,
        "`consume --max-messages 5` output: {consumed:?}"
    );
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in &records {
        for field in [
            "partition",
            "offset",
            "timestamp",
            "key",
            "value",
            "headers",
        ] {
            assert!(
                r.get(field).is_some(),
                "`consume --json` record lacks {field:?}: {r}"
            );
        }
        let key = r["key"].as_str().expect("key is a string").to_string();
        let value = r["value"].as_str().expect("value is a string").to_string();
        let partition = r["partition"].as_i64().expect("partition is a number") as i32;
        assert_eq!(
            partition,
            partition_for_key(key.as_bytes(), 3),
            "`strom produce` must partition keys like Kafka: {r}"
        );
        assert!(r["offset"].as_i64().is_some_and(|o| o >= 0), "offset: {r}");
        assert!(
            r["timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "timestamp (ms): {r}"
        );
        seen.push((key, value));
    }
    seen.sort();
    let mut expected: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "keys split at the first separator, values kept whole"
    );

    // librdkafka sees the same records.
    let read = kafka::consume_all(bs, topic, 5, Duration::from_secs(60)).unwrap();
    let mut via_rdkafka: Vec<(String, String)> = read
        .iter()
        .map(|m| {
            (
                String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            )
        })
        .collect();
    via_rdkafka.sort();
    assert_eq!(via_rdkafka, expected);

    strom_ok(&["topic", "delete", topic, "--bootstrap-server", bs], "");
    let list = strom_ok(&["topic", "list", "--bootstrap-server", bs], "");
    assert!(
        !list.stdout.lines().any(|l| l.trim() == topic),
        "deleted topic still listed: {list:?}"
    );
    let md = probe.fetch_metadata(Some(topic), Duration::from_secs(10));
    let gone = match &md {
        Err(_) => true,
        Ok(md) => md
            .topics()
            .iter()
            .all(|t| t.name() != topic || t.error().is_some()),
    };
    assert!(gone, "metadata still shows the deleted topic");
    broker.assert_no_panic();
}

/// `topic reassign`, `topic reassignments` and `topic elect-leaders` on a single broker: moving a partition to the
/// broker it is on is a no-op success, an unknown broker or a cancel with nothing to cancel fails with Kafka's
/// error name, and a preferred election is not needed.
#[test]
fn topic_reassign_and_elect_commands() {
    let broker = start_broker(&[]);
    let bs = broker.bootstrap();
    let bs = bs.as_str();
    let topic = "cli-reassign";
    strom_ok(
        &[
            "topic",
            "create",
            topic,
            "--partitions",
            "2",
            "--bootstrap-server",
            bs,
        ],
        "",
    );

    let none = strom_ok(&["topic", "reassignments", "--bootstrap-server", bs], "");
    assert_eq!(
        none.stdout.trim(),
        "No partition reassignments found.",
        "{none:?}"
    );

    let reassign = |extra: &[&str]| {
        let mut args = vec!["topic", "reassign", "--topic", topic, "--partition", "0"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bootstrap-server", bs]);
        strom(&args, "")
    };
    let same = reassign(&["--replicas", "1"]);
    assert!(same.success, "{same:?}");
    assert!(same.stdout.contains("Successfully started"), "{same:?}");
    let unknown = reassign(&["--replicas", "1,7"]);
    assert!(!unknown.success, "{unknown:?}");
    assert!(
        unknown.stderr.contains("INVALID_REPLICA_ASSIGNMENT"),
        "{unknown:?}"
    );
    let cancel = reassign(&["--cancel"]);
    assert!(!cancel.success, "{cancel:?}");
    assert!(
        cancel.stderr.contains("NO_REASSIGNMENT_IN_PROGRESS"),
        "{cancel:?}"
    );
    let both = reassign(&["--cancel", "--replicas", "1"]);
    assert!(
        !both.success,
        "--cancel with --replicas must be refused: {both:?}"
    );

    let one = strom_ok(
        &[
            "topic",
            "elect-leaders",
            "--topic",
            topic,
            "--partition",
            "1",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    assert_eq!(
        one.stdout.trim(),
        format!("Valid replica already elected for partitions {topic}-1"),
        "{one:?}"
    );
    let whole_topic = strom_ok(
        &[
            "topic",
            "elect-leaders",
            "--topic",
            topic,
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    assert_eq!(
        whole_topic.stdout.trim(),
        format!("Valid replica already elected for partitions {topic}-0, {topic}-1"),
        "{whole_topic:?}"
    );
    // Every partition: those needing no election are not reported.
    let all = strom_ok(&["topic", "elect-leaders", "--bootstrap-server", bs], "");
    assert_eq!(all.stdout.trim(), "", "{all:?}");
    let unclean = strom_ok(
        &[
            "topic",
            "elect-leaders",
            "--unclean",
            "--topic",
            topic,
            "--partition",
            "0",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    assert!(
        unclean.stdout.contains("Valid replica already elected"),
        "{unclean:?}"
    );
    let no_topic = strom(
        &[
            "topic",
            "elect-leaders",
            "--partition",
            "0",
            "--bootstrap-server",
            bs,
        ],
        "",
    );
    assert!(!no_topic.success, "--partition needs --topic: {no_topic:?}");

    let describe = strom_ok(&["topic", "describe", topic, "--bootstrap-server", bs], "");
    assert!(
        describe.stdout.contains("Leader: 1\tReplicas: 1\tIsr: 1"),
        "{describe:?}"
    );
    broker.assert_no_panic();
}

fn kcat() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .flat_map(|dir| ["kcat", "kafkacat"].map(|name| Path::new(dir).join(name)))
        .find(|p| p.is_file())
}

/// kcat is librdkafka's own CLI; it exercises metadata, produce and consume with librdkafka defaults.
#[test]
fn kcat_lists_produces_and_consumes() {
    let Some(kcat) = kcat() else {
        eprintln!("NOTICE: kcat is not installed; skipping kcat_lists_produces_and_consumes (.ci/run installs it)");
        return;
    };
    let broker = start_broker(&[]);
    let bs = broker.bootstrap();
    let topic = "kcat-topic";
    create_topic(&broker, topic, 2, &[]);
    let common = ["-b", bs.as_str(), "-X", "broker.address.family=v4"];
    let timeout = Duration::from_secs(60);

    let args: Vec<&str> = common.iter().copied().chain(["-L"]).collect();
    let list = run(&kcat, &args, "", timeout);
    assert!(list.success, "kcat -L: {list:?}");
    assert!(
        list.stdout
            .contains(&format!("topic \"{topic}\" with 2 partitions")),
        "kcat -L: {list:?}"
    );

    let args: Vec<&str> = common
        .iter()
        .copied()
        .chain(["-t", topic, "-P", "-K", ":"])
        .collect();
    let produce = run(&kcat, &args, "k1:v1\nk2:v2\nk3:v3\n", timeout);
    assert!(produce.success, "kcat -P: {produce:?}");

    let args: Vec<&str> = common
        .iter()
        .copied()
        .chain(["-t", topic, "-C", "-o", "beginning", "-e", "-f", "%k=%s\\n"])
        .collect();
    let consume = run(&kcat, &args, "", timeout);
    assert!(consume.success, "kcat -C: {consume:?}");
    let mut got: Vec<&str> = consume.stdout.lines().collect();
    got.sort();
    assert_eq!(got, vec!["k1=v1", "k2=v2", "k3=v3"], "kcat -C: {consume:?}");
    broker.assert_no_panic();
}

/// Runs `strom perf TOOL ARGS --json --bootstrap-server BS` and parses its single stdout object.
fn perf(bootstrap: &str, tool: &str, args: &[&str]) -> serde_json::Value {
    let mut argv = vec!["perf", tool];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--json", "--bootstrap-server", bootstrap]);
    let out = strom_ok(&argv, "");
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("--json output is not one JSON object ({e}): {out:?}"))
}

fn as_u64(report: &serde_json::Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {report}"))
}

/// `strom perf produce|consume|e2e` and `strom dump-log` as a user runs them: what each reports is checked
/// against librdkafka's watermarks and the segment files the broker wrote.
#[test]
fn perf_tools_and_dump_log_report_what_the_broker_holds() {
    let mut broker = start_broker(&[]);
    let bs = broker.bootstrap();
    let bs = bs.as_str();
    let topic = "perf-topic";
    let n: u64 = 20_000;
    let size: u64 = 100;

    let (n_arg, size_arg) = (n.to_string(), size.to_string());
    let produced = perf(
        bs,
        "produce",
        &[
            "--topic",
            topic,
            "--partitions",
            "2",
            "--num-records",
            &n_arg,
            "--record-size",
            &size_arg,
            "--acks",
            "all",
        ],
    );
    assert_eq!(as_u64(&produced, "records"), n, "{produced}");
    assert_eq!(as_u64(&produced, "errors"), 0, "{produced}");
    assert_eq!(as_u64(&produced, "bytes"), n * size, "{produced}");
    assert_eq!(as_u64(&produced["latency_ms"], "count"), n, "{produced}");
    assert!(
        produced["latency_ms"]["max"].as_f64() > Some(0.0),
        "{produced}"
    );
    // For a duration, throttled, keyed, idempotent and compressed: Kafka's producer-perf-test knobs.
    let throttled = perf(
        bs,
        "produce",
        &[
            "--topic",
            topic,
            "--duration",
            "1",
            "--throughput",
            "2000",
            "--keyed",
            "--idempotent",
            "--compression",
            "lz4",
        ],
    );
    let m = as_u64(&throttled, "records");
    assert!(
        (1000..=2600).contains(&m),
        "1 s at 2,000 records/s: {throttled}"
    );
    assert_eq!(as_u64(&throttled, "errors"), 0, "{throttled}");
    assert_eq!(
        as_u64(&throttled, "bytes"),
        m * (size + 8),
        "100-byte values with 8-byte keys: {throttled}"
    );
    let n = n + m;
    let total_bytes = as_u64(&produced, "bytes") + as_u64(&throttled, "bytes");

    let mut held = Vec::new();
    for p in 0..2 {
        let (low, high) = kafka::watermarks(bs, topic, p).unwrap();
        held.push(u64::try_from(high - low).unwrap());
    }
    assert_eq!(
        held.iter().sum::<u64>(),
        n,
        "records the broker holds per partition: {held:?}"
    );

    // By assignment (batch reads) and as a group member (per-record polls): every record, once.
    for extra in [&[][..], &["--group", "perf-group"][..]] {
        let mut args = vec!["--topic", topic];
        args.extend_from_slice(extra);
        let consumed = perf(bs, "consume", &args);
        assert_eq!(as_u64(&consumed, "records"), n, "{extra:?}: {consumed}");
        assert_eq!(
            as_u64(&consumed, "bytes"),
            total_bytes,
            "{extra:?}: {consumed}"
        );
    }
    // A cap stops at the cap, not at the end of a batch.
    let capped = perf(bs, "consume", &["--topic", topic, "--num-records", "10"]);
    assert_eq!(as_u64(&capped, "records"), 10, "{capped}");

    let e2e = perf(
        bs,
        "e2e",
        &[
            "--topic",
            "perf-e2e",
            "--partitions",
            "1",
            "--rate",
            "500",
            "--duration",
            "2",
            "--warmup",
            "0.5",
        ],
    );
    let sent = as_u64(&e2e, "sent");
    assert!(sent >= 500, "2 s at 500/s sent too few: {e2e}");
    assert_eq!(as_u64(&e2e, "received"), sent, "{e2e}");
    assert_eq!(as_u64(&e2e, "errors"), 0, "{e2e}");
    assert!(as_u64(&e2e["e2e_latency_ms"], "count") > 0, "{e2e}");

    // dump-log over each partition's segment once the broker has shut down cleanly (and so written the
    // segment's indexes): its batch counts add up to the records the broker held, every CRC is valid and
    // `--verify-index` checks both index files against the batches.
    broker.stop().unwrap();
    broker.assert_no_panic();
    for (p, want) in held.iter().enumerate() {
        let segment = broker
            .partition_dir(topic, i32::try_from(p).unwrap())
            .join("00000000000000000000.log");
        let segment = segment.to_str().expect("a UTF-8 path");
        let dump = strom_ok(&["dump-log", segment, "--verify-index"], "");
        let counted: u64 = dump
            .stdout
            .lines()
            .filter_map(|l| l.split(" count: ").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("count in {rest:?}"))
            })
            .sum();
        assert_eq!(counted, *want, "partition {p}: {dump:?}");
        assert!(
            dump.stdout.contains("isvalid: true") && !dump.stdout.contains("isvalid: false"),
            "partition {p}: {dump:?}"
        );
        for index in [".index: ", ".timeindex: "] {
            assert!(
                dump.stdout
                    .lines()
                    .any(|l| l.contains(index) && l.ends_with("entries checked")),
                "a cleanly stopped broker leaves its {index:?} file on disk for --verify-index: {dump:?}"
            );
        }
    }
}
