//! The group coordinator's facade (Kafka's `GroupCoordinatorShard`): owns every group of this coordinator
//! and routes each call to the manager that owns it — classic groups to `classic/`, KIP-848 consumer groups
//! to `consumer/`, committed offsets to `offsets/` — and each persisted record back to the right one at
//! load ([`GroupCoordinator::replay`]). It also holds what crosses managers: the timer (`tick`, classic and
//! consumer expiry in Kafka's order), ListGroups over both kinds of group, DeleteGroups (consumer records,
//! offsets and the group, tombstoned together), unloading groups that moved, and the queue of KIP-848
//! records for [`GroupCoordinator::take_records`].
//!
//! Every call takes `now` and returns what to answer and what to persist (see `types.rs`); the managers do
//! the work, so no transition lives here. Does not know the wire format, topics' existence, or the clock.

use std::collections::BTreeMap;

use crate::config::GroupConfig;
use crate::error::Error;
use crate::group::{Group, MemberIds};
use crate::record::{Record, TopicMeta};
use crate::types::{
    CommitOffsets, CommittedOffset, ConsumerGroupDescription, ConsumerHeartbeat,
    ConsumerHeartbeatResult, Effects, GroupDescription, GroupListing, GroupState, JoinGroup,
    LeaveMember, Reply, SyncGroup, Token, TopicPartitionResult,
};
use crate::{classic, consumer, offsets};

#[cfg(test)]
mod tests;

