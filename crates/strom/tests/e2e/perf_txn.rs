//! `strom perf produce --transactional` and `strom perf consume --isolation-level` as a user runs them, as
//! subprocesses against a real broker serving transactions: what they report is checked against the offsets
//! the broker holds (records plus one COMMIT marker per transaction) and against each other.

use std::process::Command;

use strom_test_support::kafka;

use crate::txn_partition::TXN_FLAGS;
use crate::util::{start_broker, strom_bin};

/// Runs `strom perf TOOL ARGS --json --bootstrap-server BS`, which must succeed, and parses its JSON report.
fn perf(bootstrap: &str, tool: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(strom_bin())
        .args(["perf", tool])
        .args(args)
        .args(["--json", "--bootstrap-server", bootstrap])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("running strom perf {tool}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "strom perf {tool} {args:?}: {}\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("--json output is not one JSON object ({e}): {stdout}\n{stderr}")
    })
}

fn count(report: &serde_json::Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {report}"))
}

/// 1,050 records in transactions of 100: eleven commits (the last one of 50), one marker each, and both
/// isolation levels read exactly the 1,050 records.
#[test]
fn perf_produce_transactional_and_consume_by_isolation_level() {
    let broker = start_broker(TXN_FLAGS);
    let bs = broker.bootstrap();
    let topic = "perf-txn";
    let produced = perf(
        &bs,
        "produce",
        &[
            "--topic",
            topic,
            "--partitions",
            "1",
            "--num-records",
            "1050",
            "--record-size",
            "100",
            "--transactional",
            "--records-per-transaction",
            "100",
        ],
    );
    assert_eq!(count(&produced, "records"), 1050, "{produced}");
    assert_eq!(count(&produced, "errors"), 0, "{produced}");
    assert_eq!(count(&produced, "transactions"), 11, "{produced}");
    assert_eq!(count(&produced["commit_ms"], "count"), 11, "{produced}");
    assert_eq!(count(&produced["flush_ms"], "count"), 11, "{produced}");

    // Every transaction ended with one COMMIT marker, which takes an offset of its own.
    let (low, high) = kafka::watermarks(&bs, topic, 0).expect("watermarks");
    assert_eq!(high - low, 1050 + 11, "records plus markers");

    for level in ["read_committed", "read_uncommitted"] {
        let consumed = perf(
            &bs,
            "consume",
            &[
                "--topic",
                topic,
                "--num-records",
                "1050",
                "--isolation-level",
                level,
            ],
        );
        assert_eq!(count(&consumed, "records"), 1050, "{level}: {consumed}");
        assert_eq!(count(&consumed, "bytes"), 1050 * 100, "{level}: {consumed}");
    }
    // Asked for every offset, the reader gets the records only: markers are no records.
    let all_offsets = (high - low).to_string();
    let consumed = perf(
        &bs,
        "consume",
        &[
            "--topic",
            topic,
            "--num-records",
            &all_offsets,
            "--timeout",
            "2",
            "--isolation-level",
            "read_committed",
        ],
    );
    assert_eq!(count(&consumed, "records"), 1050, "{consumed}");
    broker.assert_no_panic();
}
