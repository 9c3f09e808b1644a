//! A history checker for transactional runs with failures: every record transactional producers handed to
//! librdkafka, tagged with its producer instance, transaction number and sequence within the transaction; each
//! transaction's outcome as the client saw it; every record consumers read during the run (with their isolation
//! level); and one final `read_committed` and one final `read_uncommitted` read of the whole topic once every
//! transaction has ended. The checks are those that hold for Kafka whatever the failures were:
//! - (a) no `read_committed` read (during the run or final) returns a record of an aborted transaction;
//! - (b) a committed transaction (commit acknowledged) is all there in the final `read_committed` read;
//! - (c) a transaction whose outcome is unknown (an error or a kill in the middle) is all-or-nothing in the final
//!   `read_committed` read, and if any `read_committed` reader saw one of its records it is all there (a commit a
//!   reader saw is never undone);
//! - (d) no duplicates: no value at two positions, no two values at one position across all reads, nothing read
//!   that was never sent, no record read in a partition other than the one it was sent to;
//! - (e) order: per reader and partition, offsets strictly increase and each producer instance's records come in
//!   the order it sent them (transaction number, then sequence);
//!
//! and the final `read_committed` read is contained in the final `read_uncommitted` read.
//!
//! What is deliberately not checked: that a record is never read before its commit was acknowledged. The commit
//! takes effect on the brokers before its acknowledgement reaches the client, so such a read is legal.
//!
//! It owns no clients and no threads: producers and consumers feed it; it only judges. Values must be unique in
//! the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use anyhow::bail;
use rdkafka::message::{Message, OwnedMessage};

use crate::history::lossy;

/// The reader names of the two final reads.
const FINAL_COMMITTED: &str = "final read_committed read";
const FINAL_UNCOMMITTED: &str = "final read_uncommitted read";

/// How a transaction ended, as its producer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// `commit_transaction` returned success.
    Committed,
    /// `abort_transaction` returned success.
    Aborted,
    /// Neither: an error, a fatal producer state, a killed client. The transaction may have committed or not.
    Unknown,
}

/// A consumer's `isolation.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

/// A transaction: the producer instance that ran it and its number in that instance's sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnKey {
    pub producer: String,
    pub txn: u64,
}

impl fmt::Display for TxnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} transaction {}", self.producer, self.txn)
    }
}

#[derive(Clone, Debug)]
struct SentRecord {
    txn: TxnKey,
    seq: u32,
    partition: i32,
}

#[derive(Clone, Debug)]
struct ReadRecord {
    reader: String,
    isolation: Isolation,
    partition: i32,
    offset: i64,
    value: Option<Vec<u8>>,
}

#[derive(Default, Debug)]
struct Inner {
    sent: HashMap<Vec<u8>, SentRecord>,
    /// Records sent per transaction.
    sizes: BTreeMap<TxnKey, usize>,
    outcomes: BTreeMap<TxnKey, TxnOutcome>,
    reads: Vec<ReadRecord>,
}

/// Transactional writes, their outcomes and observed reads of one topic, fed from any thread, checked once.
#[derive(Default, Debug)]
pub struct TxnChecker {
    inner: Mutex<Inner>,
}

/// What a successful check covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnSummary {
    pub committed: usize,
    pub aborted: usize,
    pub unknown: usize,
    /// Transactions of unknown outcome that turned out committed (all their records are in the final read).
    pub unknown_visible: usize,
    pub records_sent: usize,
    pub read_during_run: usize,
    pub final_committed: usize,
    pub final_uncommitted: usize,
}

impl fmt::Display for TxnSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} transactions committed, {} aborted, {} of unknown outcome ({} of them visible); {} records sent, \
             {} read during the run, {} in the final read_committed read, {} in the final read_uncommitted read",
            self.committed,
            self.aborted,
            self.unknown,
            self.unknown_visible,
            self.records_sent,
            self.read_during_run,
            self.final_committed,
            self.final_uncommitted
        )
    }
}

impl TxnChecker {
    pub fn new() -> TxnChecker {
        TxnChecker::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("txn checker lock")
    }

