//! The aborted-transaction index of a partition log (Kafka's `TransactionIndex`): per segment, a
//! file `<20-digit base offset>.txnindex` of the transactions aborted by a marker in that
//! segment, each entry Kafka's 34-byte `AbortedTxn` (version i16 = 0, producer id i64, first
//! offset i64, last offset i64 = the marker's offset, last stable offset i64 at completion),
//! big-endian. Kept in memory too (aborts are rare next to data), so a read_committed fetch
//! answers its `aborted_transactions` without reading files.
//!
//! Files are created on the first abort in a segment, appended without fsync (fsynced when the
//! log flushes or rolls), and rewritten when a truncation drops entries. Recovery does not trust
//! entries past the producer-state snapshot it replays from: `log/open.rs` drops them and the
//! replay writes them again, so an index lost with a crash is rebuilt from the log. Segment
//! deletion removes the file with the segment's others (`segment/mod.rs`). Not here: deciding what
//! aborted (`producer_state/`).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::segment::{segment_file, TXN_INDEX_EXT};

const ENTRY_LEN: usize = 34;
const ENTRY_VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's LSO right after the abort.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> AbortedTxn {
        let i = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        AbortedTxn {
            producer_id: i(2),
            first_offset: i(10),
            last_offset: i(18),
            last_stable_offset: i(26),
        }
    }
}

/// The aborted transactions of every segment of one log, by segment base offset.
#[derive(Debug, Default)]
pub(crate) struct TxnIndex {
    dir: PathBuf,
    segments: BTreeMap<i64, Vec<AbortedTxn>>,
}

impl TxnIndex {
    /// Reads the index files of the segments `bases`; a file with a torn last entry (a crash while
    /// appending) keeps its whole entries, and an entry of another version ends the file.
    pub(crate) fn load(dir: &Path, bases: impl IntoIterator<Item = i64>) -> io::Result<TxnIndex> {
        let mut segments = BTreeMap::new();
        for base in bases {
            let path = segment_file(dir, base, TXN_INDEX_EXT);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let entries: Vec<AbortedTxn> = bytes
                .chunks_exact(ENTRY_LEN)
                .take_while(|c| i16::from_be_bytes([c[0], c[1]]) == ENTRY_VERSION)
                .map(AbortedTxn::decode)
                .collect();
            if entries.len() * ENTRY_LEN != bytes.len() {
                tracing::warn!(path = %path.display(), "cutting a torn transaction index");
                write_file(&path, &entries)?;
            }
            if !entries.is_empty() {
                segments.insert(base, entries);
            }
        }
        Ok(TxnIndex {
            dir: dir.to_path_buf(),
            segments,
        })
    }

