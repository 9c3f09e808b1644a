//! Transaction administration (issue 22) against a live broker, as `kafka-transactions.sh` does it: a hanging
//! transaction (a transactional batch whose transactional id the coordinator never heard of, so no marker will
//! ever come) holds back the last stable offset next to a librdkafka transaction that is merely open;
//! DescribeProducers (API 61) shows both producers with their sequences and start offsets; `strom txn
//! find-hanging` reports the hanging one only (the open one is Ongoing at its coordinator with that partition);
//! `strom txn abort --start-offset` aborts it through DescribeProducers + WriteTxnMarkers and the LSO moves on to
//! the open one, which then commits and is all a read_committed consumer sees. ListTransactions v1 (duration)
//! and v2 (transactional id pattern, KIP-1152) filters through `strom txn list`, and over the wire an invalid
//! pattern gets INVALID_REGULAR_EXPRESSION. DescribeProducers is served without the transaction gate, as Kafka
//! serves it (an idempotent librdkafka producer shows up in it).

use std::time::Duration;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::PartitionResponse;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset};
use serde_json::Value;
use strom_test_support::kafka::{assigned_consumer, poll_until, producer_config};
use strom_test_support::{pause, wait_until, TestBroker};

use crate::txn_partition::{batch, init_producer_id, TXN_FLAGS};
use crate::util::{call, create_topic, now_ms, start_broker, strom_bin};

const TIMEOUT: Duration = Duration::from_secs(30);

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A broker serving the transaction APIs, with KIP-890 produce verification turned off as Kafka's own
/// hanging-transaction tests do: a hanging transaction is exactly what verification prevents.
fn admin_broker() -> TestBroker {
    let mut args: Vec<&str> = TXN_FLAGS.to_vec();
    args.extend([
        "--override",
        "transaction.partition.verification.enable=false",
    ]);
    start_broker(&args)
}

