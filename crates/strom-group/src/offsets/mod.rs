//! Committed offsets (Kafka's `OffsetMetadataManager`): OffsetCommit, OffsetFetch, OffsetDelete, the
//! expiry of an empty group's offsets, and the replay of offset records. A commit is validated against the
//! group's membership (classic generation, or KIP-848 member epoch) and comes back as records; nothing changes
//! until they are durable and replayed through [`replay`] — the same function that rebuilds offsets at
//! start-up. The offsets live in `crate::group::Group` beside the membership they are checked against;
//! membership itself is `classic/`'s and `consumer/`'s. Transactional commits (pending until their
//! transaction's marker) are `txn.rs`, which imports this file's `replay`.

use std::collections::BTreeMap;

use crate::config::GroupConfig;
use crate::consumer;
use crate::error::Error;
use crate::group::Group;
use crate::record::{OffsetValue, Record};
use crate::types::{CommitOffsets, CommittedOffset, GroupState, TopicPartitionResult};

#[cfg(test)]
mod tests;
mod txn;

pub(crate) use txn::{txn_commit_offsets, PendingTxnOffsets};

/// Validates a commit and returns the records that make it; nothing changes until they are replayed.
/// A simple commit (generation -1, no member) is allowed only while the group has no members, and
/// creates the group if needed.
pub(crate) fn commit_offsets(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    req: &CommitOffsets,
    now: i64,
) -> (Vec<TopicPartitionResult>, Vec<Record>) {
    if req.group_id.is_empty() {
        return fail_all(req, Error::InvalidGroupId);
    }
    let group_error = match groups.get_mut(&req.group_id) {
        None if req.generation_id < 0 => {
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
            None
        }
        None => Some(Error::IllegalGeneration {
            expected: -1,
            got: req.generation_id,
        }),
        Some(group) if group.consumer.is_some() => group.consumer.as_ref().and_then(|cg| {
            cg.validate_offset_commit(&req.member_id, req.generation_id)
                .err()
        }),
        Some(group) => {
            if let Err(e) = group.check_static(&req.member_id, req.group_instance_id.as_deref()) {
                Some(e)
            } else if req.generation_id < 0 && group.state == GroupState::Empty {
                None
            } else if let Some(member) = group.members.get_mut(&req.member_id) {
                // Member and generation first, then the rebalance (Kafka's
                // `ClassicGroup.validateOffsetCommit`): a stale generation is ILLEGAL_GENERATION even
                // while the group completes a rebalance.
                if req.generation_id != group.generation_id {
                    Some(Error::IllegalGeneration {
                        expected: group.generation_id,
                        got: req.generation_id,
                    })
                } else if group.state == GroupState::CompletingRebalance {
                    Some(Error::RebalanceInProgress)
                } else {
                    // A commit proves the member alive, as in Kafka.
                    member.session_deadline = now + i64::from(member.session_timeout_ms);
                    None
                }
            } else {
                Some(Error::UnknownMemberId)
            }
        }
    };
    match group_error {
        Some(e) => fail_all(req, e),
        None => offset_records(req, config.offset_metadata_max_bytes, now),
    }
}

/// Every partition of a refused commit answered with `e`, nothing to write.
fn fail_all(req: &CommitOffsets, e: Error) -> (Vec<TopicPartitionResult>, Vec<Record>) {
    let results = req
        .partitions
        .iter()
        .map(|p| TopicPartitionResult {
            topic: p.topic.clone(),
            partition: p.partition,
            error: Some(e.clone()),
        })
        .collect();
    (results, Vec::new())
}

/// The records of a validated commit (plain or transactional): one offset record per partition whose
/// metadata fits `max_metadata` bytes, OFFSET_METADATA_TOO_LARGE for the others.
fn offset_records(
    req: &CommitOffsets,
    max_metadata: usize,
    now: i64,
) -> (Vec<TopicPartitionResult>, Vec<Record>) {
    let mut results = Vec::with_capacity(req.partitions.len());
    let mut records = Vec::new();
    for p in &req.partitions {
        let metadata = p.metadata.clone().unwrap_or_default();
        let error = if metadata.len() > max_metadata {
            Some(Error::OffsetMetadataTooLarge {
                size: metadata.len(),
                max: max_metadata,
            })
        } else {
            records.push(Record::Offset {
                group_id: req.group_id.clone(),
                topic: p.topic.clone(),
                partition: p.partition,
                value: Some(OffsetValue {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                }),
            });
            None
        };
        results.push(TopicPartitionResult {
            topic: p.topic.clone(),
            partition: p.partition,
            error,
        });
    }
    (results, records)
}

