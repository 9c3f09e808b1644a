//! `MetadataLog`: the durable raft log of the metadata quorum under its directory.
//! `raft.log` holds checksummed frames (file_frame.rs), one raft entry each, appended and fsynced
//! before the append is acknowledged (metadata changes are rare, so per-append fsync is cheap);
//! `raft-meta` holds the vote, the committed log id and the last purged log id, replaced
//! atomically. A torn tail is cut off on open. Owns no openraft trait (log_store.rs adapts it)
//! and no knowledge of what the entries mean.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::MetadataError;
use crate::file_frame::{self, Decoded};
use crate::raft_types::{Entry, LogId, Vote};
use openraft::RaftLogId;

const LOG_FILE: &str = "raft.log";
const META_FILE: &str = "raft-meta";

/// The small durable state next to the entries.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct LogMeta {
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

/// What opening the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Entries kept.
    pub(crate) entries: usize,
    /// Bytes of torn tail cut off the end of the log file.
    pub(crate) truncated_bytes: u64,
}

/// The raft log, vote and committed id. All entries are held in memory too: the metadata log
/// is small and purged behind snapshots.
#[derive(Debug)]
pub(crate) struct MetadataLog {
    log_path: PathBuf,
    meta_path: PathBuf,
    file: File,
    /// Index to entry, for the entries after `meta.last_purged`.
    entries: BTreeMap<u64, Entry>,
    /// Index to the byte position of its frame, so truncation can cut the file there.
    positions: BTreeMap<u64, u64>,
    /// Length of the log file.
    end: u64,
    meta: LogMeta,
}

impl MetadataLog {
    /// Opens (creating if needed) the log in `dir`, cutting off a torn tail.
    pub(crate) fn open(dir: &Path) -> Result<(MetadataLog, Recovery), MetadataError> {
        std::fs::create_dir_all(dir).map_err(|e| MetadataError::io(dir, e))?;
        let log_path = dir.join(LOG_FILE);
        let meta_path = dir.join(META_FILE);
        let meta: LogMeta = file_frame::read_single(&meta_path)?.unwrap_or_default();
        let file = file_frame::open_append(&log_path)?;
        let bytes = std::fs::read(&log_path).map_err(|e| MetadataError::io(&log_path, e))?;

        let mut entries = BTreeMap::new();
        let mut positions = BTreeMap::new();
        let mut pos = 0usize;
        let mut last: Option<u64> = None;
        let purged = meta.last_purged.map(|l| l.index);
        while let Some(rest) = bytes.get(pos..) {
            match file_frame::decode::<Entry>(rest) {
                Decoded::Frame(entry, len) => {
                    let index = entry.get_log_id().index;
                    if last.is_some_and(|l| index != l + 1) {
                        return Err(MetadataError::corrupt(
                            &log_path,
                            format!("entry {index} follows entry {last:?}"),
                        ));
                    }
                    last = Some(index);
                    // Entries at or below the purge point survive only a crash between the
                    // meta update and the rewrite of the log file; they are dropped again.
                    if purged.is_none_or(|p| index > p) {
                        positions.insert(index, pos as u64);
                        entries.insert(index, entry);
                    }
                    pos += len;
                }
                Decoded::End => break,
                Decoded::Torn(reason) => {
                    tracing::warn!(
                        path = %log_path.display(),
                        position = pos,
                        dropped_bytes = bytes.len() - pos,
                        %reason,
                        "cutting torn tail off the metadata log"
                    );
                    break;
                }
            }
        }
        let truncated_bytes = (bytes.len() - pos) as u64;
        if truncated_bytes > 0 {
            file.set_len(pos as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| MetadataError::io(&log_path, e))?;
        }
        let mut log = MetadataLog {
            log_path,
            meta_path,
            file,
            entries,
            positions,
            end: pos as u64,
            meta,
        };
        // Only acknowledged (fsynced) entries are ever committed, so a committed id beyond the
        // log means the file was damaged by something else; never claim more than we hold.
        if let (Some(committed), Some(last)) = (log.meta.committed, log.last_log_id()) {
            if committed.index > last.index {
                tracing::warn!(?committed, ?last, "committed id beyond the metadata log");
                log.meta.committed = Some(last);
            }
        }
        let recovery = Recovery {
            entries: log.entries.len(),
            truncated_bytes,
        };
        Ok((log, recovery))
    }

    pub(crate) fn last_purged_log_id(&self) -> Option<LogId> {
        self.meta.last_purged
    }

