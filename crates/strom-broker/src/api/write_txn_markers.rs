//! WriteTxnMarkers (API 27, sent by a transaction coordinator to partition leaders; Kafka's
//! `handleWriteTxnMarkersRequest`): for each marker, a COMMIT or ABORT control batch is appended to
//! each named partition as its leader (`Partition::append_txn_marker`: producer epoch and
//! coordinator epoch checks, LSO and aborted-transaction index upkeep in the log), and each
//! partition's answer waits until its ISR has the marker, as Kafka writes markers with acks=all.
//! Errors are per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
//! INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED, REQUEST_TIMED_OUT. Markers written to
//! `__consumer_offsets` also complete the producer's pending transactional offset commits there.
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
use crate::group_coordinator::OFFSETS_TOPIC;
use crate::partition::DelayedProduce;

/// Kafka 4.x serves v1 only (v0 was removed with KIP-896).
pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=1;

/// How long a marker waits for the ISR (Kafka uses `request.timeout.ms`, default 30 s).
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A partition whose answer waits for its ISR, and where that answer sits.
struct Pending {
    marker: usize,
    topic: usize,
    partition: usize,
    delayed: DelayedProduce,
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let now = now_ms();
    let mut pending = Vec::new();
    let mut appended = false;
    let mut results = Vec::with_capacity(request.markers.len());
    for marker in &request.markers {
        let control = ControlMarker {
            commit: marker.transaction_result,
            coordinator_epoch: marker.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in &marker.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for &index in &topic.partition_indexes {
                let code = match ctx.broker.replicas.get(&topic.name.0, index) {
                    None => Code::UnknownTopicOrPartition.code(),
                    Some(partition) => match partition.append_txn_marker(
                        marker.producer_id.0,
                        marker.producer_epoch,
                        control,
                        now,
                    ) {
                        Ok(append) => {
                            appended = true;
                            if let Some(delayed) = append.delayed {
                                pending.push(Pending {
                                    marker: results.len(),
                                    topic: topics.len(),
                                    partition: partitions.len(),
                                    delayed,
                                });
                            }
                            0
                        }
                        Err(e) => error_code::partition_error(&e).code(),
                    },
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    if appended {
        ctx.broker.replicas.notify_data_arrived();
    }
    for p in &pending {
        let outcome = p.delayed.wait_replicated(REPLICATION_TIMEOUT).await;
        let Some(result) = results
            .get_mut(p.marker)
            .and_then(|m| m.topics.get_mut(p.topic))
            .and_then(|t| t.partitions.get_mut(p.partition))
        else {
            continue;
        };
        match outcome {
            Err(e) => result.error_code = error_code::partition_error(&e).code(),
            Ok(()) => {
                let marker = &request.markers[p.marker];
                if marker.topics[p.topic].name.0.as_str() == OFFSETS_TOPIC {
                    ctx.broker.groups.on_txn_marker(
                        result.partition_index,
                        marker.producer_id.0,
                        marker.transaction_result,
                    );
                }
            }
        }
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}
