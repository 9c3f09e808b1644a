//! SyncGroup: the leader hands in the assignment (passed through untouched); every member waits until the
//! leader has synced and gets its own part. v5 carries protocol type and name both ways.

use std::ops::RangeInclusive;

use strom_group::SyncGroup;
use strom_protocol::kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if let Err(code) = ctx.broker.groups.check_coordinator(&request.group_id) {
        return SyncGroupResponse::default().with_error_code(code.code());
    }
    let req = SyncGroup {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        protocol_type: request.protocol_type.map(|s| s.to_string()),
        protocol_name: request.protocol_name.map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    match ctx.broker.groups.sync(req).await {
        None => SyncGroupResponse::default().with_error_code(Code::CoordinatorNotAvailable.code()),
        Some(Err(e)) => {
            SyncGroupResponse::default().with_error_code(error_code::group_error(&e).code())
        }
        Some(Ok(s)) => {
            let mut response = SyncGroupResponse::default().with_assignment(s.assignment);
            if ctx.version >= 5 {
                response.protocol_type = s.protocol_type.as_deref().map(str_bytes);
                response.protocol_name = s.protocol_name.as_deref().map(str_bytes);
            }
            response
        }
    }
}
