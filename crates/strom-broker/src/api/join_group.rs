//! JoinGroup: turns the request into `strom_group::JoinGroup` and waits for the coordinator's answer, which
//! comes when the rebalance completes (possibly after the initial delay or the rebalance timeout). From v4 a
//! first join without member id is answered MEMBER_ID_REQUIRED with the id to use (KIP-394). Fields a
//! version lacks are left at their defaults so the response encodes.

use std::ops::RangeInclusive;

use strom_group::{Error, JoinGroup, Protocol};
use strom_protocol::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use strom_protocol::kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=9;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: JoinGroupRequest,
    client_id: &str,
) -> JoinGroupResponse {
    let fail = |code: Code, member_id: &str| {
        JoinGroupResponse::default()
            .with_error_code(code.code())
            .with_generation_id(-1)
            .with_member_id(str_bytes(member_id))
            // Nullable from v7: Kafka's failed joins carry null there, "" before.
            .with_protocol_name((ctx.version < 7).then(|| str_bytes("")))
    };
    let request_member_id = request.member_id.to_string();
    if let Err(code) = ctx.broker.ensure_offsets_topic().await {
        return fail(code, &request_member_id);
    }
    if let Err(code) = ctx.broker.groups.check_coordinator(&request.group_id) {
        return fail(code, &request_member_id);
    }
    let rebalance_timeout_ms = if ctx.version >= 1 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    let req = JoinGroup {
        group_id: request.group_id.to_string(),
        member_id: request_member_id.clone(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: ctx.client_host(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let lookup = |name: &str| super::consumer_group_heartbeat::topic_meta(ctx, name);
    match ctx.broker.groups.join(req, &lookup).await {
        None => fail(Code::CoordinatorNotAvailable, &request_member_id),
        Some(Err(Error::MemberIdRequired { member_id })) => {
            fail(Code::MemberIdRequired, &member_id)
        }
        Some(Err(e)) => fail(error_code::group_error(&e), &request_member_id),
        Some(Ok(j)) => {
            let members = j
                .members
                .into_iter()
                .map(|m| {
                    let mut member = JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_metadata(m.metadata);
                    if ctx.version >= 5 {
                        member.group_instance_id = m.group_instance_id.as_deref().map(str_bytes);
                    }
                    member
                })
                .collect();
            let mut response = JoinGroupResponse::default()
                .with_generation_id(j.generation_id)
                .with_protocol_name(j.protocol_name.as_deref().map(str_bytes))
                .with_leader(str_bytes(&j.leader))
                .with_member_id(str_bytes(&j.member_id))
                .with_members(members);
            if ctx.version >= 7 {
                response.protocol_type = j.protocol_type.as_deref().map(str_bytes);
            }
            if ctx.version >= 9 {
                response.skip_assignment = j.skip_assignment;
            }
            if ctx.version < 7 && response.protocol_name.is_none() {
                // Before v7 the protocol name is not nullable.
                response.protocol_name = Some(str_bytes(""));
            }
            response
        }
    }
}
