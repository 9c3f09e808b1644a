//! ListOffsets: earliest (-2), latest (-1), max-timestamp (-3, KIP-734), earliest-local (-4, KIP-1005:
//! the log start, as nothing is tiered), and by timestamp (first offset whose timestamp is at or after it).
//! Served by the partition leader; "latest" is the high watermark for clients (Kafka's read-uncommitted
//! view) and the log end for a follower's own request (replica id set).

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use strom_protocol::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::error_code::{self, Code};

/// v9 adds EARLIEST_PENDING_UPLOAD (-5) and v10 a timeout, both for tiered storage, which Strom does not
/// have; they are served (no pending uploads: answered with -1, as Kafka does without tiering).
pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=10;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

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
                        // leader_epoch exists from v4; the codec refuses a non-default value below that.
                        .with_leader_epoch(if ctx.version >= 4 {
                            leader_epoch(ctx, &topic.name.0, p.partition_index)
                        } else {
                            -1
                        });
                    let Some(partition) = ctx.broker.replicas.get(&topic.name.0, p.partition_index)
                    else {
                        return response.with_error_code(Code::UnknownTopicOrPartition.code());
                    };
                    let guard = partition.lock();
                    let Some(log) = guard.as_ref() else {
                        return response.with_error_code(Code::NotLeaderOrFollower.code());
                    };
                    let high_watermark = {
                        let state = partition.state();
                        if let Err(code) = state.check_leader(p.current_leader_epoch) {
                            return response.with_error_code(code.code());
                        }
                        state.high_watermark
                    };
                    match p.timestamp {
                        LATEST if request.replica_id.0 >= 0 => {
                            response.with_offset(log.log_end_offset())
                        }
                        LATEST => response.with_offset(high_watermark),
                        EARLIEST | EARLIEST_LOCAL => response.with_offset(log.log_start_offset()),
                        EARLIEST_PENDING_UPLOAD => response,
                        MAX_TIMESTAMP => match log.max_timestamp() {
                            Some(t) => response.with_timestamp(t.timestamp).with_offset(t.offset),
                            None => response,
                        },
                        ts if ts < 0 => response.with_error_code(Code::InvalidRequest.code()),
                        ts => match log.offset_for_timestamp(ts) {
                            Ok(Some(t)) => {
                                response.with_timestamp(t.timestamp).with_offset(t.offset)
                            }
                            Ok(None) => response,
                            Err(e) => {
                                response.with_error_code(error_code::storage_error(&e).code())
                            }
                        },
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
