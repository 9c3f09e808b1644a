//! The leader side of a partition (Kafka's `Partition.appendRecordsToLeader`, `fetchRecords`,
//! `fetchOffsetForTimestamp`, `lastOffsetForLeaderEpoch`, `deleteRecordsOnLeader`, and the conditions of its
//! `DelayedProduce`). Each public step takes the log lock, then (if at all) the state lock, once, and returns
//! what the caller needs to build its answer or a [`PartitionError`]; what an answer still waits for after
//! the lock is released (the ISR reaching the records, an fsync) comes back as a [`DelayedProduce`].
//! Request decoding and response building stay in `api/`; error codes in `error_code.rs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strom_storage::batch::ControlMarker;
use strom_storage::{AbortedTxn, AppendInfo, CleanupPolicy, FileSlice, ReadError, TimestampOffset};

use super::state::{LeaderHwChange, Role};
use super::{Partition, PartitionError, TxnAppendCheck};

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
/// KIP-734.
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: the local log start, which is the log start as nothing is tiered.
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// Tiered storage's pending uploads: there are none, so no offset (-1), as Kafka answers without tiering.
const EARLIEST_PENDING_UPLOAD_TIMESTAMP: i64 = -5;

/// Who appends as leader, which decides what the append checks first and what its answer waits for
/// (Kafka's `AppendOrigin` with the request's `requiredAcks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendOrigin {
    /// A producer. acks=-1 needs `min.insync.replicas` in the ISR before the append (else
    /// NOT_ENOUGH_REPLICAS) and waits for the high watermark to pass the records; with
    /// `write.caching=false` every acks≠0 append is fsynced before the answer.
    Client { acks: i16 },
    /// The group coordinator's records in `__consumer_offsets`: no ISR-size check before the append, no
    /// fsync, and a wait for the high watermark (a commit is acknowledged once the ISR has it).
    Coordinator,
}

/// A successful leader append.
pub(crate) struct LeaderAppend {
    /// What the log assigned: offsets, append time, log start, whether it was an idempotent duplicate.
    pub(crate) info: AppendInfo,
    /// What the answer still waits for; None when it can go out now.
    pub(crate) delayed: Option<DelayedProduce>,
}

/// What a leader append's answer waits for once the log lock is released (the conditions of Kafka's
/// `DelayedProduce`): the fsync (`write.caching=false`) and the ISR reaching the records (acks=all, and every
/// coordinator append). Both waits end early when this broker stops leading in the append's leader epoch.
pub(crate) struct DelayedProduce {
    partition: Arc<Partition>,
    /// The offset after the appended records: the high watermark (or the durable end) must reach it
    /// (Kafka's `requiredOffset`).
    required_offset: i64,
    leader_epoch: i32,
    fsync: bool,
    replicated: bool,
}

impl DelayedProduce {
    /// With `write.caching=false`: returns once the appended records are fsynced. At once otherwise.
    pub(crate) async fn wait_durable(&self) -> Result<(), PartitionError> {
        if !self.fsync {
            return Ok(());
        }
        self.partition
            .wait_durable(self.required_offset, self.leader_epoch)
            .await
    }

    /// For acks=all and the coordinator: returns once every ISR member has the records (Kafka's
    /// `checkEnoughReplicasReachOffset`). NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT
    /// after `timeout`, NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below `min.insync.replicas`
    /// meanwhile. At once for acks=0/1.
    pub(crate) async fn wait_replicated(&self, timeout: Duration) -> Result<(), PartitionError> {
        if !self.replicated {
            return Ok(());
        }
        self.partition
            .wait_for_high_watermark(self.required_offset, self.leader_epoch, timeout)
            .await
    }
}

/// Which end of the log a leader answers with (Kafka's `FetchIsolation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FetchIsolation {
    /// A follower's own request: everything up to the log end.
    LogEnd,
    /// A client's: only what is committed, below the high watermark.
    HighWatermark,
    /// A read_committed client's: below the last stable offset (no open transaction's records).
    TxnCommitted,
}

