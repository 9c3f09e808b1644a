//! KIP-890 part 2 over the raw wire, as a Kafka 4.x producer speaks it once the broker finalizes
//! `transaction.version` 2: no AddPartitionsToTxn and no AddOffsetsToTxn. A Produce v12 transactional batch
//! for a partition not yet in the transaction is appended, the leader having had the coordinator add the
//! partition; TxnOffsetCommit v5 adds the group's `__consumer_offsets` partition the same way. EndTxn v5 commits
//! (the records become visible under read_committed, the offsets to OffsetFetch) or aborts (neither ever shows),
//! bumping the epoch each time; the previous epoch is then fenced (INVALID_PRODUCER_EPOCH) and adds nothing.
//! Produce v11 keeps the part-1 answer (the partition is checked, not added). On a 3-node cluster the partition
//! leader and the group coordinator ask a transaction coordinator on another broker (AddPartitionsToTxn v5
//! without VerifyOnly over the network).

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;

use strom_test_support::cluster::{create_replicated_topic, partition_leader};
use strom_test_support::TestCluster;

use crate::txn_coordinator::{
    describe, end, find_coordinator, init_ok, partitions_of, s, txn_broker, until_ready,
    wait_state, ENABLE,
};
use crate::txn_partition::batch;
use crate::util::{call, create_topic, strom_bin};

const TOPIC: &str = "v2t";
const GROUP: &str = "v2-group";
const OFFSETS_PARTITIONS: i32 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const TRANSACTION_ABORTABLE: i16 = 120;

/// Produce (acks=-1) of `records` to TOPIC-`partition` at `version`: (error code, base offset).
fn produce(
    broker: &strom_test_support::TestBroker,
    version: i16,
    id: &str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response: ProduceResponse = call(broker, ApiKey::Produce, version, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// TxnOffsetCommit v5 of GROUP (a simple group: generation -1) for TOPIC-0; the partition's error code.
fn txn_offset_commit(
    broker: &strom_test_support::TestBroker,
    id: &str,
    pid: i64,
    epoch: i16,
    offset: i64,
) -> i16 {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_member_id(s(""))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    let response: TxnOffsetCommitResponse = call(broker, ApiKey::TxnOffsetCommit, 5, &request);
    response.topics[0].partitions[0].error_code
}

/// GROUP's committed offset of TOPIC-0 (OffsetFetch v7 with `require_stable`), -1 for none; retried while
/// a transaction still holds it (UNSTABLE_OFFSET_COMMIT).
fn committed_offset(broker: &strom_test_support::TestBroker) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_require_stable(true)
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![0])]));
        let response: OffsetFetchResponse = call(broker, ApiKey::OffsetFetch, 7, &request);
        assert_eq!(response.error_code, 0);
        let p = &response.topics[0].partitions[0];
        if p.error_code == 0 {
            return p.committed_offset;
        }
        assert_eq!(p.error_code, 88, "UNSTABLE_OFFSET_COMMIT expected");
        assert!(
            std::time::Instant::now() < deadline,
            "offsets stay unstable"
        );
        strom_test_support::pause(std::time::Duration::from_millis(100));
    }
}

/// The values of TOPIC-`partition` a consumer with `isolation_level` (0 uncommitted, 1 committed) sees, and
/// the last stable offset.
fn fetch(
    broker: &strom_test_support::TestBroker,
    partition: i32,
    isolation_level: i8,
) -> (Vec<String>, i64) {
    let seen = crate::txn_verification::fetch(broker, TOPIC, partition, isolation_level);
    (seen.values, seen.last_stable_offset)
}

