//! The coordinator's rules as scripts: each step is an operation, its persisted change completed at once
//! (as the broker does after the append), and the answers checked against Kafka's.

use super::*;

const ID: &str = "txn";

struct Harness {
    c: TxnCoordinator,
    next_pid: i64,
    now: i64,
}

impl Harness {
    fn new() -> Self {
        Harness {
            c: TxnCoordinator::new(TxnConfig::default()),
            next_pid: 1000,
            now: 1_000_000,
        }
    }

    /// InitProducerId, persisted; the answer.
    fn init(&mut self, expected: Option<(i64, i16)>) -> Result<(i64, i16), Error> {
        let now = self.now;
        let expected =
            expected.map(|(producer_id, epoch)| ProducerIdAndEpoch { producer_id, epoch });
        let mut pid = self.next_pid;
        let plan = self.c.init_producer_id(ID, 60_000, expected, now, &mut || {
            pid += 1;
            Some(pid)
        });
        self.next_pid = pid;
        match plan? {
            InitPlan::Persist(t) => {
                assert_eq!(self.c.complete(ID, &t, now), Ok(None));
                Ok((t.producer_id, t.producer_epoch))
            }
            InitPlan::FenceAndAbort(t) => {
                let markers = self.c.complete(ID, &t, now)?.expect("markers");
                assert_eq!(markers.result, TxnResult::Abort);
                self.finish(&markers);
                Err(Error::ConcurrentTransactions)
            }
        }
    }

    fn add(&mut self, pid: i64, epoch: i16, parts: &[(&str, i32)]) -> Result<(), Error> {
        let parts = parts
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect();
        if let Some(t) = self.c.add_partitions(ID, pid, epoch, &parts, 0, self.now)? {
            assert_eq!(self.c.complete(ID, &t, self.now), Ok(None));
        }
        Ok(())
    }

    /// EndTxn persisted; the markers to write.
    fn end(
        &mut self,
        pid: i64,
        epoch: i16,
        result: TxnResult,
        tv: i16,
    ) -> Result<EndOutcome, Error> {
        let now = self.now;
        let mut next = self.next_pid;
        let plan = self.c.end_txn(ID, pid, epoch, result, tv, now, &mut || {
            next += 1;
            Some(next)
        })?;
        self.next_pid = next;
        match plan {
            EndTxnPlan::Done {
                producer_id,
                producer_epoch,
            } => Ok(EndOutcome::Done(producer_id, producer_epoch)),
            EndTxnPlan::Persist(t) => Ok(EndOutcome::Markers(
                self.c.complete(ID, &t, now)?.expect("markers"),
            )),
        }
    }

    /// Every marker written and the completion persisted.
    fn finish(&mut self, m: &MarkerPlan) {
        for tp in &m.partitions {
            self.c.marker_written(ID, tp);
        }
        assert_eq!(self.c.complete(ID, &m.complete, self.now), Ok(None));
    }

    fn state(&self) -> TxnState {
        self.c.get(ID).map(|t| t.state).expect("known id")
    }
}

#[derive(Debug)]
enum EndOutcome {
    Done(i64, i16),
    Markers(MarkerPlan),
}

impl EndOutcome {
    fn markers(self) -> MarkerPlan {
        match self {
            EndOutcome::Markers(m) => m,
            other => panic!("expected markers, got {other:?}"),
        }
    }
}

#[test]
fn init_bumps_the_epoch_each_time() {
    let mut h = Harness::new();
    let (pid, e0) = h.init(None).unwrap();
    assert_eq!((pid, e0), (1001, 0));
    assert_eq!(h.init(None).unwrap(), (1001, 1));
    assert_eq!(h.state(), TxnState::Empty);
}

