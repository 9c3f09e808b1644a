//! A history checker for runs with failures: every write the cluster acknowledged, every record any consumer read
//! while brokers were being killed and paused, and one final read of the whole topic. The checks are those a
//! linearizable log must pass:
//! - no acknowledged write is missing from the final read, and it is there at its acknowledged offset with its key
//!   and value;
//! - no two different records at one partition and offset across all reads and acknowledgements (a consumer that
//!   read a record which was later truncated and replaced by another shows up here: it saw uncommitted data);
//! - each reader's offsets per partition strictly increase (no consumer is ever sent backwards);
//! - the final read has no gaps, and no value appears at two positions (values must be unique in the run);
//! - when the test registered what it sent, nothing was read that was never sent.
//!
//! It owns no clients and no threads: producers and consumers feed it; it only judges.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use anyhow::bail;
use rdkafka::message::{Message, OwnedMessage};

use crate::history::{lossy, AckedRecord};

/// The reader name the final read is recorded under.
const FINAL_READER: &str = "final read";

/// One record a consumer returned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReadRecord {
    reader: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

#[derive(Default, Debug)]
struct Inner {
    sent: HashSet<Vec<u8>>,
    acks: Vec<AckedRecord>,
    reads: Vec<ReadRecord>,
}

/// Acknowledged writes and observed reads of one topic, fed from any thread, checked once at the end.
#[derive(Default, Debug)]
pub struct ReadWriteChecker {
    inner: Mutex<Inner>,
}

/// What a successful check covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSummary {
    pub acknowledged: usize,
    /// Records read by the concurrent readers (not counting the final read).
    pub read_during_run: usize,
    pub final_read: usize,
    /// Per partition, one past the last offset of the final read.
    pub log_end: BTreeMap<i32, i64>,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acknowledged writes, {} records read during the run, {} in the final read, log ends {:?}",
            self.acknowledged, self.read_during_run, self.final_read, self.log_end
        )
    }
}

impl ReadWriteChecker {
    pub fn new() -> ReadWriteChecker {
        ReadWriteChecker::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("checker lock")
    }

    /// Registers a value the test handed to a producer. Once any value is registered, `check` reports every
    /// record read whose value was never sent.
    pub fn sent(&self, value: &[u8]) {
        self.lock().sent.insert(value.to_vec());
    }

    /// Records one acknowledged write.
    pub fn acked(&self, partition: i32, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.lock().acks.push(AckedRecord {
            partition,
            offset,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        });
    }

    /// Records acknowledged writes collected elsewhere, e.g. `AckHistory::snapshot()` of a `TestProducer`.
    pub fn add_acks(&self, acks: &[AckedRecord]) {
        self.lock().acks.extend_from_slice(acks);
    }

    /// Records a record `reader` read. Call it in the order the reader received records.
    pub fn read(
        &self,
        reader: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        self.lock().reads.push(ReadRecord {
            reader: reader.to_string(),
            partition,
            offset,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        });
    }

    /// [`ReadWriteChecker::read`] of a consumed message.
    pub fn read_message<M: Message>(&self, reader: &str, m: &M) {
        self.read(reader, m.partition(), m.offset(), m.key(), m.payload());
    }

    pub fn acknowledged(&self) -> usize {
        self.lock().acks.len()
    }

    /// Records read so far by the concurrent readers.
    pub fn reads(&self) -> usize {
        self.lock().reads.len()
    }

