//! Producer id allocation for InitProducerId. Ids are handed out from blocks of 1000 whose upper bound is
//! persisted (fsynced) in `producer-id-block` under the first data dir before any id of the block is used, so
//! an id is never handed out twice, even across a kill -9.
//!
//! Each broker allocates from its own range, `(node.id mod 2^22) << 40` upwards (2^40 ids per node), so two
//! brokers of a cluster never hand out the same id (two transactional ids on different coordinators, or two
//! idempotent producers, must not share one). Kafka allocates the blocks through the controller instead
//! (AllocateProducerIds, a ProducerIdsRecord in the metadata log); the ranges give the same uniqueness without a
//! round trip as long as node ids differ modulo 2^22.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

const BLOCK: i64 = 1000;
/// Bits of the id below the node's part: 2^40 ids per node.
const NODE_SHIFT: u32 = 40;
/// Node ids are taken modulo 2^22 so that `node << 40` stays a positive i64.
const NODE_MASK: i64 = (1 << 22) - 1;

/// First id of a node's range.
fn range_start(node_id: i32) -> i64 {
    (i64::from(node_id) & NODE_MASK) << NODE_SHIFT
}

pub(crate) struct ProducerIdManager {
    path: PathBuf,
    state: Mutex<(i64, i64)>, // (next id, end of the persisted block, exclusive)
}

impl ProducerIdManager {
    pub(crate) fn open(path: PathBuf, node_id: i32) -> std::io::Result<Self> {
        let start = range_start(node_id);
        let persisted = match fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        // A bound from before the per-node ranges (or from another node id) lies below this node's range.
        let persisted = persisted.max(start);
        // Everything below the persisted bound may have been handed out before a crash: start above it.
        Ok(Self {
            path,
            state: Mutex::new((persisted, persisted)),
        })
    }

    pub(crate) fn next(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 >= state.1 {
            let end = state.1 + BLOCK;
            let tmp = self.path.with_extension("tmp");
            let mut f = fs::File::create(&tmp)?;
            f.write_all(end.to_string().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("producer-id-block");
        let m = ProducerIdManager::open(path.clone(), 0).unwrap();
        assert_eq!(m.next().unwrap(), 0);
        assert_eq!(m.next().unwrap(), 1);
        drop(m);
        let m = ProducerIdManager::open(path, 0).unwrap();
        assert_eq!(m.next().unwrap(), 1000);
    }

    #[test]
    fn brokers_allocate_from_disjoint_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<Vec<i64>> = (1..=3)
            .map(|node| {
                let m = ProducerIdManager::open(dir.path().join(format!("block-{node}")), node)
                    .unwrap();
                (0..1500).map(|_| m.next().unwrap()).collect()
            })
            .collect();
        let mut all: Vec<i64> = ids.concat();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "an id was handed out by two brokers");
        assert_eq!(ids[1][0], 2 << 40);
        assert!(all.iter().all(|&id| id >= 0));
    }

    #[test]
    fn a_bound_below_the_range_starts_at_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("producer-id-block");
        fs::write(&path, "3000").unwrap();
        let m = ProducerIdManager::open(path.clone(), 7).unwrap();
        assert_eq!(m.next().unwrap(), 7 << 40);
        assert_eq!(
            ProducerIdManager::open(path, i32::MAX)
                .unwrap()
                .next()
                .unwrap(),
            range_start(i32::MAX)
        );
    }
}
