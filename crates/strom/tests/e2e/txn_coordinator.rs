//! The transaction coordinator (issue 22, coordinator side) over the raw wire (its helpers are shared with
//! `txn_clients.rs`): FindCoordinator for a transactional id, InitProducerId epochs and fencing, AddPartitionsToTxn
//! (v3 and the v4+ batched/VerifyOnly form), AddOffsetsToTxn, EndTxn, Describe/ListTransactions, Kafka's
//! error codes for bad input, the timeout abort, expiry of idle ids, and the state surviving a kill -9
//! restart through `__transaction_state`.
//! Whether markers complete a transaction depends on the partition leaders serving
//! WriteTxnMarkers (the data side of issue 22): when ApiVersions advertises it the tests wait for
//! CompleteCommit/CompleteAbort, otherwise they check the coordinator keeps the transaction in
//! PrepareCommit/PrepareAbort (markers pending, retried) without blocking anything else.

use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_test_support::TestBroker;

use crate::util::{call, create_topic, start_broker};

pub(crate) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(crate) fn code(e: ResponseError) -> i16 {
    e.code()
}

pub(crate) const ENABLE: &str = "transaction.apis.enable=true";
const PARTITIONS: &str = "transaction.state.log.num.partitions=5";

pub(crate) fn txn_broker(extra: &[&str]) -> TestBroker {
    let mut args = vec!["--override", ENABLE, "--override", PARTITIONS];
    args.extend_from_slice(extra);
    start_broker(&args)
}

/// Retries `f` while it answers a coordinator-not-ready code (the topic is being created or loaded).
pub(crate) fn until_ready<T>(what: &str, mut f: impl FnMut() -> (i16, T)) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (error, value) = f();
        let retriable = [
            ResponseError::CoordinatorNotAvailable,
            ResponseError::NotCoordinator,
            ResponseError::CoordinatorLoadInProgress,
            ResponseError::ConcurrentTransactions,
        ]
        .iter()
        .any(|e| e.code() == error);
        if !retriable {
            assert_eq!(error, 0, "{what}");
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {error} after 30 s"
        );
        strom_test_support::pause(Duration::from_millis(100));
    }
}

pub(crate) fn find_coordinator(broker: &TestBroker, id: &str) -> i32 {
    until_ready("FindCoordinator", || {
        let r: FindCoordinatorResponse = call(
            broker,
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(s(id))
                .with_key_type(1),
        );
        (r.error_code, r.node_id.0)
    })
}

pub(crate) fn init(
    broker: &TestBroker,
    id: &str,
    timeout_ms: i32,
    version: i16,
) -> InitProducerIdResponse {
    call(
        broker,
        ApiKey::InitProducerId,
        version,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(timeout_ms),
    )
}

/// InitProducerId retried until it succeeds: (producer id, epoch).
pub(crate) fn init_ok(broker: &TestBroker, id: &str, timeout_ms: i32) -> (i64, i16) {
    until_ready("InitProducerId", || {
        let r = init(broker, id, timeout_ms, 4);
        (r.error_code, (r.producer_id.0, r.producer_epoch))
    })
}

/// AddPartitionsToTxn v3: each partition's error code.
pub(crate) fn add_v(
    broker: &TestBroker,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
) -> Vec<(String, i32, i16)> {
    let topics = topics(parts);
    let r: AddPartitionsToTxnResponse = call(
        broker,
        ApiKey::AddPartitionsToTxn,
        version,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(id)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics),
    );
    flatten(&r.results_by_topic_v3_and_below)
}

pub(crate) fn add(
    broker: &TestBroker,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
) -> Vec<i16> {
    add_v(broker, 3, id, pid, epoch, parts)
        .into_iter()
        .map(|(_, _, c)| c)
        .collect()
}

pub(crate) fn topics(
    parts: &[(&str, i32)],
) -> Vec<add_partitions_to_txn_request::AddPartitionsToTxnTopic> {
    let mut topics: Vec<add_partitions_to_txn_request::AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    topics
}

pub(crate) fn flatten(
    results: &[add_partitions_to_txn_response::AddPartitionsToTxnTopicResult],
) -> Vec<(String, i32, i16)> {
    let mut out: Vec<(String, i32, i16)> = results
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn end(
    broker: &TestBroker,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> EndTxnResponse {
    call(
        broker,
        ApiKey::EndTxn,
        version,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
    )
}

pub(crate) fn describe(
    broker: &TestBroker,
    id: &str,
) -> describe_transactions_response::TransactionState {
    let r: DescribeTransactionsResponse = call(
        broker,
        ApiKey::DescribeTransactions,
        0,
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s(id))]),
    );
    r.transaction_states.into_iter().next().unwrap()
}

