//! A record of every write the broker acknowledged, and the check that reading the log back honours each one.
//! It owns no clients: producers feed it from their delivery callbacks (see `kafka::TestProducer`), tests hand it
//! what a consumer read. It does not judge writes that were never acknowledged: those may or may not be in the log.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::bail;
use rdkafka::message::{Message, OwnedMessage};

/// One write the broker acknowledged: where it said the record landed, and what the record was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Acknowledged writes, appended from any thread (librdkafka's delivery callbacks run on its polling thread).
#[derive(Default, Debug)]
pub struct AckHistory {
    acked: Mutex<Vec<AckedRecord>>,
}

impl AckHistory {
    pub fn new() -> AckHistory {
        AckHistory::default()
    }

    pub fn record(&self, partition: i32, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        let record = AckedRecord {
            partition,
            offset,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        };
        self.acked.lock().expect("history lock").push(record);
    }

    pub fn len(&self) -> usize {
        self.acked.lock().expect("history lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<AckedRecord> {
        self.acked.lock().expect("history lock").clone()
    }

    /// Checks `read` (everything a consumer read from the topic, from offset 0 up to the log end) against the
    /// acknowledged writes:
    /// - no two records read at the same partition and offset;
    /// - per partition, the offsets read are contiguous from 0;
    /// - every acknowledged record is read at exactly its acknowledged offset, with its key and value;
    /// - no two acknowledgements name the same partition and offset;
    /// - no acknowledged value is read at any offset other than its own (a duplicate from a retried write).
    ///
    /// Values must therefore be unique per test, which every test using this arranges.
    pub fn check(&self, read: &[OwnedMessage]) -> anyhow::Result<()> {
        let acked = self.snapshot();
        let mut problems = Vec::new();

        let mut by_position: BTreeMap<(i32, i64), &OwnedMessage> = BTreeMap::new();
        for m in read {
            if let Some(previous) = by_position.insert((m.partition(), m.offset()), m) {
                problems.push(format!(
                    "partition {} offset {} was read twice (values {:?} and {:?})",
                    m.partition(),
                    m.offset(),
                    lossy(previous.payload()),
                    lossy(m.payload())
                ));
            }
        }

        let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for &(p, o) in by_position.keys() {
            per_partition.entry(p).or_default().push(o);
        }
        for (p, offsets) in &per_partition {
            for (expected, &actual) in offsets.iter().enumerate() {
                if actual != expected as i64 {
                    problems.push(format!(
                        "partition {p}: offsets are not contiguous from 0: expected {expected}, next read was {actual}"
                    ));
                    break;
                }
            }
        }

        let mut ack_positions: HashMap<(i32, i64), &AckedRecord> = HashMap::new();
        for a in &acked {
            if let Some(previous) = ack_positions.insert((a.partition, a.offset), a) {
                problems.push(format!(
                    "partition {} offset {} was acknowledged twice (values {:?} and {:?})",
                    a.partition,
                    a.offset,
                    lossy(previous.value.as_deref()),
                    lossy(a.value.as_deref())
                ));
            }
            match by_position.get(&(a.partition, a.offset)) {
                None => problems.push(format!(
                    "acknowledged record lost: partition {} offset {} value {:?}",
                    a.partition,
                    a.offset,
                    lossy(a.value.as_deref())
                )),
                Some(m) if m.key() != a.key.as_deref() || m.payload() != a.value.as_deref() => {
                    problems.push(format!(
                        "partition {} offset {}: acknowledged key {:?} value {:?}, read key {:?} value {:?}",
                        a.partition,
                        a.offset,
                        lossy(a.key.as_deref()),
                        lossy(a.value.as_deref()),
                        lossy(m.key()),
                        lossy(m.payload())
                    ))
                }
                Some(_) => {}
            }
        }

        let acked_values: HashMap<&[u8], (i32, i64)> = acked
            .iter()
            .filter_map(|a| Some((a.value.as_deref()?, (a.partition, a.offset))))
            .collect();
        for (&(p, o), m) in &by_position {
            if let Some(&(ap, ao)) = m.payload().and_then(|v| acked_values.get(v)) {
                if (ap, ao) != (p, o) {
                    problems.push(format!(
                        "duplicate: value {:?} acknowledged at partition {ap} offset {ao} is also at partition {p} offset {o}",
                        lossy(m.payload())
                    ));
                }
            }
        }

        if problems.is_empty() {
            return Ok(());
        }
        let total = problems.len();
        problems.truncate(20);
        bail!(
            "{total} problems checking {} acknowledged writes against {} records read:\n  {}",
            acked.len(),
            read.len(),
            problems.join("\n  ")
        )
    }
}

/// A value for error messages: lossy UTF-8, cut after 80 characters.
pub(crate) fn lossy(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| {
        let s = String::from_utf8_lossy(b);
        if s.chars().count() > 80 {
            format!(
                "{}… ({} bytes)",
                s.chars().take(80).collect::<String>(),
                b.len()
            )
        } else {
            s.into_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    fn msg(partition: i32, offset: i64, value: &str) -> OwnedMessage {
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

    #[test]
    fn accepts_a_faithful_log_with_unacknowledged_extras() {
        let h = AckHistory::new();
        h.record(0, 0, None, Some(b"a"));
        h.record(0, 1, None, Some(b"b"));
        h.record(1, 0, None, Some(b"c"));
        let read = vec![
            msg(0, 0, "a"),
            msg(0, 1, "b"),
            msg(0, 2, "never acked"),
            msg(1, 0, "c"),
        ];
        h.check(&read).unwrap();
    }

    #[test]
    fn reports_loss_gaps_moves_and_duplicates() {
        let h = AckHistory::new();
        h.record(0, 0, None, Some(b"a"));
        h.record(0, 1, None, Some(b"b"));
        h.record(0, 3, None, Some(b"d"));
        let read = vec![msg(0, 0, "a"), msg(0, 1, "x"), msg(0, 2, "a")];
        let err = h.check(&read).unwrap_err().to_string();
        assert!(err.contains("lost: partition 0 offset 3"), "{err}");
        assert!(
            err.contains("acknowledged key None value Some(\"b\")"),
            "{err}"
        );
        assert!(err.contains("duplicate: value Some(\"a\")"), "{err}");

        let gap = vec![msg(0, 0, "a"), msg(0, 1, "b"), msg(0, 3, "d")];
        let err = h.check(&gap).unwrap_err().to_string();
        assert!(
            err.contains("not contiguous from 0: expected 2, next read was 3"),
            "{err}"
        );
    }
}
