//! A consumer group turning back into a classic group (KIP-848's online downgrade; Kafka's
//! `convertToClassicGroup` and `ClassicGroup.fromConsumerGroup`): when the last KIP-848 member leaves (or is
//! fenced) and only classic members remain, the group becomes a Stable classic group of those members at
//! the group epoch as generation, each holding its target assignment as ConsumerProtocolAssignment bytes,
//! and starts a rebalance so the members rejoin through the classic protocol and a leader assigns. The
//! consumer group's records are tombstoned, then the GroupMetadata record written. Whether to downgrade is
//! decided where the member leaves (`consumer/heartbeat.rs`); this file only converts.

use crate::config::GroupConfig;
use crate::consumer;
use crate::group::{Group, Member};
use crate::record::Record;
use crate::types::{Effects, GroupState};

use super::rebalance::maybe_prepare_rebalance;

/// Converts `group` (a consumer group) into a classic group without `leaving`, the KIP-848 member whose
/// departure triggered it, and starts a rebalance.
pub(crate) fn downgrade(
    group: &mut Group,
    config: &GroupConfig,
    leaving: &str,
    now: i64,
    fx: &mut Effects,
) {
    let Some(cg) = group.consumer.take() else {
        return;
    };
    fx.records
        .extend(consumer::tombstones(&group.group_id, &cg));
    group.members.clear();
    group.static_members.clear();
    group.pending_members.clear();
    group.pending_sync.clear();
    group.join_deadline = None;
    group.sync_deadline = None;
    group.initial_delay = None;
    group.new_member_added = false;
    group.generation_id = cg.group_epoch;
    group.protocol_type = Some("consumer".to_string());
    group.leader_id = None;
    for m in cg.members.values() {
        if m.member_id == leaving {
            continue;
        }
        let Some(classic) = &m.classic else {
            continue;
        };
        if let Some(instance) = &m.instance_id {
            group
                .static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        group.members.insert(
            m.member_id.clone(),
            Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: classic.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: classic.protocols.clone(),
                assignment: bytes::Bytes::new(),
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                session_deadline: now + i64::from(classic.session_timeout_ms),
            },
        );
    }
    group.protocol_name = group.select_protocol();
    let protocol = group.protocol_name.clone().unwrap_or_default();
    for m in group.members.values_mut() {
        let target = cg.target.get(&m.member_id).cloned().unwrap_or_default();
        m.assignment = consumer::assignment_bytes(&cg, &target, &m.metadata(&protocol));
    }
    group.transition(GroupState::Stable, now);
    fx.records.push(Record::Group {
        group_id: group.group_id.clone(),
        value: Some(group.to_value()),
    });
    maybe_prepare_rebalance(group, config, now, fx);
}