pub(crate) fn partitions_of(
    d: &describe_transactions_response::TransactionState,
) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = d
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    v.sort();
    v
}

pub(crate) fn advertised(broker: &TestBroker) -> Vec<i16> {
    let r: ApiVersionsResponse = call(
        broker,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    );
    r.api_keys.iter().map(|k| k.api_key).collect()
}

/// Whether the brokers write markers (WriteTxnMarkers served by partition leaders).
pub(crate) fn markers_served(broker: &TestBroker) -> bool {
    advertised(broker).contains(&(ApiKey::WriteTxnMarkers as i16))
}

/// Waits until the transaction reaches `state`.
pub(crate) fn wait_state(
    broker: &TestBroker,
    id: &str,
    state: &str,
) -> describe_transactions_response::TransactionState {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = describe(broker, id);
        if d.transaction_state.as_str() == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{id} still {} (want {state})",
            d.transaction_state
        );
        strom_test_support::pause(Duration::from_millis(100));
    }
}

/// The end of a transaction: CompleteX once markers are written, or PrepareX held (and EndTxn retries
/// answered CONCURRENT_TRANSACTIONS) while no leader serves WriteTxnMarkers.
pub(crate) fn check_ended(broker: &TestBroker, id: &str, pid: i64, epoch: i16, commit: bool) {
    let (prepare, complete) = if commit {
        ("PrepareCommit", "CompleteCommit")
    } else {
        ("PrepareAbort", "CompleteAbort")
    };
    if markers_served(broker) {
        let d = wait_state(broker, id, complete);
        assert!(d.topics.is_empty(), "{d:?}");
        // A retried EndTxn of the completed transaction succeeds.
        assert_eq!(end(broker, 3, id, pid, epoch, commit).error_code, 0);
    } else {
        strom_test_support::pause(Duration::from_millis(500));
        let d = describe(broker, id);
        assert_eq!(d.transaction_state.as_str(), prepare);
        assert!(!d.topics.is_empty(), "markers are still owed: {d:?}");
        assert_eq!(
            end(broker, 3, id, pid, epoch, commit).error_code,
            code(ResponseError::ConcurrentTransactions)
        );
    }
}

/// The transaction APIs are advertised by default, at the versions Kafka 4.x serves (the KIP-890 part 1 forms
/// included), and served: `transaction.apis.enable`, the gate of issue 22, is still accepted but ignored, even
/// when false.
#[test]
fn txn_apis_are_advertised_and_served_by_default() {
    for broker in [
        start_broker(&["--override", PARTITIONS]),
        start_broker(&[
            "--override",
            "transaction.apis.enable=false",
            "--override",
            PARTITIONS,
        ]),
    ] {
        let r: ApiVersionsResponse = call(
            &broker,
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default(),
        );
        let range = |key: ApiKey| {
            r.api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .map(|k| (k.min_version, k.max_version))
        };
        for (key, versions) in [
            (ApiKey::FindCoordinator, (0, 6)),
            (ApiKey::InitProducerId, (0, 5)),
            (ApiKey::AddPartitionsToTxn, (0, 5)),
            (ApiKey::AddOffsetsToTxn, (0, 4)),
            (ApiKey::EndTxn, (0, 5)),
            (ApiKey::WriteTxnMarkers, (1, 1)),
            (ApiKey::TxnOffsetCommit, (0, 5)),
            (ApiKey::DescribeTransactions, (0, 0)),
            (ApiKey::ListTransactions, (0, 2)),
        ] {
            assert_eq!(range(key), Some(versions), "{key:?}");
        }
        assert_eq!(find_coordinator(&broker, "x"), broker.node_id());
        let (_, epoch) = init_ok(&broker, "x", 1000);
        assert_eq!(epoch, 0);
        broker.assert_no_panic();
    }
}

