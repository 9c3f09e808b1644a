//! DescribeGroups: state, protocol and members of each group (metadata and assignments only while Stable,
//! as in Kafka). An unknown group is reported as "Dead" with no error before v6 and GROUP_ID_NOT_FOUND from
//! v6. Authorized operations (v3+) are all allowed: there is no authorizer.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use strom_protocol::kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{acl_op, str_bytes, RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=6;

/// READ, DELETE, DESCRIBE on a group.
fn group_authorized_operations() -> i32 {
    [acl_op::READ, acl_op::DELETE, acl_op::DESCRIBE]
        .iter()
        .fold(0, |acc, op| acc | (1 << op))
}

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = ctx.broker.groups.read(|c| c.describe_group(&group_id));
            let mut group = DescribedGroup::default().with_group_id(group_id);
            match described {
                None => {
                    group.group_state = str_bytes("Dead");
                    if ctx.version >= 6 {
                        group.error_code = Code::GroupIdNotFound.code();
                        group.error_message = Some(str_bytes("group does not exist"));
                    }
                }
                Some(d) => {
                    group.group_state = str_bytes(d.state.name());
                    group.protocol_type = str_bytes(&d.protocol_type);
                    group.protocol_data = str_bytes(&d.protocol_data);
                    group.members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut member = DescribedGroupMember::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if ctx.version >= 4 {
                                member.group_instance_id =
                                    m.group_instance_id.as_deref().map(str_bytes);
                            }
                            member
                        })
                        .collect();
                }
            }
            if ctx.version >= 3 {
                group.authorized_operations = if request.include_authorized_operations {
                    group_authorized_operations()
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                };
            }
            group
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