/// Runs `strom txn ARGS --bootstrap-server BS`; (success, stdout, stderr).
fn txn_cli(broker: &TestBroker, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(strom_bin())
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

/// `strom txn ARGS --json`, which must succeed.
fn txn_json(broker: &TestBroker, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, out, err) = txn_cli(broker, &all);
    assert!(ok, "strom txn {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("strom txn {args:?} printed {out}: {e}"))
}

/// Produces one transactional batch of `values` by `pid`/`epoch` from sequence 0 under `transactional_id` to
/// partition 0 of `topic`; (error code, base offset).
fn produce_txn_batch(
    broker: &TestBroker,
    topic: &str,
    transactional_id: &str,
    pid: i64,
    epoch: i16,
    values: &[&str],
) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(Some(TransactionalId(name(transactional_id))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(name(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(pid, epoch, 0, true, values)))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// ListOffsets latest of partition 0 under `isolation_level` (1 = read_committed: the LSO).
fn latest(broker: &TestBroker, topic: &str, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(name(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let response: ListOffsetsResponse = call(broker, ApiKey::ListOffsets, 5, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// DescribeProducers v0 over the wire for `(topic, partitions)`; the partition answers in request order.
fn describe_producers(broker: &TestBroker, asked: &[(&str, &[i32])]) -> Vec<PartitionResponse> {
    let request = DescribeProducersRequest::default().with_topics(
        asked
            .iter()
            .map(|(t, p)| {
                TopicRequest::default()
                    .with_name(TopicName(name(t)))
                    .with_partition_indexes(p.to_vec())
            })
            .collect(),
    );
    let response: DescribeProducersResponse = call(broker, ApiKey::DescribeProducers, 0, &request);
    assert_eq!(response.topics.len(), asked.len());
    response
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .collect()
}

fn txn_producer(broker: &TestBroker, id: &str) -> BaseProducer {
    let p: BaseProducer = producer_config(&broker.bootstrap())
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p
}

/// Sends `values` to partition 0 of `topic` and waits until they are acknowledged.
fn send_and_flush(p: &BaseProducer, topic: &str, values: &[&str]) {
    for v in values {
        p.send(BaseRecord::<(), str>::to(topic).partition(0).payload(*v))
            .unwrap_or_else(|(e, _)| panic!("send: {e}"));
    }
    p.flush(TIMEOUT).unwrap();
}

fn producer_row(producers: &Value, pid: i64) -> &Value {
    producers["producers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["producer_id"] == pid)
        .unwrap_or_else(|| panic!("producer {pid} missing in {producers}"))
}

#[test]
fn hanging_transaction_is_described_found_and_aborted_by_start_offset() {
    const TOPIC: &str = "adm-hang";
    let broker = admin_broker();
    create_topic(&broker, TOPIC, 1, &[]);

    // The hanging transaction: offset 0, written under a transactional id no coordinator knows.
    let (ghost_pid, ghost_epoch) = init_producer_id(&broker);
    assert_eq!(
        produce_txn_batch(
            &broker,
            TOPIC,
            "adm-ghost",
            ghost_pid,
            ghost_epoch,
            &["ghost"]
        ),
        (0, 0)
    );
    // A live librdkafka transaction, open at offsets 1..=2.
    let live = txn_producer(&broker, "adm-live");
    live.begin_transaction().unwrap();
    send_and_flush(&live, TOPIC, &["live-1", "live-2"]);
    assert_eq!(latest(&broker, TOPIC, 0), 3);
    assert_eq!(
        latest(&broker, TOPIC, 1),
        0,
        "the hanging transaction holds the LSO"
    );

    // DescribeProducers over the wire: both producers with their sequences and open transactions.
    let answers = describe_producers(&broker, &[(TOPIC, &[0])]);
    assert_eq!(answers[0].error_code, 0);
    let mut producers: Vec<(i64, i32, i32, i64, i32)> = answers[0]
        .active_producers
        .iter()
        .map(|p| {
            assert!(p.last_timestamp > 0 && p.last_timestamp <= now_ms());
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.current_txn_start_offset,
                p.coordinator_epoch,
            )
        })
        .collect();
    producers.sort_by_key(|p| p.3);
    assert_eq!(producers.len(), 2, "{producers:?}");
    assert_eq!(
        producers[0],
        (ghost_pid, i32::from(ghost_epoch), 0, 0, -1),
        "the hanging producer"
    );
    let live_pid = producers[1].0;
    assert_eq!(
        (producers[1].2, producers[1].3),
        (1, 1),
        "the live producer: sequences 0-1 from offset 1"
    );

    // Kafka's errors: an unknown partition of a known topic, an unknown topic, an invalid topic name.
    let errors = describe_producers(
        &broker,
        &[(TOPIC, &[7]), ("adm-nope", &[0, 1]), ("bad/name", &[0])],
    );
    let codes: Vec<i16> = errors.iter().map(|p| p.error_code).collect();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        codes,
        [
            unknown,
            unknown,
            unknown,
            ResponseError::InvalidTopicException.code()
        ]
    );
    assert!(errors.iter().all(|p| p.active_producers.is_empty()));

    // The CLI's describe-producers shows the same, with Kafka's columns.
    let v = txn_json(
        &broker,
        &["describe-producers", "--topic", TOPIC, "--partition", "0"],
    );
    assert_eq!(
        producer_row(&v, ghost_pid)["current_transaction_start_offset"],
        0
    );
    assert_eq!(producer_row(&v, ghost_pid)["coordinator_epoch"], -1);
    assert_eq!(
        producer_row(&v, live_pid)["current_transaction_start_offset"],
        1
    );
    let (ok, out, err) = txn_cli(
        &broker,
        &["describe-producers", "--topic", TOPIC, "--partition", "0"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset"
        ]
    );
    assert_eq!(out.lines().count(), 3, "{out}");

    // find-hanging: only the ghost. The live transaction is Ongoing at its coordinator with this partition.
    pause(Duration::from_millis(20));
    let node = broker.node_id().to_string();
    let found = txn_json(
        &broker,
        &[
            "find-hanging",
            "--broker-id",
            &node,
            "--max-transaction-timeout",
            "0",
        ],
    );
    let hanging = found["hanging"].as_array().unwrap();
    assert_eq!(hanging.len(), 1, "{found}");
    assert_eq!(hanging[0]["topic"], TOPIC);
    assert_eq!(hanging[0]["partition"], 0);
    assert_eq!(hanging[0]["producer_id"], ghost_pid);
    assert_eq!(hanging[0]["start_offset"], 0);
    // By topic it is the same; within the default 15-minute timeout nothing is hanging yet.
    let by_topic = txn_json(
        &broker,
        &[
            "find-hanging",
            "--topic",
            TOPIC,
            "--max-transaction-timeout",
            "0",
        ],
    );
    assert_eq!(by_topic["hanging"], found["hanging"]);
    let recent = txn_json(&broker, &["find-hanging", "--broker-id", &node]);
    assert_eq!(recent["hanging"], serde_json::json!([]));
    let (ok, out, err) = txn_cli(
        &broker,
        &[
            "find-hanging",
            "--broker-id",
            &node,
            "--max-transaction-timeout",
            "0",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("Topic"), "{out}");
    assert!(out.contains(&ghost_pid.to_string()), "{out}");
    let (ok, _, err) = txn_cli(&broker, &["find-hanging"]);
    assert!(!ok && err.contains("--topic or --broker-id"), "{err}");

    // abort --start-offset: no transaction starts at 5; the one at 0 is the ghost's.
    let (ok, _, err) = txn_cli(
        &broker,
        &[
            "abort",
            "--topic",
            TOPIC,
            "--partition",
            "0",
            "--start-offset",
            "5",
        ],
    );
    assert!(
        !ok && err.contains("no open transaction starts at offset 5"),
        "{err}"
    );
    let (ok, out, err) = txn_cli(
        &broker,
        &[
            "abort",
            "--topic",
            TOPIC,
            "--partition",
            "0",
            "--start-offset",
            "0",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains(&format!("producer {ghost_pid}")), "{out}");

    // The ABORT marker went in at offset 3; the LSO moved on to the live transaction's start.
    assert_eq!(latest(&broker, TOPIC, 0), 4);
    assert_eq!(latest(&broker, TOPIC, 1), 1);
    let v = txn_json(
        &broker,
        &["describe-producers", "--topic", TOPIC, "--partition", "0"],
    );
    let ghost = producer_row(&v, ghost_pid);
    assert_eq!(ghost["current_transaction_start_offset"], Value::Null);
    assert_eq!(
        ghost["coordinator_epoch"], 0,
        "the marker was written with coordinator epoch 0"
    );
    let none = txn_json(
        &broker,
        &[
            "find-hanging",
            "--broker-id",
            &node,
            "--max-transaction-timeout",
            "0",
        ],
    );
    assert_eq!(none["hanging"], serde_json::json!([]));

    // The live transaction commits: the LSO reaches the high watermark and read_committed reads it alone.
    live.commit_transaction(TIMEOUT).unwrap();
    // The coordinator writes the COMMIT marker (offset 4) after answering EndTxn.
    wait_until("the LSO reaches the COMMIT marker", TIMEOUT, || {
        Ok(latest(&broker, TOPIC, 1) == 5)
    })
    .unwrap();
    assert_eq!(latest(&broker, TOPIC, 0), 5);
    let consumer = assigned_consumer(
        &broker.bootstrap(),
        TOPIC,
        &[(0, Offset::Beginning)],
        &[("isolation.level", "read_committed")],
    )
    .unwrap();
    let got = poll_until(&consumer, TIMEOUT, |m| m.len() >= 2).unwrap();
    let values: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, ["live-1", "live-2"]);
    broker.assert_no_panic();
}

#[test]
fn list_transactions_filters_by_duration_and_transactional_id_pattern() {
    const TOPIC: &str = "adm-list";
    let broker = admin_broker();
    create_topic(&broker, TOPIC, 1, &[]);
    let _a1 = txn_producer(&broker, "pat-a1");
    let _b1 = txn_producer(&broker, "pat-b1");
    let a2 = txn_producer(&broker, "pat-a2");
    a2.begin_transaction().unwrap();
    send_and_flush(&a2, TOPIC, &["x"]);

    let ids = |v: &Value| -> Vec<String> {
        v["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["transactional_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&txn_json(&broker, &["list"])),
        ["pat-a1", "pat-a2", "pat-b1"]
    );
    // v2: the pattern matches whole transactional ids.
    assert_eq!(
        ids(&txn_json(
            &broker,
            &["list", "--transactional-id-pattern", "pat-a.*"]
        )),
        ["pat-a1", "pat-a2"]
    );
    assert_eq!(
        ids(&txn_json(
            &broker,
            &["list", "--transactional-id-pattern", "a1"]
        )),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&txn_json(
            &broker,
            &["list", "--transactional-id-pattern", ".*(a1|b1)"]
        )),
        ["pat-a1", "pat-b1"]
    );
    // ANDed with the state filter.
    assert_eq!(
        ids(&txn_json(
            &broker,
            &[
                "list",
                "--transactional-id-pattern",
                "pat-a.*",
                "--state",
                "Ongoing"
            ]
        )),
        ["pat-a2"]
    );
    // v1: the Ongoing transaction started just now is not older than an hour; the Empty ones have no start
    // (-1), which Kafka's filter lets through.
    assert_eq!(
        ids(&txn_json(
            &broker,
            &["list", "--duration-filter", "3600000"]
        )),
        ["pat-a1", "pat-b1"]
    );
    pause(Duration::from_millis(20));
    assert_eq!(
        ids(&txn_json(
            &broker,
            &["list", "--state", "Ongoing", "--duration-filter", "10"]
        )),
        ["pat-a2"]
    );

    // An invalid pattern: INVALID_REGULAR_EXPRESSION, from the CLI and over the wire (v2), nothing listed.
    let (ok, _, err) = txn_cli(&broker, &["list", "--transactional-id-pattern", "pat-("]);
    assert!(!ok && err.contains("INVALID_REGULAR_EXPRESSION"), "{err}");
    let response: ListTransactionsResponse = call(
        &broker,
        ApiKey::ListTransactions,
        2,
        &ListTransactionsRequest::default().with_transactional_id_pattern(Some(name("a)(b"))),
    );
    assert_eq!(
        response.error_code,
        ResponseError::InvalidRegularExpression.code()
    );
    assert!(response.transaction_states.is_empty());
    // v1 has no pattern field: the same request at v1 lists everything older than 0 ms.
    let response: ListTransactionsResponse = call(
        &broker,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default().with_duration_filter(0),
    );
    assert_eq!(response.error_code, 0);
    assert_eq!(response.transaction_states.len(), 3);
    a2.abort_transaction(TIMEOUT).unwrap();
    broker.assert_no_panic();
}

#[test]
fn describe_producers_is_served_without_the_transaction_gate() {
    const TOPIC: &str = "adm-idem";
    let broker = start_broker(&[]);
    create_topic(&broker, TOPIC, 1, &[]);
    let p: BaseProducer = producer_config(&broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    send_and_flush(&p, TOPIC, &["a", "b", "c"]);

    let v = txn_json(
        &broker,
        &["describe-producers", "--topic", TOPIC, "--partition", "0"],
    );
    let producers = v["producers"].as_array().unwrap();
    assert_eq!(producers.len(), 1, "{v}");
    assert!(producers[0]["producer_id"].as_i64().unwrap() >= 0);
    assert_eq!(producers[0]["producer_epoch"], 0);
    assert_eq!(producers[0]["last_sequence"], 2);
    assert_eq!(producers[0]["coordinator_epoch"], -1);
    assert_eq!(
        producers[0]["current_transaction_start_offset"],
        Value::Null
    );
    broker.assert_no_panic();
}