#[test]
fn txn_coordinator_runs_a_transaction_and_answers_describe_and_list() {
    let broker = txn_broker(&[]);
    let keys = advertised(&broker);
    for key in [
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::DescribeTransactions,
        ApiKey::ListTransactions,
    ] {
        assert!(keys.contains(&(key as i16)), "{key:?} not advertised");
    }
    assert_eq!(find_coordinator(&broker, "tx-a"), broker.node_id());
    create_topic(&broker, "txn-data", 2, &[]);
    let (pid, epoch) = init_ok(&broker, "tx-a", 60_000);
    assert_eq!(epoch, 0);
    let d = describe(&broker, "tx-a");
    assert_eq!(
        (
            d.error_code,
            d.transaction_state.as_str(),
            d.producer_id.0,
            d.producer_epoch
        ),
        (0, "Empty", pid, 0)
    );
    assert_eq!(d.transaction_timeout_ms, 60_000);

    // A partition of an unknown topic fails the whole request: UNKNOWN_TOPIC_OR_PARTITION for it,
    // OPERATION_NOT_ATTEMPTED for the others, nothing added.
    let r = add_v(
        &broker,
        3,
        "tx-a",
        pid,
        epoch,
        &[("txn-data", 0), ("missing", 0)],
    );
    assert_eq!(
        r,
        [
            (
                "missing".to_string(),
                0,
                code(ResponseError::UnknownTopicOrPartition)
            ),
            (
                "txn-data".to_string(),
                0,
                code(ResponseError::OperationNotAttempted)
            ),
        ]
    );
    assert_eq!(
        describe(&broker, "tx-a").transaction_state.as_str(),
        "Empty"
    );

    let before = crate::util::now_ms();
    assert_eq!(
        add(
            &broker,
            "tx-a",
            pid,
            epoch,
            &[("txn-data", 0), ("txn-data", 1)]
        ),
        [0, 0]
    );
    // AddOffsetsToTxn adds the group's __consumer_offsets partition.
    let r: AddOffsetsToTxnResponse = call(
        &broker,
        ApiKey::AddOffsetsToTxn,
        3,
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("tx-a")))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("g"))),
    );
    assert_eq!(r.error_code, 0);
    let d = describe(&broker, "tx-a");
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    let parts = partitions_of(&d);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(parts.iter().any(|(t, _)| t == "__consumer_offsets"));
    assert!(d.transaction_start_time_ms >= before - 1000);

    // ListTransactions: filters by state and producer id; unknown state names are echoed.
    let list = |states: &[&str], pids: &[i64]| -> ListTransactionsResponse {
        call(
            &broker,
            ApiKey::ListTransactions,
            1,
            &ListTransactionsRequest::default()
                .with_state_filters(states.iter().map(|x| s(x)).collect())
                .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect())
                .with_duration_filter(-1),
        )
    };
    let l = list(&["Ongoing", "Bogus"], &[]);
    assert_eq!(l.error_code, 0);
    assert_eq!(l.unknown_state_filters, vec![s("Bogus")]);
    assert_eq!(l.transaction_states.len(), 1);
    assert_eq!(l.transaction_states[0].transactional_id.0.as_str(), "tx-a");
    assert_eq!(l.transaction_states[0].producer_id.0, pid);
    assert!(list(&["CompleteCommit"], &[]).transaction_states.is_empty());
    assert!(list(&[], &[pid + 1]).transaction_states.is_empty());
    assert_eq!(list(&[], &[pid]).transaction_states.len(), 1);
    // A duration filter longer than the transaction has run lists nothing.
    let long: ListTransactionsResponse = call(
        &broker,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default().with_duration_filter(3_600_000),
    );
    assert!(long.transaction_states.is_empty());

    // Commit: answered at once, whatever the markers do; then completed or held for its markers.
    let r = end(&broker, 3, "tx-a", pid, epoch, true);
    assert_eq!(r.error_code, 0);
    check_ended(&broker, "tx-a", pid, epoch, true);
    // Another transactional id is served meanwhile.
    let (_, e) = init_ok(&broker, "tx-b", 60_000);
    assert_eq!(e, 0);
    broker.assert_no_panic();
}

