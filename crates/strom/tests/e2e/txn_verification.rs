//! KIP-890 part 1 over the raw wire: a partition leader asks the transaction coordinator before it appends a
//! transactional batch of a producer with no open transaction on the partition, and refuses the batch with Kafka's
//! code when the partition was never added: INVALID_TXN_STATE before Produce v11, TRANSACTION_ABORTABLE from v11.
//! Nothing of a refused batch becomes visible, even to read_uncommitted, and the last stable offset is not held
//! (no hanging transaction). The coordinator may sit on another broker of a 3-node cluster. With
//! `transaction.partition.verification.enable=false` the batch is appended as Kafka does (and then holds the LSO).
//! Then the bad input on the produce path: wrong epochs, unknown producer ids, a new transaction on a
//! partition not added to it, EndTxn without a transaction, a 32767-byte transactional id (an ordinary id) and
//! one claiming more than Kafka's 0x7fff bytes (the connection is closed, as Kafka's parser does); a committed
//! transaction stays readable under read_committed throughout.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use kafka_protocol::records::RecordBatchDecoder;
use strom_test_support::cluster::{create_replicated_topic, partition_leader};
use strom_test_support::{wire, TestBroker, TestCluster};

use crate::txn_coordinator::{
    add, code, end, find_coordinator, init_ok, s, topics, txn_broker, wait_state, ENABLE,
};
use crate::txn_partition::batch;
use crate::util::{call, create_topic, strom_bin};

const VERIFICATION_OFF: &str = "transaction.partition.verification.enable=false";

/// One partition's Produce answer.
#[derive(Debug)]
struct Produced {
    error_code: i16,
    base_offset: i64,
    message: Option<String>,
}

