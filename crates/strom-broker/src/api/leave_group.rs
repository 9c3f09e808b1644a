//! LeaveGroup: one member (v0-v2) or a batch of members by member id or group.instance.id (v3+). Leaving
//! starts a rebalance of the remaining members. v0-v2 report the member's error at the top level.

use std::ops::RangeInclusive;

use strom_group::LeaveMember;
use strom_protocol::kafka_protocol::messages::leave_group_response::MemberResponse;
use strom_protocol::kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) fn handle(ctx: &RequestContext<'_>, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let leaving: Vec<LeaveMember> = if ctx.version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeaveMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    if let Err(code) = ctx.broker.groups.check_coordinator(&request.group_id) {
        return LeaveGroupResponse::default().with_error_code(code.code());
    }
    let results = ctx
        .broker
        .groups
        .with(|c, now| c.leave_group(&request.group_id, &leaving, now));
    let codes: Vec<i16> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .err()
                .map_or(0, |e| error_code::group_error(e).code())
        })
        .collect();
    if ctx.version < 3 {
        return LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0));
    }
    let members = request
        .members
        .into_iter()
        .zip(codes)
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
