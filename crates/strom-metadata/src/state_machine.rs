//! `MetadataStateMachine`: applies committed raft entries to the `MetadataImage`, publishes
//! each new image on a watch channel, and keeps the snapshot (the serialized image plus raft's
//! membership) in the `snapshot` file so a restart replays only the log after it.
//! The image itself is not persisted otherwise: raft replays committed entries on start.
//! Owns no openraft trait (state_machine_store.rs adapts it) and no record semantics (replay.rs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::MetadataError;
use crate::file_frame;
use crate::image::MetadataImage;
use crate::raft_types::{Entry, LogId, MetadataResponse, SnapshotMeta, StoredMembership};
use openraft::EntryPayload;

const SNAPSHOT_FILE: &str = "snapshot";

/// The snapshot file: raft's metadata about it plus the image.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    image: MetadataImage,
}

#[derive(Debug)]
pub(crate) struct MetadataStateMachine {
    snapshot_path: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    snapshot: Option<StoredSnapshot>,
    /// Distinguishes snapshots built at the same log id.
    snapshot_seq: u64,
    publisher: watch::Sender<Arc<MetadataImage>>,
}

impl MetadataStateMachine {
    /// Loads the snapshot in `dir`, if any, as the starting state.
    pub(crate) fn open(dir: &Path) -> Result<MetadataStateMachine, MetadataError> {
        std::fs::create_dir_all(dir).map_err(|e| MetadataError::io(dir, e))?;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot: Option<StoredSnapshot> = file_frame::read_single(&snapshot_path)?;
        let (image, last_applied, last_membership) = match &snapshot {
            Some(s) => (
                s.image.clone(),
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::default(), None, StoredMembership::default()),
        };
        let image = Arc::new(image);
        let (publisher, _) = watch::channel(Arc::clone(&image));
        Ok(MetadataStateMachine {
            snapshot_path,
            image,
            last_applied,
            last_membership,
            snapshot,
            snapshot_seq: 0,
            publisher,
        })
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.publisher.subscribe()
    }