/// Produce (acks=-1) of `records` to `topic`-`partition` at `version`.
fn produce(
    broker: &TestBroker,
    version: i16,
    transactional_id: &str,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> Produced {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(Some(TransactionalId(s(transactional_id))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, version, &request);
    let p = &response.responses[0].partition_responses[0];
    Produced {
        error_code: p.error_code,
        base_offset: p.base_offset,
        message: p.error_message.as_ref().map(|m| m.to_string()),
    }
}

/// A partition as a consumer with `isolation_level` (0 uncommitted, 1 committed) sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) values: Vec<String>,
}

/// Fetch v11 of `topic`-`partition` from offset 0, the way a consumer with `isolation_level` filters it.
pub(crate) fn fetch(broker: &TestBroker, topic: &str, partition: i32, isolation_level: i8) -> Seen {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = call(broker, ApiKey::Fetch, 11, &request);
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch {topic}-{partition}");
    let aborted: Vec<(i64, i64)> = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|t| (t.producer_id.0, t.first_offset))
        .collect();
    let mut values = Vec::new();
    let mut bytes = p.records.clone().unwrap_or_default();
    while !bytes.is_empty() {
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        for r in set.records {
            let aborted_here = isolation_level == 1
                && aborted
                    .iter()
                    .any(|(pid, first)| *pid == r.producer_id && r.offset >= *first);
            if !r.control && !aborted_here {
                values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    Seen {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        values,
    }
}

/// A plain (non-transactional, no producer id) record, to show the LSO follows the high watermark.
fn plain(broker: &TestBroker, topic: &str, partition: i32, value: &str) -> i64 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(-1, -1, -1, false, &[value])))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const TRANSACTION_ABORTABLE: i16 = 120;
const NOT_ENOUGH_REPLICAS: i16 = 19;

#[test]
fn txn_verification_refuses_a_partition_never_added_and_answers_bad_input_with_kafkas_codes() {
    let broker = txn_broker(&[]);
    let id = "verify";
    find_coordinator(&broker, id);
    create_topic(&broker, "vt", 2, &[]);
    let (pid, e0) = init_ok(&broker, id, 60_000);
    // A second InitProducerId bumps the epoch: e0 is now a zombie's.
    let (pid2, e1) = init_ok(&broker, id, 60_000);
    assert_eq!((pid2, e1), (pid, e0 + 1));
    assert_eq!(add(&broker, id, pid, e1, &[("vt", 0)]), [0]);

    // vt-1 was never added: refused whole, with Kafka's code per Produce version and its message.
    let p = produce(&broker, 9, id, "vt", 1, batch(pid, e1, 0, true, &["x"]));
    assert_eq!(
        (p.error_code, p.base_offset),
        (INVALID_TXN_STATE, -1),
        "{p:?}"
    );
    assert_eq!(
        p.message.as_deref(),
        Some("Partition was not added to the transaction")
    );
    let p = produce(&broker, 11, id, "vt", 1, batch(pid, e1, 0, true, &["x"]));
    assert_eq!(
        (p.error_code, p.base_offset),
        (TRANSACTION_ABORTABLE, -1),
        "{p:?}"
    );
    // Nothing was appended, not even for read_uncommitted, and nothing holds the LSO: a plain record after it
    // is stable at once.
    assert_eq!(
        fetch(&broker, "vt", 1, 0),
        Seen {
            high_watermark: 0,
            last_stable_offset: 0,
            values: vec![]
        }
    );
    assert_eq!(plain(&broker, "vt", 1, "plain"), 0);
    let committed = fetch(&broker, "vt", 1, 1);
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (1, 1)
    );
    assert_eq!(committed.values, ["plain"]);

    // Unknown producer id, and the fenced epoch, on the partition that is in the transaction.
    let p = produce(
        &broker,
        9,
        id,
        "vt",
        0,
        batch(pid + 1000, e1, 0, true, &["u"]),
    );
    assert_eq!(p.error_code, INVALID_PRODUCER_ID_MAPPING, "{p:?}");
    let p = produce(&broker, 9, id, "vt", 0, batch(pid, e0, 0, true, &["z"]));
    assert_eq!(p.error_code, INVALID_PRODUCER_EPOCH, "{p:?}");
    // A transactional id the coordinator never saw.
    let p = produce(
        &broker,
        9,
        "nobody",
        "vt",
        0,
        batch(pid, e1, 0, true, &["n"]),
    );
    assert_eq!(p.error_code, INVALID_PRODUCER_ID_MAPPING, "{p:?}");
    assert_eq!(fetch(&broker, "vt", 0, 0).high_watermark, 0);

    // The added partition takes the transaction; the next batch needs no question; after AddPartitionsToTxn
    // the other partition takes it too.
    let p = produce(
        &broker,
        9,
        id,
        "vt",
        0,
        batch(pid, e1, 0, true, &["a", "b"]),
    );
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    let p = produce(&broker, 9, id, "vt", 0, batch(pid, e1, 2, true, &["c"]));
    assert_eq!((p.error_code, p.base_offset), (0, 2), "{p:?}");
    // The zombie's epoch on the partition with the open transaction.
    let p = produce(&broker, 9, id, "vt", 0, batch(pid, e0, 3, true, &["z"]));
    assert_eq!(p.error_code, INVALID_PRODUCER_EPOCH, "{p:?}");
    assert_eq!(add(&broker, id, pid, e1, &[("vt", 1)]), [0]);
    let p = produce(&broker, 11, id, "vt", 1, batch(pid, e1, 0, true, &["d"]));
    assert_eq!((p.error_code, p.base_offset), (0, 1), "{p:?}");
    assert_eq!(fetch(&broker, "vt", 0, 1).last_stable_offset, 0);

    assert_eq!(end(&broker, 3, id, pid, e1, true).error_code, 0);
    wait_state(&broker, id, "CompleteCommit");
    let committed_0 = until_stable(&broker, "vt", 0, 4);
    assert_eq!(committed_0.values, ["a", "b", "c"]);
    assert_eq!(until_stable(&broker, "vt", 1, 3).values, ["plain", "d"]);

    // After the commit: a new transaction that did not add vt-0 may not write there (the producer has no
    // open transaction on it any more), EndTxn abort without a transaction is INVALID_TXN_STATE, and the
    // committed records are untouched.
    let p = produce(&broker, 9, id, "vt", 0, batch(pid, e1, 3, true, &["late"]));
    assert_eq!(p.error_code, INVALID_TXN_STATE, "{p:?}");
    assert_eq!(
        end(&broker, 3, id, pid, e1, false).error_code,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(fetch(&broker, "vt", 0, 1), committed_0);
    assert_eq!(fetch(&broker, "vt", 0, 0).values, ["a", "b", "c"]);

    // A transactional id of 32767 bytes, the longest string Kafka's protocol carries, is an ordinary id.
    let long = "L".repeat(32_767);
    let (lpid, lepoch) = init_ok(&broker, &long, 60_000);
    let p = produce(
        &broker,
        9,
        &long,
        "vt",
        1,
        batch(lpid, lepoch, 0, true, &["l"]),
    );
    assert_eq!(p.error_code, INVALID_TXN_STATE, "{p:?}");
    assert_eq!(add(&broker, &long, lpid, lepoch, &[("vt", 1)]), [0]);
    let p = produce(
        &broker,
        9,
        &long,
        "vt",
        1,
        batch(lpid, lepoch, 0, true, &["l"]),
    );
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(end(&broker, 3, &long, lpid, lepoch, false).error_code, 0);
    wait_state(&broker, &long, "CompleteAbort");
    assert_eq!(until_stable(&broker, "vt", 1, 5).values, ["plain", "d"]);
    assert_eq!(fetch(&broker, "vt", 0, 1), committed_0);
    broker.assert_no_panic();
}

/// Fetches read_committed until the LSO reaches `lso` (markers are written by the coordinator's task).
fn until_stable(broker: &TestBroker, topic: &str, partition: i32, lso: i64) -> Seen {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = fetch(broker, topic, partition, 1);
        if seen.last_stable_offset >= lso {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}-{partition}: LSO still {seen:?}"
        );
        strom_test_support::pause(Duration::from_millis(100));
    }
}

