//! The transaction coordinator through real clients and across brokers: librdkafka's transactional producer,
//! `strom txn list|describe` against a live broker, and the coordinator moving to the new leader of its
//! `__transaction_state` partition when its broker is killed on a 3-node cluster. Request helpers are
//! `txn_coordinator.rs`'s.

use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use strom_test_support::TestBroker;

use crate::txn_coordinator::{
    add, code, describe, end, find_coordinator, init_ok, markers_served, partitions_of, txn_broker,
    until_ready, wait_state, ENABLE,
};
use crate::util::create_topic;

/// Runs `strom txn ARGS --bootstrap-server BS`; (success, stdout, stderr).
fn txn_cli(broker: &TestBroker, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(crate::util::strom_bin())
        .arg("txn")
        .args(args)
        .args(["--bootstrap-server", &broker.bootstrap()])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn strom_txn_cli_lists_and_describes_live_transactions() {
    let broker = txn_broker(&[]);
    find_coordinator(&broker, "cli-open");
    find_coordinator(&broker, "cli-idle");
    create_topic(&broker, "cli-t", 2, &[]);
    let (pid, epoch) = init_ok(&broker, "cli-open", 30_000);
    assert_eq!(add(&broker, "cli-open", pid, epoch, &[("cli-t", 1)]), [0]);
    let (idle_pid, _) = init_ok(&broker, "cli-idle", 30_000);

    let (ok, out, err) = txn_cli(&broker, &["list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "TransactionalId",
            "Coordinator",
            "ProducerId",
            "TransactionState"
        ]
    );
    let node = broker.node_id().to_string();
    let pid_s = pid.to_string();
    let idle_s = idle_pid.to_string();
    assert_eq!(
        lines[1..]
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [
            vec!["cli-idle", node.as_str(), idle_s.as_str(), "Empty"],
            vec!["cli-open", node.as_str(), pid_s.as_str(), "Ongoing"],
        ]
    );
    let (ok, out, err) = txn_cli(&broker, &["list", "--state", "Ongoing", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(v["transactions"][0]["transactional_id"], "cli-open");

    let (ok, out, err) = txn_cli(
        &broker,
        &["describe", "--transactional-id", "cli-open", "--json"],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "Ongoing");
    assert_eq!(v["producer_id"], pid);
    assert_eq!(v["producer_epoch"], epoch);
    assert_eq!(v["timeout_ms"], 30_000);
    assert_eq!(v["partitions"], serde_json::json!(["cli-t-1"]));
    assert!(v["duration_ms"].as_i64().unwrap() >= 0);
    let (ok, out, _) = txn_cli(&broker, &["describe", "--transactional-id", "cli-open"]);
    assert!(ok);
    assert!(
        out.lines().next().unwrap().starts_with("CoordinatorId"),
        "{out}"
    );
    assert!(out.contains("cli-t-1"), "{out}");

    // An unknown transactional id is an error naming Kafka's code.
    let (ok, _, err) = txn_cli(&broker, &["describe", "--transactional-id", "nobody"]);
    assert!(!ok);
    assert!(err.contains("TRANSACTIONAL_ID_NOT_FOUND"), "{err}");
    broker.assert_no_panic();
}

/// librdkafka's transactional producer against the coordinator: init_transactions (FindCoordinator key type
/// 1, InitProducerId), a transaction of records (AddPartitionsToTxn), commit (EndTxn); then a second producer
/// with the same transactional.id fences the first. Writing transactional batches is the partition side of
/// issue 22: until the brokers serve WriteTxnMarkers (and so accept transactional produce), only the
/// initialisation is checked.
#[test]
fn librdkafka_transactional_producer_commits_and_is_fenced_by_a_newer_instance() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let broker = txn_broker(&[]);
    create_topic(&broker, "rk-t", 2, &[]);
    let producer = |id: &str| -> BaseProducer {
        strom_test_support::kafka::producer_config(&broker.bootstrap())
            .set("transactional.id", id)
            .set("transaction.timeout.ms", "60000")
            .create()
            .unwrap()
    };
    let timeout = Duration::from_secs(30);
    let first = producer("rk");
    first.init_transactions(timeout).unwrap();
    let d = describe(&broker, "rk");
    assert_eq!(
        (d.transaction_state.as_str(), d.producer_epoch),
        ("Empty", 0)
    );
    assert_eq!(d.transaction_timeout_ms, 60_000);
    if !markers_served(&broker) {
        broker.assert_no_panic();
        return;
    }
    first.begin_transaction().unwrap();
    for i in 0..10 {
        let key = format!("k{i}");
        first
            .send(BaseRecord::to("rk-t").key(&key).payload("v"))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    first.flush(timeout).unwrap();
    let d = describe(&broker, "rk");
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(partitions_of(&d).len(), 2, "{d:?}");
    first.commit_transaction(timeout).unwrap();
    wait_state(&broker, "rk", "CompleteCommit");

    // A second instance takes over the transactional id: epoch 1; the first is fenced.
    let second = producer("rk");
    second.init_transactions(timeout).unwrap();
    assert_eq!(describe(&broker, "rk").producer_epoch, 1);
    first.begin_transaction().unwrap();
    let _ = first.send(BaseRecord::to("rk-t").key("zombie").payload("v"));
    let _ = first.flush(timeout);
    let err = first.commit_transaction(timeout).unwrap_err();
    assert!(format!("{err}").to_lowercase().contains("fenced"), "{err}");
    broker.assert_no_panic();
}

/// Three nodes, `__transaction_state` replicated 3 ways with min.isr 2: the coordinator of an open transaction
/// is killed with -9. The partition's new leader loads the transaction from its replica and coordinates it:
/// same producer id, epoch, partitions; the producer's EndTxn goes through it; a new InitProducerId fences.
#[test]
fn txn_coordinator_moves_to_the_new_leader_when_its_broker_is_killed() {
    let mut cluster = crate::cluster::start_cluster(&[
        "--override",
        ENABLE,
        "--override",
        "transaction.state.log.num.partitions=3",
        "--override",
        "transaction.state.log.replication.factor=3",
        "--override",
        "transaction.state.log.min.isr=2",
    ]);
    strom_test_support::cluster::create_replicated_topic(&cluster.bootstrap(), "fo-t", 2, 3, &[])
        .unwrap();
    let id = "failover";
    let old = find_coordinator(cluster.node(1), id);
    let (pid, epoch) = init_ok(cluster.node(old), id, 60_000);
    assert_eq!(
        add(
            cluster.node(old),
            id,
            pid,
            epoch,
            &[("fo-t", 0), ("fo-t", 1)]
        ),
        [0, 0]
    );

    cluster.kill9(old).unwrap();
    let survivor = cluster.ids().into_iter().find(|n| *n != old).unwrap();
    let deadline = Instant::now() + crate::cluster::FAILOVER_TIMEOUT;
    let new = loop {
        let c = find_coordinator(cluster.node(survivor), id);
        if c != old {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "coordinator never moved off {old}"
        );
        strom_test_support::pause(Duration::from_millis(200));
    };
    let d = until_ready("DescribeTransactions on the new coordinator", || {
        let d = describe(cluster.node(new), id);
        (d.error_code, d)
    });
    assert_eq!(
        (
            d.transaction_state.as_str(),
            d.producer_id.0,
            d.producer_epoch
        ),
        ("Ongoing", pid, epoch)
    );
    assert_eq!(
        partitions_of(&d),
        [("fo-t".to_string(), 0), ("fo-t".to_string(), 1)]
    );
    // The old coordinator's survivors answer NOT_COORDINATOR for it.
    if let Some(other) = cluster.ids().into_iter().find(|n| *n != old && *n != new) {
        assert_eq!(
            describe(cluster.node(other), id).error_code,
            code(ResponseError::NotCoordinator)
        );
    }
    // The producer commits through the new coordinator.
    until_ready("EndTxn on the new coordinator", || {
        (
            end(cluster.node(new), 3, id, pid, epoch, true).error_code,
            (),
        )
    });
    let state = describe(cluster.node(new), id)
        .transaction_state
        .to_string();
    assert!(
        ["PrepareCommit", "CompleteCommit"].contains(&state.as_str()),
        "{state}"
    );
}