    /// The id of the last entry, or the last purged one when no entry is left.
    pub(crate) fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(self.meta.last_purged)
    }

    pub(crate) fn entries(&self, range: impl RangeBounds<u64>) -> Vec<Entry> {
        self.entries.range(range).map(|(_, e)| e.clone()).collect()
    }

    pub(crate) fn vote(&self) -> Option<Vote> {
        self.meta.vote
    }

    pub(crate) fn committed(&self) -> Option<LogId> {
        self.meta.committed
    }

    pub(crate) fn save_vote(&mut self, vote: Vote) -> Result<(), MetadataError> {
        self.save_meta(LogMeta {
            vote: Some(vote),
            ..self.meta.clone()
        })
    }

    pub(crate) fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), MetadataError> {
        self.save_meta(LogMeta {
            committed,
            ..self.meta.clone()
        })
    }

    /// Appends entries and fsyncs before returning, so a returned append is durable.
    pub(crate) fn append(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<(), MetadataError> {
        let mut buf = Vec::new();
        let mut new = Vec::new();
        for entry in entries {
            let pos = self.end + buf.len() as u64;
            file_frame::encode(&entry, &mut buf)
                .map_err(|e| MetadataError::corrupt(&self.log_path, e.to_string()))?;
            new.push((pos, entry));
        }
        if new.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| MetadataError::io(&self.log_path, e))?;
        self.end += buf.len() as u64;
        for (pos, entry) in new {
            let index = entry.get_log_id().index;
            self.positions.insert(index, pos);
            self.entries.insert(index, entry);
        }
        Ok(())
    }

    /// Removes the entries from index `since` on (a follower's log conflicting with its leader).
    pub(crate) fn truncate(&mut self, since: u64) -> Result<(), MetadataError> {
        let Some(&pos) = self.positions.get(&since) else {
            // Nothing at or after `since` exists (or it was purged, which raft never asks).
            self.entries.retain(|&i, _| i < since);
            self.positions.retain(|&i, _| i < since);
            return Ok(());
        };
        self.file
            .set_len(pos)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| MetadataError::io(&self.log_path, e))?;
        self.end = pos;
        self.entries.retain(|&i, _| i < since);
        self.positions.retain(|&i, _| i < since);
        Ok(())
    }

    /// Drops the entries up to and including `upto` (they are covered by a snapshot). The purge
    /// point is recorded first, then the file is rewritten without them.
    pub(crate) fn purge(&mut self, upto: LogId) -> Result<(), MetadataError> {
        if self.meta.last_purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        self.save_meta(LogMeta {
            last_purged: Some(upto),
            ..self.meta.clone()
        })?;
        self.entries.retain(|&i, _| i > upto.index);

        let mut buf = Vec::new();
        let mut positions = BTreeMap::new();
        for (&index, entry) in &self.entries {
            positions.insert(index, buf.len() as u64);
            file_frame::encode(entry, &mut buf)
                .map_err(|e| MetadataError::corrupt(&self.log_path, e.to_string()))?;
        }
        file_frame::write_atomically(&self.log_path, &buf)?;
        self.file = file_frame::open_append(&self.log_path)?;
        self.positions = positions;
        self.end = buf.len() as u64;
        Ok(())
    }

    fn save_meta(&mut self, meta: LogMeta) -> Result<(), MetadataError> {
        file_frame::write_single(&self.meta_path, &meta)?;
        self.meta = meta;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft_types::MetadataRequest;
    use crate::record::MetadataRecord;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(MetadataRequest {
                records: vec![MetadataRecord::ClusterId {
                    cluster_id: format!("c{index}"),
                }],
            }),
        }
    }

    fn indexes(log: &MetadataLog) -> Vec<u64> {
        log.entries(..).iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn append_reopen_truncate_purge() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, recovery) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recovery, Recovery::default());
        log.append((1..=5).map(entry)).unwrap();
        log.save_vote(Vote::new_committed(1, 1)).unwrap();
        log.save_committed(Some(entry(4).log_id)).unwrap();
        log.truncate(5).unwrap();
        drop(log);

        let (mut log, recovery) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(
            recovery,
            Recovery {
                entries: 4,
                truncated_bytes: 0
            }
        );
        assert_eq!(indexes(&log), vec![1, 2, 3, 4]);
        assert_eq!(log.vote(), Some(Vote::new_committed(1, 1)));
        assert_eq!(log.committed(), Some(entry(4).log_id));
        log.purge(entry(2).log_id).unwrap();
        log.append([entry(5)]).unwrap();
        assert_eq!(log.entries(4..), vec![entry(4), entry(5)]);
        drop(log);

        let (log, _) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log), vec![3, 4, 5]);
        assert_eq!(log.last_purged_log_id(), Some(entry(2).log_id));
        assert_eq!(log.last_log_id(), Some(entry(5).log_id));
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
        log.append((1..=3).map(entry)).unwrap();
        log.save_committed(Some(entry(3).log_id)).unwrap();
        drop(log);
        // Cut the last frame in half, as a crash mid-write would.
        let path = dir.path().join(LOG_FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 10).unwrap();
        drop(file);

        let (mut log, recovery) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recovery.entries, 2);
        assert!(recovery.truncated_bytes > 0);
        assert_eq!(indexes(&log), vec![1, 2]);
        assert_eq!(log.committed(), Some(entry(2).log_id));
        // Appending after recovery continues cleanly from the cut.
        log.append([entry(3)]).unwrap();
        drop(log);
        let (log, recovery) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recovery.truncated_bytes, 0);
        assert_eq!(indexes(&log), vec![1, 2, 3]);
    }
}