#[test]
fn commit_writes_markers_to_every_added_partition_then_completes() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0), ("b", 1)]).unwrap();
    h.add(pid, epoch, &[("a", 0)]).unwrap(); // already in: no change
    h.add(pid, epoch, &[("__consumer_offsets", 7)]).unwrap();
    assert_eq!(h.state(), TxnState::Ongoing);
    let m = h.end(pid, epoch, TxnResult::Commit, 0).unwrap().markers();
    assert_eq!(m.result, TxnResult::Commit);
    assert_eq!((m.producer_id, m.producer_epoch), (pid, epoch));
    assert_eq!(m.partitions.len(), 3);
    assert_eq!(h.state(), TxnState::PrepareCommit);
    // While the markers are written: a retried EndTxn, a new InitProducerId and AddPartitions must wait.
    assert_eq!(
        h.end(pid, epoch, TxnResult::Commit, 0).unwrap_err(),
        Error::ConcurrentTransactions
    );
    assert_eq!(h.init(None).unwrap_err(), Error::ConcurrentTransactions);
    assert_eq!(
        h.add(pid, epoch, &[("c", 0)]).unwrap_err(),
        Error::ConcurrentTransactions
    );
    // An abort of a committing transaction is refused.
    assert_eq!(
        h.end(pid, epoch, TxnResult::Abort, 0).unwrap_err(),
        Error::ConcurrentTransactions
    );
    h.c.marker_written(ID, &TopicPartition::new("a", 0));
    assert_eq!(h.c.describe(ID).unwrap().partitions.len(), 2);
    h.finish(&m);
    assert_eq!(h.state(), TxnState::CompleteCommit);
    // A retry after completion succeeds without a second commit; the other outcome is INVALID_TXN_STATE.
    assert!(matches!(
        h.end(pid, epoch, TxnResult::Commit, 0),
        Ok(EndOutcome::Done(p, e)) if (p, e) == (pid, epoch)
    ));
    assert_eq!(
        h.end(pid, epoch, TxnResult::Abort, 0).unwrap_err(),
        Error::InvalidTxnState("CompleteCommit")
    );
    // The next transaction starts from CompleteCommit.
    h.add(pid, epoch, &[("a", 1)]).unwrap();
    assert_eq!(h.c.describe(ID).unwrap().partitions.len(), 1);
}

#[test]
fn zombies_are_fenced_by_a_newer_init() {
    let mut h = Harness::new();
    let (pid, old) = h.init(None).unwrap();
    h.add(pid, old, &[("a", 0)]).unwrap();
    // A second producer with the same transactional id: its first InitProducerId aborts the open
    // transaction with a bumped epoch and asks it to retry.
    assert_eq!(h.init(None).unwrap_err(), Error::ConcurrentTransactions);
    assert_eq!(h.state(), TxnState::CompleteAbort);
    assert_eq!(h.c.get(ID).unwrap().producer_epoch, old + 1);
    let (_, new) = h.init(None).unwrap();
    assert_eq!(new, old + 2);
    // The zombie can neither add partitions nor end a transaction.
    assert_eq!(
        h.add(pid, old, &[("a", 1)]).unwrap_err(),
        Error::ProducerFenced
    );
    assert_eq!(
        h.end(pid, old, TxnResult::Commit, 0).unwrap_err(),
        Error::ProducerFenced
    );
    // Another producer id is not this transactional id's.
    assert_eq!(
        h.add(pid + 50, new, &[("a", 1)]).unwrap_err(),
        Error::InvalidProducerIdMapping
    );
}

#[test]
fn bad_requests_get_kafkas_errors() {
    let mut h = Harness::new();
    let mut alloc = || Some(1);
    assert_eq!(
        h.c.init_producer_id(ID, 0, None, 0, &mut alloc)
            .unwrap_err(),
        Error::InvalidTransactionTimeout {
            timeout_ms: 0,
            max: 900_000
        }
    );
    assert_eq!(
        h.c.init_producer_id(ID, 900_001, None, 0, &mut alloc)
            .unwrap_err(),
        Error::InvalidTransactionTimeout {
            timeout_ms: 900_001,
            max: 900_000
        }
    );
    assert!(matches!(
        h.c.init_producer_id("", 1000, None, 0, &mut alloc),
        Err(Error::InvalidRequest(_))
    ));
    let long = "x".repeat(32_768);
    assert!(matches!(
        h.c.init_producer_id(&long, 1000, None, 0, &mut alloc),
        Err(Error::InvalidRequest(_))
    ));
    assert!(h
        .c
        .init_producer_id(&long[1..], 1000, None, 0, &mut alloc)
        .is_ok());
    // Unknown transactional id.
    assert_eq!(
        h.end(1, 0, TxnResult::Commit, 0).unwrap_err(),
        Error::InvalidProducerIdMapping
    );
    assert_eq!(
        h.add(1, 0, &[("a", 0)]).unwrap_err(),
        Error::InvalidProducerIdMapping
    );
    // EndTxn without a transaction.
    let (pid, epoch) = h.init(None).unwrap();
    assert_eq!(
        h.end(pid, epoch, TxnResult::Commit, 0).unwrap_err(),
        Error::InvalidTxnState("Empty")
    );
    // A wrong epoch on an open transaction.
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    assert_eq!(
        h.end(pid, epoch + 1, TxnResult::Commit, 0).unwrap_err(),
        Error::ProducerFenced
    );
}

