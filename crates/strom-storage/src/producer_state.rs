//! Idempotent-producer state of one partition: per producer id, the current epoch and the last five
//! batches (sequence range, offsets, max timestamp), with Kafka's duplicate / sequence / epoch rules,
//! and its snapshot files `<20-digit offset>.snapshot` (JSON; state as of that log offset).
//!
//! Does not do transactions (no ongoing-transaction tracking, no LSO) or producer-id expiry; those
//! belong to a future transaction coordinator. Validation is staged in a [`ProducerAppend`] so a
//! rejected multi-batch append leaves the state untouched.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::batch::BatchHeader;
use crate::checkpoint;
use crate::error::AppendError;

/// Kafka keeps the metadata of the last five batches per producer for duplicate detection
/// (`max.in.flight.requests.per.connection` may be at most 5 with idempotence).
const CACHED_BATCHES: usize = 5;
const SNAPSHOT_EXT: &str = "snapshot";
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    fn new(producer_id: i64, epoch: i16) -> Self {
        ProducerEntry {
            producer_id,
            epoch,
            batches: VecDeque::new(),
        }
    }

    fn find_duplicate(&self, h: &BatchHeader) -> Option<BatchMetadata> {
        if h.producer_epoch != self.epoch {
            return None;
        }
        let last_seq = h.last_sequence();
        self.batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
            .copied()
    }

    /// Kafka `ProducerAppendInfo.checkProducerEpoch` + `checkSequence` for client appends.
    fn validate(&self, h: &BatchHeader) -> Result<(), AppendError> {
        if h.producer_epoch < self.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: self.producer_id,
                current: self.epoch,
                got: h.producer_epoch,
            });
        }
        if h.base_sequence < 0 {
            // No sequence (e.g. a control batch): only the epoch is checked.
            return Ok(());
        }
        if h.producer_epoch > self.epoch {
            if h.base_sequence != 0 {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: self.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(());
        }
        if let Some(last) = self.batches.back() {
            let expected = if last.last_seq == i32::MAX {
                0
            } else {
                last.last_seq + 1
            };
            if h.base_sequence != expected {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: self.producer_id,
                    expected,
                    got: h.base_sequence,
                });
            }
        }
        Ok(())
    }

    /// Records an appended batch (assumed valid): a newer epoch resets the cached batches.
    fn record(&mut self, h: &BatchHeader, first_offset: i64) {
        if h.producer_epoch > self.epoch {
            self.epoch = h.producer_epoch;
            self.batches.clear();
        } else if h.producer_epoch < self.epoch {
            return;
        }
        if h.base_sequence < 0 {
            return;
        }
        self.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset,
            last_offset: first_offset + i64::from(h.last_offset_delta),
            max_timestamp: h.max_timestamp,
        });
        while self.batches.len() > CACHED_BATCHES {
            self.batches.pop_front();
        }
    }
}

/// All producers of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

/// Outcome of checking one batch of a pending append.
pub(crate) enum Check {
    Append,
    /// Already in the log: the original batch.
    Duplicate(BatchMetadata),
}

/// Validation of one append call against a staged copy of the touched producers.
pub(crate) struct ProducerAppend<'a> {
    state: &'a ProducerStateManager,
    staged: HashMap<i64, ProducerEntry>,
}

impl ProducerAppend<'_> {
    /// Checks batch `h` that would get base offset `first_offset`, staging its effect on success.
    pub(crate) fn check(
        &mut self,
        h: &BatchHeader,
        first_offset: i64,
    ) -> Result<Check, AppendError> {
        if h.producer_id < 0 {
            return Ok(Check::Append);
        }
        let entry = match self.staged.get(&h.producer_id) {
            Some(e) => Some(e),
            None => self.state.producers.get(&h.producer_id),
        };
        let mut entry = match entry {
            Some(e) => {
                if let Some(dup) = e.find_duplicate(h) {
                    return Ok(Check::Duplicate(dup));
                }
                e.validate(h)?;
                e.clone()
            }
            // A producer we know nothing about accepts any sequence (its state may have been
            // removed with old segments).
            None => ProducerEntry::new(h.producer_id, h.producer_epoch),
        };
        entry.record(h, first_offset);
        self.staged.insert(h.producer_id, entry);
        Ok(Check::Append)
    }

    pub(crate) fn into_staged(self) -> HashMap<i64, ProducerEntry> {
        self.staged
    }
}

