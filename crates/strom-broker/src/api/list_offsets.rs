//! ListOffsets: earliest (-2), latest (-1), max-timestamp (-3, KIP-734), earliest-local (-4, KIP-1005:
//! the log start, as nothing is tiered), and by timestamp (first offset whose timestamp is at or after it).
//! Served by the partition leader; "latest" is the high watermark for clients (Kafka's read-uncommitted
//! view) and the log end for a follower's own request (replica id set). The offset specs are resolved by the
//! partition layer (`Partition::fetch_offset_for_timestamp`).

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use strom_protocol::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::error_code::{self, Code};
use crate::partition::FetchIsolation;

/// v9 adds EARLIEST_PENDING_UPLOAD (-5) and v10 a timeout, both for tiered storage, which Strom does not
/// have; they are served (no pending uploads: answered with -1, as Kafka does without tiering).
pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=10;

/// isolation_level READ_COMMITTED (v2+): latest is the last stable offset.
const READ_COMMITTED: i8 = 1;

pub(crate) fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .cloned()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let Some(partition) = ctx.broker.replicas.get(&topic.name.0, p.partition_index)
                    else {
                        return response.with_error_code(Code::UnknownTopicOrPartition.code());
                    };
                    let isolation = if request.replica_id.0 >= 0 {
                        FetchIsolation::LogEnd
                    } else if request.isolation_level == READ_COMMITTED {
                        FetchIsolation::TxnCommitted
                    } else {
                        FetchIsolation::HighWatermark
                    };
                    match partition.fetch_offset_for_timestamp(
                        p.timestamp,
                        isolation,
                        p.current_leader_epoch,
                    ) {
                        Ok(Some(t)) => response
                            .with_timestamp(t.timestamp)
                            .with_offset(t.offset)
                            // leader_epoch exists from v4; the codec refuses a non-default value
                            // below that. Without an offset (or on an error) it stays -1, as from Kafka.
                            .with_leader_epoch(if ctx.version >= 4 {
                                leader_epoch(ctx, &topic.name.0, p.partition_index)
                            } else {
                                -1
                            }),
                        Ok(None) => response,
                        Err(e) => response.with_error_code(error_code::partition_error(&e).code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn leader_epoch(ctx: &RequestContext<'_>, topic: &str, partition: i32) -> i32 {
    ctx.image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
        .map_or(-1, |p| p.leader_epoch)
}
