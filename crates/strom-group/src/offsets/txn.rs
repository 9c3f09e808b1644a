//! Transactional offset commits (KIP-98 / KIP-447; Kafka's `OffsetMetadataManager` transactional half):
//! TxnOffsetCommit is validated against the group (KIP-447 fencing: member, static instance and
//! generation, or a KIP-848 member epoch), its records are written to `__consumer_offsets` by the
//! broker as a transactional batch of the producer, and once replayed they wait here, per producer id,
//! as pending offsets: invisible to OffsetFetch (which answers UNSTABLE_OFFSET_COMMIT to a
//! `require_stable` fetch of such a partition), made the committed offsets when the transaction's COMMIT
//! marker reaches the group's `__consumer_offsets` partition, dropped on ABORT. The same replay rebuilds
//! them at load, markers included. Part of the `offsets` manager; the committed offsets themselves are
//! `mod.rs`'s.

use std::collections::BTreeMap;

use super::{fail_all, offset_records, replay};
use crate::error::Error;
use crate::group::Group;
use crate::record::{OffsetValue, Record};
use crate::types::{CommitOffsets, GroupState, TopicPartitionResult};

/// One group's pending offsets: (topic, partition) → offset.
type GroupOffsets = BTreeMap<(String, i32), OffsetValue>;

/// Offsets of open transactions: producer id → group → its pending offsets.
#[derive(Debug, Default)]
pub(crate) struct PendingTxnOffsets {
    by_producer: BTreeMap<i64, BTreeMap<String, GroupOffsets>>,
}

impl PendingTxnOffsets {
    /// A replayed transactional offset record of `producer_id` (tombstones are not transactional).
    pub(crate) fn replay(&mut self, producer_id: i64, record: &Record) {
        if let Record::Offset {
            group_id,
            topic,
            partition,
            value: Some(value),
        } = record
        {
            self.by_producer
                .entry(producer_id)
                .or_default()
                .entry(group_id.clone())
                .or_default()
                .insert((topic.clone(), *partition), value.clone());
        }
    }

    /// The transaction of `producer_id` ended for the groups `in_partition` accepts (those of the
    /// `__consumer_offsets` partition that got the marker): on commit their pending offsets become the
    /// committed ones, on abort they are dropped.
    pub(crate) fn complete(
        &mut self,
        groups: &mut BTreeMap<String, Group>,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
        now: i64,
    ) {
        let Some(pending) = self.by_producer.get_mut(&producer_id) else {
            return;
        };
        let done: Vec<String> = pending
            .keys()
            .filter(|g| in_partition(g))
            .cloned()
            .collect();
        for group_id in done {
            let Some(offsets) = pending.remove(&group_id) else {
                continue;
            };
            if commit {
                for ((topic, partition), value) in offsets {
                    replay(groups, &group_id, &topic, partition, Some(&value), now);
                }
            }
        }
        if pending.is_empty() {
            self.by_producer.remove(&producer_id);
        }
    }

    /// Whether some open transaction holds an offset of this group's partition.
    pub(crate) fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.by_producer.values().any(|groups| {
            groups
                .get(group_id)
                .is_some_and(|o| o.contains_key(&(topic.to_string(), partition)))
        })
    }

    /// Forgets the pending offsets of groups `keep` rejects (their coordinator moved).
    pub(crate) fn unload(&mut self, keep: impl Fn(&str) -> bool) {
        for groups in self.by_producer.values_mut() {
            groups.retain(|g, _| keep(g));
        }
        self.by_producer.retain(|_, groups| !groups.is_empty());
    }
}