#[test]
fn txn_coordinator_fences_zombies_and_answers_bad_input_with_kafkas_codes() {
    let broker = txn_broker(&[]);
    find_coordinator(&broker, "z");
    create_topic(&broker, "zz", 2, &[]);
    let (pid, e0) = init_ok(&broker, "z", 60_000);
    let (pid2, e1) = init_ok(&broker, "z", 60_000);
    assert_eq!(
        (pid2, e1),
        (pid, e0 + 1),
        "a second InitProducerId bumps the epoch"
    );
    // The older producer is fenced: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before (KIP-588).
    assert_eq!(
        add(&broker, "z", pid, e0, &[("zz", 0)]),
        [code(ResponseError::ProducerFenced)]
    );
    let old = add_v(&broker, 1, "z", pid, e0, &[("zz", 0)]);
    assert_eq!(old[0].2, code(ResponseError::InvalidProducerEpoch));
    // Wrong producer id, EndTxn without a transaction, unknown transactional id.
    assert_eq!(
        add(&broker, "z", pid + 100, e1, &[("zz", 0)]),
        [code(ResponseError::InvalidProducerIdMapping)]
    );
    assert_eq!(
        end(&broker, 3, "z", pid, e1, true).error_code,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        end(&broker, 3, "never-initialised", pid, 0, true).error_code,
        code(ResponseError::InvalidProducerIdMapping)
    );
    let d = describe(&broker, "never-initialised");
    assert_eq!(d.error_code, code(ResponseError::TransactionalIdNotFound));
    // Timeout above transaction.max.timeout.ms, an id with an epoch of -1, an empty id.
    assert_eq!(
        init(&broker, "z", 900_001, 4).error_code,
        code(ResponseError::InvalidTransactionTimeout)
    );
    let r: InitProducerIdResponse = call(
        &broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("z"))))
            .with_transaction_timeout_ms(1000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(-1),
    );
    assert_eq!(r.error_code, code(ResponseError::InvalidRequest));
    assert_eq!(
        init(&broker, "", 1000, 4).error_code,
        code(ResponseError::InvalidRequest)
    );
    // An id longer than Kafka's 32767-byte strings closes the connection, as Kafka's parser does
    // (`txn_verification.rs`).
    // Nothing of the above changed the transaction.
    let d = describe(&broker, "z");
    assert_eq!(
        (d.transaction_state.as_str(), d.producer_epoch),
        ("Empty", e1)
    );

    // KIP-360: the producer names its id and epoch and gets the next epoch.
    let r: InitProducerIdResponse = call(
        &broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("z"))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(e1),
    );
    assert_eq!((r.error_code, r.producer_epoch), (0, e1 + 1));
    let e2 = e1 + 1;

    // VerifyOnly (v4+, from partition leaders): added partitions are NONE, others TRANSACTION_ABORTABLE.
    assert_eq!(add(&broker, "z", pid, e2, &[("zz", 0)]), [0]);
    let verify: AddPartitionsToTxnResponse = call(
        &broker,
        ApiKey::AddPartitionsToTxn,
        4,
        &AddPartitionsToTxnRequest::default().with_transactions(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(s("z")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(e2)
                .with_verify_only(true)
                .with_topics(topics(&[("zz", 0), ("zz", 1)])),
        ]),
    );
    assert_eq!(verify.results_by_transaction.len(), 1);
    assert_eq!(
        flatten(&verify.results_by_transaction[0].topic_results),
        [
            ("zz".to_string(), 0, 0),
            (
                "zz".to_string(),
                1,
                code(ResponseError::TransactionAbortable)
            ),
        ]
    );
    assert_eq!(
        partitions_of(&describe(&broker, "z")),
        [("zz".to_string(), 0)]
    );

    // A new producer over the open transaction: the transaction is aborted with the old producer fenced
    // (epoch bumped), and the new producer is told to retry.
    assert_eq!(
        init(&broker, "z", 60_000, 4).error_code,
        code(ResponseError::ConcurrentTransactions)
    );
    let d = describe(&broker, "z");
    assert_eq!(d.producer_epoch, e2 + 1);
    assert!(
        ["PrepareAbort", "CompleteAbort"].contains(&d.transaction_state.as_str()),
        "{d:?}"
    );
    assert_eq!(
        end(&broker, 3, "z", pid, e2, true).error_code,
        code(ResponseError::ProducerFenced)
    );
    if markers_served(&broker) {
        wait_state(&broker, "z", "CompleteAbort");
        assert_eq!(init_ok(&broker, "z", 60_000), (pid, e2 + 2));
    } else {
        assert_eq!(
            init(&broker, "z", 60_000, 4).error_code,
            code(ResponseError::ConcurrentTransactions)
        );
    }
    broker.assert_no_panic();
}

