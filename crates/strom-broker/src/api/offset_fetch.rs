//! OffsetFetch: committed offsets of one group (v1-v7; `topics` null from v2 means all) or of several
//! groups (v8+). Partitions without a committed offset answer -1. With `require_stable` (v7+), a partition
//! an open transaction has committed an offset for (TxnOffsetCommit, pending until its marker) answers
//! UNSTABLE_OFFSET_COMMIT and -1, as Kafka does; without it, the last committed offset. v9's member id/epoch are checked against KIP-848 groups (UNKNOWN_MEMBER_ID,
//! STALE_MEMBER_EPOCH as the group's error), as Kafka does.

use std::ops::RangeInclusive;

use strom_group::OffsetValue;
use strom_protocol::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use strom_protocol::kafka_protocol::messages::{
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use super::{str_bytes, RequestContext};
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=9;

/// (topic, partition, committed offset) of one group, grouped by topic in request (or stored) order. A
/// partition with pending transactional offsets under `require_stable` has no offset here and is listed in
/// `fetch`'s `unstable`.
type Fetched = Vec<(String, Vec<(i32, Option<OffsetValue>)>)>;

/// UNSTABLE_OFFSET_COMMIT (Kafka's code 88).
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn fetch(
    ctx: &RequestContext<'_>,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
    unstable: &mut Vec<(String, i32)>,
) -> Fetched {
    let wanted: Option<Vec<(String, i32)>> = topics.map(|ts| {
        ts.into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .collect()
    });
    let rows = ctx
        .broker
        .groups
        .read(|c| c.fetch_offsets(group_id, wanted.as_deref()));
    let mut out: Fetched = Vec::new();
    for row in rows {
        let mut offset = row.offset;
        if require_stable
            && ctx
                .broker
                .groups
                .has_pending_txn_offset(group_id, &row.topic, row.partition)
        {
            unstable.push((row.topic.clone(), row.partition));
            offset = None;
        }
        let entry = (row.partition, offset);
        match out.last_mut() {
            Some((last, ps)) if *last == row.topic => ps.push(entry),
            _ => out.push((row.topic, vec![entry])),
        }
    }
    out
}

/// NOT_COORDINATOR when another broker coordinates the group; before `__consumer_offsets` exists there are no
/// offsets anywhere, and the answer is simply empty.
fn coordinator_check(
    ctx: &RequestContext<'_>,
    group_id: &str,
) -> Result<(), crate::error_code::Code> {
    if ctx
        .broker
        .image()
        .topic(crate::group_coordinator::OFFSETS_TOPIC)
        .is_none()
    {
        return Ok(());
    }
    ctx.broker.groups.check_coordinator(group_id)
}

pub(crate) fn handle(ctx: &RequestContext<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                if let Err(code) = coordinator_check(ctx, &g.group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(code.code());
                }
                let member_id = g.member_id.as_ref().map(|m| m.to_string());
                let check = ctx.broker.groups.read(|c| {
                    c.validate_offset_fetch(&g.group_id, member_id.as_deref(), g.member_epoch)
                });
                if let Err(e) = check {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(error_code::group_error(&e).code());
                }
                let mut unstable = Vec::new();
                let fetched = fetch(
                    ctx,
                    &g.group_id,
                    topics,
                    request.require_stable,
                    &mut unstable,
                );
                let topics = fetched
                    .into_iter()
                    .map(|(t, ps)| {
                        let unstable = &unstable;
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(&t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|(p, v)| {
                                        let code = if unstable.contains(&(t.clone(), p)) {
                                            UNSTABLE_OFFSET_COMMIT
                                        } else {
                                            0
                                        };
                                        let v = v.unwrap_or(OffsetValue {
                                            offset: -1,
                                            leader_epoch: -1,
                                            metadata: String::new(),
                                            commit_timestamp: -1,
                                        });
                                        OffsetFetchResponsePartitions::default()
                                            .with_error_code(code)
                                            .with_partition_index(p)
                                            .with_committed_offset(v.offset)
                                            .with_committed_leader_epoch(v.leader_epoch)
                                            .with_metadata(Some(str_bytes(&v.metadata)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if let Err(code) = coordinator_check(ctx, &request.group_id) {
        if ctx.version >= 2 {
            return OffsetFetchResponse::default().with_error_code(code.code());
        }
    }
    let topics = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let mut unstable = Vec::new();
    let require_stable = ctx.version >= 7 && request.require_stable;
    let fetched = fetch(
        ctx,
        &request.group_id,
        topics,
        require_stable,
        &mut unstable,
    );
    let topics = fetched
        .into_iter()
        .map(|(t, ps)| {
            let unstable = &unstable;
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t)))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, v)| {
                            let code = if unstable.contains(&(t.clone(), p)) {
                                UNSTABLE_OFFSET_COMMIT
                            } else {
                                0
                            };
                            let mut partition = OffsetFetchResponsePartition::default()
                                .with_error_code(code)
                                .with_partition_index(p)
                                .with_committed_offset(v.as_ref().map_or(-1, |v| v.offset))
                                .with_metadata(Some(str_bytes(
                                    v.as_ref().map_or("", |v| v.metadata.as_str()),
                                )));
                            if ctx.version >= 5 {
                                partition.committed_leader_epoch =
                                    v.as_ref().map_or(-1, |v| v.leader_epoch);
                            }
                            partition
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