/// Committed offsets of a group: of the listed partitions (`None` for ones never committed), or all of
/// them when `partitions` is `None`. An unknown group has no offsets.
pub(crate) fn fetch_offsets(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
    partitions: Option<&[(String, i32)]>,
) -> Vec<CommittedOffset> {
    let group = groups.get(group_id);
    match partitions {
        Some(list) => list
            .iter()
            .map(|(t, p)| {
                let offset = group.and_then(|g| g.offsets.get(&(t.clone(), *p)).cloned());
                CommittedOffset {
                    topic: t.clone(),
                    partition: *p,
                    offset,
                }
            })
            .collect(),
        None => group
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), v)| CommittedOffset {
                        topic: t.clone(),
                        partition: *p,
                        offset: Some(v.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// OffsetDelete: removes committed offsets of partitions no member is subscribed to. Returns the
/// per-partition outcome and the tombstones; the offsets go when the tombstones are replayed.
pub(crate) fn delete_offsets(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
    partitions: &[(String, i32)],
) -> Result<(Vec<TopicPartitionResult>, Vec<Record>), Error> {
    let Some(group) = groups.get(group_id) else {
        return Err(Error::GroupIdNotFound);
    };
    let subscribed: Vec<String> = match group.state {
        GroupState::Dead => return Err(Error::GroupIdNotFound),
        GroupState::Empty => Vec::new(),
        _ if group.consumer.is_some() => group
            .consumer
            .as_ref()
            .map(|cg| cg.subscribed_topics())
            .unwrap_or_default(),
        _ if group.protocol_type.as_deref() == Some("consumer") => group.subscribed_topics(),
        _ => return Err(Error::NonEmptyGroup),
    };
    let mut results = Vec::with_capacity(partitions.len());
    let mut records = Vec::new();
    for (topic, partition) in partitions {
        let error = if subscribed.contains(topic) {
            Some(Error::GroupSubscribedToTopic)
        } else {
            if group.offsets.contains_key(&(topic.clone(), *partition)) {
                records.push(Record::Offset {
                    group_id: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                });
            }
            None
        };
        results.push(TopicPartitionResult {
            topic: topic.clone(),
            partition: *partition,
            error,
        });
    }
    Ok((results, records))
}

/// Kafka's offset expiration (every `offsets.retention.check.interval.ms`): offsets of an empty group
/// expire `offsets.retention.minutes` after the later of their commit and the group becoming empty; an
/// empty group left without offsets is deleted. Returns the tombstones to persist.
pub(crate) fn expire_offsets(
    groups: &mut BTreeMap<String, Group>,
    config: &GroupConfig,
    now: i64,
) -> Vec<Record> {
    let retention = config.offsets_retention_ms;
    let mut records = Vec::new();
    let mut dead = Vec::new();
    for group in groups.values_mut() {
        if group.state != GroupState::Empty {
            continue;
        }
        let became_empty = group.state_timestamp;
        let group_id = group.group_id.clone();
        group.offsets.retain(|(topic, partition), v| {
            let keep = v
                .commit_timestamp
                .max(became_empty)
                .saturating_add(retention)
                > now;
            if !keep {
                records.push(Record::Offset {
                    group_id: group_id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                });
            }
            keep
        });
        if group.offsets.is_empty() && group.pending_members.is_empty() {
            dead.push(group_id);
        }
    }
    for group_id in dead {
        if let Some(cg) = groups.remove(&group_id).and_then(|g| g.consumer) {
            records.extend(consumer::tombstones(&group_id, &cg));
        }
        records.push(Record::Group {
            group_id,
            value: None,
        });
    }
    records
}

/// OffsetFetch v9 (Kafka's `OffsetMetadataManager.fetchOffsets` validation): a fetch naming a member of a
/// consumer group must come from an existing member at its current epoch. Admin fetches (no member id,
/// epoch < 0), classic groups and unknown groups are not checked.
pub(crate) fn validate_fetch(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
    member_id: Option<&str>,
    member_epoch: i32,
) -> Result<(), Error> {
    let Some(cg) = groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
        return Ok(());
    };
    cg.validate_offset_fetch(member_id, member_epoch)
}

/// Tombstones for every committed offset of a group being deleted (Kafka's `deleteAllOffsets`).
pub(crate) fn delete_all_offsets(group_id: &str, group: &Group) -> Vec<Record> {
    group
        .offsets
        .keys()
        .map(|(topic, partition)| Record::Offset {
            group_id: group_id.to_string(),
            topic: topic.clone(),
            partition: *partition,
            value: None,
        })
        .collect()
}

/// Applies one replayed offset record: at start-up for every record of `__consumer_offsets` in log order,
/// and at run time for the records [`commit_offsets`] and [`delete_offsets`] returned, once durable. A
/// commit to an unknown group creates it.
pub(crate) fn replay(
    groups: &mut BTreeMap<String, Group>,
    group_id: &str,
    topic: &str,
    partition: i32,
    value: Option<&OffsetValue>,
    now: i64,
) {
    match value {
        Some(v) => {
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, now));
            group
                .offsets
                .insert((topic.to_string(), partition), v.clone());
        }
        None => {
            if let Some(g) = groups.get_mut(group_id) {
                g.offsets.remove(&(topic.to_string(), partition));
            }
        }
    }
}
