//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin, ILLEGAL_GENERATION
//! and UNKNOWN_MEMBER_ID that it was left behind.

use std::ops::RangeInclusive;

use strom_group::Effects;
use strom_protocol::kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=4;

pub(crate) fn handle(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    if let Err(code) = ctx.broker.groups.check_coordinator(&request.group_id) {
        return HeartbeatResponse::default().with_error_code(code.code());
    }
    let result = ctx.broker.groups.with(|c, now| {
        let r = c.heartbeat(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id,
            now,
        );
        (r, Effects::default())
    });
    let code = result
        .err()
        .map_or(0, |e| error_code::group_error(&e).code());
    HeartbeatResponse::default().with_error_code(code)
}