/// Sends one request and reads what comes back.
fn reply<Req: Encodable + HeaderVersion>(
    broker: &TestBroker,
    key: ApiKey,
    version: i16,
    request: &Req,
) -> wire::Reply {
    let mut stream = wire::connect(broker.addr()).unwrap();
    let frame = wire::encode_request(key as i16, version, 7, request).unwrap();
    wire::send(&mut stream, &frame).unwrap();
    wire::read_reply(&mut stream, Duration::from_secs(10)).unwrap()
}

#[test]
fn txn_oversized_transactional_ids_close_the_connection_as_kafka_does() {
    let broker = txn_broker(&[]);
    let id = "keep";
    find_coordinator(&broker, id);
    create_topic(&broker, "vl", 1, &[]);
    let (pid, epoch) = init_ok(&broker, id, 60_000);
    assert_eq!(add(&broker, id, pid, epoch, &[("vl", 0)]), [0]);
    let p = produce(
        &broker,
        9,
        id,
        "vl",
        0,
        batch(pid, epoch, 0, true, &["kept"]),
    );
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(end(&broker, 3, id, pid, epoch, true).error_code, 0);
    let committed = until_stable(&broker, "vl", 0, 2);
    assert_eq!(committed.values, ["kept"]);

    // A string claiming more than 0x7fff bytes (only the compact strings of flexible versions can): Kafka's
    // generated parser throws, `RequestContext.parseRequest` turns that into InvalidRequestException, and the
    // socket server closes the connection without an answer.
    let oversized = TransactionalId(s(&"o".repeat(40_000)));
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(oversized.clone()))
        .with_transaction_timeout_ms(1000);
    assert_eq!(
        reply(&broker, ApiKey::InitProducerId, 4, &init),
        wire::Reply::Closed
    );
    let end_txn = EndTxnRequest::default()
        .with_transactional_id(oversized.clone())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(false);
    assert_eq!(
        reply(&broker, ApiKey::EndTxn, 3, &end_txn),
        wire::Reply::Closed
    );
    let add_txn = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(oversized.clone())
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics(&[("vl", 0)]));
    assert_eq!(
        reply(&broker, ApiKey::AddPartitionsToTxn, 3, &add_txn),
        wire::Reply::Closed
    );
    let produce_request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(Some(oversized))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s("vl")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(pid, epoch, 1, true, &["no"])))])]);
    assert_eq!(
        reply(&broker, ApiKey::Produce, 9, &produce_request),
        wire::Reply::Closed
    );
    // The broker serves the next connection, and the committed transaction is as it was.
    assert_eq!(fetch(&broker, "vl", 0, 1), committed);
    assert_eq!(fetch(&broker, "vl", 0, 0).values, ["kept"]);
    broker.assert_no_panic();
}