    /// Records an aborted transaction whose marker is in the segment based at `segment_base`.
    pub(crate) fn append(&mut self, segment_base: i64, txn: AbortedTxn) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_file(&self.dir, segment_base, TXN_INDEX_EXT))?;
        file.write_all(&txn.encode())?;
        self.segments.entry(segment_base).or_default().push(txn);
        Ok(())
    }

    /// Drops every entry whose marker is at or above `offset` (truncation, or before a replay
    /// from `offset` writes them again), rewriting the files that change.
    pub(crate) fn truncate_from(&mut self, offset: i64) -> io::Result<()> {
        let mut emptied = Vec::new();
        for (base, entries) in self.segments.iter_mut() {
            let before = entries.len();
            entries.retain(|t| t.last_offset < offset);
            if entries.len() != before {
                let path = segment_file(&self.dir, *base, TXN_INDEX_EXT);
                if entries.is_empty() {
                    checkpoint::remove_if_exists(&path)?;
                    emptied.push(*base);
                } else {
                    write_file(&path, entries)?;
                }
            }
        }
        for base in emptied {
            self.segments.remove(&base);
        }
        Ok(())
    }

    /// Drops the entries of the segment based at `base` whose marker is at one of `markers` (the
    /// cleaner removed those markers), rewriting its file.
    pub(crate) fn remove_markers(&mut self, base: i64, markers: &[i64]) -> io::Result<()> {
        let Some(entries) = self.segments.get_mut(&base) else {
            return Ok(());
        };
        let before = entries.len();
        entries.retain(|t| !markers.contains(&t.last_offset));
        if entries.len() == before {
            return Ok(());
        }
        let path = segment_file(&self.dir, base, TXN_INDEX_EXT);
        if entries.is_empty() {
            self.segments.remove(&base);
            checkpoint::remove_if_exists(&path)
        } else {
            write_file(&path, entries)
        }
    }

    /// Forgets the segment based at `base` (its file goes with the segment's files).
    pub(crate) fn remove_segment(&mut self, base: i64) {
        self.segments.remove(&base);
    }

    /// Forgets everything (the files went with the segments).
    pub(crate) fn clear(&mut self) {
        self.segments.clear();
    }

    /// The aborted transactions overlapping `[from, upper)` (Kafka's `collectAbortedTxns`):
    /// marker at or after `from` and first offset below `upper`. Only segments based at or after
    /// `from_segment` (the one holding `from`) can hold such a marker.
    pub(crate) fn collect(&self, from_segment: i64, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.segments
            .range(from_segment..)
            .flat_map(|(_, entries)| entries.iter())
            .filter(|t| t.last_offset >= from && t.first_offset < upper)
            .copied()
            .collect()
    }

    /// True when no segment has an aborted transaction.
    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// fsyncs the file of the segment based at `base`, if it has one.
    pub(crate) fn sync(&self, base: i64) -> io::Result<()> {
        if self.segments.contains_key(&base) {
            OpenOptions::new()
                .append(true)
                .open(segment_file(&self.dir, base, TXN_INDEX_EXT))?
                .sync_data()?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, entries: &[AbortedTxn]) -> io::Result<()> {
    let bytes: Vec<u8> = entries.iter().flat_map(AbortedTxn::encode).collect();
    checkpoint::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_survive_reload_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TxnIndex::load(dir.path(), [0, 100]).unwrap();
        idx.append(0, txn(1, 3, 10)).unwrap();
        idx.append(0, txn(2, 5, 20)).unwrap();
        idx.append(100, txn(1, 90, 110)).unwrap();
        let file = segment_file(dir.path(), 0, TXN_INDEX_EXT);
        assert_eq!(fs::read(&file).unwrap().len(), 2 * ENTRY_LEN);

        let idx2 = TxnIndex::load(dir.path(), [0, 100]).unwrap();
        assert_eq!(idx2.collect(0, 0, i64::MAX), idx.collect(0, 0, i64::MAX));
        // Overlap rules: marker at or after `from`, first offset below `upper`.
        assert_eq!(
            idx.collect(0, 11, 100),
            vec![txn(2, 5, 20), txn(1, 90, 110)]
        );
        assert_eq!(idx.collect(0, 11, 50), vec![txn(2, 5, 20)]);
        assert_eq!(idx.collect(100, 105, 200), vec![txn(1, 90, 110)]);

        idx.truncate_from(15).unwrap();
        assert_eq!(idx.collect(0, 0, i64::MAX), vec![txn(1, 3, 10)]);
        assert!(!segment_file(dir.path(), 100, TXN_INDEX_EXT).exists());
        // A torn tail keeps the whole entries.
        let mut bytes = fs::read(&file).unwrap();
        bytes.extend_from_slice(&[0, 0, 1]);
        fs::write(&file, bytes).unwrap();
        let idx3 = TxnIndex::load(dir.path(), [0]).unwrap();
        assert_eq!(idx3.collect(0, 0, i64::MAX), vec![txn(1, 3, 10)]);
        assert_eq!(fs::read(&file).unwrap().len(), ENTRY_LEN);
    }
}