    /// Registers a record handed to producer instance `producer` as number `seq` of its transaction `txn`,
    /// addressed to `partition`. Call it before handing the record to the client.
    pub fn sent(&self, producer: &str, txn: u64, seq: u32, partition: i32, value: &[u8]) {
        let key = TxnKey {
            producer: producer.to_string(),
            txn,
        };
        let mut inner = self.lock();
        *inner.sizes.entry(key.clone()).or_default() += 1;
        inner.sent.insert(
            value.to_vec(),
            SentRecord {
                txn: key,
                seq,
                partition,
            },
        );
    }

    /// Records how transaction `txn` of `producer` ended. A transaction with records but no outcome counts as
    /// [`TxnOutcome::Unknown`].
    pub fn outcome(&self, producer: &str, txn: u64, outcome: TxnOutcome) {
        let key = TxnKey {
            producer: producer.to_string(),
            txn,
        };
        self.lock().outcomes.insert(key, outcome);
    }

    /// Records a record `reader` read with `isolation`. Call it in the order the reader received records.
    pub fn read(
        &self,
        reader: &str,
        isolation: Isolation,
        partition: i32,
        offset: i64,
        value: Option<&[u8]>,
    ) {
        self.lock().reads.push(ReadRecord {
            reader: reader.to_string(),
            isolation,
            partition,
            offset,
            value: value.map(<[u8]>::to_vec),
        });
    }

    /// [`TxnChecker::read`] of a consumed message.
    pub fn read_message<M: Message>(&self, reader: &str, isolation: Isolation, m: &M) {
        self.read(reader, isolation, m.partition(), m.offset(), m.payload());
    }

    /// Transactions with each outcome so far: (committed, aborted, unknown).
    pub fn outcomes(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        let count = |o| inner.outcomes.values().filter(|&&v| v == o).count();
        (
            count(TxnOutcome::Committed),
            count(TxnOutcome::Aborted),
            count(TxnOutcome::Unknown),
        )
    }

    /// Records read so far by the concurrent readers.
    pub fn reads(&self) -> usize {
        self.lock().reads.len()
    }

    /// Checks everything recorded plus the two final reads (every partition read from its start to its end after
    /// every transaction ended), as listed in the module doc. The final reads are recorded too, so `check` is
    /// meant to be called once.
    pub fn check(
        &self,
        final_committed: &[OwnedMessage],
        final_uncommitted: &[OwnedMessage],
    ) -> anyhow::Result<TxnSummary> {
        let mut inner = self.lock();
        let read_during_run = inner.reads.len();
        for (reader, isolation, read) in [
            (FINAL_COMMITTED, Isolation::ReadCommitted, final_committed),
            (
                FINAL_UNCOMMITTED,
                Isolation::ReadUncommitted,
                final_uncommitted,
            ),
        ] {
            for m in read {
                inner.reads.push(ReadRecord {
                    reader: reader.to_string(),
                    isolation,
                    partition: m.partition(),
                    offset: m.offset(),
                    value: m.payload().map(<[u8]>::to_vec),
                });
            }
        }
        let mut summary = TxnSummary {
            records_sent: inner.sent.len(),
            read_during_run,
            final_committed: final_committed.len(),
            final_uncommitted: final_uncommitted.len(),
            ..TxnSummary::default()
        };
        let problems = find_problems(&inner, &mut summary);
        if problems.is_empty() {
            return Ok(summary);
        }
        let total = problems.len();
        let mut shown = problems;
        shown.truncate(30);
        bail!(
            "{total} problems in a run of {summary}:\n  {}",
            shown.join("\n  ")
        )
    }
}

fn outcome_of(inner: &Inner, txn: &TxnKey) -> TxnOutcome {
    inner
        .outcomes
        .get(txn)
        .copied()
        .unwrap_or(TxnOutcome::Unknown)
}