#[test]
fn txn_verification_off_appends_a_partition_never_added_as_kafka_does() {
    let broker = txn_broker(&["--override", VERIFICATION_OFF]);
    let id = "unverified";
    find_coordinator(&broker, id);
    create_topic(&broker, "vo", 1, &[]);
    let (pid, epoch) = init_ok(&broker, id, 60_000);
    let p = produce(&broker, 11, id, "vo", 0, batch(pid, epoch, 0, true, &["h"]));
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    // The coordinator knows nothing of it: the transaction hangs and holds the LSO, as on Kafka without
    // verification (what KIP-890 prevents).
    assert_eq!(plain(&broker, "vo", 0, "after"), 1);
    let committed = fetch(&broker, "vo", 0, 1);
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (2, 0)
    );
    assert!(committed.values.is_empty());
    broker.assert_no_panic();
}

#[test]
fn txn_verification_asks_a_coordinator_on_another_broker() {
    let mut cluster = TestCluster::start(
        strom_bin(),
        3,
        &[
            "--override",
            ENABLE,
            "--override",
            "transaction.state.log.num.partitions=5",
        ],
    )
    .unwrap();
    let bootstrap = cluster.bootstrap();
    create_replicated_topic(&bootstrap, "vc", 6, 1, &[]).unwrap();
    let id = "remote";
    let any = cluster.node(cluster.ids()[0]);
    let coordinator = find_coordinator(any, id);
    // Two partitions led by brokers other than the coordinator: one added, one not.
    let elsewhere: Vec<(i32, i32)> = (0..6)
        .map(|p| (p, partition_leader(&bootstrap, "vc", p).unwrap()))
        .filter(|(_, leader)| *leader != coordinator)
        .collect();
    assert!(
        elsewhere.len() >= 2,
        "partitions of vc not on the coordinator: {elsewhere:?}"
    );
    let (added, added_leader) = elsewhere[0];
    let (other, other_leader) = elsewhere[1];
    let c = cluster.node(coordinator);
    let (pid, epoch) = init_ok(c, id, 60_000);
    assert_eq!(add(c, id, pid, epoch, &[("vc", added)]), [0]);

    // The leaders ask the coordinator's broker over the network.
    let leader = cluster.node(other_leader);
    let p = produce(
        leader,
        9,
        id,
        "vc",
        other,
        batch(pid, epoch, 0, true, &["no"]),
    );
    assert_eq!(
        (p.error_code, p.base_offset),
        (INVALID_TXN_STATE, -1),
        "{p:?}"
    );
    let p = produce(
        leader,
        11,
        id,
        "vc",
        other,
        batch(pid, epoch, 0, true, &["no"]),
    );
    assert_eq!(p.error_code, TRANSACTION_ABORTABLE, "{p:?}");
    let p = produce(
        leader,
        9,
        id,
        "vc",
        other,
        batch(pid + 1000, epoch, 0, true, &["no"]),
    );
    assert_eq!(p.error_code, INVALID_PRODUCER_ID_MAPPING, "{p:?}");
    assert_eq!(fetch(leader, "vc", other, 0).high_watermark, 0);

    let leader = cluster.node(added_leader);
    let p = produce(
        leader,
        9,
        id,
        "vc",
        added,
        batch(pid, epoch, 0, true, &["yes"]),
    );
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    assert_eq!(end(c, 3, id, pid, epoch, true).error_code, 0);
    wait_state(c, id, "CompleteCommit");
    assert_eq!(until_stable(leader, "vc", added, 2).values, ["yes"]);

    // The coordinator's broker is gone (its `__transaction_state` has one replica): the check cannot be made,
    // which Kafka answers with the retriable NOT_ENOUGH_REPLICAS and its message; nothing is appended.
    cluster.kill9(coordinator).unwrap();
    let leader = cluster.node(other_leader);
    let p = produce(
        leader,
        9,
        id,
        "vc",
        other,
        batch(pid, epoch, 0, true, &["lost"]),
    );
    assert_eq!(p.error_code, NOT_ENOUGH_REPLICAS, "{p:?}");
    assert!(
        p.message
            .as_deref()
            .is_some_and(|m| m
                .starts_with("Unable to verify the partition has been added to the transaction")),
        "{p:?}"
    );
    assert_eq!(fetch(leader, "vc", other, 0).high_watermark, 0);
    cluster.assert_no_panic();
}
