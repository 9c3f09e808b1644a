//! Fetch: serves stored batches without re-encoding them, from the partition leader only. Consumers see records
//! below the high watermark; a follower (replica id set) sees everything up to the log end, and its fetch
//! offset tells the leader how far it has replicated (which moves the high watermark and the ISR). Long-polls: when less than `min_bytes` is
//! available the request parks until new data is appended anywhere (the replica manager's signal) or
//! `max_wait_ms` passes. Respects `max_bytes` and per-partition `partition_max_bytes`, always returning the
//! first batch whole so a batch larger than the limits still makes progress (KIP-74). No fetch sessions
//! (KIP-227): session id 0 tells clients to send full fetches. Record sets of `SENDFILE_MIN` bytes or more are not
//! read at all: the response carries a placeholder and the connection sendfile()s them from the segment file.
//! Each partition is one call into the partition layer (`Partition::fetch_records`: leader check, follower
//! progress, the read); this file owns the request-wide limits, the long-poll and the placeholders.

use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::Bytes;
use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use strom_protocol::kafka_protocol::messages::ProducerId;
use strom_protocol::kafka_protocol::messages::{FetchRequest, FetchResponse};
use strom_storage::{FileSlice, ReadError};
use tokio::time::Instant;

use super::RequestContext;
use crate::error_code::{self, Code};
use crate::partition::{FetchPartition, FollowerFetchUpdates};

pub(crate) const VERSIONS: RangeInclusive<i16> = 4..=17;

/// Smaller record sets are copied into the response: one write beats a write, a sendfile and a write.
const SENDFILE_MIN: usize = 64 * 1024;

/// isolation_level READ_COMMITTED: records below the last stable offset, with the aborted transactions.
const READ_COMMITTED: i8 = 1;

/// The response and the file slices its placeholders stand for, in the order of the partitions in it.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: FetchRequest,
) -> (FetchResponse, Vec<FileSlice>) {
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut arrivals = ctx.broker.replicas.subscribe();
    loop {
        // Mark the current data as seen before reading, so an append between the read and the wait wakes us.
        arrivals.borrow_and_update();
        let (response, bytes, has_error) = read_all(ctx, &request);
        if bytes >= min_bytes.max(1) || has_error || Instant::now() >= deadline {
            return response;
        }
        tokio::select! {
            changed = arrivals.changed() => if changed.is_err() { return response },
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Reads every requested partition once. Returns the response, the record bytes in it, and whether any
/// partition carries an error (which answers the fetch at once, as Kafka does).
fn read_all(
    ctx: &RequestContext<'_>,
    request: &FetchRequest,
) -> ((FetchResponse, Vec<FileSlice>), usize, bool) {
    // Followers say who they are: replica_id before v15, replica_state from v15.
    let replica_id = if ctx.version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    let replica = (replica_id >= 0).then_some(replica_id);
    let now = now_ms();
    let mut follower_updates = FollowerFetchUpdates::default();
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut total = 0usize;
    let mut has_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut files = Vec::new();
    for topic in &request.topics {
        // Borrowed, not copied: this runs for every topic of every produce/fetch.
        let name: Option<&str> = if ctx.version >= 13 {
            ctx.image
                .topic_by_id(topic.topic_id)
                .map(|t| t.name.as_str())
        } else {
            Some(topic.topic.0.as_str())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1);
            if request.isolation_level == READ_COMMITTED {
                data.aborted_transactions = Some(Vec::new());
            } else {
                data.aborted_transactions = None;
            }
            // Kafka answers a partition it does not know with an empty aborted_transactions list.
            let code = match name {
                None => {
                    data.aborted_transactions = Some(Vec::new());
                    Some(Code::UnknownTopicId)
                }
                Some(name) => match ctx.broker.replicas.get(name, p.partition) {
                    None => {
                        data.aborted_transactions = Some(Vec::new());
                        Some(Code::UnknownTopicOrPartition)
                    }
                    Some(partition) => {
                        let fetch = FetchPartition {
                            replica_id: replica,
                            fetch_offset: p.fetch_offset,
                            current_leader_epoch: p.current_leader_epoch,
                            max_bytes: usize::try_from(p.partition_max_bytes)
                                .unwrap_or(0)
                                .min(remaining),
                            min_one_message: total == 0,
                            read_committed: request.isolation_level == READ_COMMITTED,
                            now_ms: now,
                        };
                        match partition.fetch_records(&fetch, &mut follower_updates, |slice| {
                            records(slice, &mut files)
                        }) {
                            Err(e) => Some(error_code::partition_error(&e)),
                            Ok(read) => {
                                data.high_watermark = read.high_watermark;
                                data.last_stable_offset = read.last_stable_offset;
                                data.log_start_offset = read.log_start_offset;
                                if let Some(aborted) = read.aborted_transactions {
                                    data.aborted_transactions = Some(
                                        aborted
                                            .iter()
                                            .map(|t| {
                                                AbortedTransaction::default()
                                                    .with_producer_id(ProducerId(t.producer_id))
                                                    .with_first_offset(t.first_offset)
                                            })
                                            .collect(),
                                    );
                                }
                                match read.records {
                                    Ok(records) => {
                                        total += records.len();
                                        remaining = remaining.saturating_sub(records.len());
                                        data.records = Some(records);
                                        None
                                    }
                                    Err(e) => Some(error_code::read_error(&e)),
                                }
                            }
                        }
                    }
                },
            };
            if let Some(code) = code {
                has_error = true;
                data.error_code = code.code();
                // As from Kafka: no offsets on an error (clients ignore them).
                data.high_watermark = -1;
                data.last_stable_offset = -1;
                data.log_start_offset = -1;
                data.records = Some(Bytes::new());
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    ctx.broker
        .replicas
        .complete_follower_fetches(follower_updates);
    (
        (
            FetchResponse::default()
                .with_session_id(0)
                .with_responses(topics),
            files,
        ),
        total,
        has_error,
    )
}

/// The records field for a read: a placeholder (the slice goes to `files`) when it is worth a sendfile,
/// else the bytes themselves.
fn records(slice: Option<FileSlice>, files: &mut Vec<FileSlice>) -> Result<Bytes, ReadError> {
    let Some(slice) = slice else {
        return Ok(Bytes::new());
    };
    if slice.len() >= SENDFILE_MIN {
        if let Some(placeholder) = strom_protocol::placeholder(slice.len()) {
            files.push(slice);
            return Ok(placeholder);
        }
    }
    Ok(slice.read_to_bytes()?)
}