/// EndTxn v5: the epoch the producer continues with (bumped by the coordinator).
fn end_v5(
    broker: &strom_test_support::TestBroker,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> i16 {
    let r = end(broker, 5, id, pid, epoch, commit);
    assert_eq!(r.error_code, 0, "EndTxn v5 {commit}");
    assert_eq!(r.producer_id.0, pid);
    r.producer_epoch
}

#[test]
fn txn_v2_produce_v12_and_txn_offset_commit_v5_add_their_partitions_to_the_transaction() {
    let broker = txn_broker(&["--override", "offsets.topic.num.partitions=3"]);
    let id = "tv2";
    find_coordinator(&broker, id);
    create_topic(&broker, TOPIC, 2, &[]);
    let offsets_partition =
        strom_test_support::cluster::offsets_partition_for(GROUP, OFFSETS_PARTITIONS);
    let (pid, e0) = init_ok(&broker, id, 60_000);

    // Transaction 1: two partitions and the group's offsets, none added by the producer; then commit.
    assert_eq!(
        produce(&broker, 12, id, 0, batch(pid, e0, 0, true, &["a1", "a2"])),
        (0, 0)
    );
    assert_eq!(
        produce(&broker, 12, id, 1, batch(pid, e0, 0, true, &["b1"])),
        (0, 0)
    );
    // The open transaction's partitions are now known to the coordinator (a second batch needs no add).
    assert_eq!(
        produce(&broker, 12, id, 0, batch(pid, e0, 2, true, &["a3"])),
        (0, 2)
    );
    assert_eq!(txn_offset_commit(&broker, id, pid, e0, 5), 0);
    let d = describe(&broker, id);
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    let mut expected = vec![
        ("__consumer_offsets".to_owned(), offsets_partition),
        (TOPIC.to_owned(), 0),
        (TOPIC.to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(partitions_of(&d), expected);
    // Open: read_uncommitted sees it, read_committed does not, the LSO holds at its first offset.
    assert_eq!(fetch(&broker, 0, 0).0, ["a1", "a2", "a3"]);
    assert_eq!(fetch(&broker, 0, 1), (vec![], 0));
    assert_eq!(committed_offset_now(&broker), None);

    let e1 = end_v5(&broker, id, pid, e0, true);
    assert_eq!(e1, e0 + 1, "EndTxn v5 bumps the epoch");
    wait_state(&broker, id, "CompleteCommit");
    assert_eq!(fetch(&broker, 0, 1).0, ["a1", "a2", "a3"]);
    assert_eq!(fetch(&broker, 1, 1).0, ["b1"]);
    assert_eq!(committed_offset(&broker), 5);

    // The old epoch is fenced now: its batch is refused and adds nothing.
    assert_eq!(
        produce(&broker, 12, id, 1, batch(pid, e0, 1, true, &["zombie"])).0,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        txn_offset_commit(&broker, id, pid, e0, 7),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        describe(&broker, id).transaction_state.as_str(),
        "CompleteCommit"
    );

    // Transaction 2 at the bumped epoch (sequences start again at 0): aborted, nothing of it ever shows.
    assert_eq!(
        produce(&broker, 12, id, 0, batch(pid, e1, 0, true, &["x1"])).0,
        0
    );
    assert_eq!(txn_offset_commit(&broker, id, pid, e1, 9), 0);
    assert_eq!(describe(&broker, id).transaction_state.as_str(), "Ongoing");
    let e2 = end_v5(&broker, id, pid, e1, false);
    assert_eq!(e2, e1 + 1);
    wait_state(&broker, id, "CompleteAbort");
    assert_eq!(fetch(&broker, 0, 1).0, ["a1", "a2", "a3"]);
    assert_eq!(fetch(&broker, 0, 0).0, ["a1", "a2", "a3", "x1"]);
    assert_eq!(committed_offset(&broker), 5);

    // Transaction 3: Produce v11 is still the part-1 produce: a partition not added is refused, not added.
    assert_eq!(
        produce(&broker, 11, id, 1, batch(pid, e2, 0, true, &["v11"])).0,
        TRANSACTION_ABORTABLE
    );
    assert_eq!(
        describe(&broker, id).transaction_state.as_str(),
        "CompleteAbort"
    );
    // ...and right after an EndTxn the next transaction's first batch goes in (the add waits out the markers).
    assert_eq!(
        produce(&broker, 12, id, 1, batch(pid, e2, 0, true, &["c1"])).0,
        0
    );
    let e3 = end_v5(&broker, id, pid, e2, true);
    assert_eq!(
        produce(&broker, 12, id, 1, batch(pid, e3, 0, true, &["d1"])).0,
        0
    );
    let _ = end_v5(&broker, id, pid, e3, true);
    wait_state(&broker, id, "CompleteCommit");
    let (values, lso) = fetch(&broker, 1, 1);
    assert_eq!(values, ["b1", "c1", "d1"]);
    assert_eq!(lso, fetch_high_watermark(&broker, 1));
    broker.assert_no_panic();
}

/// GROUP's committed offset of TOPIC-0 without waiting: None while a transaction holds it.
fn committed_offset_now(broker: &strom_test_support::TestBroker) -> Option<i64> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_require_stable(true)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![0])]));
    let response: OffsetFetchResponse = call(broker, ApiKey::OffsetFetch, 7, &request);
    let p = &response.topics[0].partitions[0];
    (p.error_code == 0).then_some(p.committed_offset)
}