impl ProducerStateManager {
    pub(crate) fn begin_append(&self) -> ProducerAppend<'_> {
        ProducerAppend {
            state: self,
            staged: HashMap::new(),
        }
    }

    pub(crate) fn commit(&mut self, staged: HashMap<i64, ProducerEntry>) {
        self.producers.extend(staged);
    }

    /// Replays a batch found in the log (recovery): no validation.
    pub(crate) fn replay(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        self.producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_id, h.producer_epoch))
            .record(h, h.base_offset);
    }

    #[cfg(test)]
    pub(crate) fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Writes `<offset>.snapshot` atomically.
    pub(crate) fn write_snapshot(&self, dir: &Path, offset: i64) -> io::Result<()> {
        let mut producers: Vec<&ProducerEntry> = self.producers.values().collect();
        producers.sort_by_key(|p| p.producer_id);
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            offset,
            producers,
        };
        let json = serde_json::to_vec(&snap).map_err(io::Error::other)?;
        checkpoint::write_atomic(&snapshot_path(dir, offset), &json)
    }

    /// Loads the newest readable snapshot at or below `log_end`, deleting newer ones (they describe
    /// data that recovery truncated) and unreadable ones. Returns the snapshot's offset.
    pub(crate) fn load_latest(dir: &Path, log_end: i64) -> io::Result<Option<(i64, Self)>> {
        let mut offsets = list_snapshots(dir)?;
        offsets.sort_unstable();
        while let Some(offset) = offsets.pop() {
            let path = snapshot_path(dir, offset);
            if offset > log_end {
                checkpoint::remove_if_exists(&path)?;
                continue;
            }
            let parsed = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
                .filter(|s| s.version == SNAPSHOT_VERSION && s.offset == offset);
            match parsed {
                Some(s) => {
                    let producers = s
                        .producers
                        .into_iter()
                        .map(|p| (p.producer_id, p))
                        .collect();
                    return Ok(Some((offset, ProducerStateManager { producers })));
                }
                None => {
                    tracing::warn!(path = %path.display(), "deleting unreadable producer snapshot");
                    checkpoint::remove_if_exists(&path)?;
                }
            }
        }
        Ok(None)
    }

    /// Deletes every snapshot at or above `offset` (all of them with `i64::MIN`).
    pub(crate) fn delete_snapshots_from(dir: &Path, offset: i64) -> io::Result<()> {
        for o in list_snapshots(dir)? {
            if o >= offset {
                checkpoint::remove_if_exists(&snapshot_path(dir, o))?;
            }
        }
        Ok(())
    }

    /// Deletes snapshots below `offset` except the newest one overall, which recovery starts from.
    pub(crate) fn prune_snapshots(dir: &Path, offset: i64) -> io::Result<()> {
        let offsets = list_snapshots(dir)?;
        let newest = offsets.iter().copied().max();
        for o in offsets {
            if o < offset && Some(o) != newest {
                checkpoint::remove_if_exists(&snapshot_path(dir, o))?;
            }
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    offset: i64,
    producers: Vec<&'a ProducerEntry>,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    offset: i64,
    producers: Vec<ProducerEntry>,
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_EXT}"))
}

