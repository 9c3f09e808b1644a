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

    /// Replicas outside the ISR that caught up with the leader's high watermark in this epoch and are
    /// `eligible` (Kafka's `isReplicaIsrEligible`: registered and not fenced in the leader's metadata image).
    /// A killed follower's last fetch position stays caught up while no new writes arrive, so without the
    /// eligibility check the leader would keep proposing a dead, fenced replica that the controller refuses
    /// (`INELIGIBLE_REPLICA`).
    fn caught_up_outside_isr(&self, eligible: impl Fn(i32) -> bool) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.isr.contains(r))
            .filter(|r| self.is_follower_in_sync(*r))
            .filter(|r| eligible(*r))
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
    /// adding caught-up `eligible` ones, or None when the ISR is right. Marks the change pending.
    fn maybe_shrink_or_expand_isr(
        &self,
        now_ms: i64,
        lag_ms: i64,
        eligible: impl Fn(i32) -> bool,
    ) -> Option<AlterPartitionRequest> {
        let local = self.local_broker_id;
        let mut state = self.state();
        if state.role != Role::Leader || state.isr_change_pending.is_some() {
            return None;
        }
        let lagging = state.out_of_sync_replicas(local, now_ms, lag_ms);
        let joining = state.caught_up_outside_isr(eligible);
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
        state.proposed_isr.clone_from(&new_isr);
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
    /// Only brokers the image shows registered and unfenced may join (the controller's own check, Kafka's
    /// `isReplicaIsrEligible`). A refused proposal clears the pending mark so the next round tries again.
    pub(crate) async fn maybe_update_isr(&self, metadata: &MetadataNode, now_ms: i64, lag_ms: i64) {
        let image = metadata.image();
        for partition in self.all() {
            let Some(request) =
                partition.maybe_shrink_or_expand_isr(now_ms, lag_ms, |r| image.alive(r))
            else {
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
                let mut state = partition.state();
                state.isr_change_pending = None;
                state.proposed_isr.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::FollowerProgress;
    use super::*;

    /// Leader 1 of replicas 1, 2, 3 with ISR [1] at high watermark 10; followers 2 and 3 both fetched up to 10.
    fn leader_with_caught_up_followers() -> ReplicaState {
        let mut s = ReplicaState::new();
        s.role = Role::Leader;
        s.leader_epoch = 1;
        s.replicas = vec![1, 2, 3];
        s.isr = vec![1];
        s.high_watermark = 10;
        for r in [2, 3] {
            let mut f = FollowerProgress::new(0);
            f.log_end_offset = 10;
            s.followers.insert(r, f);
        }
        s
    }

    /// A caught-up follower joins only when its broker is eligible (registered, unfenced): a killed broker's
    /// last fetch stays caught up while nothing is written, yet the leader must not propose it (Kafka's
    /// `isReplicaIsrEligible`); once eligible again it is proposed.
    #[test]
    fn only_eligible_caught_up_replicas_join_the_isr() {
        let s = leader_with_caught_up_followers();
        assert_eq!(s.caught_up_outside_isr(|_| true), vec![2, 3]);
        assert_eq!(
            s.caught_up_outside_isr(|r| r != 3),
            vec![2],
            "fenced 3 must not be proposed"
        );
        assert!(s.caught_up_outside_isr(|_| false).is_empty());

        // A follower behind the high watermark is not proposed, eligible or not.
        let mut s = leader_with_caught_up_followers();
        if let Some(f) = s.followers.get_mut(&2) {
            f.log_end_offset = 9;
        }
        assert_eq!(s.caught_up_outside_isr(|_| true), vec![3]);
    }
}