    /// Checks everything recorded plus `final_read` (every partition of the topic read from its start to its end
    /// after the failures stopped), as listed in the module doc. `final_read` is also recorded, so `check` is
    /// meant to be called once.
    pub fn check(&self, final_read: &[OwnedMessage]) -> anyhow::Result<CheckSummary> {
        let mut inner = self.lock();
        let read_during_run = inner.reads.len();
        for m in final_read {
            inner.reads.push(ReadRecord {
                reader: FINAL_READER.to_string(),
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            });
        }
        let problems = find_problems(&inner);
        let mut log_end = BTreeMap::new();
        for m in final_read {
            let end = log_end.entry(m.partition()).or_insert(0);
            *end = (*end).max(m.offset() + 1);
        }
        let summary = CheckSummary {
            acknowledged: inner.acks.len(),
            read_during_run,
            final_read: final_read.len(),
            log_end,
        };
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

/// Who observed a record at a position: an acknowledgement or a reader.
#[derive(Clone, Copy, Debug)]
struct Observation<'a> {
    source: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

fn find_problems(inner: &Inner) -> Vec<String> {
    let mut problems = Vec::new();

    // Each reader's offsets per partition strictly increase.
    let mut last_offset: HashMap<(&str, i32), i64> = HashMap::new();
    for r in &inner.reads {
        if let Some(previous) = last_offset.insert((&r.reader, r.partition), r.offset) {
            if r.offset <= previous {
                problems.push(format!(
                    "{}: partition {} went from offset {previous} back to {}",
                    r.reader, r.partition, r.offset
                ));
            }
        }
    }

    // The final read has no gaps (it starts wherever the log starts).
    let mut final_offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in inner.reads.iter().filter(|r| r.reader == FINAL_READER) {
        final_offsets.entry(r.partition).or_default().push(r.offset);
    }
    for (p, offsets) in &final_offsets {
        if let Some(w) = offsets.windows(2).find(|w| w[1] != w[0] + 1) {
            problems.push(format!(
                "final read of partition {p} is not contiguous: offset {} followed by {}",
                w[0], w[1]
            ));
        }
    }

    // One record per position across every acknowledgement and every read.
    let mut by_position: HashMap<(i32, i64), Observation<'_>> = HashMap::new();
    let observations = inner
        .acks
        .iter()
        .map(|a| {
            (
                (a.partition, a.offset),
                Observation {
                    source: "acknowledgement",
                    key: a.key.as_deref(),
                    value: a.value.as_deref(),
                },
            )
        })
        .chain(inner.reads.iter().map(|r| {
            (
                (r.partition, r.offset),
                Observation {
                    source: &r.reader,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                },
            )
        }));
    for (position, seen) in observations {
        match by_position.get(&position) {
            None => {
                by_position.insert(position, seen);
            }
            Some(first) if first.key != seen.key || first.value != seen.value => {
                problems.push(format!(
                    "partition {} offset {}: {} has key {:?} value {:?} but {} has key {:?} value {:?}",
                    position.0,
                    position.1,
                    first.source,
                    lossy(first.key),
                    lossy(first.value),
                    seen.source,
                    lossy(seen.key),
                    lossy(seen.value)
                ));
            }
            Some(_) => {}
        }
    }

    // Every acknowledged write is in the final read.
    let final_positions: HashSet<(i32, i64)> = inner
        .reads
        .iter()
        .filter(|r| r.reader == FINAL_READER)
        .map(|r| (r.partition, r.offset))
        .collect();
    for a in &inner.acks {
        if !final_positions.contains(&(a.partition, a.offset)) {
            problems.push(format!(
                "acknowledged write lost: partition {} offset {} value {:?}",
                a.partition,
                a.offset,
                lossy(a.value.as_deref())
            ));
        }
    }

    // An acknowledged value lives at one position only: a second one is a duplicate (a retried write stored
    // twice). Writes never acknowledged may be stored more than once (a non-idempotent producer's retry of a
    // request that timed out), as in Kafka.
    let acked_values: HashSet<&[u8]> = inner
        .acks
        .iter()
        .filter_map(|a| a.value.as_deref())
        .collect();
    let mut positions_of_value: HashMap<&[u8], (i32, i64)> = HashMap::new();
    let mut duplicates_reported: HashSet<&[u8]> = HashSet::new();
    let valued = inner
        .acks
        .iter()
        .filter_map(|a| Some((a.value.as_deref()?, (a.partition, a.offset))))
        .chain(
            inner
                .reads
                .iter()
                .filter_map(|r| Some((r.value.as_deref()?, (r.partition, r.offset)))),
        );
    for (value, position) in valued.filter(|(v, _)| acked_values.contains(v)) {
        let first = *positions_of_value.entry(value).or_insert(position);
        if first != position && duplicates_reported.insert(value) {
            problems.push(format!(
                "duplicate: value {:?} is at partition {} offset {} and at partition {} offset {}",
                lossy(Some(value)),
                first.0,
                first.1,
                position.0,
                position.1
            ));
        }
    }

    // Nothing read that was never sent.
    if !inner.sent.is_empty() {
        for r in &inner.reads {
            let known = r.value.as_ref().is_some_and(|v| inner.sent.contains(v));
            if !known {
                problems.push(format!(
                    "{} read partition {} offset {} value {:?}, which was never sent",
                    r.reader,
                    r.partition,
                    r.offset,
                    lossy(r.value.as_deref())
                ));
            }
        }
    }

    problems
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rdkafka::Timestamp;

    /// A consumed message of topic "t" (also used by `txn_checker`'s tests).
    pub(crate) fn msg(partition: i32, offset: i64, value: &str) -> OwnedMessage {
        OwnedMessage::new(
            Some(value.as_bytes().to_vec()),
            None,
            "t".to_string(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    fn checker(acks: &[(i32, i64, &str)]) -> ReadWriteChecker {
        let c = ReadWriteChecker::new();
        for &(p, o, v) in acks {
            c.sent(v.as_bytes());
            c.acked(p, o, None, Some(v.as_bytes()));
        }
        c
    }

    #[test]
    fn accepts_a_faithful_run() {
        let c = checker(&[(0, 0, "a"), (0, 1, "b"), (1, 0, "c")]);
        c.sent(b"unacked");
        c.read("live", 0, 0, None, Some(b"a"));
        c.read("live", 1, 0, None, Some(b"c"));
        c.read("live", 0, 1, None, Some(b"b"));
        let summary = c
            .check(&[
                msg(0, 0, "a"),
                msg(0, 1, "b"),
                msg(0, 2, "unacked"),
                msg(1, 0, "c"),
            ])
            .unwrap();
        assert_eq!(summary.acknowledged, 3);
        assert_eq!(summary.read_during_run, 3);
        assert_eq!(summary.log_end, BTreeMap::from([(0, 3), (1, 1)]));
    }

    #[test]
    fn a_read_of_a_record_that_was_later_replaced_is_a_conflict() {
        let c = checker(&[(0, 0, "a")]);
        c.sent(b"uncommitted");
        c.sent(b"new");
        c.read("live", 0, 1, None, Some(b"uncommitted"));
        let err = c
            .check(&[msg(0, 0, "a"), msg(0, 1, "new")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("partition 0 offset 1: live has key None value Some(\"uncommitted\") but final read has key None value Some(\"new\")"),
            "{err}"
        );
    }

    #[test]
    fn reports_loss_rewinds_gaps_duplicates_and_phantoms() {
        let c = checker(&[(0, 0, "a"), (0, 1, "b"), (0, 3, "d")]);
        c.read("live", 0, 1, None, Some(b"b"));
        c.read("live", 0, 0, None, Some(b"a"));
        let err = c
            .check(&[
                msg(0, 0, "a"),
                msg(0, 1, "b"),
                msg(0, 2, "a"),
                msg(0, 4, "ghost"),
            ])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("live: partition 0 went from offset 1 back to 0"),
            "{err}"
        );
        assert!(
            err.contains("acknowledged write lost: partition 0 offset 3"),
            "{err}"
        );
        assert!(
            err.contains("not contiguous: offset 2 followed by 4"),
            "{err}"
        );
        assert!(
            err.contains("duplicate: value Some(\"a\") is at partition 0 offset 0 and at partition 0 offset 2"),
            "{err}"
        );
        assert!(
            err.contains("value Some(\"ghost\"), which was never sent"),
            "{err}"
        );
    }

    #[test]
    fn two_acknowledgements_of_one_position_conflict() {
        let c = checker(&[(0, 0, "a"), (0, 0, "b")]);
        let err = c.check(&[msg(0, 0, "a")]).unwrap_err().to_string();
        assert!(
            err.contains("acknowledgement has key None value Some(\"a\") but acknowledgement has key None value Some(\"b\")"),
            "{err}"
        );
    }
}
