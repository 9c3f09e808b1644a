//! Which transactional ids this broker coordinates (Kafka's `TransactionCoordinator.onElection` /
//! `onResignation` and `TransactionStateManager`'s load): when this broker becomes leader of a
//! `__transaction_state` partition it replays that partition into the state machine, starts answering for
//! its transactional ids, and writes the markers of the transactions the previous coordinator left in
//! PrepareCommit/PrepareAbort; when leadership leaves it forgets them (clients get NOT_COORDINATOR and look
//! the coordinator up again, marker writers of the old epoch stop). Also answers which broker coordinates a
//! transactional id (FindCoordinator). Part of `TxnCoordinatorService`'s split `impl`.

use std::sync::Arc;

use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::records::RecordBatchDecoder;
use strom_txn::TxnRecord;
use tracing::{error, info, warn};

use super::{TxnCoordinatorService, TRANSACTION_STATE_TOPIC};
use crate::error_code::Code;
use crate::partition::{Partition, Role};

/// How much of `__transaction_state` one read brings in while loading (Kafka's
/// `transaction.state.log.load.buffer.size`).
const LOAD_CHUNK_BYTES: usize = 5 << 20;

impl TxnCoordinatorService {
    /// Leadership of a `__transaction_state` partition changed: load it when this broker now leads it,
    /// forget its transactions otherwise.
    pub(crate) fn on_role_change(self: &Arc<Self>, partition: &Partition, role: Role) {
        if partition.topic != TRANSACTION_STATE_TOPIC {
            return;
        }
        let index = partition.index;
        if role == Role::Leader {
            let epoch = partition.leader_epoch();
            let resumed = {
                let mut inner = self.lock();
                let n = self.num_partitions;
                // A reload in a new epoch starts from the log alone.
                inner
                    .coordinator
                    .unload(|id| strom_txn::partition_for(id, n) != index);
                let loaded = Self::load(&mut inner.coordinator, partition);
                inner.owned.insert(index, epoch);
                let resumed = inner
                    .coordinator
                    .resume_prepared(|id| strom_txn::partition_for(id, n) == index, now_ms());
                info!(
                    partition = index,
                    coordinator_epoch = epoch,
                    records = loaded,
                    resumed = resumed.len(),
                    "coordinating the transactions of {TRANSACTION_STATE_TOPIC} partition"
                );
                resumed
            };
            for plan in resumed {
                self.spawn_markers(plan, index, epoch);
            }
        } else {
            let mut inner = self.lock();
            if inner.owned.remove(&index).is_some() {
                let n = self.num_partitions;
                let dropped = inner
                    .coordinator
                    .unload(|id| strom_txn::partition_for(id, n) != index);
                info!(
                    partition = index,
                    transactions = dropped,
                    "no longer coordinating {TRANSACTION_STATE_TOPIC} partition"
                );
            }
        }
    }

    /// Whether this broker still coordinates `partition` in `epoch` (marker writers stop when not).
    pub(super) fn owns(&self, partition: i32, epoch: i32) -> bool {
        self.lock().owned.get(&partition) == Some(&epoch)
    }

    /// The broker coordinating `transactional_id`: the leader of its `__transaction_state` partition.
    pub(crate) fn coordinator_of(
        &self,
        image: &strom_metadata::MetadataImage,
        transactional_id: &str,
    ) -> Result<(i32, String, i32), Code> {
        let index = self.partition_of(transactional_id);
        let leader = image
            .topic(TRANSACTION_STATE_TOPIC)
            .and_then(|t| t.partitions.get(&index))
            .map_or(-1, |p| p.leader);
        image
            .brokers
            .get(&leader)
            .filter(|b| !b.fenced)
            .map(|b| (b.node_id, b.host.clone(), b.port))
            .ok_or(Code::CoordinatorNotAvailable)
    }

    /// Replays one partition of `__transaction_state` into the state machine, in log order (the last record
    /// of a transactional id wins; a tombstone removes it). Returns how many records were read.
    fn load(coordinator: &mut strom_txn::TxnCoordinator, partition: &Partition) -> usize {
        let index = partition.index;
        let mut loaded = 0usize;
        let read = partition.read_local_log(LOAD_CHUNK_BYTES, |mut offset, mut buf| {
            while !buf.is_empty() {
                let set = match RecordBatchDecoder::decode(&mut buf) {
                    Ok(set) => set,
                    Err(e) => {
                        error!(
                            partition = index,
                            offset, "undecodable batch in {TRANSACTION_STATE_TOPIC}: {e}"
                        );
                        break;
                    }
                };
                for r in set.records {
                    offset = offset.max(r.offset + 1);
                    let Some(key) = r.key.as_deref() else {
                        continue;
                    };
                    match TxnRecord::decode(key, r.value.as_deref()) {
                        Ok(Some(record)) => {
                            coordinator.replay(&record);
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
                offset, "reading {TRANSACTION_STATE_TOPIC} failed: {e}"
            );
        }
        loaded
    }
}
