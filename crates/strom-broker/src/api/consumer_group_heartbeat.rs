//! ConsumerGroupHeartbeat (KIP-848, v0-v1): join, leave, keep alive and receive the server-side assignment.
//! Turns the request into `strom_group::ConsumerHeartbeat`, lets the coordinator look subscribed topics up in
//! this request's metadata image, and answers the member's epoch and (when it changed) its assignment by
//! topic id. The group state machine is in `strom-group/src/consumer/`; codes come from `error_code.rs`.

use std::ops::RangeInclusive;

use strom_group::{Assignment, ConsumerHeartbeat, TopicMeta};
use strom_protocol::kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use strom_protocol::kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};

use super::{str_bytes, RequestContext};
use crate::error_code;
use crate::group_coordinator::OFFSETS_TOPIC;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=1;

/// A topic as the group coordinator sees it in this request's metadata image (`__consumer_offsets` is never
/// a subscription target). Also used by JoinGroup: a classic member of a consumer group subscribes by name.
pub(crate) fn topic_meta(ctx: &RequestContext<'_>, name: &str) -> Option<TopicMeta> {
    if name == OFFSETS_TOPIC {
        return None;
    }
    ctx.image.topic(name).map(|t| TopicMeta {
        id: t.topic_id,
        name: name.to_string(),
        partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
    })
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupHeartbeatRequest,
    client_id: &str,
) -> ConsumerGroupHeartbeatResponse {
    let ready = ctx
        .broker
        .ensure_offsets_topic()
        .await
        .and_then(|()| ctx.broker.groups.check_coordinator(&request.group_id));
    if let Err(code) = ready {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_member_epoch(-1);
    }
    let owned: Option<Assignment> = request.topic_partitions.map(|tps| {
        let mut a = Assignment::new();
        for tp in tps {
            a.entry(tp.topic_id).or_default().extend(tp.partitions);
        }
        a
    });
    let req = ConsumerHeartbeat {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned,
        client_id: client_id.to_string(),
        client_host: ctx.client_host(),
    };
    let lookup = |name: &str| topic_meta(ctx, name);
    let result = ctx.broker.groups.with(|c, now| {
        let result = c.consumer_heartbeat(req, &lookup, now);
        (result, c.take_effects())
    });
    match result {
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(error_code::group_error(&e).code())
            .with_error_message(Some(str_bytes(&e.to_string())))
            .with_member_epoch(-1),
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(|a| {
                WireAssignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
    }
}
