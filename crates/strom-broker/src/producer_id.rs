//! Producer id allocation for InitProducerId. Ids are handed out from blocks of 1000 whose upper bound is
//! persisted (fsynced) in `producer-id-block` under the first data dir before any id of the block is used, so
//! an id is never handed out twice, even across a kill -9 (Kafka allocates the same way, through the controller).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

const BLOCK: i64 = 1000;

pub(crate) struct ProducerIdManager {
    path: PathBuf,
    state: Mutex<(i64, i64)>, // (next id, end of the persisted block, exclusive)
}

impl ProducerIdManager {
    pub(crate) fn open(path: PathBuf) -> std::io::Result<Self> {
        let persisted = match fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
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
        let m = ProducerIdManager::open(path.clone()).unwrap();
        assert_eq!(m.next().unwrap(), 0);
        assert_eq!(m.next().unwrap(), 1);
        drop(m);
        let m = ProducerIdManager::open(path).unwrap();
        assert_eq!(m.next().unwrap(), 1000);
    }
}
