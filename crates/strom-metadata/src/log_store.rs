//! openraft's `RaftLogStorage` and `RaftLogReader` for `MetadataLog`: a thin adapter that only
//! forwards. Contract kept: `append` returns (and calls `LogFlushed`) only after the entries are
//! fsynced; `save_vote` is durable before it returns; `truncate`/`purge` are durable too.
//! `MetadataLog` does blocking file I/O under a std mutex; metadata writes are rare and small,
//! so they run on the calling runtime thread rather than a blocking pool.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError};

use crate::log::MetadataLog;
use crate::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// A shared handle on the log; clones are the log readers openraft hands to replication.
#[derive(Clone, Debug)]
pub(crate) struct LogStore {
    log: Arc<Mutex<MetadataLog>>,
}

impl LogStore {
    pub(crate) fn new(log: MetadataLog) -> LogStore {
        LogStore {
            log: Arc::new(Mutex::new(log)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MetadataLog> {
        // A panic while holding the lock leaves the log as consistent as the file; go on.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.lock().entries(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let log = self.lock();
        Ok(LogState {
            last_purged_log_id: log.last_purged_log_id(),
            last_log_id: log.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.lock()
            .save_vote(*vote)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().vote())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.lock()
            .save_committed(committed)
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock().committed())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = self.lock().append(entries);
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock()
            .truncate(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock()
            .purge(log_id)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
