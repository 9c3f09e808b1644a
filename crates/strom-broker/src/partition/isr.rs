//! The in-sync replica set as the leader manages it (Kafka's `Partition.maybeShrinkIsr` / `maybeExpandIsr` and
//! `ReplicaManager`'s isr-expiration task): followers that have not caught up within `replica.lag.time.max.ms`
//! leave, followers that caught up with the high watermark in this leader epoch join. The leader never changes
//! its ISR itself: it proposes an AlterPartition record to the metadata quorum and takes the new ISR from the
//! image like every other change, so at most one proposal per partition is in flight
//! (`isr_change_pending`). The broker's ISR task (in `broker.rs`) calls [`ReplicaManager::maybe_update_isr`]
//! on a timer and when a follower fetch says the ISR may grow.

use strom_metadata::{AlterPartitionRequest, MetadataNode};
use tracing::{info, warn};

use super::state::{ReplicaState, Role};
use super::{Partition, ReplicaManager};

impl ReplicaState {
    /// ISR members other than `local` that have not caught up within `lag_ms` (Kafka's
    /// `getOutOfSyncReplicas`).
    fn out_of_sync_replicas(&self, local: i32, now_ms: i64, lag_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|m| *m != local)
            .filter(|m| {
                self.followers
                    .get(m)
                    .is_none_or(|f| now_ms - f.last_caught_up_ms > lag_ms)
            })
            .collect()
    }

    /// Whether replica `r` has caught up with the leader's high watermark in this epoch (Kafka's
    /// `isFollowerInSync`).
    fn is_follower_in_sync(&self, r: i32) -> bool {
        self.followers.get(&r).is_some_and(|f| {
            f.log_end_offset >= self.high_watermark
                && f.log_end_offset >= self.leader_epoch_start_offset
        })
    }

    /// Replicas outside the ISR that caught up with the leader's high watermark in this epoch.
    fn caught_up_outside_isr(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.isr.contains(r))
            .filter(|r| self.is_follower_in_sync(*r))
            .collect()
    }

    /// After a fetch by replica `follower`: whether proposing it into the ISR is worth waking the ISR task
    /// (Kafka's `needsExpandIsr`). Allocates nothing: it runs on every follower fetch.
    pub(super) fn needs_expand_isr(&self, follower: i32) -> bool {
        self.isr_change_pending.is_none()
            && !self.isr.contains(&follower)
            && self.replicas.contains(&follower)
            && self.is_follower_in_sync(follower)
    }
}

impl Partition {
    /// On a leader with no ISR change in flight: the AlterPartition request dropping lagging followers and
    /// adding caught-up ones, or None when the ISR is right. Marks the change pending.
    fn maybe_shrink_or_expand_isr(
        &self,
        now_ms: i64,
        lag_ms: i64,
    ) -> Option<AlterPartitionRequest> {
        let local = self.local_broker_id;
        let mut state = self.state();
        if state.role != Role::Leader || state.isr_change_pending.is_some() {
            return None;
        }
        let lagging = state.out_of_sync_replicas(local, now_ms, lag_ms);
        let joining = state.caught_up_outside_isr();
        if lagging.is_empty() && joining.is_empty() {
            return None;
        }
        let mut new_isr: Vec<i32> = state
            .replicas
            .iter()
            .copied()
            .filter(|r| (state.isr.contains(r) && !lagging.contains(r)) || joining.contains(r))
            .collect();
        if !new_isr.contains(&local) {
            new_isr.insert(0, local);
        }
        state.isr_change_pending = Some(state.partition_epoch);
        Some(AlterPartitionRequest {
            topic_id: self.topic_id,
            partition: self.index,
            leader_id: local,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            new_isr,
        })
    }
}

impl ReplicaManager {
    /// Proposes ISR changes for the partitions this broker leads: followers that fell behind for longer than
    /// `lag_ms` (`replica.lag.time.max.ms`) leave, followers that caught up join (Kafka's AlterPartition).
    /// A refused proposal clears the pending mark so the next round tries again.
    pub(crate) async fn maybe_update_isr(&self, metadata: &MetadataNode, now_ms: i64, lag_ms: i64) {
        let image = metadata.image();
        for partition in self.all() {
            let Some(request) = partition.maybe_shrink_or_expand_isr(now_ms, lag_ms) else {
                continue;
            };
            info!(topic = %partition.topic, partition = partition.index, isr = ?request.new_isr, "proposing ISR change");
            let result = match strom_metadata::alter_partition_records(&image, &request) {
                Ok(record) => match metadata.propose(vec![record]).await {
                    Ok(mut results) => results.pop().unwrap_or(Ok(())).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                warn!(topic = %partition.topic, partition = partition.index, "ISR change refused: {e}");
                partition.state().isr_change_pending = None;
            }
        }
    }
}