/// For a failure message: each record of `txn` missing from the final read_committed read, with its partition and
/// where (if anywhere) the final read_uncommitted read has it.
fn missing_records(inner: &Inner, txn: &TxnKey) -> String {
    let position_in = |reader: &str, value: &[u8]| {
        inner
            .reads
            .iter()
            .find(|r| r.reader == reader && r.value.as_deref() == Some(value))
            .map(|r| r.offset)
    };
    let mut missing: Vec<(u32, String)> = inner
        .sent
        .iter()
        .filter(|(v, s)| &s.txn == txn && position_in(FINAL_COMMITTED, v).is_none())
        .map(|(v, s)| {
            let uncommitted = match position_in(FINAL_UNCOMMITTED, v) {
                Some(o) => format!("read_uncommitted has it at offset {o}"),
                None => "not in the log".to_string(),
            };
            (
                s.seq,
                format!(
                    "record {} (partition {}, {uncommitted})",
                    s.seq, s.partition
                ),
            )
        })
        .collect();
    missing.sort();
    missing
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_problems(inner: &Inner, summary: &mut TxnSummary) -> Vec<String> {
    let mut problems = Vec::new();

    // (d) Nothing read that was never sent, and each record in the partition it was sent to.
    for r in &inner.reads {
        match r.value.as_ref().and_then(|v| inner.sent.get(v)) {
            None => problems.push(format!(
                "{} read partition {} offset {} value {:?}, which was never sent",
                r.reader,
                r.partition,
                r.offset,
                lossy(r.value.as_deref())
            )),
            Some(s) if s.partition != r.partition => problems.push(format!(
                "{} read value {:?} in partition {} offset {}, but it was sent to partition {}",
                r.reader,
                lossy(r.value.as_deref()),
                r.partition,
                r.offset,
                s.partition
            )),
            Some(_) => {}
        }
    }

    // (d) One value per position and one position per value, across every read.
    let mut by_position: HashMap<(i32, i64), &ReadRecord> = HashMap::new();
    let mut by_value: HashMap<&[u8], &ReadRecord> = HashMap::new();
    let mut duplicates_reported: HashSet<&[u8]> = HashSet::new();
    for r in &inner.reads {
        let position = (r.partition, r.offset);
        match by_position.get(&position) {
            None => {
                by_position.insert(position, r);
            }
            Some(first) if first.value != r.value => problems.push(format!(
                "partition {} offset {}: {} read value {:?} but {} read value {:?}",
                r.partition,
                r.offset,
                first.reader,
                lossy(first.value.as_deref()),
                r.reader,
                lossy(r.value.as_deref())
            )),
            Some(_) => {}
        }
        let Some(value) = r.value.as_deref() else {
            continue;
        };
        let first = *by_value.entry(value).or_insert(r);
        if (first.partition, first.offset) != position && duplicates_reported.insert(value) {
            problems.push(format!(
                "duplicate: value {:?} is at partition {} offset {} ({}) and at partition {} offset {} ({})",
                lossy(Some(value)),
                first.partition,
                first.offset,
                first.reader,
                r.partition,
                r.offset,
                r.reader
            ));
        }
    }

    // (e) Per reader and partition: offsets strictly increase, and each producer's records keep their order.
    let mut last_offset: HashMap<(&str, i32), i64> = HashMap::new();
    let mut last_of_producer: HashMap<(&str, i32, &str), (u64, u32, i64)> = HashMap::new();
    for r in &inner.reads {
        if let Some(previous) = last_offset.insert((&r.reader, r.partition), r.offset) {
            if r.offset <= previous {
                problems.push(format!(
                    "{}: partition {} went from offset {previous} back to {}",
                    r.reader, r.partition, r.offset
                ));
            }
        }
        let Some(s) = r.value.as_ref().and_then(|v| inner.sent.get(v)) else {
            continue;
        };
        let key = (r.reader.as_str(), r.partition, s.txn.producer.as_str());
        if let Some((txn, seq, offset)) = last_of_producer.insert(key, (s.txn.txn, s.seq, r.offset))
        {
            if (s.txn.txn, s.seq) <= (txn, seq) {
                problems.push(format!(
                    "{}: partition {}: {} record {} of transaction {} at offset {} comes after its record {} of \
                     transaction {} at offset {offset}",
                    r.reader, r.partition, s.txn.producer, s.seq, s.txn.txn, r.offset, seq, txn
                ));
            }
        }
    }

    // (a) No read_committed reader returns a record of an aborted transaction; collect what each saw.
    let mut seen_committed: BTreeMap<&TxnKey, &str> = BTreeMap::new();
    let mut in_final_committed: BTreeMap<&TxnKey, usize> = BTreeMap::new();
    for r in inner
        .reads
        .iter()
        .filter(|r| r.isolation == Isolation::ReadCommitted)
    {
        let Some(s) = r.value.as_ref().and_then(|v| inner.sent.get(v)) else {
            continue;
        };
        if outcome_of(inner, &s.txn) == TxnOutcome::Aborted {
            problems.push(format!(
                "{} read partition {} offset {} value {:?} of aborted {}",
                r.reader,
                r.partition,
                r.offset,
                lossy(r.value.as_deref()),
                s.txn
            ));
        }
        if r.reader == FINAL_COMMITTED {
            *in_final_committed.entry(&s.txn).or_default() += 1;
        } else {
            seen_committed.entry(&s.txn).or_insert(&r.reader);
        }
    }

    // (b) Committed transactions are whole in the final read_committed read; (c) unknown ones are whole or
    // absent, and whole if any read_committed reader saw them.
    for (txn, &size) in &inner.sizes {
        let present = in_final_committed.get(txn).copied().unwrap_or(0);
        match outcome_of(inner, txn) {
            TxnOutcome::Committed => {
                summary.committed += 1;
                if present != size {
                    problems.push(format!(
                        "committed {txn} has {present} of its {size} records in the final read_committed read; \
                         missing: {}",
                        missing_records(inner, txn)
                    ));
                }
            }
            TxnOutcome::Aborted => summary.aborted += 1,
            TxnOutcome::Unknown => {
                summary.unknown += 1;
                if present == size {
                    summary.unknown_visible += 1;
                } else if present != 0 {
                    problems.push(format!(
                        "{txn} (outcome unknown) is partly visible: {present} of its {size} records in the final \
                         read_committed read"
                    ));
                } else if let Some(reader) = seen_committed.get(txn) {
                    problems.push(format!(
                        "{txn} (outcome unknown) was read by {reader} but is missing from the final \
                         read_committed read"
                    ));
                }
            }
        }
    }
    // Outcomes of transactions that sent nothing still count.
    for (txn, outcome) in &inner.outcomes {
        if !inner.sizes.contains_key(txn) {
            match outcome {
                TxnOutcome::Committed => summary.committed += 1,
                TxnOutcome::Aborted => summary.aborted += 1,
                TxnOutcome::Unknown => summary.unknown += 1,
            }
        }
    }

    // The final read_committed read is part of the final read_uncommitted read.
    let uncommitted: HashSet<(i32, i64)> = inner
        .reads
        .iter()
        .filter(|r| r.reader == FINAL_UNCOMMITTED)
        .map(|r| (r.partition, r.offset))
        .collect();
    for r in inner.reads.iter().filter(|r| r.reader == FINAL_COMMITTED) {
        if !uncommitted.contains(&(r.partition, r.offset)) {
            problems.push(format!(
                "partition {} offset {} value {:?} is in the final read_committed read but not in the final \
                 read_uncommitted read",
                r.partition,
                r.offset,
                lossy(r.value.as_deref())
            ));
        }
    }

    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::tests::msg;

    /// Producer "p": transaction 0 committed (a0 → partition 0, a1 → partition 1), transaction 1 aborted (b0 →
    /// 0, b1 → 1), transaction 2 committed (c0 → 0, c1 → 1). Laid out as Kafka would: each transaction's records
    /// then its marker (an offset no consumer returns) in each partition.
    fn three_transactions() -> TxnChecker {
        let c = TxnChecker::new();
        for (txn, name, outcome) in [
            (0, "a", TxnOutcome::Committed),
            (1, "b", TxnOutcome::Aborted),
            (2, "c", TxnOutcome::Committed),
        ] {
            for seq in 0..2 {
                c.sent("p", txn, seq, seq as i32, format!("{name}{seq}").as_bytes());
            }
            c.outcome("p", txn, outcome);
        }
        c
    }

    /// a at 0, marker 1, b at 2, marker 3, c at 4, marker 5 — in both partitions.
    fn uncommitted_log() -> Vec<OwnedMessage> {
        let mut log = Vec::new();
        for p in 0..2 {
            for (offset, name) in [(0, "a"), (2, "b"), (4, "c")] {
                log.push(msg(p, offset, &format!("{name}{p}")));
            }
        }
        log
    }

    fn committed_log() -> Vec<OwnedMessage> {
        uncommitted_log()
            .into_iter()
            .filter(|m| m.payload() != Some(b"b0") && m.payload() != Some(b"b1"))
            .collect()
    }

    fn problems(
        c: &TxnChecker,
        committed: &[OwnedMessage],
        uncommitted: &[OwnedMessage],
    ) -> String {
        c.check(committed, uncommitted).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_faithful_run() {
        let c = three_transactions();
        c.read("live", Isolation::ReadCommitted, 0, 0, Some(b"a0"));
        c.read("live", Isolation::ReadCommitted, 1, 0, Some(b"a1"));
        c.read("live", Isolation::ReadCommitted, 0, 4, Some(b"c0"));
        c.read("dirty", Isolation::ReadUncommitted, 0, 2, Some(b"b0"));
        let summary = c.check(&committed_log(), &uncommitted_log()).unwrap();
        assert_eq!(
            (summary.committed, summary.aborted, summary.unknown),
            (2, 1, 0)
        );
        assert_eq!(summary.records_sent, 6);
        assert_eq!(summary.read_during_run, 4);
        assert_eq!((summary.final_committed, summary.final_uncommitted), (4, 6));
    }

    #[test]
    fn an_aborted_record_read_under_read_committed_is_reported() {
        let c = three_transactions();
        c.read("live", Isolation::ReadCommitted, 1, 2, Some(b"b1"));
        let err = problems(&c, &committed_log(), &uncommitted_log());
        assert!(
            err.contains(
                "live read partition 1 offset 2 value Some(\"b1\") of aborted p transaction 1"
            ),
            "{err}"
        );
        // In the final read too.
        let c = three_transactions();
        let err = problems(&c, &uncommitted_log(), &uncommitted_log());
        assert!(
            err.contains(
                "final read_committed read read partition 0 offset 2 value Some(\"b0\") of aborted"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_committed_transaction_missing_a_record_is_reported() {
        let c = three_transactions();
        let committed: Vec<OwnedMessage> = committed_log()
            .into_iter()
            .filter(|m| m.payload() != Some(b"c1"))
            .collect();
        let err = problems(&c, &committed, &uncommitted_log());
        assert!(
            err.contains(
                "committed p transaction 2 has 1 of its 2 records in the final read_committed read"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_transactions_must_be_all_or_nothing_and_stay_once_seen() {
        // Transaction 3 of unknown outcome: all visible, or none, is fine.
        let with_unknown = || {
            let c = three_transactions();
            c.sent("p", 3, 0, 0, b"d0");
            c.sent("p", 3, 1, 1, b"d1");
            c.outcome("p", 3, TxnOutcome::Unknown);
            c
        };
        let mut all = uncommitted_log();
        all.extend([msg(0, 6, "d0"), msg(1, 6, "d1")]);
        let mut committed_all = committed_log();
        committed_all.extend([msg(0, 6, "d0"), msg(1, 6, "d1")]);
        let summary = with_unknown().check(&committed_all, &all).unwrap();
        assert_eq!((summary.unknown, summary.unknown_visible), (1, 1));
        let summary = with_unknown().check(&committed_log(), &all).unwrap();
        assert_eq!((summary.unknown, summary.unknown_visible), (1, 0));

        // Half of it is not.
        let mut committed_half = committed_log();
        committed_half.push(msg(0, 6, "d0"));
        let err = problems(&with_unknown(), &committed_half, &all);
        assert!(
            err.contains("p transaction 3 (outcome unknown) is partly visible: 1 of its 2 records"),
            "{err}"
        );

        // Seen by a read_committed reader, then gone: a commit was undone.
        let c = with_unknown();
        c.read("live", Isolation::ReadCommitted, 0, 6, Some(b"d0"));
        let err = problems(&c, &committed_log(), &all);
        assert!(
            err.contains("p transaction 3 (outcome unknown) was read by live but is missing"),
            "{err}"
        );
        // A transaction sent but never given an outcome is unknown too.
        let c = three_transactions();
        c.sent("p", 3, 0, 0, b"d0");
        c.sent("p", 3, 1, 1, b"d1");
        let err = problems(&c, &committed_half, &all);
        assert!(err.contains("(outcome unknown) is partly visible"), "{err}");
    }

    #[test]
    fn duplicates_conflicts_phantoms_and_misplaced_records_are_reported() {
        let c = three_transactions();
        // a0 stored twice (a retried batch written again), and once in the wrong partition.
        let mut uncommitted = uncommitted_log();
        uncommitted.push(msg(0, 6, "a0"));
        uncommitted.push(msg(1, 7, "a0"));
        uncommitted.push(msg(1, 8, "ghost"));
        let mut committed = committed_log();
        committed.push(msg(0, 6, "a0"));
        // A live reader saw something else at c0's position (it read past what was later truncated).
        c.read("live", Isolation::ReadUncommitted, 0, 4, Some(b"c1"));
        let err = problems(&c, &committed, &uncommitted);
        assert!(
            err.contains("duplicate: value Some(\"a0\") is at partition 0 offset 0"),
            "{err}"
        );
        assert!(
            err.contains(
                "read value Some(\"a0\") in partition 1 offset 7, but it was sent to partition 0"
            ),
            "{err}"
        );
        assert!(
            err.contains("value Some(\"ghost\"), which was never sent"),
            "{err}"
        );
        assert!(
            err.contains("partition 0 offset 4: live read value Some(\"c1\") but final read_committed read read value Some(\"c0\")"),
            "{err}"
        );
    }

    #[test]
    fn reordered_records_and_rewinds_are_reported() {
        let c = TxnChecker::new();
        for (txn, seq, value) in [(0, 0, "x"), (0, 1, "y"), (1, 0, "z")] {
            c.sent("p", txn, seq, 0, value.as_bytes());
            c.outcome("p", txn, TxnOutcome::Committed);
        }
        // y before x (seq order broken), z before y (transaction order broken).
        let log = vec![msg(0, 0, "y"), msg(0, 1, "x"), msg(0, 3, "z")];
        let swapped = vec![msg(0, 0, "x"), msg(0, 1, "z"), msg(0, 2, "y")];
        c.read("live", Isolation::ReadCommitted, 0, 3, Some(b"z"));
        c.read("live", Isolation::ReadCommitted, 0, 1, Some(b"x"));
        let err = problems(&c, &log, &log);
        assert!(
            err.contains("final read_committed read: partition 0: p record 0 of transaction 0 at offset 1 comes after its record 1 of transaction 0 at offset 0"),
            "{err}"
        );
        assert!(
            err.contains("live: partition 0 went from offset 3 back to 1"),
            "{err}"
        );
        let c2 = TxnChecker::new();
        for (txn, seq, value) in [(0, 0, "x"), (0, 1, "y"), (1, 0, "z")] {
            c2.sent("p", txn, seq, 0, value.as_bytes());
            c2.outcome("p", txn, TxnOutcome::Committed);
        }
        let err = problems(&c2, &swapped, &swapped);
        assert!(
            err.contains("p record 1 of transaction 0 at offset 2 comes after its record 0 of transaction 1 at offset 1"),
            "{err}"
        );
    }

    #[test]
    fn the_committed_read_must_be_part_of_the_uncommitted_read() {
        let c = three_transactions();
        let uncommitted: Vec<OwnedMessage> = uncommitted_log()
            .into_iter()
            .filter(|m| m.payload() != Some(b"c1"))
            .collect();
        let err = problems(&c, &committed_log(), &uncommitted);
        assert!(
            err.contains("partition 1 offset 4 value Some(\"c1\") is in the final read_committed read but not in the final read_uncommitted read"),
            "{err}"
        );
    }
}
