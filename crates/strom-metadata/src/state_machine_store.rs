//! openraft's `RaftStateMachine` and `RaftSnapshotBuilder` for `MetadataStateMachine`: a thin
//! adapter that only forwards. Contract kept: `apply` returns one response per entry, in order;
//! a built or installed snapshot is on disk before the call returns; snapshot data is the
//! serialized `MetadataImage` (raft's membership travels in the snapshot meta).

use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{OptionalSend, RaftSnapshotBuilder, StorageIOError};

use crate::raft_types::{
    Entry, LogId, MetadataResponse, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::state_machine::MetadataStateMachine;

/// A shared handle on the state machine; `MetadataNode` keeps one to read the image, and clones
/// serve as snapshot builders.
#[derive(Clone, Debug)]
pub(crate) struct StateMachineStore {
    sm: Arc<Mutex<MetadataStateMachine>>,
}

impl StateMachineStore {
    pub(crate) fn new(sm: MetadataStateMachine) -> StateMachineStore {
        StateMachineStore {
            sm: Arc::new(Mutex::new(sm)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MetadataStateMachine> {
        // Poisoned only if a bug panicked mid-apply; carry on rather than panic again inside
        // raft's task.
        self.sm
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn snapshot(meta: SnapshotMeta, data: Vec<u8>) -> Snapshot<TypeConfig> {
    Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = self
            .lock()
            .build_snapshot()
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(snapshot(meta, data))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok(self.lock().applied_state())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MetadataResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        Ok(self.lock().apply(entries))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.lock()
            .install_snapshot(meta, snapshot.get_ref())
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e).into())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self
            .lock()
            .current_snapshot()
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(current.map(|(meta, data)| snapshot(meta, data)))
    }
}
