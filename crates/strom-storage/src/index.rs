//! Sparse per-segment indexes: `.index` (relative offset u32 → file position u32) and `.timeindex`
//! (timestamp i64 → relative offset u32), Kafka's on-disk entry formats, big-endian, and
//! [`TimestampOffset`], the (timestamp, offset) answer a time lookup gives.
//!
//! Entries live in memory (a sorted Vec) and are appended to the file on flush/seal. This module only
//! stores, looks up and persists entries; the segment decides when an entry is due and checks a
//! loaded index against its log file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A (timestamp, offset) pair answering ListOffsets. Lives here, beside the time index, because
/// both the segment (which finds one) and the log (which returns it) use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// One fixed-size index entry.
pub(crate) trait IndexEntry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
}

/// Offset-index entry: the batch whose base offset is `base + rel_offset` starts at `position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub(crate) rel_offset: u32,
    pub(crate) position: u32,
}

/// Time-index entry: up to and including offset `base + rel_offset`, the largest timestamp in the
/// segment is `timestamp` (and it was first reached by the batch holding that offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub(crate) timestamp: i64,
    pub(crate) rel_offset: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rel_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            rel_offset: u32_at(b, 0),
            position: u32_at(b, 4),
        }
    }
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.rel_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[0..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(a),
            rel_offset: u32_at(b, 8),
        }
    }
}

/// An index held in memory, with a record of how much of it the file already holds.
#[derive(Debug)]
pub(crate) struct Index<E> {
    entries: Vec<E>,
    /// Entries already in the file (when `rewrite` is false).
    persisted: usize,
    /// The file's content does not match `entries[..persisted]`; rewrite it whole next time.
    rewrite: bool,
}

impl<E: IndexEntry> Index<E> {
    /// An empty index whose file will be (re)written from scratch.
    pub(crate) fn new() -> Self {
        Index {
            entries: Vec::new(),
            persisted: 0,
            rewrite: true,
        }
    }

    /// Reads the file. `Ok(None)` when it is missing or its length is not a whole number of
    /// entries; semantic checks are the caller's.
    pub(crate) fn load(path: &Path) -> io::Result<Option<Self>> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if bytes.len() % E::SIZE != 0 {
            return Ok(None);
        }
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        Ok(Some(Index {
            persisted: entries.len(),
            entries,
            rewrite: false,
        }))
    }

    pub(crate) fn entries(&self) -> &[E] {
        &self.entries
    }

    pub(crate) fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    pub(crate) fn push(&mut self, e: E) {
        self.entries.push(e);
    }

    /// Last entry whose key is <= the target, given `key_le(entry)` = "entry key <= target".
    pub(crate) fn floor(&self, key_le: impl Fn(&E) -> bool) -> Option<E> {
        let n = self.entries.partition_point(key_le);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Writes entries not yet in the file (or the whole index when needed), optionally fsyncing.
    pub(crate) fn persist(&mut self, path: &Path, sync: bool) -> io::Result<()> {
        if !self.rewrite && self.persisted == self.entries.len() && !sync {
            return Ok(());
        }
        let start = if self.rewrite { 0 } else { self.persisted };
        let mut buf = Vec::with_capacity((self.entries.len() - start) * E::SIZE);
        for e in &self.entries[start..] {
            e.encode(&mut buf);
        }
        let mut f = if self.rewrite {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)?
        } else {
            OpenOptions::new().append(true).create(true).open(path)?
        };
        f.write_all(&buf)?;
        if sync {
            f.sync_data()?;
        }
        self.persisted = self.entries.len();
        self.rewrite = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_appends_then_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx: Index<OffsetEntry> = Index::new();
        idx.push(OffsetEntry {
            rel_offset: 3,
            position: 100,
        });
        idx.persist(&p, false).unwrap();
        idx.push(OffsetEntry {
            rel_offset: 9,
            position: 300,
        });
        idx.persist(&p, true).unwrap();
        let loaded: Index<OffsetEntry> = Index::load(&p).unwrap().unwrap();
        assert_eq!(loaded.entries(), idx.entries());
        assert_eq!(loaded.floor(|e| e.rel_offset <= 5).unwrap().position, 100);
        assert_eq!(loaded.floor(|e| e.rel_offset <= 9).unwrap().position, 300);
        assert!(loaded.floor(|e| e.rel_offset <= 2).is_none());
        fs::write(&p, [0u8; 5]).unwrap();
        assert!(Index::<OffsetEntry>::load(&p).unwrap().is_none());
    }
}
