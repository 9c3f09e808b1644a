//! The producer-state snapshot files of one partition: `<20-digit offset>.snapshot`, JSON of every
//! producer's state as of that log offset (Kafka's `ProducerStateManager.takeSnapshot` /
//! `loadFromSnapshot`, in Strom's own format), written atomically, the newest readable one loaded at
//! open, newer or unreadable ones deleted, older ones pruned.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ProducerEntry, ProducerStateManager};
use crate::checkpoint;

const SNAPSHOT_EXT: &str = "snapshot";
const SNAPSHOT_VERSION: u32 = 1;

impl ProducerStateManager {
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
                    let ongoing = s
                        .producers
                        .iter()
                        .filter_map(|p| p.txn_first_offset.map(|f| (f, p.producer_id)))
                        .collect();
                    let producers = s
                        .producers
                        .into_iter()
                        .map(|mut p| {
                            if p.last_timestamp < 0 {
                                p.last_timestamp = p.batches.back().map_or(-1, |b| b.max_timestamp);
                            }
                            (p.producer_id, p)
                        })
                        .collect();
                    return Ok(Some((
                        offset,
                        ProducerStateManager {
                            producers,
                            ongoing,
                            unreplicated: BTreeMap::new(),
                        },
                    )));
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

pub(super) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_EXT}"))
}

pub(super) fn list_snapshots(dir: &Path) -> io::Result<Vec<i64>> {
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