#[test]
fn kip360_recovery_bumps_the_named_epoch_and_recognises_retries() {
    let mut h = Harness::new();
    let (pid, e0) = h.init(None).unwrap();
    // The producer names its current id and epoch: bumped, and the old epoch remembered.
    assert_eq!(h.init(Some((pid, e0))).unwrap(), (pid, e0 + 1));
    // The same request again (its answer was lost): the current epoch, not a second bump.
    assert_eq!(h.init(Some((pid, e0))).unwrap(), (pid, e0 + 1));
    // A stale epoch that is neither current nor last: fenced.
    h.init(None).unwrap();
    h.init(None).unwrap();
    assert_eq!(h.init(Some((pid, e0))).unwrap_err(), Error::ProducerFenced);
    // Another producer id: fenced.
    assert_eq!(
        h.init(Some((pid + 9, 0))).unwrap_err(),
        Error::ProducerFenced
    );
}

#[test]
fn an_exhausted_epoch_rotates_the_producer_id() {
    let mut h = Harness::new();
    let (pid, _) = h.init(None).unwrap();
    h.c.txns.get_mut(ID).unwrap().producer_epoch = i16::MAX - 1;
    let (new_pid, epoch) = h.init(None).unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(epoch, 0);
    assert_eq!(h.c.get(ID).unwrap().previous_producer_id, pid);
}

#[test]
fn kip890_end_txn_bumps_the_epoch_per_transaction() {
    let mut h = Harness::new();
    let (pid, e0) = h.init(None).unwrap();
    h.add(pid, e0, &[("a", 0)]).unwrap();
    let m = h.end(pid, e0, TxnResult::Commit, 2).unwrap().markers();
    // Markers carry the bumped epoch, so the old epoch's late writes are rejected by the partitions.
    assert_eq!(m.producer_epoch, e0 + 1);
    h.finish(&m);
    let t = h.c.get(ID).unwrap();
    assert_eq!(
        (t.state, t.producer_epoch),
        (TxnState::CompleteCommit, e0 + 1)
    );
    // The client retries EndTxn with the epoch it sent: recognised, answered with the new epoch.
    assert!(matches!(
        h.end(pid, e0, TxnResult::Commit, 2),
        Ok(EndOutcome::Done(p, e)) if (p, e) == (pid, e0 + 1)
    ));
    // The next transaction uses the new epoch.
    h.add(pid, e0 + 1, &[("a", 0)]).unwrap();
    assert_eq!(
        h.add(pid, e0, &[("a", 1)]).unwrap_err(),
        Error::ProducerFenced
    );
}

#[test]
fn kip890_overflow_moves_to_the_next_producer_id() {
    let mut h = Harness::new();
    let (pid, _) = h.init(None).unwrap();
    let last = i16::MAX - 1;
    h.c.txns.get_mut(ID).unwrap().producer_epoch = last;
    h.add(pid, last, &[("a", 0)]).unwrap();
    let m = h.end(pid, last, TxnResult::Abort, 2).unwrap().markers();
    assert_eq!(m.producer_epoch, i16::MAX);
    h.finish(&m);
    let t = h.c.get(ID).unwrap();
    assert_ne!(t.producer_id, pid);
    assert_eq!((t.producer_epoch, t.previous_producer_id), (0, pid));
}

#[test]
fn open_transactions_time_out_and_are_aborted_with_the_producer_fenced() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    assert!(h.c.timed_out(h.now + 60_000).is_empty());
    let due = h.c.timed_out(h.now + 60_001);
    assert_eq!(due.len(), 1);
    let t = h.c.abort_timed_out(&due[0], h.now + 60_001).unwrap();
    assert_eq!(
        (t.state, t.producer_epoch),
        (TxnState::PrepareAbort, epoch + 1)
    );
    let m = h.c.complete(ID, &t, h.now).unwrap().unwrap();
    assert_eq!(m.result, TxnResult::Abort);
    assert!(h.c.timed_out(h.now + 120_000).is_empty());
    h.finish(&m);
    assert_eq!(h.state(), TxnState::CompleteAbort);
    assert_eq!(
        h.end(pid, epoch, TxnResult::Commit, 0).unwrap_err(),
        Error::ProducerFenced
    );
}