#[test]
fn txn_coordinator_aborts_a_transaction_past_its_timeout() {
    let broker = txn_broker(&[
        "--override",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
    ]);
    find_coordinator(&broker, "slow");
    create_topic(&broker, "slow-data", 1, &[]);
    let (pid, epoch) = init_ok(&broker, "slow", 1_000);
    assert_eq!(add(&broker, "slow", pid, epoch, &[("slow-data", 0)]), [0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let d = loop {
        let d = describe(&broker, "slow");
        if d.transaction_state.as_str() != "Ongoing" {
            break d;
        }
        assert!(Instant::now() < deadline, "never timed out: {d:?}");
        strom_test_support::pause(Duration::from_millis(100));
    };
    // The coordinator aborted it and fenced the producer's epoch.
    assert!(
        ["PrepareAbort", "CompleteAbort"].contains(&d.transaction_state.as_str()),
        "{d:?}"
    );
    assert_eq!(d.producer_epoch, epoch + 1);
    assert_eq!(
        end(&broker, 3, "slow", pid, epoch, true).error_code,
        code(ResponseError::ProducerFenced)
    );
    check_ended(&broker, "slow", pid, epoch + 1, false);
    broker.assert_no_panic();
}

#[test]
fn txn_coordinator_reloads_transactions_from_the_log_after_a_restart() {
    let mut broker = txn_broker(&[]);
    find_coordinator(&broker, "durable");
    find_coordinator(&broker, "ending");
    create_topic(&broker, "dur", 3, &[]);
    let (pid, epoch) = init_ok(&broker, "durable", 45_000);
    assert_eq!(
        add(&broker, "durable", pid, epoch, &[("dur", 0), ("dur", 2)]),
        [0, 0]
    );
    let (pid2, epoch2) = init_ok(&broker, "ending", 45_000);
    assert_eq!(add(&broker, "ending", pid2, epoch2, &[("dur", 1)]), [0]);
    assert_eq!(end(&broker, 3, "ending", pid2, epoch2, true).error_code, 0);

    broker.kill9().unwrap();
    broker.restart().unwrap();
    find_coordinator(&broker, "durable");
    let d = until_ready("DescribeTransactions", || {
        let d = describe(&broker, "durable");
        (d.error_code, d)
    });
    assert_eq!(
        (
            d.transaction_state.as_str(),
            d.producer_id.0,
            d.producer_epoch,
            d.transaction_timeout_ms
        ),
        ("Ongoing", pid, epoch, 45_000)
    );
    assert_eq!(
        partitions_of(&d),
        [("dur".to_string(), 0), ("dur".to_string(), 2)]
    );
    // The open transaction carries on: its producer commits it.
    assert_eq!(end(&broker, 3, "durable", pid, epoch, true).error_code, 0);
    check_ended(&broker, "durable", pid, epoch, true);
    // The transaction left in PrepareCommit is resumed by the new coordinator.
    check_ended(&broker, "ending", pid2, epoch2, true);
    // The epoch keeps counting from the log.
    if markers_served(&broker) {
        assert_eq!(init_ok(&broker, "ending", 45_000), (pid2, epoch2 + 1));
    }
    broker.assert_no_panic();
}

/// `transactional.id.expiration.ms`: an idle transactional id is removed (its tombstone persisted, so it stays
/// gone after a restart), while one with an open transaction is kept.
#[test]
fn txn_coordinator_expires_idle_transactional_ids() {
    let mut broker = txn_broker(&[
        "--override",
        "transactional.id.expiration.ms=1500",
        "--override",
        "transaction.remove.expired.transaction.cleanup.interval.ms=200",
    ]);
    find_coordinator(&broker, "idle");
    find_coordinator(&broker, "busy");
    create_topic(&broker, "exp-t", 1, &[]);
    init_ok(&broker, "idle", 60_000);
    let (pid, epoch) = init_ok(&broker, "busy", 60_000);
    assert_eq!(add(&broker, "busy", pid, epoch, &[("exp-t", 0)]), [0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while describe(&broker, "idle").error_code == 0 {
        assert!(Instant::now() < deadline, "idle id never expired");
        strom_test_support::pause(Duration::from_millis(100));
    }
    assert_eq!(
        describe(&broker, "idle").error_code,
        code(ResponseError::TransactionalIdNotFound)
    );
    assert_eq!(
        describe(&broker, "busy").transaction_state.as_str(),
        "Ongoing"
    );

    broker.kill9().unwrap();
    broker.restart().unwrap();
    find_coordinator(&broker, "busy");
    let d = until_ready("DescribeTransactions after restart", || {
        let d = describe(&broker, "busy");
        (d.error_code, d)
    });
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(
        describe(&broker, "idle").error_code,
        code(ResponseError::TransactionalIdNotFound)
    );
    // An expired id starts again from a new producer id.
    let (new_pid, new_epoch) = init_ok(&broker, "idle", 60_000);
    assert_eq!(new_epoch, 0);
    assert_ne!(new_pid, pid);
    broker.assert_no_panic();
}
