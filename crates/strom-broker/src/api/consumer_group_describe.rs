//! ConsumerGroupDescribe (KIP-848, v0-v1): epoch, assignor, state and members (current and target
//! assignments by topic id and name) of consumer-protocol groups. A classic or unknown group answers
//! GROUP_ID_NOT_FOUND, as Kafka does. Authorized operations are all allowed: there is no authorizer.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use strom_protocol::kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::{acl_op, str_bytes, RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Kafka's member type for a member that joined with ConsumerGroupHeartbeat.
const CONSUMER_MEMBER_TYPE: i8 = 1;

fn wire(a: BTreeMap<uuid::Uuid, (String, BTreeSet<i32>)>) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .map(|(id, (name, ps))| {
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(str_bytes(&name)))
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = ctx
                .broker
                .groups
                .read(|c| c.describe_consumer_group(&group_id));
            let mut group = DescribedGroup::default().with_group_id(group_id);
            group.authorized_operations = if request.include_authorized_operations {
                [acl_op::READ, acl_op::DELETE, acl_op::DESCRIBE]
                    .iter()
                    .fold(0, |acc, op| acc | (1 << op))
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
            match described {
                Err(e) => {
                    group.error_code = error_code::group_error(&e).code();
                    group.error_message = Some(str_bytes(&e.to_string()));
                    group.group_state = str_bytes("Dead");
                }
                Ok(d) => {
                    group.group_state = str_bytes(d.state);
                    group.group_epoch = d.group_epoch;
                    group.assignment_epoch = d.assignment_epoch;
                    group.assignor_name = str_bytes(&d.assignor_name);
                    group.members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut member = Member::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                                .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed_topic_names
                                        .iter()
                                        .map(|t| TopicName(str_bytes(t)))
                                        .collect(),
                                )
                                .with_assignment(wire(m.assignment))
                                .with_target_assignment(wire(m.target_assignment));
                            if ctx.version >= 1 {
                                member.member_type = CONSUMER_MEMBER_TYPE;
                            }
                            member
                        })
                        .collect();
                }
            }
            group
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
