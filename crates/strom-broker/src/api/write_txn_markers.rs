//! WriteTxnMarkers (API 27, sent by a transaction coordinator to partition leaders; Kafka's
//! `handleWriteTxnMarkersRequest`): for each marker, a COMMIT or ABORT control batch is appended to
//! each named partition as its leader (`Partition::append_txn_marker`: producer epoch and
//! coordinator epoch checks, LSO and aborted-transaction index upkeep in the log), and each
//! partition's answer waits until its ISR has the marker, as Kafka writes markers with acks=all.
//! Errors are per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
//! INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED, REQUEST_TIMED_OUT. Markers written to
//! `__consumer_offsets` also complete the producer's pending transactional offset commits there.
//! The work itself is `write_markers`, which this broker's transaction coordinator also calls
//! directly for the partitions this broker leads (no request over its own listener).
//! Not here: deciding when to write markers (the transaction coordinator).

use std::ops::RangeInclusive;
use std::time::Duration;

use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use strom_protocol::kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use strom_storage::batch::ControlMarker;

use super::RequestContext;
use crate::error_code::{self, Code};
use crate::group_coordinator::{GroupCoordinatorService, OFFSETS_TOPIC};
use crate::partition::{DelayedProduce, ReplicaManager};

/// Kafka 4.x serves v1 only (v0 was removed with KIP-896).
pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=1;

/// How long a marker waits for the ISR (Kafka uses `request.timeout.ms`, default 30 s).
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One marker to write: a producer's transaction ends with `control` on each of `partitions`.
pub(crate) struct TxnMarkerWrite<'a> {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) control: ControlMarker,
    /// (topic, partition index).
    pub(crate) partitions: Vec<(&'a str, i32)>,
}

/// A partition whose answer waits for its ISR, and where that answer sits.
struct Pending {
    marker: usize,
    partition: usize,
    delayed: DelayedProduce,
}

/// Writes each marker to each of its partitions as their leader here and waits until each partition's ISR
/// has it. Per marker, per partition (in the order given): `None` written, or why not.
pub(crate) async fn write_markers(
    replicas: &ReplicaManager,
    groups: &GroupCoordinatorService,
    markers: &[TxnMarkerWrite<'_>],
) -> Vec<Vec<Option<Code>>> {
    let now = now_ms();
    let mut pending = Vec::new();
    let mut appended = false;
    let mut results = Vec::with_capacity(markers.len());
    for (m, marker) in markers.iter().enumerate() {
        let mut codes = Vec::with_capacity(marker.partitions.len());
        for (i, &(topic, index)) in marker.partitions.iter().enumerate() {
            let code = match replicas.get(topic, index) {
                None => Some(Code::UnknownTopicOrPartition),
                Some(partition) => match partition.append_txn_marker(
                    marker.producer_id,
                    marker.producer_epoch,
                    marker.control,
                    now,
                ) {
                    Ok(append) => {
                        appended = true;
                        if let Some(delayed) = append.delayed {
                            pending.push(Pending {
                                marker: m,
                                partition: i,
                                delayed,
                            });
                        }
                        None
                    }
                    Err(e) => Some(error_code::partition_error(&e)),
                },
            };
            codes.push(code);
        }
        results.push(codes);
    }
    if appended {
        replicas.notify_data_arrived();
    }
    for p in &pending {
        let outcome = p.delayed.wait_replicated(REPLICATION_TIMEOUT).await;
        let marker = &markers[p.marker];
        let (topic, index) = marker.partitions[p.partition];
        match outcome {
            Err(e) => results[p.marker][p.partition] = Some(error_code::partition_error(&e)),
            Ok(()) => {
                if topic == OFFSETS_TOPIC {
                    groups.on_txn_marker(index, marker.producer_id, marker.control.commit);
                }
            }
        }
    }
    results
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let writes: Vec<TxnMarkerWrite<'_>> = request
        .markers
        .iter()
        .map(|marker| TxnMarkerWrite {
            producer_id: marker.producer_id.0,
            producer_epoch: marker.producer_epoch,
            control: ControlMarker {
                commit: marker.transaction_result,
                coordinator_epoch: marker.coordinator_epoch,
            },
            partitions: marker
                .topics
                .iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(move |&index| (t.name.0.as_str(), index))
                })
                .collect(),
        })
        .collect();
    let codes = write_markers(&ctx.broker.replicas, &ctx.broker.groups, &writes).await;
    let results = request
        .markers
        .iter()
        .zip(codes)
        .map(|(marker, codes)| {
            let mut codes = codes.into_iter();
            let topics = marker
                .topics
                .iter()
                .map(|topic| {
                    let partitions = topic
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            let code = codes.next().flatten().map_or(0, |c| c.code());
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(results)
}
