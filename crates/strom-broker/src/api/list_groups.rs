//! ListGroups: every group this coordinator knows, with its protocol type; from v4 its state and a states
//! filter, from v5 its type ("classic", or "consumer" for KIP-848 groups) and a types filter.

use std::ops::RangeInclusive;

use strom_group::GroupState;
use strom_protocol::kafka_protocol::messages::list_groups_response::ListedGroup;
use strom_protocol::kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let mut states = Vec::new();
    for s in &request.states_filter {
        match GroupState::parse(s) {
            Some(state) => states.push(state),
            // A filter naming only unknown states matches nothing.
            None => states.push(GroupState::Dead),
        }
    }
    let wanted = |group_type: &str| {
        request.types_filter.is_empty()
            || request
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(group_type))
    };
    let listed = ctx.broker.groups.read(|c| c.list_groups(&states));
    let groups = listed
        .into_iter()
        .filter(|g| wanted(g.group_type))
        .map(|g| {
            let mut group = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if ctx.version >= 4 {
                group.group_state = str_bytes(g.state.name());
            }
            if ctx.version >= 5 {
                group.group_type = str_bytes(g.group_type);
            }
            group
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
