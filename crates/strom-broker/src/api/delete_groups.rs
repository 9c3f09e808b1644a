//! DeleteGroups: removes groups without members, tombstoning their offsets and metadata in
//! `__consumer_offsets`. NON_EMPTY_GROUP while members remain (sessions past their deadline are expired first),
//! GROUP_ID_NOT_FOUND for unknown groups.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use strom_protocol::kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        // The group's timers first, as if the timer task had just run: Kafka expires a session exactly at its
        // deadline, so a DeleteGroups sent once the last member's session ran out finds the group empty even
        // when the timer task's next tick (every 100 ms) is still ahead.
        let deleted = ctx.broker.groups.with(|c, now| {
            let fx = c.tick(now);
            (c.delete_group(&group_id), fx)
        });
        let code = match deleted {
            Err(e) => error_code::group_error(&e).code(),
            Ok(records) => match ctx.broker.groups.persist_and_replay(&records).await {
                Ok(()) => 0,
                Err(code) => code.code(),
            },
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