/// All groups of this coordinator.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    member_ids: MemberIds,
    /// KIP-848 records produced by consumer-group changes, handed out by
    /// [`take_records`](Self::take_records) (and by [`tick`](Self::tick) in its effects).
    pending_records: Vec<Record>,
    /// Answers to waiting JoinGroup/SyncGroup requests that a consumer-group call produced (a classic group
    /// converted under them), handed out by [`take_effects`](Self::take_effects) and [`tick`](Self::tick).
    pending_replies: Vec<Reply>,
    /// Offsets committed by open transactions, per producer id.
    pending_txn: offsets::PendingTxnOffsets,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            member_ids: MemberIds::default(),
            pending_records: Vec::new(),
            pending_replies: Vec::new(),
            pending_txn: offsets::PendingTxnOffsets::default(),
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Transactional offsets

    /// TxnOffsetCommit: validates the commit against the group (KIP-447) and returns per-partition
    /// results and the offset records, which the caller writes as the producer's transactional batch and
    /// then hands to [`replay_txn_offset`](Self::replay_txn_offset). `req.generation_id` carries the
    /// request's generation id (a KIP-848 group's member epoch).
    pub fn txn_commit_offsets(
        &mut self,
        req: &CommitOffsets,
        now: i64,
    ) -> (Vec<TopicPartitionResult>, Vec<Record>) {
        offsets::txn_commit_offsets(
            &mut self.groups,
            self.config.offset_metadata_max_bytes,
            req,
            now,
        )
    }

    /// Applies one transactional offset record of `producer_id` (written, or found at load): pending
    /// until the transaction's marker.
    pub fn replay_txn_offset(&mut self, record: &Record, producer_id: i64) {
        self.pending_txn.replay(producer_id, record);
    }

    /// A COMMIT (`commit`) or ABORT marker of `producer_id` reached the `__consumer_offsets` partition
    /// whose groups `in_partition` accepts: their pending offsets become committed, or are dropped.
    pub fn complete_txn(
        &mut self,
        producer_id: i64,
        commit: bool,
        in_partition: impl Fn(&str) -> bool,
        now: i64,
    ) {
        self.pending_txn
            .complete(&mut self.groups, producer_id, commit, in_partition, now);
    }

    /// Whether an open transaction holds an offset of the group's partition (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for it).
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.pending_txn.has_pending(group_id, topic, partition)
    }

    /// The KIP-848 records (ConsumerGroup* keys) that consumer-group calls such as
    /// [`consumer_heartbeat`](Self::consumer_heartbeat) produced since the last call; the caller persists
    /// them. Their changes are already in effect in memory (like classic GroupMetadata records).
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.pending_records)
    }

    /// What consumer-group calls produced since the last call: the records of
    /// [`take_records`](Self::take_records), and answers for JoinGroup/SyncGroup requests a conversion
    /// between the classic and the consumer protocol ended.
    pub fn take_effects(&mut self) -> Effects {
        Effects {
            replies: std::mem::take(&mut self.pending_replies),
            records: std::mem::take(&mut self.pending_records),
        }
    }

    /// Forgets every group (members, state, committed offsets) for which `keep` is false: their
    /// coordinator moved to another broker, which replays them from its copy of the log. Returns how many
    /// groups were dropped.
    pub fn unload(&mut self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.groups.len();
        self.groups.retain(|id, _| keep(id));
        self.pending_txn.unload(&keep);
        before - self.groups.len()
    }

    // ---------------------------------------------------------------------------------------------
    // Classic groups

    /// Handles a JoinGroup. Its answer (under `token`) is among the returned replies when it is known at
    /// once; otherwise it comes from a later call, when the rebalance completes. `topics` looks a topic up by
    /// name in the broker's current metadata (a classic member of a consumer group subscribes by name).
    pub fn join_group(
        &mut self,
        token: Token,
        req: JoinGroup,
        topics: &dyn Fn(&str) -> Option<TopicMeta>,
        now: i64,
    ) -> Effects {
        classic::join_group(
            &mut self.groups,
            &self.config,
            &mut self.member_ids,
            token,
            req,
            topics,
            now,
        )
    }

    /// Handles a SyncGroup. Followers wait (their answer comes when the leader syncs); the leader's sync
    /// stores and hands out its assignment, passed through untouched.
    pub fn sync_group(&mut self, token: Token, req: SyncGroup, now: i64) -> Effects {
        classic::sync_group(&mut self.groups, token, req, now)
    }

    /// Handles a Heartbeat: refreshes the member's session, and tells it when to rejoin.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> Result<(), Error> {
        classic::heartbeat(
            &mut self.groups,
            group_id,
            member_id,
            group_instance_id,
            generation_id,
            now,
        )
    }

    /// Handles a LeaveGroup (v3+ batches members). One result per member, in order.
    pub fn leave_group(
        &mut self,
        group_id: &str,
        leaving: &[LeaveMember],
        now: i64,
    ) -> (Vec<Result<(), Error>>, Effects) {
        classic::leave_group(&mut self.groups, &self.config, group_id, leaving, now)
    }

    /// DescribeGroups for one group; `None` when it does not exist.
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        classic::describe(&self.groups, group_id)
    }

    // ---------------------------------------------------------------------------------------------
    // KIP-848 consumer groups

    /// Handles a ConsumerGroupHeartbeat: join (epoch 0), leave (epoch -1/-2), or keep alive and reconcile.
    /// `topics` looks a topic up by name in the broker's current metadata. The records of what changed
    /// queue up for [`take_records`](Self::take_records).
    pub fn consumer_heartbeat(
        &mut self,
        req: ConsumerHeartbeat,
        topics: &dyn Fn(&str) -> Option<TopicMeta>,
        now: i64,
    ) -> Result<ConsumerHeartbeatResult, Error> {
        let group_id = req.group_id.clone();
        let out = consumer::heartbeat(
            &mut self.groups,
            &self.config,
            &mut self.member_ids,
            req,
            topics,
            now,
        );
        self.pending_records.extend(out.records);
        self.pending_replies.extend(out.replies);
        if let Some(leaving) = out.downgrade {
            let mut fx = Effects::default();
            classic::downgrade_group(
                &mut self.groups,
                &self.config,
                &group_id,
                &leaving,
                now,
                &mut fx,
            );
            self.pending_records.extend(fx.records);
            self.pending_replies.extend(fx.replies);
        }
        out.result
    }

    /// ConsumerGroupDescribe for one group: `Err(GroupIdNotFound)` when it does not exist or is classic.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, Error> {
        consumer::describe(&self.groups, group_id)
    }

    // ---------------------------------------------------------------------------------------------
    // Offsets

    /// Validates a commit and returns the records that make it; nothing changes until they are replayed.
    /// A simple commit (generation -1, no member) is allowed only while the group has no members, and
    /// creates the group if needed.
    pub fn commit_offsets(
        &mut self,
        req: &CommitOffsets,
        now: i64,
    ) -> (Vec<TopicPartitionResult>, Vec<Record>) {
        offsets::commit_offsets(&mut self.groups, &self.config, req, now)
    }

    /// Committed offsets of a group: of the listed partitions (`None` for ones never committed), or all of
    /// them when `partitions` is `None`. An unknown group has no offsets.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<CommittedOffset> {
        offsets::fetch_offsets(&self.groups, group_id, partitions)
    }

    /// OffsetFetch v9 (Kafka's `ConsumerGroup.validateOffsetFetch`): a fetch naming a member of a consumer
    /// group must come from an existing member at its current epoch. Admin fetches (no member id, epoch < 0),
    /// classic groups and unknown groups are not checked.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), Error> {
        offsets::validate_fetch(&self.groups, group_id, member_id, member_epoch)
    }

    /// OffsetDelete: removes committed offsets of partitions no member is subscribed to. Returns the
    /// per-partition outcome and the tombstones; the offsets go when the tombstones are replayed.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<TopicPartitionResult>, Vec<Record>), Error> {
        offsets::delete_offsets(&self.groups, group_id, partitions)
    }

    /// Kafka's offset expiration (every `offsets.retention.check.interval.ms`): offsets of an empty group
    /// expire `offsets.retention.minutes` after the later of their commit and the group becoming empty; an
    /// empty group left without offsets is deleted. Returns the tombstones to persist.
    pub fn expire_offsets(&mut self, now: i64) -> Vec<Record> {
        offsets::expire_offsets(&mut self.groups, &self.config, now)
    }

    // ---------------------------------------------------------------------------------------------
    // Timers

    /// Advances every group to `now`: removes KIP-848 members whose session or revocation deadline passed,
    /// then expires classic KIP-394 pending members and sessions, ends the initial delay and rebalances
    /// whose timeout passed, and removes members that never synced. The effects carry every queued KIP-848
    /// record too.
    pub fn tick(&mut self, now: i64) -> Effects {
        let mut fx = Effects::default();
        let (expired, downgrades) = consumer::expire_members(&mut self.groups, &self.config, now);
        self.pending_records.extend(expired);
        fx.records.append(&mut self.pending_records);
        fx.replies.append(&mut self.pending_replies);
        for (group_id, leaving) in downgrades {
            classic::downgrade_group(
                &mut self.groups,
                &self.config,
                &group_id,
                &leaving,
                now,
                &mut fx,
            );
        }
        classic::tick(&mut self.groups, &self.config, now, &mut fx);
        fx
    }

    // ---------------------------------------------------------------------------------------------
    // Admin across managers

    /// ListGroups, optionally filtered by states (empty filter: all).
    pub fn list_groups(&self, states: &[GroupState]) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state))
            .map(|g| GroupListing {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                group_type: if g.consumer.is_some() {
                    "consumer"
                } else {
                    "classic"
                },
            })
            .collect()
    }

    /// DeleteGroups for one group: only a group without members; its offsets and metadata are tombstoned.
    pub fn delete_group(&mut self, group_id: &str) -> Result<Vec<Record>, Error> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(Error::GroupIdNotFound);
        };
        if !group.members.is_empty() || group.state != GroupState::Empty {
            return Err(Error::NonEmptyGroup);
        }
        let Some(group) = self.groups.remove(group_id) else {
            return Err(Error::GroupIdNotFound);
        };
        let mut records = group
            .consumer
            .as_ref()
            .map(|cg| consumer::tombstones(group_id, cg))
            .unwrap_or_default();
        records.extend(offsets::delete_all_offsets(group_id, &group));
        records.push(Record::Group {
            group_id: group_id.to_string(),
            value: None,
        });
        Ok(records)
    }

    // ---------------------------------------------------------------------------------------------
    // Replay

    /// Applies one persisted record: at start-up for every record of `__consumer_offsets` in log order, and
    /// at run time for the offset records `commit_offsets`/`delete_offsets` returned, once durable. A group
    /// record restores the group as of its generation (members come back Stable, with a fresh session).
    pub fn replay(&mut self, record: &Record, now: i64) {
        match record {
            Record::Offset {
                group_id,
                topic,
                partition,
                value,
            } => offsets::replay(
                &mut self.groups,
                group_id,
                topic,
                *partition,
                value.as_ref(),
                now,
            ),
            Record::Group { group_id, value } => {
                classic::replay(&mut self.groups, group_id, value.as_ref(), now)
            }
            Record::Consumer {
                group_id,
                key,
                value,
            } => consumer::replay(
                &mut self.groups,
                &self.config,
                group_id,
                key,
                value.as_ref(),
                now,
            ),
        }
    }
}
