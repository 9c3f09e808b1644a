//! The follower side of a partition: the steps the replica fetcher (`replica_fetcher.rs`, Kafka's
//! `ReplicaFetcherThread`) takes on its local replica. Where the next fetch starts, appending the leader's
//! batches byte-for-byte and taking its high watermark (Kafka's `appendRecordsToFollowerOrFutureReplica`),
//! cutting a divergent tail after OffsetForLeaderEpoch (KIP-101/KIP-279), and starting over at the leader's
//! log start. The fetcher owns the network side and which partitions it follows; it never locks a log.

use strom_storage::{AppendError, SyncHandle};
use tracing::{info, warn};

use super::state::Role;
use super::Partition;

/// Where a follower's next fetch starts (Kafka's `PartitionFetchState`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FollowerFetchState {
    /// The local log end.
    pub(crate) fetch_offset: i64,
    /// The latest leader epoch in the local log, -1 when none.
    pub(crate) last_fetched_epoch: i32,
    pub(crate) log_start_offset: i64,
}

/// What became of the records a fetch brought back.
#[derive(Debug)]
pub(crate) enum FollowerAppend {
    /// The log was closed, or no longer ends where the fetch started: the data is dropped.
    Stale,
    /// Appended (when there was anything) and the leader's high watermark taken.
    Done {
        appended: bool,
        /// `write.caching=false`: to fsync before the next fetch reports the new log end to the leader.
        sync: Option<SyncHandle>,
    },
}

/// What a follower does when the leader answers its fetch with OFFSET_OUT_OF_RANGE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffsetOutOfRangeStep {
    /// It was behind the leader's log start and started over there (a failure is logged).
    StartedOverAtLeaderLogStart,
    /// Its tail diverged from the leader's: truncate through OffsetForLeaderEpoch before fetching again.
    Diverged,
}

impl Partition {
    /// The latest leader epoch in the local log (None when none, or the log is closed).
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.lock().as_ref().and_then(|log| log.latest_epoch())
    }

    /// Where the next fetch starts; None when the log is closed.
    pub(crate) fn follower_fetch_state(&self) -> Option<FollowerFetchState> {
        let guard = self.lock();
        let log = guard.as_ref()?;
        Some(FollowerFetchState {
            fetch_offset: log.log_end_offset(),
            last_fetched_epoch: log.latest_epoch().unwrap_or(-1),
            log_start_offset: log.log_start_offset(),
        })
    }

    /// Whether this broker still follows the partition in `leader_epoch` (leadership may move while a fetch
    /// is out).
    pub(crate) fn is_follower_in_epoch(&self, leader_epoch: i32) -> bool {
        let state = self.state();
        state.leader_epoch == leader_epoch && matches!(state.role, Role::Follower { .. })
    }

    /// Appends what a fetch from `fetch_offset` brought back, byte-for-byte, and takes the leader's high
    /// watermark (capped by what this replica has).
    pub(crate) fn append_records_as_follower(
        &self,
        fetch_offset: i64,
        records: Option<&[u8]>,
        leader_high_watermark: i64,
        now_ms: i64,
    ) -> Result<FollowerAppend, AppendError> {
        let mut guard = self.lock();
        let Some(log) = guard.as_mut() else {
            return Ok(FollowerAppend::Stale);
        };
        if log.log_end_offset() != fetch_offset {
            return Ok(FollowerAppend::Stale);
        }
        let mut appended = false;
        let mut sync = None;
        if let Some(records) = records.filter(|r| !r.is_empty()) {
            log.append_replicated(records, now_ms)?;
            appended = true;
            if !log.config().write_caching {
                match log.sync_handle() {
                    Ok(h) => sync = Some(h),
                    Err(e) => {
                        warn!(topic = %self.topic, partition = self.index, "fsync handle: {e}")
                    }
                }
            }
        }
        let end = log.log_end_offset();
        drop(guard);
        self.set_follower_high_watermark(leader_high_watermark, end);
        Ok(FollowerAppend::Done { appended, sync })
    }

    /// The leader answered a fetch from `fetch_offset` with OFFSET_OUT_OF_RANGE. Below its log start this
    /// replica starts over there (Kafka's `truncateFullyAndStartAt`); otherwise its tail diverged. None when
    /// the log is closed.
    pub(crate) fn on_offset_out_of_range(
        &self,
        fetch_offset: i64,
        leader_log_start: i64,
    ) -> Option<OffsetOutOfRangeStep> {
        let mut guard = self.lock();
        let log = guard.as_mut()?;
        if fetch_offset >= leader_log_start {
            return Some(OffsetOutOfRangeStep::Diverged);
        }
        // Behind the leader's log start: start over there.
        match log.truncate_fully_and_start_at(leader_log_start) {
            Ok(()) => {
                info!(topic = %self.topic, partition = self.index, start = leader_log_start, "follower restarts at the leader's log start");
                drop(guard);
                self.cap_high_watermark(leader_log_start);
            }
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, "restart at leader's log start failed: {e}")
            }
        }
        Some(OffsetOutOfRangeStep::StartedOverAtLeaderLogStart)
    }

    /// Cuts the follower's log where it diverges from the leader's: at the leader's end offset for the epoch
    /// it answered, or lower when this replica's own end for that epoch is lower (KIP-279).
    pub(crate) fn truncate_to_epoch_end_offset(&self, epoch: i32, leader_end: i64) {
        let mut guard = self.lock();
        let Some(log) = guard.as_mut() else { return };
        let log_end = log.log_end_offset();
        let target = if epoch < 0 || leader_end < 0 {
            // The leader knows nothing of our epochs: keep only what is known to be committed.
            self.state().high_watermark.min(log_end)
        } else {
            let (our_epoch, our_end) = log.end_offset_for_epoch(epoch);
            if our_epoch == epoch && our_end >= 0 {
                leader_end.min(our_end)
            } else {
                leader_end
            }
        };
        if target < log_end {
            match log.truncate_to(target) {
                Ok(end) => {
                    info!(topic = %self.topic, partition = self.index, from = log_end, to = end, "truncated divergent log tail");
                    self.cap_high_watermark(end);
                }
                Err(e) => {
                    warn!(topic = %self.topic, partition = self.index, "truncation failed: {e}")
                }
            }
        }
    }

    /// On a follower: the leader's high watermark, capped by what this replica has.
    fn set_follower_high_watermark(&self, leader_hw: i64, log_end: i64) {
        let mut state = self.state();
        if matches!(state.role, Role::Follower { .. }) {
            state.high_watermark = leader_hw.min(log_end).max(0);
        }
    }

    /// Lowers the high watermark after a truncation below it.
    fn cap_high_watermark(&self, log_end: i64) {
        let mut state = self.state();
        state.high_watermark = state.high_watermark.min(log_end);
    }
}