/// One partition of a Fetch request as the leader serves it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FetchPartition {
    /// The fetching follower's broker id; None for a consumer. A follower reads up to the log end and its
    /// fetch offset is its progress (which moves the high watermark and may grow the ISR).
    pub(crate) replica_id: Option<i32>,
    pub(crate) fetch_offset: i64,
    /// -1 skips the check.
    pub(crate) current_leader_epoch: i32,
    pub(crate) max_bytes: usize,
    /// KIP-74: the first batch comes whole even when it is larger than `max_bytes`.
    pub(crate) min_one_message: bool,
    /// isolation_level=read_committed (a consumer only): read below the last stable offset and
    /// collect the aborted transactions of the range.
    pub(crate) read_committed: bool,
    pub(crate) now_ms: i64,
}

/// What a leader read found (Kafka's `LogReadResult`).
#[derive(Debug)]
pub(crate) struct LogReadResult<T> {
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) log_start_offset: i64,
    /// read_committed only: the aborted transactions overlapping the fetched range.
    pub(crate) aborted_transactions: Option<Vec<AbortedTxn>>,
    /// The caller's view of the stored batches, or why there are none (OFFSET_OUT_OF_RANGE, I/O). The
    /// high watermark and log start are valid either way and go into the answer.
    pub(crate) records: Result<T, ReadError>,
}

/// What follower fetches changed on the leader, gathered over one Fetch request so parked fetches and the
/// ISR task are woken once per request (`ReplicaManager::complete_follower_fetches`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FollowerFetchUpdates {
    pub(super) leader_hw_change: LeaderHwChange,
    pub(super) isr_may_expand: bool,
}

