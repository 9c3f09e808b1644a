//! Which groups this broker coordinates (Kafka's `GroupCoordinatorService.onElection` / `onResignation` and
//! `GroupMetadataManager`'s load): when this broker becomes leader of a `__consumer_offsets` partition it
//! replays that partition into the state machine and starts answering for its groups; when leadership leaves it
//! forgets them, and their clients get NOT_COORDINATOR and look the coordinator up again. Also answers which
//! broker coordinates a group (FindCoordinator). Part of `GroupCoordinatorService`'s split `impl`; request
//! handling and persisting are in `group_coordinator.rs`.

use strom_group::Record;
use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::records::RecordBatchDecoder;
use tracing::{error, info, warn};

use super::{GroupCoordinatorService, OFFSETS_TOPIC};
use crate::error_code::Code;
use crate::partition::{Partition, Role};

/// How much of `__consumer_offsets` one read brings in while loading.
const LOAD_CHUNK_BYTES: usize = 1 << 20;

impl GroupCoordinatorService {
    /// Leadership of a `__consumer_offsets` partition changed: load its groups when this broker now leads it,
    /// forget them otherwise (clients get NOT_COORDINATOR and look the coordinator up again).
    pub(crate) fn on_role_change(&self, partition: &Partition, role: Role) {
        if partition.topic != OFFSETS_TOPIC {
            return;
        }
        let index = partition.index;
        if role == Role::Leader {
            self.load(partition);
            self.lock().owned.insert(index);
            info!(
                partition = index,
                "coordinating the groups of {OFFSETS_TOPIC} partition"
            );
        } else {
            let mut inner = self.lock();
            if inner.owned.remove(&index) {
                let n = self.num_partitions;
                let dropped = inner
                    .coordinator
                    .unload(|group| strom_group::partition_for(group, n) != index);
                // Waiting JoinGroup/SyncGroup calls of moved groups get COORDINATOR_NOT_AVAILABLE and retry.
                inner.waiters.clear();
                info!(
                    partition = index,
                    groups = dropped,
                    "no longer coordinating {OFFSETS_TOPIC} partition"
                );
            }
        }
    }

    /// NOT_COORDINATOR unless this broker coordinates `group_id` (leads its `__consumer_offsets` partition).
    pub(crate) fn check_coordinator(&self, group_id: &str) -> Result<(), Code> {
        let index = strom_group::partition_for(group_id, self.num_partitions);
        if self.lock().owned.contains(&index) {
            Ok(())
        } else {
            Err(Code::NotCoordinator)
        }
    }

    /// True once this broker has loaded the `__consumer_offsets` partition of `group_id` and answers for it.
    pub(crate) fn has_loaded(&self, group_id: &str) -> bool {
        let index = strom_group::partition_for(group_id, self.num_partitions);
        self.lock().owned.contains(&index)
    }

    /// The broker coordinating `group_id`: the leader of its `__consumer_offsets` partition.
    pub(crate) fn coordinator_of(
        &self,
        image: &strom_metadata::MetadataImage,
        group_id: &str,
    ) -> Result<(i32, String, i32), Code> {
        let index = strom_group::partition_for(group_id, self.num_partitions);
        let leader = image
            .topic(OFFSETS_TOPIC)
            .and_then(|t| t.partitions.get(&index))
            .map_or(-1, |p| p.leader);
        image
            .brokers
            .get(&leader)
            .filter(|b| !b.fenced)
            .map(|b| (b.node_id, b.host.clone(), b.port))
            .ok_or(Code::CoordinatorNotAvailable)
    }

    /// Replays one partition of `__consumer_offsets` into the state machine, in log order, holding the state
    /// machine for the whole load so no request sees half of it.
    fn load(&self, partition: &Partition) {
        let index = partition.index;
        let now = now_ms();
        let mut inner = self.lock();
        let mut loaded = 0usize;
        let read = partition.read_local_log(LOAD_CHUNK_BYTES, |mut offset, mut buf| {
            while !buf.is_empty() {
                let set = match RecordBatchDecoder::decode(&mut buf) {
                    Ok(set) => set,
                    Err(e) => {
                        error!(
                            partition = index,
                            offset, "undecodable batch in {OFFSETS_TOPIC}: {e}"
                        );
                        break;
                    }
                };
                for r in set.records {
                    offset = offset.max(r.offset + 1);
                    let Some(key) = r.key.as_deref() else {
                        continue;
                    };
                    if r.control {
                        // A transaction marker (key: version, type 0 ABORT / 1 COMMIT) ends the producer's
                        // pending offsets in this partition's groups.
                        if let [_, _, 0, kind @ (0 | 1)] = key {
                            let n = self.num_partitions;
                            inner.coordinator.complete_txn(
                                r.producer_id,
                                *kind == 1,
                                |group| strom_group::partition_for(group, n) == index,
                                now,
                            );
                        }
                        continue;
                    }
                    match Record::decode(key, r.value.as_deref()) {
                        Ok(Some(record)) if r.transactional => {
                            inner.coordinator.replay_txn_offset(&record, r.producer_id);
                            loaded += 1;
                        }
                        Ok(Some(record)) => {
                            inner.coordinator.replay(&record, now);
                            loaded += 1;
                        }
                        Ok(None) => {}
                        Err(e) => warn!(
                            partition = index,
                            offset = r.offset,
                            "skipping unreadable record: {e}"
                        ),
                    }
                }
            }
            offset
        });
        if let Err((offset, e)) = read {
            error!(
                partition = index,
                offset, "reading {OFFSETS_TOPIC} failed: {e}"
            );
        }
        if loaded > 0 {
            info!(
                records = loaded,
                "loaded group metadata and committed offsets"
            );
        }
    }
}
