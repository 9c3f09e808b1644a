//! The data side of transactions (issue 22) over raw Kafka requests, as a transaction coordinator drives it:
//! transactional produce holds back the last stable offset, WriteTxnMarkers (API 27) ends the transaction with a
//! COMMIT or ABORT control batch, read_committed fetches stop at the LSO and name the aborted transactions, and
//! ListOffsets latest under read_committed is the LSO. A librdkafka read_committed consumer then reads exactly
//! the committed records, and all of it survives a restart (the `.txnindex` files). Bad markers get Kafka's
//! codes. The coordinator itself is tested with real transactional clients in `transactions.rs`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::Consumer;
use rdkafka::Message;
use rdkafka::Offset;
use strom_test_support::kafka::{assigned_consumer, poll_until};
use strom_test_support::TestBroker;

use crate::util::{call, create_topic, now_ms, start_broker};

const TOPIC: &str = "txn-data";
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const INVALID_RECORD: i16 = 87;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;

pub(crate) const TXN_FLAGS: &[&str] = &["--transaction-apis-enable", "true"];
/// These tests write transactional batches for producers no coordinator knows (the coordinator's part is
/// `txn_coordinator.rs`), so KIP-890 verification, which would refuse them, is off (`txn_verification.rs`).
const RAW_TXN_FLAGS: &[&str] = &[
    "--transaction-apis-enable",
    "true",
    "--override",
    "transaction.partition.verification.enable=false",
];

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One v2 batch of `values` by producer `pid`/`epoch` from sequence `seq`.
pub(crate) fn batch(pid: i64, epoch: i16, seq: i32, transactional: bool, values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if seq < 0 {
                i as i32 - 1
            } else {
                seq + i as i32
            },
            timestamp: now_ms(),
            key: None,
            value: Some(Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Produce at v9 with `transactional_id`; (error code, base offset).
fn produce(broker: &TestBroker, transactional_id: Option<&str>, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
        )
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(TOPIC))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, 9, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub(crate) fn init_producer_id(broker: &TestBroker) -> (i64, i16) {
    let response: InitProducerIdResponse = call(
        broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

/// WriteTxnMarkers v1 for one partition; the partition's error code.
fn marker(
    broker: &TestBroker,
    pid: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    topic: &str,
) -> i16 {
    marker_at(broker, pid, epoch, commit, coordinator_epoch, topic, 0)
}

fn marker_at(
    broker: &TestBroker,
    pid: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    topic: &str,
    partition: i32,
) -> i16 {
    let request =
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_transaction_result(commit)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![partition])])]);
    let response: WriteTxnMarkersResponse = call(broker, ApiKey::WriteTxnMarkers, 1, &request);
    assert_eq!(response.markers.len(), 1);
    assert_eq!(response.markers[0].producer_id.0, pid);
    response.markers[0].topics[0].partitions[0].error_code
}

struct Fetched {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Option<Vec<(i64, i64)>>,
    /// (offset, value) of data records, control batches left out.
    records: Vec<(i64, String)>,
    control_batches: usize,
}

fn fetch(broker: &TestBroker, offset: i64, isolation_level: i8) -> Fetched {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(TOPIC))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = call(broker, ApiKey::Fetch, 11, &request);
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let mut records = Vec::new();
    let mut control_batches = 0;
    let mut bytes = p.records.clone().unwrap_or_default();
    while !bytes.is_empty() {
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        for r in set.records {
            if r.control {
                control_batches += 1;
            } else {
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                records.push((r.offset, value));
            }
        }
    }
    Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p.aborted_transactions.as_ref().map(|a| {
            a.iter()
                .map(|t| (t.producer_id.0, t.first_offset))
                .collect()
        }),
        records,
        control_batches,
    }
}

