//! What this broker is for one partition and what it knows of the others (Kafka keeps this inside its
//! `Partition`): the role, the leader and partition epochs, replicas and ISR, every follower's progress as the
//! leader sees it, and the high watermark. Pure data under the partition's state lock; nothing here touches
//! the log or waits. The ISR decisions over this state live in `isr.rs`; the leader and follower steps that
//! change it in `leader.rs` and `follower.rs`.

use std::collections::HashMap;

use super::PartitionError;

/// What this broker is for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Serves produce and fetch; tracks followers.
    Leader,
    /// Replicates from `leader`.
    Follower { leader: i32 },
    /// No leader is known (leader -1 in the image), or the partition was just opened.
    Offline,
}

/// Whether a step moved the leader's high watermark (Kafka's `LeaderHwChange`; its NONE, "nothing was
/// appended", has no use here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LeaderHwChange {
    Increased,
    #[default]
    Same,
}

/// A follower as the leader sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct FollowerProgress {
    /// The follower's log end offset (its last fetch offset); -1 until it fetches in this leader epoch.
    pub(super) log_end_offset: i64,
    /// Last time the follower had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    pub(super) last_caught_up_ms: i64,
    /// Leader log end offset and time at the follower's previous fetch.
    last_fetch_leader_end: i64,
    last_fetch_ms: i64,
}

impl FollowerProgress {
    /// A follower that has not fetched in this leader epoch yet; it counts as caught up at `now_ms`.
    pub(super) fn new(now_ms: i64) -> FollowerProgress {
        FollowerProgress {
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: -1,
            last_fetch_ms: now_ms,
        }
    }

    /// A fetch at `fetch_offset` while the leader's log ended at `leader_end` (Kafka's
    /// `Replica.updateFetchStateOrThrow`): caught up when it asked for the leader's end, or for at least what
    /// the leader had at its previous fetch (then it was caught up as of that fetch).
    fn on_fetch(&mut self, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        self.log_end_offset = fetch_offset;
        if fetch_offset >= leader_end {
            self.last_caught_up_ms = now_ms;
        } else if fetch_offset >= self.last_fetch_leader_end {
            self.last_caught_up_ms = self.last_caught_up_ms.max(self.last_fetch_ms);
        }
        self.last_fetch_leader_end = leader_end;
        self.last_fetch_ms = now_ms;
    }
}

/// Replication state of one partition on this broker.
#[derive(Clone, Debug)]
pub(super) struct ReplicaState {
    pub(super) role: Role,
    pub(super) leader_epoch: i32,
    pub(super) partition_epoch: i32,
    pub(super) replicas: Vec<i32>,
    pub(super) isr: Vec<i32>,
    /// Records below it are on every ISR member; consumers see nothing at or above it.
    pub(super) high_watermark: i64,
    /// The log end offset when this broker became leader; a follower rejoins the ISR only past it.
    pub(super) leader_epoch_start_offset: i64,
    pub(super) followers: HashMap<i32, FollowerProgress>,
    /// Partition epoch an ISR change was proposed against and is not applied yet.
    pub(super) isr_change_pending: Option<i32>,
    /// The ISR that change proposes (empty when none). Until the image has it, the high watermark also waits
    /// for its members: the quorum may already have committed it and elect one of them (Kafka's `maximalIsr`,
    /// KIP-497).
    pub(super) proposed_isr: Vec<i32>,
    /// `min.insync.replicas` of the topic.
    pub(super) min_insync_replicas: i32,
}

impl ReplicaState {
    pub(super) fn new() -> ReplicaState {
        ReplicaState {
            role: Role::Offline,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            high_watermark: 0,
            leader_epoch_start_offset: 0,
            followers: HashMap::new(),
            isr_change_pending: None,
            proposed_isr: Vec::new(),
            min_insync_replicas: 1,
        }
    }