#[test]
fn a_failed_fence_does_not_bump_twice() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    let due = h.c.timed_out(i64::MAX);
    let t = h.c.abort_timed_out(&due[0], h.now).unwrap();
    h.c.fail(ID, &t);
    let due = h.c.timed_out(i64::MAX);
    let t2 = h.c.abort_timed_out(&due[0], h.now).unwrap();
    assert_eq!(t2.producer_epoch, t.producer_epoch);
}

#[test]
fn verify_only_reports_partitions_outside_the_transaction() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    let asked = [TopicPartition::new("a", 0), TopicPartition::new("a", 1)]
        .into_iter()
        .collect();
    assert_eq!(
        h.c.verify_partitions(ID, pid, epoch, &asked).unwrap(),
        vec![
            (TopicPartition::new("a", 0), true),
            (TopicPartition::new("a", 1), false)
        ]
    );
    assert_eq!(
        h.c.verify_partitions(ID, pid, epoch + 1, &asked)
            .unwrap_err(),
        Error::ProducerFenced
    );
    assert_eq!(
        h.c.verify_partitions("other", pid, epoch, &asked)
            .unwrap_err(),
        Error::InvalidProducerIdMapping
    );
}

#[test]
fn idle_ids_expire_and_open_ones_do_not() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    let expiry = h.c.config().id_expiration_ms;
    assert!(h.c.expire(h.now + expiry - 1).is_empty());
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    assert!(
        h.c.expire(h.now + expiry * 2).is_empty(),
        "Ongoing never expires"
    );
    let m = h.end(pid, epoch, TxnResult::Abort, 0).unwrap().markers();
    h.finish(&m);
    let tombstones = h.c.expire(h.now + expiry);
    assert_eq!(tombstones.len(), 1);
    assert_eq!(tombstones[0].value, None);
    assert!(h.c.describe(ID).is_some());
    h.c.remove_dead(ID);
    assert!(h.c.describe(ID).is_none());
}

#[test]
fn list_filters_by_state_producer_and_duration() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0)]).unwrap();
    let all = ListFilter {
        min_duration_ms: -1,
        ..ListFilter::default()
    };
    assert_eq!(h.c.list(&all, h.now).0.len(), 1);
    let ongoing = ListFilter {
        states: vec!["Ongoing".into(), "Bogus".into()],
        ..all.clone()
    };
    let (listed, unknown) = h.c.list(&ongoing, h.now);
    assert_eq!(listed[0].state, TxnState::Ongoing);
    assert_eq!(unknown, vec!["Bogus".to_string()]);
    let other_pid = ListFilter {
        producer_ids: vec![pid + 1],
        ..all.clone()
    };
    assert!(h.c.list(&other_pid, h.now).0.is_empty());
    let long = ListFilter {
        min_duration_ms: 5_000,
        ..all
    };
    assert!(h.c.list(&long, h.now + 5_000).0.is_empty());
    assert_eq!(h.c.list(&long, h.now + 5_001).0.len(), 1);
}

#[test]
fn a_loaded_prepare_commit_is_resumed() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(None).unwrap();
    h.add(pid, epoch, &[("a", 0), ("b", 0)]).unwrap();
    let now = h.now;
    let plan =
        h.c.end_txn(ID, pid, epoch, TxnResult::Commit, 0, now, &mut || None);
    let Ok(EndTxnPlan::Persist(t)) = plan else {
        panic!("{plan:?}")
    };
    // The coordinator moves: a new one loads the PrepareCommit record and finishes the commit.
    let record = TxnRecord {
        transactional_id: ID.into(),
        value: Some(t.to_value()),
    };
    let mut fresh = TxnCoordinator::new(TxnConfig::default());
    fresh.replay(&record);
    let plans = fresh.resume_prepared(|_| true, now);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].result, TxnResult::Commit);
    assert_eq!(plans[0].partitions.len(), 2);
    assert_eq!(fresh.complete(ID, &plans[0].complete, now), Ok(None));
    assert_eq!(fresh.get(ID).unwrap().state, TxnState::CompleteCommit);
    // A tombstone forgets it; unload forgets what another broker now owns.
    fresh.replay(&TxnRecord {
        transactional_id: ID.into(),
        value: None,
    });
    assert!(fresh.get(ID).is_none());
    assert_eq!(h.c.unload(|_| false), 1);
}