fn list_latest(broker: &TestBroker, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let response: ListOffsetsResponse = call(broker, ApiKey::ListOffsets, 5, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

fn advertised(broker: &TestBroker, key: ApiKey) -> bool {
    let response: ApiVersionsResponse = call(
        broker,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strom-e2e"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    response.api_keys.iter().any(|k| k.api_key == key as i16)
}

/// The values a librdkafka consumer with `isolation.level` reads from the start up to `until` (exclusive).
fn rdkafka_values(broker: &TestBroker, isolation: &str, expected: usize) -> Vec<String> {
    let consumer = assigned_consumer(
        &broker.bootstrap(),
        TOPIC,
        &[(0, Offset::Beginning)],
        &[("isolation.level", isolation)],
    )
    .unwrap();
    let got = poll_until(&consumer, Duration::from_secs(30), |got| {
        got.len() >= expected
    })
    .unwrap();
    // Nothing more arrives after a pause.
    let more = poll_until(&consumer, Duration::from_millis(1500), |_| false).unwrap_or_default();
    consumer.unassign().unwrap();
    got.iter()
        .chain(more.iter())
        .map(|m| String::from_utf8(m.payload().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn markers_lso_and_read_committed_over_raw_protocol() {
    let mut broker = start_broker(RAW_TXN_FLAGS);
    assert!(advertised(&broker, ApiKey::WriteTxnMarkers));
    create_topic(&broker, TOPIC, 1, &[]);
    let (pid, epoch) = init_producer_id(&broker);

    // A transactional batch without a transactional id is refused whole.
    let (code, _) = produce(&broker, None, batch(pid, epoch, 0, true, &["x"]));
    assert_eq!(code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);

    // Transaction 1 (to be aborted): offsets 0..2; a plain record from another producer at 3.
    assert_eq!(
        produce(
            &broker,
            Some("tx"),
            batch(pid, epoch, 0, true, &["a1", "a2", "a3"])
        ),
        (0, 0)
    );
    assert_eq!(
        produce(&broker, None, batch(-1, -1, -1, false, &["plain1"])),
        (0, 3)
    );
    // The open transaction's producer may not write outside it.
    assert_eq!(
        produce(&broker, None, batch(pid, epoch, 3, false, &["y"])).0,
        INVALID_TXN_STATE
    );

    let uncommitted = fetch(&broker, 0, 0);
    assert_eq!(
        (uncommitted.high_watermark, uncommitted.last_stable_offset),
        (4, 0)
    );
    assert_eq!(uncommitted.records.len(), 4);
    assert_eq!(uncommitted.aborted, None);
    let committed = fetch(&broker, 0, 1);
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (4, 0)
    );
    assert!(committed.records.is_empty(), "nothing is stable yet");
    assert_eq!(committed.aborted, Some(vec![]));
    assert_eq!(list_latest(&broker, 0), 4);
    assert_eq!(list_latest(&broker, 1), 0);

    // Markers from an older producer epoch or an unknown partition are refused.
    assert_eq!(
        marker(&broker, pid, epoch - 1, false, 0, TOPIC),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        marker(&broker, pid, epoch, false, 0, "no-such-topic"),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(marker(&broker, pid, epoch, false, 3, TOPIC), 0); // ABORT at offset 4
    assert_eq!(list_latest(&broker, 1), 5);
    let committed = fetch(&broker, 0, 1);
    assert_eq!(committed.last_stable_offset, 5);
    assert_eq!(committed.aborted, Some(vec![(pid, 0)]));
    assert_eq!(
        committed.records.len(),
        4,
        "aborted data is served; the client drops it"
    );
    assert_eq!(committed.control_batches, 1);
    // A later marker from an older coordinator is fenced.
    assert_eq!(
        produce(
            &broker,
            Some("tx"),
            batch(pid, epoch, 3, true, &["b1", "b2"])
        ),
        (0, 5)
    );
    assert_eq!(
        marker(&broker, pid, epoch, true, 2, TOPIC),
        TRANSACTION_COORDINATOR_FENCED
    );
    assert_eq!(list_latest(&broker, 1), 5);
    assert_eq!(marker(&broker, pid, epoch, true, 3, TOPIC), 0); // COMMIT at offset 7
    assert_eq!(list_latest(&broker, 1), 8);
    let committed = fetch(&broker, 5, 1);
    assert_eq!(
        committed.aborted,
        Some(vec![]),
        "the abort ended before offset 5"
    );
    assert_eq!(
        committed.records,
        vec![(5, "b1".to_string()), (6, "b2".to_string())]
    );
    // A client may not write control batches itself.
    let mut control = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut control,
        &[Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now_ms(),
            key: Some(Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            headers: Default::default(),
        }],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    assert_eq!(
        produce(&broker, Some("tx"), control.freeze()).0,
        INVALID_RECORD
    );

    let expected = ["plain1", "b1", "b2"];
    assert_eq!(rdkafka_values(&broker, "read_committed", 3), expected);
    assert_eq!(rdkafka_values(&broker, "read_uncommitted", 6).len(), 6);

    // An open transaction and the aborted-transaction index survive a restart, clean or kill -9.
    assert_eq!(
        produce(&broker, Some("tx"), batch(pid, epoch, 5, true, &["c1"])),
        (0, 8)
    );
    for kill in [false, true] {
        if kill {
            broker.kill9().unwrap();
        } else {
            broker.stop().unwrap();
        }
        broker.restart().unwrap();
        strom_test_support::wait_until("partition back", Duration::from_secs(30), || {
            // librdkafka asks with its default isolation.level=read_committed: the LSO.
            Ok(strom_test_support::kafka::watermarks(&broker.bootstrap(), TOPIC, 0)?.1 == 8)
        })
        .unwrap();
        assert_eq!(list_latest(&broker, 1), 8);
        let committed = fetch(&broker, 0, 1);
        assert_eq!(committed.last_stable_offset, 8);
        assert_eq!(committed.aborted, Some(vec![(pid, 0)]));
    }
    assert_eq!(marker(&broker, pid, epoch, false, 3, TOPIC), 0);
    assert_eq!(list_latest(&broker, 1), 10);
    assert_eq!(fetch(&broker, 0, 1).aborted, Some(vec![(pid, 0), (pid, 8)]));
    assert_eq!(rdkafka_values(&broker, "read_committed", 3), expected);
    broker.assert_no_panic();
}

/// The data side's APIs are advertised by default (the gate `transaction.apis.enable` is gone).
#[test]
fn transaction_apis_are_advertised_by_default() {
    let broker = start_broker(&[]);
    for key in [
        ApiKey::Produce,
        ApiKey::WriteTxnMarkers,
        ApiKey::TxnOffsetCommit,
    ] {
        assert!(advertised(&broker, key), "{key:?}");
    }
}

/// TxnOffsetCommit v3 for `GROUP` on TOPIC-0; the partition's error code.
fn txn_offset_commit(
    broker: &TestBroker,
    pid: i64,
    epoch: i16,
    generation_id: i32,
    member_id: &str,
    offset: i64,
) -> i16 {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(generation_id)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    let response: TxnOffsetCommitResponse = call(broker, ApiKey::TxnOffsetCommit, 3, &request);
    response.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of `GROUP`'s TOPIC-0: (error code, committed offset).
fn offset_fetch(broker: &TestBroker, require_stable: bool) -> (i16, i64) {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partition_indexes(vec![0])]));
    let response: OffsetFetchResponse = call(broker, ApiKey::OffsetFetch, 7, &request);
    assert_eq!(response.error_code, 0);
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

const GROUP: &str = "txn-group";
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const ILLEGAL_GENERATION: i16 = 22;

#[test]
fn txn_offset_commit_is_pending_until_the_marker() {
    let mut broker = start_broker(&[
        RAW_TXN_FLAGS[0],
        RAW_TXN_FLAGS[1],
        RAW_TXN_FLAGS[2],
        RAW_TXN_FLAGS[3],
        "--offsets-topic-num-partitions",
        "3",
    ]);
    assert!(advertised(&broker, ApiKey::TxnOffsetCommit));
    create_topic(&broker, TOPIC, 1, &[]);
    let (pid, epoch) = init_producer_id(&broker);
    let offsets_partition = strom_test_support::cluster::offsets_partition_for(GROUP, 3);

    // An unknown group with a generation is ILLEGAL_GENERATION (KIP-447); generation -1 makes a simple group.
    assert_eq!(
        txn_offset_commit(&broker, pid, epoch, 4, "m", 10),
        ILLEGAL_GENERATION
    );
    assert_eq!(txn_offset_commit(&broker, pid, epoch, -1, "", 10), 0);
    assert_eq!(offset_fetch(&broker, true), (UNSTABLE_OFFSET_COMMIT, -1));
    assert_eq!(offset_fetch(&broker, false), (0, -1));
    // A fenced (older) producer epoch is refused by the log.
    assert_eq!(
        txn_offset_commit(&broker, pid, epoch - 1, -1, "", 11),
        INVALID_PRODUCER_EPOCH
    );

    assert_eq!(
        marker_at(
            &broker,
            pid,
            epoch,
            true,
            0,
            "__consumer_offsets",
            offsets_partition
        ),
        0
    );
    assert_eq!(offset_fetch(&broker, true), (0, 10));

    // An aborted transaction's offsets never show; the committed ones survive a restart (replayed with markers).
    assert_eq!(txn_offset_commit(&broker, pid, epoch, -1, "", 20), 0);
    assert_eq!(
        marker_at(
            &broker,
            pid,
            epoch,
            false,
            0,
            "__consumer_offsets",
            offsets_partition
        ),
        0
    );
    assert_eq!(offset_fetch(&broker, true), (0, 10));
    assert_eq!(txn_offset_commit(&broker, pid, epoch, -1, "", 30), 0);
    broker.kill9().unwrap();
    broker.restart().unwrap();
    strom_test_support::wait_until("group coordinator back", Duration::from_secs(30), || {
        let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str(GROUP));
        let r: FindCoordinatorResponse = call(&broker, ApiKey::FindCoordinator, 3, &request);
        Ok(r.error_code == 0)
    })
    .unwrap();
    assert_eq!(offset_fetch(&broker, true), (UNSTABLE_OFFSET_COMMIT, -1));
    assert_eq!(offset_fetch(&broker, false), (0, 10));
    assert_eq!(
        marker_at(
            &broker,
            pid,
            epoch,
            true,
            0,
            "__consumer_offsets",
            offsets_partition
        ),
        0
    );
    assert_eq!(offset_fetch(&broker, true), (0, 30));
    broker.assert_no_panic();
}