impl Partition {
    /// Appends `records` as this partition's leader (Kafka's `appendRecordsToLeader`): checks leadership
    /// and, for acks=-1, the ISR size; appends byte-for-byte (the log assigns offsets and stamps the leader
    /// epoch); moves the high watermark when the ISR is only this broker. The caller wakes parked fetches
    /// once per request.
    pub(crate) fn append_records_to_leader(
        self: &Arc<Self>,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<LeaderAppend, PartitionError> {
        self.append_checked_records_to_leader(records, origin, now_ms, None)
    }

    /// [`Partition::append_records_to_leader`] of a transactional produce with KIP-890 verification on:
    /// `check` (`verification.rs`) must pass under the same log lock as the append, and a successful append
    /// ends the producer's check.
    pub(crate) fn append_verified_records_to_leader(
        self: &Arc<Self>,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
        check: &TxnAppendCheck,
    ) -> Result<LeaderAppend, PartitionError> {
        self.append_checked_records_to_leader(records, origin, now_ms, Some(check))
    }

    fn append_checked_records_to_leader(
        self: &Arc<Self>,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
        check: Option<&TxnAppendCheck>,
    ) -> Result<LeaderAppend, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Closed)?;
        let leader_epoch = {
            let state = self.state();
            state.check_leader(-1)?;
            if origin == (AppendOrigin::Client { acks: -1 })
                && (state.isr.len() as i32) < state.min_insync_replicas
            {
                return Err(PartitionError::NotEnoughReplicas);
            }
            state.leader_epoch
        };
        if let Some(check) = check {
            self.check_txn_append(log, check)?;
        }
        let appended = match origin {
            AppendOrigin::Client { .. } => {
                log.append_as_leader(records, now_ms, leader_epoch.max(0))
            }
            AppendOrigin::Coordinator => {
                log.append_as_coordinator(records, now_ms, leader_epoch.max(0))
            }
        };
        let info = match appended {
            Ok(info) => info,
            Err(error) => {
                return Err(PartitionError::Append {
                    error,
                    log_start_offset: log.log_start_offset(),
                })
            }
        };
        if let Some(check) = check.filter(|_| !info.duplicate) {
            self.clear_txn_verification(check.producer_id);
        }
        let log_end = log.log_end_offset();
        let write_caching = log.config().write_caching;
        drop(guard);
        self.after_leader_append(log_end);
        let (fsync, replicated) = match origin {
            AppendOrigin::Client { acks } => (!write_caching && acks != 0, acks == -1),
            AppendOrigin::Coordinator => (false, true),
        };
        let delayed = (fsync || replicated).then(|| DelayedProduce {
            partition: Arc::clone(self),
            required_offset: info.last_offset + 1,
            leader_epoch,
            fsync,
            replicated,
        });
        Ok(LeaderAppend { info, delayed })
    }

    /// WriteTxnMarkers on this partition's leader (Kafka's `appendAsLeader` of an end-transaction marker
    /// with origin COORDINATOR): appends the control batch ending `producer_id`'s transaction; the answer
    /// waits until the ISR has it, like a coordinator append (Kafka writes markers with acks=all).
    pub(crate) fn append_txn_marker(
        self: &Arc<Self>,
        producer_id: i64,
        producer_epoch: i16,
        marker: ControlMarker,
        now_ms: i64,
    ) -> Result<LeaderAppend, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Closed)?;
        let leader_epoch = {
            let state = self.state();
            state.check_leader(-1)?;
            state.leader_epoch
        };
        let info = log
            .append_txn_marker(
                producer_id,
                producer_epoch,
                marker,
                leader_epoch.max(0),
                now_ms,
            )
            .map_err(|error| PartitionError::Append {
                error,
                log_start_offset: log.log_start_offset(),
            })?;
        // The transaction ended here: a check started before the marker can no longer let a batch in.
        self.clear_txn_verification(producer_id);
        let log_end = log.log_end_offset();
        drop(guard);
        self.after_leader_append(log_end);
        let delayed = Some(DelayedProduce {
            partition: Arc::clone(self),
            required_offset: info.last_offset + 1,
            leader_epoch,
            fsync: false,
            replicated: true,
        });
        Ok(LeaderAppend { info, delayed })
    }

    /// After a leader append of records up to `log_end`: a single-member ISR moves the high watermark at once.
    fn after_leader_append(&self, log_end: i64) -> LeaderHwChange {
        let change = self
            .state()
            .advance_high_watermark(self.local_broker_id, log_end);
        if change == LeaderHwChange::Increased {
            self.notify_changed();
        }
        change
    }

    /// Serves one partition of a Fetch as leader (Kafka's `fetchRecords`): checks leadership in the
    /// client's epoch; for a follower records its progress (high watermark, ISR hints into `updates`) and
    /// reads up to the log end, for a consumer below the high watermark. `read` turns the found slice into
    /// the caller's records while the log lock is still held (a copy, or a placeholder for sendfile).
    pub(crate) fn fetch_records<T>(
        &self,
        fetch: &FetchPartition,
        updates: &mut FollowerFetchUpdates,
        read: impl FnOnce(Option<FileSlice>) -> Result<T, ReadError>,
    ) -> Result<LogReadResult<T>, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Closed)?;
        let log_end = log.log_end_offset();
        // One look at the replication state: the leader check, the follower's progress, the high watermark.
        let (high_watermark, hw_change) = {
            let mut state = self.state();
            state.check_leader(fetch.current_leader_epoch)?;
            let mut change = LeaderHwChange::Same;
            if let Some(follower) = fetch.replica_id {
                if state.update_follower_fetch_state(
                    follower,
                    fetch.fetch_offset,
                    log_end,
                    fetch.now_ms,
                ) {
                    change = state.advance_high_watermark(self.local_broker_id, log_end);
                    updates.isr_may_expand |= state.needs_expand_isr(follower);
                }
            }
            (state.high_watermark, change)
        };
        if hw_change == LeaderHwChange::Increased {
            self.notify_changed();
            updates.leader_hw_change = LeaderHwChange::Increased;
        }
        // Without transactions in this log this is the high watermark after one check.
        let last_stable_offset = log.last_stable_offset(high_watermark);
        let max_offset = if fetch.replica_id.is_some() {
            log_end
        } else if fetch.read_committed {
            last_stable_offset
        } else {
            high_watermark
        };
        // Kafka bounds the list by the end of the fetched data; the LSO bound is a superset, and
        // clients ignore aborted transactions that start past what they read.
        let aborted_transactions = (fetch.read_committed && fetch.replica_id.is_none())
            .then(|| log.aborted_transactions(fetch.fetch_offset, max_offset));
        let records = log
            .read_slice(
                fetch.fetch_offset,
                fetch.max_bytes,
                max_offset,
                fetch.min_one_message,
            )
            .and_then(|found| read(found.records));
        Ok(LogReadResult {
            high_watermark,
            last_stable_offset,
            log_start_offset: log.log_start_offset(),
            aborted_transactions,
            records,
        })
    }

    /// ListOffsets as leader (Kafka's `fetchOffsetForTimestamp`): latest (-1: the high watermark, the last
    /// stable offset for read_committed, or the log end for a follower), earliest (-2) and earliest-local (-4: the log start), max-timestamp (-3),
    /// earliest-pending-upload (-5: none), or the first offset whose timestamp is at or after `timestamp`.
    /// None when there is no such offset.
    pub(crate) fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
        isolation: FetchIsolation,
        current_leader_epoch: i32,
    ) -> Result<Option<TimestampOffset>, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Closed)?;
        let high_watermark = {
            let state = self.state();
            state.check_leader(current_leader_epoch)?;
            state.high_watermark
        };
        let offset = |offset| {
            Some(TimestampOffset {
                timestamp: -1,
                offset,
            })
        };
        Ok(match timestamp {
            LATEST_TIMESTAMP => offset(match isolation {
                FetchIsolation::LogEnd => log.log_end_offset(),
                FetchIsolation::HighWatermark => high_watermark,
                FetchIsolation::TxnCommitted => log.last_stable_offset(high_watermark),
            }),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => offset(log.log_start_offset()),
            EARLIEST_PENDING_UPLOAD_TIMESTAMP => None,
            MAX_TIMESTAMP => log.max_timestamp()?,
            ts if ts < 0 => return Err(PartitionError::UnknownOffsetSpec(ts)),
            ts => log.offset_for_timestamp(ts)?,
        })
    }

    /// OffsetForLeaderEpoch as leader (Kafka's `lastOffsetForLeaderEpoch`): the largest epoch at or below
    /// `leader_epoch` this log knows and the offset where it ends, after the client's epoch check.
    pub(crate) fn last_offset_for_leader_epoch(
        &self,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> Result<(i32, i64), PartitionError> {
        let guard = self.lock();
        let log = guard.as_ref().ok_or(PartitionError::Closed)?;
        self.state().check_leader(current_leader_epoch)?;
        Ok(log.end_offset_for_epoch(leader_epoch))
    }

    /// DeleteRecords as leader (Kafka's `deleteRecordsOnLeader`): only the leader deletes (else
    /// NOT_LEADER_OR_FOLLOWER); a log that compacts without deleting refuses (POLICY_VIOLATION); -1 means the
    /// high watermark; an offset below zero or above the high watermark is OFFSET_OUT_OF_RANGE (Kafka's
    /// `maybeIncrementLogStartOffset`). Moves the log start to the offset and returns the new one (the low
    /// watermark).
    pub(crate) fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Closed)?;
        let high_watermark = {
            let state = self.state();
            state.check_leader(-1)?;
            state.high_watermark
        };
        if log.config().cleanup_policy == CleanupPolicy::Compact {
            return Err(PartitionError::PolicyViolation(format!(
                "Records of partition {}-{} can not be deleted due to the configured policy",
                self.topic, self.index
            )));
        }
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(PartitionError::OffsetOutOfRange {
                log_start_offset: log.log_start_offset(),
            });
        }
        Ok(log.delete_records_before(offset)?)
    }

    /// Reads the whole local log, start to end, in chunks of up to `chunk_bytes` (whole batches), under one
    /// hold of the log lock so nothing is appended or cleaned in between (the group coordinator's load).
    /// `consume` gets each chunk with its offset and returns the offset to read next; reading stops at the
    /// end, at an empty chunk or when `consume` does not move forward. A closed log reads as empty. A read
    /// error ends it, with the offset it happened at.
    pub(crate) fn read_local_log(
        &self,
        chunk_bytes: usize,
        mut consume: impl FnMut(i64, Bytes) -> i64,
    ) -> Result<(), (i64, ReadError)> {
        let guard = self.lock();
        let Some(log) = guard.as_ref() else {
            return Ok(());
        };
        let end = log.log_end_offset();
        let mut offset = log.log_start_offset();
        while offset < end {
            let data = log
                .read(offset, chunk_bytes, end, true)
                .map_err(|e| (offset, e))?;
            if data.records.is_empty() {
                break;
            }
            let before = offset;
            offset = consume(offset, data.records);
            if offset <= before {
                // An undecodable batch: skip nothing silently, but do not loop forever.
                break;
            }
        }
        Ok(())
    }

    /// Waits until the high watermark reaches `required` while this broker still leads in `leader_epoch`.
    async fn wait_for_high_watermark(
        &self,
        required: i64,
        leader_epoch: i32,
        timeout: Duration,
    ) -> Result<(), PartitionError> {
        let mut changed = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            {
                let state = self.state();
                if state.role != Role::Leader || state.leader_epoch != leader_epoch {
                    return Err(PartitionError::NotLeaderOrFollower);
                }
                if state.high_watermark >= required {
                    if (state.isr.len() as i32) < state.min_insync_replicas {
                        return Err(PartitionError::NotEnoughReplicasAfterAppend);
                    }
                    return Ok(());
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Err(PartitionError::NotLeaderOrFollower) },
                () = tokio::time::sleep_until(deadline) => return Err(PartitionError::RequestTimedOut),
            }
        }
    }

    /// `write.caching=false`: returns once every record below `required`, appended in `leader_epoch`, is
    /// fsynced. Group commit: requests queue on the `durable` lock; the first fsyncs all the log holds at
    /// that moment (outside the log lock, so appends go on), and those behind it whose records were in
    /// the log by then find them durable without another fsync.
    async fn wait_durable(&self, required: i64, leader_epoch: i32) -> Result<(), PartitionError> {
        let mut durable = self.durable.lock().await;
        if durable.0 == leader_epoch && durable.1 >= required {
            return Ok(());
        }
        let handle = match self.lock().as_ref() {
            None => return Err(PartitionError::NotLeaderOrFollower),
            Some(log) => log.sync_handle(),
        };
        let handle = handle.map_err(|e| {
            tracing::warn!(topic = %self.topic, partition = self.index, "fsync before ack: {e}");
            PartitionError::FsyncFailed
        })?;
        let end = handle.end();
        self.durable_syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match tokio::task::spawn_blocking(move || handle.sync()).await {
            Ok(Ok(())) => {
                *durable = (leader_epoch, end);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(topic = %self.topic, partition = self.index, "fsync before ack failed: {e}");
                Err(PartitionError::FsyncFailed)
            }
            Err(_) => Err(PartitionError::FsyncFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use strom_storage::{LogConfig, PartitionLog};
    use uuid::Uuid;

    use super::*;
    use crate::dispatch::tests::batch;

    fn append(p: &Partition) -> i64 {
        let mut guard = p.lock();
        let log = guard.as_mut().expect("open log");
        log.append(&batch(), 1_700_000_000_000)
            .expect("append")
            .last_offset
            + 1
    }

    fn syncs(p: &Partition) -> u64 {
        p.durable_syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests that appended before an fsync started are all covered by it; a later append needs
    /// another one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_acks_share_one_fsync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            write_caching: false,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path().join("t-0"), config, 0, true).expect("open");
        let p = Arc::new(Partition::new("t".to_string(), 0, Uuid::nil(), log, 1));
        let ends: Vec<i64> = (0..32).map(|_| append(&p)).collect();
        assert_eq!(ends.last(), Some(&32));
        let waits: Vec<_> = ends
            .iter()
            .map(|&end| {
                let p = Arc::clone(&p);
                tokio::spawn(async move { p.wait_durable(end, 0).await })
            })
            .collect();
        for w in waits {
            assert!(matches!(w.await.expect("task"), Ok(())));
        }
        assert_eq!(
            syncs(&p),
            1,
            "32 appends before the first fsync need one fsync"
        );

        let end = append(&p);
        assert!(matches!(p.wait_durable(end, 0).await, Ok(())));
        assert!(matches!(p.wait_durable(end, 0).await, Ok(())));
        assert_eq!(syncs(&p), 2, "a later append needs its own fsync, once");

        // A new leader epoch does not trust what an earlier epoch synced.
        assert!(matches!(p.wait_durable(end, 1).await, Ok(())));
        assert_eq!(syncs(&p), 3);

        p.take();
        assert!(matches!(
            p.wait_durable(end + 1, 1).await,
            Err(PartitionError::NotLeaderOrFollower)
        ));
    }
}