    #[cfg(test)]
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image)
    }

    pub(crate) fn applied_state(&self) -> (Option<LogId>, StoredMembership) {
        (self.last_applied, self.last_membership.clone())
    }

    /// Applies committed entries in order, then publishes the new image once.
    pub(crate) fn apply(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Vec<MetadataResponse> {
        let image = Arc::make_mut(&mut self.image);
        let mut responses = Vec::new();
        for entry in entries {
            let response = match entry.payload {
                EntryPayload::Blank => MetadataResponse::default(),
                EntryPayload::Normal(request) => MetadataResponse {
                    results: request.records.iter().map(|r| image.apply(r)).collect(),
                },
                EntryPayload::Membership(membership) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    MetadataResponse::default()
                }
            };
            image.last_applied_offset = entry.log_id.index;
            self.last_applied = Some(entry.log_id);
            responses.push(response);
        }
        self.publish();
        responses
    }

    /// Records which node is the active controller (the raft leader); -1 for none.
    pub(crate) fn set_controller_id(&mut self, controller_id: i32) {
        if self.image.controller_id != controller_id {
            Arc::make_mut(&mut self.image).controller_id = controller_id;
            self.publish();
        }
    }

    /// Writes the current state as the snapshot and returns its meta and data.
    pub(crate) fn build_snapshot(&mut self) -> Result<(SnapshotMeta, Vec<u8>), MetadataError> {
        self.snapshot_seq += 1;
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, self.snapshot_seq),
            None => format!("none-{}", self.snapshot_seq),
        };
        let stored = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.last_membership.clone(),
                snapshot_id,
            },
            image: (*self.image).clone(),
        };
        let data = self.encode_image(&stored.image)?;
        file_frame::write_single(&self.snapshot_path, &stored)?;
        let meta = stored.meta.clone();
        self.snapshot = Some(stored);
        Ok((meta, data))
    }

    /// Replaces the state with a snapshot received from the leader.
    pub(crate) fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: &[u8],
    ) -> Result<(), MetadataError> {
        let image: MetadataImage = serde_json::from_slice(data)
            .map_err(|e| MetadataError::corrupt(&self.snapshot_path, e.to_string()))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            image,
        };
        file_frame::write_single(&self.snapshot_path, &stored)?;
        self.image = Arc::new(stored.image.clone());
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.snapshot = Some(stored);
        self.publish();
        Ok(())
    }

    /// The last snapshot written, as meta and data.
    pub(crate) fn current_snapshot(
        &self,
    ) -> Result<Option<(SnapshotMeta, Vec<u8>)>, MetadataError> {
        self.snapshot
            .as_ref()
            .map(|s| Ok((s.meta.clone(), self.encode_image(&s.image)?)))
            .transpose()
    }

    fn encode_image(&self, image: &MetadataImage) -> Result<Vec<u8>, MetadataError> {
        serde_json::to_vec(image)
            .map_err(|e| MetadataError::corrupt(&self.snapshot_path, e.to_string()))
    }

    fn publish(&self) {
        // send_replace never fails, even with no receiver left.
        self.publisher.send_replace(Arc::clone(&self.image));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{create_topic_records, NewTopic};
    use crate::error::TopicError;
    use crate::raft_types::MetadataRequest;
    use crate::record::MetadataRecord;
    use openraft::{BasicNode, CommittedLeaderId, Membership};
    use std::collections::BTreeSet;

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn normal(index: u64, records: Vec<MetadataRecord>) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: EntryPayload::Normal(MetadataRequest { records }),
        }
    }

    fn register(node_id: i32) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            node_id,
            host: "h".to_string(),
            port: 9092,
            rack: None,
        }
    }

    fn create(image: &MetadataImage, name: &str) -> MetadataRecord {
        let topic = NewTopic {
            name: name.to_string(),
            num_partitions: 2,
            replication_factor: 1,
            ..NewTopic::default()
        };
        create_topic_records(image, &topic, 1, 1).unwrap()
    }

    #[test]
    fn apply_rejects_without_changing_state_and_publishes() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = MetadataStateMachine::open(dir.path()).unwrap();
        let rx = sm.subscribe();
        let membership = Membership::<u64, BasicNode>::new(vec![BTreeSet::from([1])], None);
        let first = Entry {
            log_id: log_id(0),
            payload: EntryPayload::Membership(membership),
        };
        sm.apply([first, normal(1, vec![register(1)])]);
        let image = sm.image();
        let a = create(&image, "a");
        let a_again = create(&image, "a");
        let responses = sm.apply([normal(2, vec![a, a_again])]);
        assert_eq!(responses[0].results[0], Ok(()));
        assert_eq!(
            responses[0].results[1],
            Err(TopicError::TopicAlreadyExists("a".to_string()))
        );
        let image = rx.borrow().clone();
        assert_eq!(image.last_applied_offset, 2);
        assert_eq!(image.topics.len(), 1);
        assert_eq!(image.topic_ids.len(), 1);
        assert_eq!(sm.applied_state().0, Some(log_id(2)));
        assert_eq!(sm.applied_state().1.log_id(), &Some(log_id(0)));
    }

    #[test]
    fn snapshot_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = MetadataStateMachine::open(dir.path()).unwrap();
        sm.apply([normal(1, vec![register(1)])]);
        let record = create(&sm.image(), "t");
        sm.apply([normal(2, vec![record])]);
        let (meta, data) = sm.build_snapshot().unwrap();
        assert_eq!(meta.last_log_id, Some(log_id(2)));
        let before = sm.image();
        drop(sm);

        let sm = MetadataStateMachine::open(dir.path()).unwrap();
        assert_eq!(*sm.image(), *before);
        assert_eq!(sm.applied_state().0, Some(log_id(2)));
        assert_eq!(
            sm.current_snapshot().unwrap(),
            Some((meta.clone(), data.clone()))
        );

        // Installing that snapshot elsewhere yields the same image.
        let other = tempfile::tempdir().unwrap();
        let mut follower = MetadataStateMachine::open(other.path()).unwrap();
        follower.install_snapshot(&meta, &data).unwrap();
        assert_eq!(*follower.image(), *before);
    }
}