/// TOPIC-`partition`'s high watermark.
fn fetch_high_watermark(broker: &strom_test_support::TestBroker, partition: i32) -> i64 {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1)])]);
    let response: FetchResponse = call(broker, ApiKey::Fetch, 11, &request);
    response.responses[0].partitions[0].high_watermark
}

/// The group coordinator of GROUP (FindCoordinator v3, key type 0).
fn group_coordinator(broker: &strom_test_support::TestBroker) -> i32 {
    until_ready("FindCoordinator (group)", || {
        let r: FindCoordinatorResponse = call(
            broker,
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(s(GROUP))
                .with_key_type(0),
        );
        (r.error_code, r.node_id.0)
    })
}

#[test]
fn txn_v2_partition_leaders_add_partitions_through_a_coordinator_on_another_broker() {
    let cluster = TestCluster::start(
        strom_bin(),
        3,
        &[
            "--override",
            ENABLE,
            "--override",
            "transaction.state.log.num.partitions=5",
        ],
    )
    .expect("a 3-node cluster");
    let bootstrap = cluster.bootstrap();
    create_replicated_topic(&bootstrap, TOPIC, 6, 1, &[]).expect("topic");
    let id = "tv2-remote";
    let any = cluster.node(cluster.ids()[0]);
    let coordinator = find_coordinator(any, id);
    let c = cluster.node(coordinator);
    let (pid, e0) = init_ok(c, id, 60_000);
    let groups = cluster.node(group_coordinator(any));
    // Two partitions led by brokers other than the transaction coordinator: their adds go over the network.
    let elsewhere: Vec<(i32, i32)> = (0..6)
        .map(|p| (p, partition_leader(&bootstrap, TOPIC, p).expect("a leader")))
        .filter(|(_, leader)| *leader != coordinator)
        .take(2)
        .collect();
    assert_eq!(elsewhere.len(), 2, "partitions not on the coordinator");

    // Both partitions and the offsets, each from its own leader / the group coordinator, wherever the
    // transaction coordinator is.
    for &(p, leader) in &elsewhere {
        let value = format!("r{p}");
        let got = produce(
            cluster.node(leader),
            12,
            id,
            p,
            batch(pid, e0, 0, true, &[&value]),
        );
        assert_eq!(
            got,
            (0, 0),
            "partition {p} on node {leader} (coordinator {coordinator})"
        );
    }
    assert_eq!(txn_offset_commit(groups, id, pid, e0, 42), 0);
    let d = describe(c, id);
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(partitions_of(&d).len(), 3, "{d:?}");
    for &(p, leader) in &elsewhere {
        assert_eq!(fetch(cluster.node(leader), p, 1).0, Vec::<String>::new());
    }

    let e1 = end_v5(c, id, pid, e0, true);
    assert_eq!(e1, e0 + 1);
    wait_state(c, id, "CompleteCommit");
    for &(p, leader) in &elsewhere {
        assert_eq!(fetch(cluster.node(leader), p, 1).0, [format!("r{p}")]);
    }
    assert_eq!(committed_offset(groups), 42);

    // A fenced epoch is refused by a remote add too, and nothing of it is appended.
    let (p, leader) = elsewhere[0];
    let got = produce(
        cluster.node(leader),
        12,
        id,
        p,
        batch(pid, e0, 1, true, &["zombie"]),
    );
    assert_eq!(got.0, INVALID_PRODUCER_EPOCH);
    assert_eq!(fetch(cluster.node(leader), p, 0).0, [format!("r{p}")]);
}