    /// Kafka's check of a client-supplied `current_leader_epoch` (-1 skips it).
    pub(super) fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), PartitionError> {
        if current_leader_epoch < 0 || current_leader_epoch == self.leader_epoch {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch {
            Err(PartitionError::FencedLeaderEpoch)
        } else {
            Err(PartitionError::UnknownLeaderEpoch)
        }
    }

    /// The leader's view: Ok when this broker leads in the client's epoch.
    pub(super) fn check_leader(&self, current_leader_epoch: i32) -> Result<(), PartitionError> {
        self.check_epoch(current_leader_epoch)?;
        if self.role == Role::Leader {
            Ok(())
        } else {
            Err(PartitionError::NotLeaderOrFollower)
        }
    }

    /// Recomputes the leader's high watermark from the ISR's log end offsets; it never goes backwards
    /// (Kafka's `maybeIncrementLeaderHW`). `local` is this broker, whose end is `leader_end`.
    pub(super) fn advance_high_watermark(&mut self, local: i32, leader_end: i64) -> LeaderHwChange {
        if self.role != Role::Leader {
            return LeaderHwChange::Same;
        }
        let mut hw = leader_end;
        // The maximal ISR: the applied one plus any member a pending change adds.
        let proposed = self.proposed_isr.iter().filter(|r| !self.isr.contains(r));
        for member in self.isr.iter().chain(proposed) {
            if *member == local {
                continue;
            }
            let end = self.followers.get(member).map_or(-1, |f| f.log_end_offset);
            hw = hw.min(end);
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            LeaderHwChange::Increased
        } else {
            LeaderHwChange::Same
        }
    }

    /// On a leader: records a follower's fetch (Kafka's `updateFollowerFetchState`). Returns false, changing
    /// nothing, when this broker does not lead or `follower` is not a replica.
    pub(super) fn update_follower_fetch_state(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        if self.role != Role::Leader || !self.replicas.contains(&follower) {
            return false;
        }
        self.followers
            .entry(follower)
            .or_insert(FollowerProgress::new(now_ms))
            .on_fetch(fetch_offset, leader_end, now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leader 1 with followers 2 (at `end2`) and 3 (at `end3`), ISR `isr`.
    fn leader(isr: &[i32], end2: i64, end3: i64) -> ReplicaState {
        let mut s = ReplicaState::new();
        s.role = Role::Leader;
        s.leader_epoch = 1;
        s.replicas = vec![1, 2, 3];
        s.isr = isr.to_vec();
        for (r, end) in [(2, end2), (3, end3)] {
            let mut f = FollowerProgress::new(0);
            f.log_end_offset = end;
            s.followers.insert(r, f);
        }
        s
    }

    /// While an ISR expansion is proposed but not applied, the quorum may already have committed it and elect the
    /// joining replica: the high watermark waits for it too (Kafka's maximal ISR), so nothing acknowledged is
    /// missing from that replica. Without the pending change the ISR alone counts.
    #[test]
    fn high_watermark_counts_a_proposed_isr_member() {
        let mut s = leader(&[1, 2], 10, 6);
        s.isr_change_pending = Some(0);
        s.proposed_isr = vec![1, 2, 3];
        assert_eq!(s.advance_high_watermark(1, 10), LeaderHwChange::Increased);
        assert_eq!(s.high_watermark, 6, "the joining replica 3 has only 6");

        let mut s = leader(&[1, 2], 10, 6);
        assert_eq!(s.advance_high_watermark(1, 10), LeaderHwChange::Increased);
        assert_eq!(s.high_watermark, 10);

        // A pending shrink waits for the members it removes until it is applied (they stay in the ISR).
        let mut s = leader(&[1, 2, 3], 10, 6);
        s.isr_change_pending = Some(0);
        s.proposed_isr = vec![1, 2];
        s.advance_high_watermark(1, 10);
        assert_eq!(s.high_watermark, 6);
    }
}