/// Validates a TxnOffsetCommit (Kafka's `validateTransactionalOffsetCommit` and
/// `ClassicGroup.validateOffsetCommit` with `isTransactional`) and returns the offset records to write
/// as the producer's transactional batch. An unknown group is created for generation -1 (a simple
/// group) and is ILLEGAL_GENERATION otherwise; a member id, generation or instance id given must match
/// (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION); unlike OffsetCommit the group's
/// rebalance state is not enforced. For a KIP-848 group the member epoch is checked, a stale one
/// answering ILLEGAL_GENERATION.
pub(crate) fn txn_commit_offsets(
    groups: &mut BTreeMap<String, Group>,
    max_metadata: usize,
    req: &CommitOffsets,
    now: i64,
) -> (Vec<TopicPartitionResult>, Vec<Record>) {
    if req.group_id.is_empty() {
        return fail_all(req, Error::InvalidGroupId);
    }
    let group_error = match groups.get(&req.group_id) {
        None if req.generation_id < 0 => {
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
            None
        }
        None => Some(Error::IllegalGeneration {
            expected: -1,
            got: req.generation_id,
        }),
        Some(group) if group.consumer.is_some() => group.consumer.as_ref().and_then(|cg| match cg
            .validate_offset_commit(&req.member_id, req.generation_id)
        {
            Ok(()) => None,
            Err(Error::StaleMemberEpoch { expected, got }) => {
                Some(Error::IllegalGeneration { expected, got })
            }
            Err(e) => Some(e),
        }),
        Some(group) => {
            if req.generation_id < 0 && group.state == GroupState::Empty {
                None
            } else if req.generation_id >= 0
                || !req.member_id.is_empty()
                || req.group_instance_id.is_some()
            {
                if let Err(e) = group.check_static(&req.member_id, req.group_instance_id.as_deref())
                {
                    Some(e)
                } else if !group.members.contains_key(&req.member_id) {
                    Some(Error::UnknownMemberId)
                } else if req.generation_id != group.generation_id {
                    Some(Error::IllegalGeneration {
                        expected: group.generation_id,
                        got: req.generation_id,
                    })
                } else {
                    None
                }
            } else {
                None
            }
        }
    };
    match group_error {
        Some(e) => fail_all(req, e),
        None => offset_records(req, max_metadata, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CommitPartition;

    fn req(group: &str, generation_id: i32, member_id: &str, offset: i64) -> CommitOffsets {
        CommitOffsets {
            group_id: group.to_string(),
            generation_id,
            member_id: member_id.to_string(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".to_string(),
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: None,
            }],
        }
    }

    fn committed(groups: &BTreeMap<String, Group>, group: &str) -> Option<i64> {
        groups
            .get(group)
            .and_then(|g| g.offsets.get(&("t".to_string(), 0)))
            .map(|v| v.offset)
    }

    #[test]
    fn pending_until_the_marker_then_committed_or_dropped() {
        let mut groups = BTreeMap::new();
        let mut pending = PendingTxnOffsets::default();
        // An unknown group with a generation is ILLEGAL_GENERATION; with -1 a simple group is made.
        let (results, records) = txn_commit_offsets(&mut groups, 4096, &req("g", 3, "m", 5), 0);
        assert!(records.is_empty());
        assert!(matches!(
            results[0].error,
            Some(Error::IllegalGeneration { .. })
        ));
        let (results, records) = txn_commit_offsets(&mut groups, 4096, &req("g", -1, "", 5), 0);
        assert_eq!(results[0].error, None);
        // With a generation, a member id the group does not know is UNKNOWN_MEMBER_ID (KIP-447).
        let (results, _) = txn_commit_offsets(&mut groups, 4096, &req("g", 0, "ghost", 5), 0);
        assert_eq!(results[0].error, Some(Error::UnknownMemberId));

        for r in &records {
            pending.replay(7, r);
        }
        assert!(pending.has_pending("g", "t", 0));
        assert_eq!(committed(&groups, "g"), None);
        // A marker in another partition's groups changes nothing here.
        pending.complete(&mut groups, 7, true, |g| g != "g", 0);
        assert!(pending.has_pending("g", "t", 0));
        pending.complete(&mut groups, 7, true, |g| g == "g", 0);
        assert!(!pending.has_pending("g", "t", 0));
        assert_eq!(committed(&groups, "g"), Some(5));

        let (_, records) = txn_commit_offsets(&mut groups, 4096, &req("g", -1, "", 9), 0);
        for r in &records {
            pending.replay(8, r);
        }
        pending.complete(&mut groups, 8, false, |_| true, 0);
        assert!(!pending.has_pending("g", "t", 0));
        assert_eq!(
            committed(&groups, "g"),
            Some(5),
            "aborted offsets are dropped"
        );
    }
}