fn list_snapshots(dir: &Path) -> io::Result<Vec<i64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".snapshot") {
            if let Ok(o) = stem.parse::<i64>() {
                out.push(o);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 7,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    fn append(
        state: &mut ProducerStateManager,
        h: BatchHeader,
        offset: i64,
    ) -> Result<Check, AppendError> {
        let mut a = state.begin_append();
        let r = a.check(&h, offset)?;
        let staged = a.into_staged();
        state.commit(staged);
        Ok(r)
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStateManager::default();
        // Unknown producer: any sequence.
        assert!(matches!(
            append(&mut s, header(1, 0, 10, 3), 0),
            Ok(Check::Append)
        ));
        // Duplicate of the cached batch.
        match append(&mut s, header(1, 0, 10, 3), 99).unwrap() {
            Check::Duplicate(b) => assert_eq!((b.first_offset, b.last_offset), (0, 2)),
            Check::Append => panic!("expected duplicate"),
        }
        // Gap.
        assert!(matches!(
            append(&mut s, header(1, 0, 14, 1), 3),
            Err(AppendError::OutOfOrderSequence {
                expected: 13,
                got: 14,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, header(1, 0, 13, 1), 3),
            Ok(Check::Append)
        ));
        // New epoch must start at 0.
        assert!(matches!(
            append(&mut s, header(1, 1, 5, 1), 4),
            Err(AppendError::OutOfOrderSequence {
                expected: 0,
                got: 5,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, header(1, 1, 0, 1), 4),
            Ok(Check::Append)
        ));
        // Old epoch fenced.
        assert!(matches!(
            append(&mut s, header(1, 0, 14, 1), 5),
            Err(AppendError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        assert_eq!(s.get(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn only_five_batches_cached_and_wraparound() {
        let mut s = ProducerStateManager::default();
        for i in 0..7 {
            append(&mut s, header(2, 0, i, 1), i64::from(i)).unwrap();
        }
        let e = s.get(2).unwrap();
        assert_eq!(e.batches.len(), 5);
        assert_eq!(e.batches.front().unwrap().first_seq, 2);
        // The batch with seq 0 is no longer a recognised duplicate: out of order instead.
        assert!(append(&mut s, header(2, 0, 0, 1), 7).is_err());

        let mut s = ProducerStateManager::default();
        append(&mut s, header(3, 0, i32::MAX - 1, 2), 0).unwrap();
        assert!(matches!(
            append(&mut s, header(3, 0, 0, 1), 2),
            Ok(Check::Append)
        ));
    }

    #[test]
    fn staged_state_is_discarded_on_error() {
        let mut s = ProducerStateManager::default();
        append(&mut s, header(1, 0, 0, 1), 0).unwrap();
        let mut a = s.begin_append();
        assert!(a.check(&header(1, 0, 1, 1), 1).is_ok());
        // Second batch of the same call must follow the staged first one.
        assert!(a
            .check(&header(1, 0, 1, 1), 2)
            .is_ok_and(|c| matches!(c, Check::Duplicate(_))));
        assert!(a.check(&header(1, 0, 5, 1), 2).is_err());
        drop(a);
        assert_eq!(s.get(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn snapshot_round_trip_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::default();
        append(&mut s, header(1, 3, 0, 2), 0).unwrap();
        s.write_snapshot(dir.path(), 2).unwrap();
        append(&mut s, header(1, 3, 2, 2), 2).unwrap();
        s.write_snapshot(dir.path(), 4).unwrap();
        s.write_snapshot(dir.path(), 9).unwrap();
        // 9 is beyond the log end: deleted; 4 is loaded.
        let (off, loaded) = ProducerStateManager::load_latest(dir.path(), 5)
            .unwrap()
            .unwrap();
        assert_eq!(off, 4);
        assert_eq!(loaded.get(1), s.get(1));
        assert_eq!(list_snapshots(dir.path()).unwrap().len(), 2);
        ProducerStateManager::prune_snapshots(dir.path(), 100).unwrap();
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![4]);
        fs::write(snapshot_path(dir.path(), 4), b"{").unwrap();
        assert!(ProducerStateManager::load_latest(dir.path(), 5)
            .unwrap()
            .is_none());
    }
}
