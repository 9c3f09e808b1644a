//! The controller: pure functions that check a topic, partition or config request against a
//! `MetadataImage` with Kafka's validation and error semantics, and return the record to
//! propose. No clock, no sockets, no state: nothing changes until the record is applied
//! (image.rs re-checks it then, because another proposal may have won the race; partition
//! changes carry the partition epoch they were computed from for that reason).
//! Covers topic and partition creation (rack-aware placement), deletion, configs, and the
//! multi-broker duties of Kafka's KRaft `ReplicationControlManager`: fencing and unfencing
//! brokers, controlled shutdown, AlterPartition, ElectLeaders and reassignment (KIP-455).
//! Config *names and values* are not validated here; that is the broker's job. When to call
//! these (sessions, ticks) is liveness.rs's business.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::TopicError;
use crate::image::{MetadataImage, PartitionImage, TopicImage};
use crate::record::{ConfigResource, MetadataRecord, PartitionChange};

/// Kafka's `Topic.MAX_NAME_LENGTH`.
const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// One topic of a CreateTopics request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1 means the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1 means the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment, partition index to replicas; empty for automatic placement.
    /// When set, `num_partitions` and `replication_factor` must both be -1.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    /// Config overrides (names already validated by the broker).
    pub configs: BTreeMap<String, String>,
}

/// Kafka's `Topic.validate`: non-empty, at most 249 characters, only `[a-zA-Z0-9._-]`, and
/// neither "." nor "..".
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidTopic(
            "Topic name is illegal, it can't be empty".to_string(),
        ));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidTopic(
            "Topic name cannot be \".\" or \"..\"".to_string(),
        ));
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// The CreateTopic record for `topic`, or why Kafka would refuse it.
///
/// `default_partitions` is the broker's `num.partitions`, `default_replication` its
/// `default.replication.factor`. Automatic placement is Kafka's round-robin over the live
/// (registered, unfenced) brokers, starting at an index drawn from the new topic id, and
/// rack-aware when any live broker has a rack (see `place_replicas`); the leader is the first
/// replica, the isr all live replicas, epochs start at 0.
pub fn create_topic_records(
    image: &MetadataImage,
    topic: &NewTopic,
    default_partitions: i32,
    default_replication: i16,
) -> Result<MetadataRecord, TopicError> {
    let name = topic.name.as_str();
    validate_topic_name(name)?;
    if image.topics.contains_key(name) {
        return Err(TopicError::TopicAlreadyExists(name.to_string()));
    }
    // Metric names replace '.' with '_', so Kafka refuses topics that differ only there.
    if name.contains(['.', '_']) {
        let normalized = name.replace('.', "_");
        if let Some(existing) = image
            .topics
            .keys()
            .find(|t| t.replace('.', "_") == normalized)
        {
            return Err(TopicError::InvalidTopic(format!(
                "Topic '{name}' collides with existing topic: {existing}"
            )));
        }
    }

    let topic_id = new_topic_id(image);
    let replica_lists = if topic.assignments.is_empty() {
        let num_partitions = if topic.num_partitions == -1 {
            default_partitions
        } else {
            topic.num_partitions
        };
        if num_partitions < 1 {
            return Err(TopicError::InvalidPartitions(
                "Number of partitions was set to an invalid non-positive value.".to_string(),
            ));
        }
        let replication_factor = if topic.replication_factor == -1 {
            default_replication
        } else {
            topic.replication_factor
        };
        if replication_factor < 1 {
            return Err(TopicError::InvalidReplicationFactor(
                "Replication factor must be larger than 0, or -1 to use the default value."
                    .to_string(),
            ));
        }
        let live = image.live_brokers();
        check_replication_factor(replication_factor, &live)?;
        place_replicas(
            image,
            &live,
            0,
            num_partitions,
            usize::from(replication_factor.unsigned_abs()),
            topic_id,
        )
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(TopicError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. \
                 Both cannot be used at the same time."
                    .to_string(),
            ));
        }
        let mut lists = Vec::with_capacity(topic.assignments.len());
        for (expected, (&partition, replicas)) in (0..).zip(&topic.assignments) {
            if partition != expected {
                return Err(TopicError::InvalidReplicaAssignment(
                    "Partitions should be a consecutive 0-based integer sequence".to_string(),
                ));
            }
            let first_len = lists.first().map(Vec::len);
            check_manual_replicas(image, replicas, first_len)?;
            lists.push(replicas.clone());
        }
        lists
    };

    Ok(MetadataRecord::CreateTopic {
        name: name.to_string(),
        topic_id,
        configs: topic.configs.clone(),
        partitions: new_partitions(image, 0, replica_lists)?,
    })
}

/// The DeleteTopic record for the topic named `name` or with id `id` (exactly one must be
/// given; a nil id counts as absent, as Kafka's ZERO_UUID does).
pub fn delete_topic_records(
    image: &MetadataImage,
    name: Option<&str>,
    id: Option<Uuid>,
) -> Result<MetadataRecord, TopicError> {
    let id = id.filter(|id| !id.is_nil());
    let topic_id = match (name, id) {
        (Some(name), None) => {
            image
                .topic(name)
                .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?
                .topic_id
        }
        (None, Some(id)) => {
            image
                .topic_by_id(id)
                .ok_or(TopicError::UnknownTopicId(id))?
                .topic_id
        }
        (Some(_), Some(_)) => {
            return Err(TopicError::InvalidRequest(
                "Topic name and topic id cannot both be set.".to_string(),
            ))
        }
        (None, None) => {
            return Err(TopicError::InvalidRequest(
                "Either a topic name or a topic id must be set.".to_string(),
            ))
        }
    };
    Ok(MetadataRecord::DeleteTopic { topic_id })
}

/// The CreatePartitions record that grows `topic` to `new_total` partitions. `assignments`,
/// when given, holds the replicas of each new partition (so `new_total - current` lists).
pub fn create_partitions_records(
    image: &MetadataImage,
    topic: &str,
    new_total: i32,
    assignments: Option<Vec<Vec<i32>>>,
) -> Result<MetadataRecord, TopicError> {
    let existing = image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownTopic(topic.to_string()))?;
    let current = i32::try_from(existing.partitions.len()).unwrap_or(i32::MAX);
    if new_total < current {
        return Err(TopicError::InvalidPartitions(format!(
            "Topic currently has {current} partitions, which is higher than the requested {new_total}."
        )));
    }
    if new_total == current {
        return Err(TopicError::InvalidPartitions(format!(
            "Topic already has {current} partitions."
        )));
    }
    let replication = existing
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len());
    let additional = new_total - current;

    let replica_lists = match assignments {
        Some(lists) => {
            if i32::try_from(lists.len()).ok() != Some(additional) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                    lists.len()
                )));
            }
            for replicas in &lists {
                check_manual_replicas(image, replicas, Some(replication))?;
            }
            lists
        }
        None => {
            let live = image.live_brokers();
            let factor = i16::try_from(replication).unwrap_or(i16::MAX);
            check_replication_factor(factor, &live)?;
            place_replicas(
                image,
                &live,
                current,
                additional,
                replication,
                existing.topic_id,
            )
        }
    };

    Ok(MetadataRecord::CreatePartitions {
        topic_id: existing.topic_id,
        partitions: new_partitions(image, current, replica_lists)?,
    })
}

/// The AlterConfigs record setting `set` and removing `delete` on `resource`. A topic must
/// exist; a key may not be both set and deleted.
pub fn alter_config_records(
    image: &MetadataImage,
    resource: ConfigResource,
    set: BTreeMap<String, String>,
    delete: Vec<String>,
) -> Result<MetadataRecord, TopicError> {
    if let ConfigResource::Topic(name) = &resource {
        if image.topic(name).is_none() {
            return Err(TopicError::UnknownTopic(name.clone()));
        }
    }
    if let Some(key) = delete.iter().find(|k| set.contains_key(*k)) {
        return Err(TopicError::InvalidRequest(format!(
            "Config {key} is both set and deleted in one request."
        )));
    }
    Ok(MetadataRecord::AlterConfigs {
        resource,
        set,
        delete,
    })
}

/// Topic config that allows electing a replica outside the isr (Kafka
/// `unclean.leader.election.enable`); overrides the broker default passed in as
/// `unclean_default`.
pub const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

/// Whether `topic` allows unclean leader election: its config override when set to a boolean,
/// else the broker default.
fn unclean_allowed(topic: &TopicImage, unclean_default: bool) -> bool {
    match topic
        .configs
        .get(UNCLEAN_LEADER_ELECTION_ENABLE)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("true") => true,
        Some("false") => false,
        _ => unclean_default,
    }
}

/// Which brokers may be given leadership or a new place in an isr: alive in the image (or the
/// one `also_alive` broker about to be unfenced) and not `excluded` (brokers being fenced or in
/// controlled shutdown).
struct Eligible<'a> {
    image: &'a MetadataImage,
    excluded: &'a [i32],
    also_alive: Option<i32>,
}

impl Eligible<'_> {
    fn new<'a>(image: &'a MetadataImage, excluded: &'a [i32]) -> Eligible<'a> {
        Eligible {
            image,
            excluded,
            also_alive: None,
        }
    }

    fn ok(&self, node: i32) -> bool {
        !self.excluded.contains(&node) && (self.also_alive == Some(node) || self.image.alive(node))
    }

    /// The leader a clean election picks: the first eligible replica in `isr`, in replica order
    /// with the replicas a reassignment removes last (Kafka elects from the target replicas).
    fn clean(&self, p: &PartitionImage, isr: &[i32]) -> Option<i32> {
        election_order(p).find(|r| isr.contains(r) && self.ok(*r))
    }

    /// A clean election, or with `unclean` an unclean one when no isr member is eligible: the
    /// first eligible replica, which becomes the whole isr. Returns the leader and the isr.
    fn elect(&self, p: &PartitionImage, isr: &[i32], unclean: bool) -> Option<(i32, Vec<i32>)> {
        if let Some(leader) = self.clean(p, isr) {
            return Some((leader, isr.to_vec()));
        }
        if unclean {
            return election_order(p)
                .find(|r| self.ok(*r))
                .map(|leader| (leader, vec![leader]));
        }
        None
    }
}

/// Replicas in the order elections consider them: the replica list, with the replicas a
/// reassignment removes moved to the end.
fn election_order(p: &PartitionImage) -> impl Iterator<Item = i32> + '_ {
    let removing = &p.removing_replicas;
    p.replicas
        .iter()
        .copied()
        .filter(|r| !removing.contains(r))
        .chain(p.replicas.iter().copied().filter(|r| removing.contains(r)))
}

/// `list` without `node`, order kept.
fn without(list: &[i32], node: i32) -> Vec<i32> {
    list.iter().copied().filter(|r| *r != node).collect()
}

/// An empty change of `p` that only applies while `p` is at its current partition epoch.
fn change_of(topic: &TopicImage, p: &PartitionImage) -> PartitionChange {
    PartitionChange {
        topic_id: topic.topic_id,
        partition: p.partition,
        expected_partition_epoch: Some(p.partition_epoch),
        ..PartitionChange::default()
    }
}

/// The records that fence `node_id` (Kafka's session expiry and the end of a controlled
/// shutdown): `FenceBroker` (unless already fenced), then for every partition the node is in:
/// it leaves the isr unless it is the last member (Kafka keeps the last one, so it is known
/// where the newest data is), and a partition it led gets a new leader from the live isr, or
/// with unclean election allowed (topic `unclean.leader.election.enable`, else
/// `unclean_default`) the first live replica as the whole isr, or none (-1). An unknown broker
/// gives no records.
pub fn fence_broker_records(
    image: &MetadataImage,
    node_id: i32,
    unclean_default: bool,
) -> Vec<MetadataRecord> {
    fence_records(image, node_id, unclean_default, &[])
}

/// `fence_broker_records`, never electing a broker of `excluded`.
pub(crate) fn fence_records(
    image: &MetadataImage,
    node_id: i32,
    unclean_default: bool,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let Some(broker) = image.brokers.get(&node_id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !broker.fenced {
        out.push(MetadataRecord::FenceBroker { node_id });
    }
    let mut excluded = excluded.to_vec();
    excluded.push(node_id);
    let eligible = Eligible::new(image, &excluded);
    for (topic, p) in image.all_partitions() {
        let leads = p.leader == node_id;
        let shrinks = p.isr.len() > 1 && p.isr.contains(&node_id);
        if !leads && !shrinks {
            continue;
        }
        let mut isr = if shrinks {
            without(&p.isr, node_id)
        } else {
            p.isr.clone()
        };
        let mut change = change_of(topic, p);
        if leads {
            let leader = match eligible.elect(p, &isr, unclean_allowed(topic, unclean_default)) {
                Some((leader, new_isr)) => {
                    isr = new_isr;
                    leader
                }
                None => -1,
            };
            change.leader = Some(leader);
        }
        if isr != p.isr {
            change.isr = Some(isr);
        }
        out.push(MetadataRecord::PartitionChange(change));
    }
    out
}

/// The records that unfence `node_id` (a fenced broker heartbeats again): `UnfenceBroker`
/// (unless already unfenced), then for every leaderless partition the node is a replica of, an
/// election that counts the node as alive: it (or another live isr member) leads when it is in
/// the isr, or with unclean election allowed it leads as the whole isr. An unknown broker
/// gives no records.
pub fn unfence_broker_records(
    image: &MetadataImage,
    node_id: i32,
    unclean_default: bool,
) -> Vec<MetadataRecord> {
    unfence_records(image, node_id, unclean_default, &[])
}

/// `unfence_broker_records`, never electing a broker of `excluded`.
pub(crate) fn unfence_records(
    image: &MetadataImage,
    node_id: i32,
    unclean_default: bool,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let Some(broker) = image.brokers.get(&node_id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if broker.fenced {
        out.push(MetadataRecord::UnfenceBroker { node_id });
    }
    out.extend(leaderless_records(
        image,
        Some(node_id),
        unclean_default,
        excluded,
    ));
    out
}

/// Elections for leaderless partitions (of which `node`, when given, is a replica; that node
/// counts as alive). Used when a broker is unfenced and by the periodic tick, which repairs a
/// partition left leaderless by a race.
pub(crate) fn leaderless_records(
    image: &MetadataImage,
    node: Option<i32>,
    unclean_default: bool,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let eligible = Eligible {
        image,
        excluded,
        also_alive: node,
    };
    let mut out = Vec::new();
    for (topic, p) in image.all_partitions() {
        if p.leader != -1 || node.is_some_and(|n| !p.replicas.contains(&n)) {
            continue;
        }
        if let Some((leader, isr)) =
            eligible.elect(p, &p.isr, unclean_allowed(topic, unclean_default))
        {
            let mut change = change_of(topic, p);
            change.leader = Some(leader);
            if isr != p.isr {
                change.isr = Some(isr);
            }
            out.push(MetadataRecord::PartitionChange(change));
        }
    }
    out
}

/// The records of a controlled shutdown step for `node_id` (Kafka's `BrokerHeartbeat` with
/// `wantShutDown`): every partition it leads moves to another live isr member, which it
/// leaves; a partition without one becomes leaderless (the node keeps its isr place, being
/// the last copy). Where it follows in an isr with a live leader it leaves the isr. Does not
/// fence: once these records are applied the caller fences with `fence_broker_records`. Empty
/// when nothing is left to move, i.e. the broker is ready to shut down.
pub fn controlled_shutdown_records(image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
    controlled_shutdown_excluding(image, node_id, &[])
}

/// `controlled_shutdown_records`, never electing a broker of `excluded`.
pub(crate) fn controlled_shutdown_excluding(
    image: &MetadataImage,
    node_id: i32,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let mut excluded = excluded.to_vec();
    excluded.push(node_id);
    let eligible = Eligible::new(image, &excluded);
    let mut out = Vec::new();
    for (topic, p) in image.all_partitions() {
        let leads = p.leader == node_id;
        if !leads && !p.isr.contains(&node_id) {
            continue;
        }
        let isr = without(&p.isr, node_id);
        let leader = if leads || p.leader == -1 {
            eligible.clean(p, &isr)
        } else {
            Some(p.leader)
        };
        let mut change = change_of(topic, p);
        match leader {
            Some(leader) if !isr.is_empty() => {
                if leader != p.leader {
                    change.leader = Some(leader);
                }
                change.isr = Some(isr);
            }
            _ if leads => change.leader = Some(-1),
            _ => continue,
        }
        out.push(MetadataRecord::PartitionChange(change));
    }
    out
}

/// An AlterPartition request (Kafka API 56) of one partition, as the leader sends it when its
/// isr should shrink or grow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartitionRequest {
    pub topic_id: Uuid,
    pub partition: i32,
    /// The broker sending the request, which must lead the partition.
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The record for an AlterPartition request, with Kafka's checks in Kafka's order: the
/// partition exists (UNKNOWN_TOPIC_ID / UNKNOWN_TOPIC_OR_PARTITION), the sender leads it
/// (NOT_LEADER_OR_FOLLOWER), at the current leader epoch (FENCED_LEADER_EPOCH) and partition
/// epoch (INVALID_UPDATE_VERSION); the new isr holds the leader, is made of distinct replicas
/// (INVALID_REQUEST), and every member it adds is alive (INELIGIBLE_REPLICA). When a
/// reassignment is in progress and the new isr completes it, the same record completes it.
pub fn alter_partition_records(
    image: &MetadataImage,
    req: &AlterPartitionRequest,
) -> Result<MetadataRecord, TopicError> {
    let topic = image
        .topic_by_id(req.topic_id)
        .ok_or(TopicError::UnknownTopicId(req.topic_id))?;
    let tp = format!("{}-{}", topic.name, req.partition);
    let p = topic
        .partitions
        .get(&req.partition)
        .ok_or_else(|| TopicError::UnknownTopic(tp.clone()))?;
    if req.leader_id != p.leader {
        return Err(TopicError::NotLeaderOrFollower(format!(
            "Broker {} is not the leader of {tp} (the leader is {}).",
            req.leader_id, p.leader
        )));
    }
    if req.leader_epoch != p.leader_epoch {
        return Err(TopicError::FencedLeaderEpoch(format!(
            "Leader epoch {} of {tp} is not the current leader epoch {}.",
            req.leader_epoch, p.leader_epoch
        )));
    }
    if req.partition_epoch != p.partition_epoch {
        return Err(TopicError::InvalidUpdateVersion(format!(
            "Partition epoch {} of {tp} is not the current partition epoch {}.",
            req.partition_epoch, p.partition_epoch
        )));
    }
    let distinct = req
        .new_isr
        .iter()
        .enumerate()
        .all(|(i, r)| !req.new_isr[..i].contains(r));
    if !req.new_isr.contains(&p.leader)
        || !distinct
        || req.new_isr.iter().any(|r| !p.replicas.contains(r))
    {
        return Err(TopicError::InvalidRequest(format!(
            "The new isr {:?} of {tp} must hold the leader {} and distinct replicas of {:?}.",
            req.new_isr, p.leader, p.replicas
        )));
    }
    if let Some(r) = req
        .new_isr
        .iter()
        .find(|r| !p.isr.contains(r) && !image.alive(**r))
    {
        return Err(TopicError::IneligibleReplica(format!(
            "Replica {r} of {tp} is fenced or not registered and cannot join the isr."
        )));
    }
    let mut change = change_of(topic, p);
    change.isr = Some(req.new_isr.clone());
    if let Some(done) = completed_reassignment(&Eligible::new(image, &[]), p, &req.new_isr) {
        done.write(p, &mut change);
    }
    Ok(MetadataRecord::PartitionChange(change))
}

/// The end state of a reassignment that can complete.
struct Completed {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    leader: i32,
}

impl Completed {
    fn write(self, p: &PartitionImage, change: &mut PartitionChange) {
        if self.leader != p.leader {
            change.leader = Some(self.leader);
        }
        change.replicas = Some(self.replicas);
        change.isr = Some(self.isr);
        change.adding_replicas = Some(Vec::new());
        change.removing_replicas = Some(Vec::new());
    }
}

/// Kafka's `PartitionReassignmentReplicas.maybeCompleteReassignment`: a reassignment of `p`
/// completes once every adding replica is in `isr` and some isr member stays; the replicas
/// become the target ones and the isr loses the removed ones. A leader being removed hands
/// over to the first eligible target replica in the isr; without one it does not complete yet.
fn completed_reassignment(
    eligible: &Eligible<'_>,
    p: &PartitionImage,
    isr: &[i32],
) -> Option<Completed> {
    if !p.reassigning() {
        return None;
    }
    let isr: Vec<i32> = isr
        .iter()
        .copied()
        .filter(|r| !p.removing_replicas.contains(r))
        .collect();
    if isr.is_empty() || p.adding_replicas.iter().any(|r| !isr.contains(r)) {
        return None;
    }
    let replicas = p.target_replicas();
    let leader = if p.leader != -1 && isr.contains(&p.leader) {
        p.leader
    } else {
        match replicas
            .iter()
            .copied()
            .find(|r| isr.contains(r) && eligible.ok(*r))
        {
            Some(leader) => leader,
            None if p.leader == -1 => -1,
            None => return None,
        }
    };
    Some(Completed {
        replicas,
        isr,
        leader,
    })
}

/// The kind of an ElectLeaders request (Kafka's `ElectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    /// Kafka 0: make the first replica leader.
    Preferred,
    /// Kafka 1: elect a leader for a leaderless partition, outside the isr if need be.
    Unclean,
}

impl ElectionType {
    /// From Kafka's wire value; `None` for an unknown one (INVALID_REQUEST).
    pub fn from_kafka(value: i8) -> Option<ElectionType> {
        match value {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// One partition's outcome in an ElectLeaders response.
pub type ElectionResult = (String, i32, Result<(), TopicError>);

/// The records and per-partition results of an ElectLeaders request (Kafka API 43).
/// `partitions` of `None` means every partition, and then (as in Kafka) partitions that need
/// no election are left out of the results. Preferred: the first replica becomes leader if it
/// is alive and in the isr (ELECTION_NOT_NEEDED when it leads already,
/// PREFERRED_LEADER_NOT_AVAILABLE otherwise). Unclean: only a leaderless partition gets a
/// leader, from the live isr or else the first live replica as the whole isr
/// (ELECTION_NOT_NEEDED when it has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE without a live
/// replica); an explicit unclean election does not consult `unclean.leader.election.enable`,
/// so `unclean_default` does not change the outcome today. Unknown partitions get
/// UNKNOWN_TOPIC_OR_PARTITION, a repeated one INVALID_REQUEST.
pub fn elect_leaders_records(
    image: &MetadataImage,
    partitions: Option<&[(String, i32)]>,
    election: ElectionType,
    unclean_default: bool,
) -> (Vec<MetadataRecord>, Vec<ElectionResult>) {
    // Kafka's UNCLEAN election ignores the topic config; kept for callers that may pass it.
    let _ = unclean_default;
    let eligible = Eligible::new(image, &[]);
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut elect = |topic: &TopicImage, p: &PartitionImage| -> Result<(), TopicError> {
        let tp = format!("{}-{}", topic.name, p.partition);
        let mut change = change_of(topic, p);
        match election {
            ElectionType::Preferred => {
                let preferred = p.replicas.first().copied().unwrap_or(-1);
                if p.leader == preferred {
                    return Err(TopicError::ElectionNotNeeded(format!(
                        "Leader election not needed for topic partition {tp}."
                    )));
                }
                if !p.isr.contains(&preferred) || !eligible.ok(preferred) {
                    return Err(TopicError::PreferredLeaderNotAvailable(format!(
                        "Failed to elect leader for partition {tp} under strategy \
                         PreferredReplicaPartitionLeaderElectionStrategy: preferred replica \
                         {preferred} is not alive or not in the isr."
                    )));
                }
                change.leader = Some(preferred);
            }
            ElectionType::Unclean => {
                if p.leader != -1 {
                    return Err(TopicError::ElectionNotNeeded(format!(
                        "Leader election not needed for topic partition {tp}."
                    )));
                }
                let (leader, isr) = eligible.elect(p, &p.isr, true).ok_or_else(|| {
                    TopicError::EligibleLeadersNotAvailable(format!(
                        "Failed to elect leader for partition {tp}: no replica is alive."
                    ))
                })?;
                change.leader = Some(leader);
                if isr != p.isr {
                    change.isr = Some(isr);
                }
            }
        }
        records.push(MetadataRecord::PartitionChange(change));
        Ok(())
    };
    match partitions {
        None => {
            for (topic, p) in image.all_partitions() {
                let result = elect(topic, p);
                if !matches!(result, Err(TopicError::ElectionNotNeeded(_))) {
                    results.push((topic.name.clone(), p.partition, result));
                }
            }
        }
        Some(list) => {
            let mut seen = HashSet::new();
            for (name, partition) in list {
                let result = if !seen.insert((name.as_str(), *partition)) {
                    Err(TopicError::InvalidRequest(format!(
                        "Partition {name}-{partition} appears more than once."
                    )))
                } else {
                    match image
                        .topic(name)
                        .and_then(|t| t.partitions.get(partition).map(|p| (t, p)))
                    {
                        Some((topic, p)) => elect(topic, p),
                        None => Err(TopicError::UnknownTopic(format!("{name}-{partition}"))),
                    }
                };
                results.push((name.clone(), *partition, result));
            }
        }
    }
    (records, results)
}

/// The preferred-leader elections of Kafka's automatic leader rebalance
/// (`auto.leader.rebalance.enable`): every partition whose first replica is alive, in the isr
/// and not leading becomes led by it.
pub fn preferred_leader_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    preferred_leader_excluding(image, &[])
}

/// `preferred_leader_records`, never electing a broker of `excluded`.
pub(crate) fn preferred_leader_excluding(
    image: &MetadataImage,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let eligible = Eligible::new(image, excluded);
    image
        .all_partitions()
        .filter_map(|(topic, p)| {
            let preferred = *p.replicas.first()?;
            if p.leader == preferred || !p.isr.contains(&preferred) || !eligible.ok(preferred) {
                return None;
            }
            let mut change = change_of(topic, p);
            change.leader = Some(preferred);
            Some(MetadataRecord::PartitionChange(change))
        })
        .collect()
}

/// The record that starts (`Some(target)`) or cancels (`None`) a reassignment of one
/// partition (Kafka's AlterPartitionReassignments, KIP-455).
///
/// Start: the target must be non-empty, distinct, registered brokers
/// (INVALID_REPLICA_ASSIGNMENT). The replicas become the target followed by the current ones
/// not in it, `adding` the target ones not current, `removing` the current ones not in the
/// target; when that is already complete (nothing to add) the replicas become the target at
/// once. A new target replaces a reassignment in progress (relative to the current replicas,
/// as Kafka does).
///
/// Cancel: NO_REASSIGNMENT_IN_PROGRESS when none is; otherwise the replicas and isr lose the
/// adding replicas, and a leader among them hands over to a live original replica in the isr
/// (or, as Kafka's revert does, to the first live original replica as the whole isr).
pub fn reassign_records(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
) -> Result<MetadataRecord, TopicError> {
    let tp = format!("{topic}-{partition}");
    let t = image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownTopic(tp.clone()))?;
    let p = t
        .partitions
        .get(&partition)
        .ok_or_else(|| TopicError::UnknownTopic(tp.clone()))?;
    let eligible = Eligible::new(image, &[]);
    let mut change = change_of(t, p);
    match target {
        Some(target) => {
            check_reassignment_target(image, &tp, &target)?;
            let adding: Vec<i32> = target
                .iter()
                .copied()
                .filter(|r| !p.replicas.contains(r))
                .collect();
            let removing: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !target.contains(r))
                .collect();
            let mut next = p.clone();
            next.replicas = target.iter().chain(&removing).copied().collect();
            next.adding_replicas = adding;
            next.removing_replicas = removing;
            match completed_reassignment(&eligible, &next, &p.isr) {
                Some(done) => done.write(p, &mut change),
                None if !next.reassigning() => change.replicas = Some(next.replicas),
                None => {
                    change.replicas = Some(next.replicas);
                    change.adding_replicas = Some(next.adding_replicas);
                    change.removing_replicas = Some(next.removing_replicas);
                }
            }
        }
        None => {
            if !p.reassigning() {
                return Err(TopicError::NoReassignmentInProgress(format!(
                    "No reassignment is in progress for partition {tp}."
                )));
            }
            let original: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !p.adding_replicas.contains(r))
                .collect();
            let mut isr: Vec<i32> = p
                .isr
                .iter()
                .copied()
                .filter(|r| original.contains(r))
                .collect();
            let mut reverted = p.clone();
            reverted.replicas.clone_from(&original);
            reverted.adding_replicas.clear();
            reverted.removing_replicas.clear();
            let mut leader = p.leader;
            if leader == -1 || !original.contains(&leader) {
                match eligible.elect(&reverted, &isr, true) {
                    Some((l, new_isr)) if isr.is_empty() || isr.contains(&l) => {
                        leader = l;
                        if isr.is_empty() {
                            isr = new_isr;
                        }
                    }
                    _ => leader = -1,
                }
            }
            if isr.is_empty() {
                // No original replica is in the isr and none is alive: keep the first one so
                // the isr is never empty, leaderless.
                isr = original.iter().take(1).copied().collect();
            }
            if leader != p.leader {
                change.leader = Some(leader);
            }
            change.replicas = Some(original);
            change.isr = Some(isr);
            change.adding_replicas = Some(Vec::new());
            change.removing_replicas = Some(Vec::new());
        }
    }
    Ok(MetadataRecord::PartitionChange(change))
}

/// A reassignment target must be non-empty and name registered brokers once each.
fn check_reassignment_target(
    image: &MetadataImage,
    tp: &str,
    target: &[i32],
) -> Result<(), TopicError> {
    if target.is_empty() {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "The target replica list of partition {tp} is empty."
        )));
    }
    for (i, broker) in target.iter().enumerate() {
        if target[..i].contains(broker) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The target replica list of partition {tp} includes broker {broker} more than once."
            )));
        }
        if !image.brokers.contains_key(broker) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The target replica list of partition {tp} includes broker {broker}, but no such \
                 broker is registered."
            )));
        }
    }
    Ok(())
}

/// The records that complete every reassignment whose adding replicas have all joined the isr
/// (the periodic tick; AlterPartition completes them too, as the isr grows).
pub fn reassignment_progress_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    reassignment_progress_excluding(image, &[])
}

/// `reassignment_progress_records`, never electing a broker of `excluded`.
pub(crate) fn reassignment_progress_excluding(
    image: &MetadataImage,
    excluded: &[i32],
) -> Vec<MetadataRecord> {
    let eligible = Eligible::new(image, excluded);
    image
        .all_partitions()
        .filter_map(|(topic, p)| {
            let done = completed_reassignment(&eligible, p, &p.isr)?;
            let mut change = change_of(topic, p);
            done.write(p, &mut change);
            Some(MetadataRecord::PartitionChange(change))
        })
        .collect()
}

/// One reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OngoingReassignment {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    /// All current replicas, the adding and removing ones included.
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// Every reassignment in progress, in topic-name then partition order.
pub fn ongoing_reassignments(image: &MetadataImage) -> Vec<OngoingReassignment> {
    image
        .all_partitions()
        .filter(|(_, p)| p.reassigning())
        .map(|(topic, p)| OngoingReassignment {
            topic: topic.name.clone(),
            topic_id: topic.topic_id,
            partition: p.partition,
            replicas: p.replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
            removing_replicas: p.removing_replicas.clone(),
        })
        .collect()
}

/// A fresh cluster id in Kafka's form: a random uuid as 22 characters of unpadded base64-url.
pub(crate) fn new_cluster_id() -> String {
    kafka_uuid_string(random_kafka_uuid())
}

/// Kafka's `Uuid.toString`: unpadded base64-url of the 16 bytes.
pub(crate) fn kafka_uuid_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // A chunk of k bytes carries k + 1 base64 characters when unpadded.
        for i in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out
}

/// Kafka's `Uuid.randomUuid`: never nil and never printing with a leading '-', which would
/// look like a command-line flag.
fn random_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && !kafka_uuid_string(id).starts_with('-') {
            return id;
        }
    }
}

fn new_topic_id(image: &MetadataImage) -> Uuid {
    loop {
        let id = random_kafka_uuid();
        if !image.topic_ids.contains_key(&id) {
            return id;
        }
    }
}

fn check_replication_factor(replication_factor: i16, live: &[i32]) -> Result<(), TopicError> {
    if usize::from(replication_factor.unsigned_abs()) > live.len() {
        return Err(TopicError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {replication_factor} time(s): The target \
             replication factor of {replication_factor} cannot be reached because only {} \
             broker(s) are registered.",
            live.len()
        )));
    }
    Ok(())
}

/// A manual replica list must be non-empty, name registered brokers once each, and match the
/// replication factor of the other partitions (`expected_len`).
fn check_manual_replicas(
    image: &MetadataImage,
    replicas: &[i32],
    expected_len: Option<usize>,
) -> Result<(), TopicError> {
    if replicas.is_empty() {
        return Err(TopicError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut seen = HashSet::new();
    for &broker in replicas {
        if !seen.insert(broker) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            )));
        }
        if !image.brokers.contains_key(&broker) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            )));
        }
    }
    if let Some(expected) = expected_len {
        if replicas.len() != expected {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes a partition with {} replica(s), but \
                 this is not consistent with previous partitions, which have {expected} replica(s).",
                replicas.len()
            )));
        }
    }
    Ok(())
}

/// Partition images numbered from `first`: isr = the unfenced replicas, leader = the first of
/// them. A partition with no unfenced replica cannot be created.
fn new_partitions(
    image: &MetadataImage,
    first: i32,
    replica_lists: Vec<Vec<i32>>,
) -> Result<Vec<PartitionImage>, TopicError> {
    (first..)
        .zip(replica_lists)
        .map(|(partition, replicas)| {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|r| image.brokers.get(r).is_some_and(|b| !b.fenced))
                .collect();
            let leader = *isr.first().ok_or_else(|| {
                TopicError::InvalidReplicaAssignment(format!(
                    "All brokers specified in the manual partition assignment for partition \
                     {partition} are fenced or in controlled shutdown."
                ))
            })?;
            Ok(PartitionImage {
                partition,
                replicas,
                isr,
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })
        })
        .collect()
}

/// Automatic replica placement over the live brokers `brokers` (ascending ids): Kafka's
/// `AdminUtils.assignReplicasToBrokers`, rack-aware when any of them has a rack (a broker without
/// one then counts as a rack of its own, named ""), rack-unaware otherwise.
fn place_replicas(
    image: &MetadataImage,
    brokers: &[i32],
    first_partition: i32,
    count: i32,
    replication_factor: usize,
    seed: Uuid,
) -> Vec<Vec<i32>> {
    let racks: BTreeMap<i32, &str> = brokers
        .iter()
        .map(|&b| {
            let rack = image.brokers.get(&b).and_then(|b| b.rack.as_deref());
            (b, rack.unwrap_or(""))
        })
        .collect();
    let rack_aware = brokers
        .iter()
        .any(|b| image.brokers.get(b).is_some_and(|b| b.rack.is_some()));
    if rack_aware {
        place_replicas_rack_aware(&racks, first_partition, count, replication_factor, seed)
    } else {
        place_replicas_rack_unaware(brokers, first_partition, count, replication_factor, seed)
    }
}

/// `start` and the initial shift of Kafka's placement, which Kafka draws at random; here they
/// come from `seed` (the topic id) so a placement is reproducible from its record.
fn start_and_shift(seed: Uuid, n: usize) -> (usize, usize) {
    let (hi, lo) = seed.as_u64_pair();
    ((hi % n as u64) as usize, (lo % n as u64) as usize)
}

/// Kafka's rack-unaware `assignReplicasToBrokers`: partition p's first replica is broker
/// `(p + start) % n`, the others follow at a shift that grows every n partitions, so leaders
/// and followers spread evenly.
fn place_replicas_rack_unaware(
    brokers: &[i32],
    first_partition: i32,
    count: i32,
    replication_factor: usize,
    seed: Uuid,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    if n == 0 {
        return Vec::new();
    }
    let (start_index, mut shift) = start_and_shift(seed, n);
    let first_partition = usize::try_from(first_partition).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for current in first_partition..first_partition + count {
        if current > 0 && current % n == 0 {
            shift += 1;
        }
        let first = (current + start_index) % n;
        let mut replicas = Vec::with_capacity(replication_factor);
        replicas.push(brokers[first]);
        for j in 0..replication_factor.saturating_sub(1) {
            replicas.push(brokers[replica_index(first, shift, j, n)]);
        }
        out.push(replicas);
    }
    out
}

/// Kafka's `AdminUtils.replicaIndex`: the broker index of a follower, `1 + (shift + j) % (n-1)`
/// places after the first replica, so a follower never lands on the first replica.
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1).max(1)) % n
}

/// Kafka's `getRackAlternatedBrokerList`: racks in name order, brokers of each rack in id
/// order, taking one broker from each rack in turn ("a1, b1, c1, a2, b2, a3").
fn rack_alternated_brokers(racks: &BTreeMap<i32, &str>) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, std::vec::IntoIter<i32>> = BTreeMap::new();
    {
        let mut lists: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (&broker, &rack) in racks {
            lists.entry(rack).or_default().push(broker);
        }
        for (rack, list) in lists {
            by_rack.insert(rack, list.into_iter());
        }
    }
    let mut out = Vec::with_capacity(racks.len());
    while out.len() < racks.len() {
        for brokers in by_rack.values_mut() {
            if let Some(b) = brokers.next() {
                out.push(b);
            }
        }
    }
    out
}

/// Kafka's `assignReplicasToBrokersRackAware`: the round-robin of the rack-unaware placement
/// over the rack-alternated broker list, with the follower shift scaled by the number of racks,
/// skipping a broker whose rack already holds a replica while some rack holds none, and a broker
/// already holding one while some broker holds none. Replicas of a partition thus land on as
/// many distinct racks as possible.
fn place_replicas_rack_aware(
    racks: &BTreeMap<i32, &str>,
    first_partition: i32,
    count: i32,
    replication_factor: usize,
    seed: Uuid,
) -> Vec<Vec<i32>> {
    let arranged = rack_alternated_brokers(racks);
    let n = arranged.len();
    if n == 0 {
        return Vec::new();
    }
    let num_racks = racks.values().collect::<HashSet<_>>().len();
    let rack_of = |b: i32| racks.get(&b).copied().unwrap_or("");
    let (start_index, mut shift) = start_and_shift(seed, n);
    let first_partition = usize::try_from(first_partition).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for current in first_partition..first_partition + count {
        if current > 0 && current % n == 0 {
            shift += 1;
        }
        let first = (current + start_index) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader];
        let mut racks_used: HashSet<&str> = HashSet::from([rack_of(leader)]);
        let mut k = 0;
        for _ in 0..replication_factor.saturating_sub(1) {
            // Kafka loops until a broker fits; one fits within n - 1 steps while
            // replication_factor <= n, so the bound only guards against a bad argument.
            let limit = k + 2 * n;
            loop {
                let broker = arranged[replica_index(first, shift * num_racks, k, n)];
                let rack = rack_of(broker);
                k += 1;
                let rack_ok = !racks_used.contains(rack) || racks_used.len() == num_racks;
                let broker_ok = !replicas.contains(&broker) || replicas.len() == n;
                if (rack_ok && broker_ok) || k >= limit {
                    if !replicas.contains(&broker) {
                        replicas.push(broker);
                        racks_used.insert(rack);
                    }
                    break;
                }
            }
        }
        out.push(replicas);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_brokers(ids: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &id in ids {
            image
                .apply(&MetadataRecord::RegisterBroker {
                    node_id: id,
                    host: "localhost".to_string(),
                    port: 9092 + id,
                    rack: None,
                })
                .unwrap();
        }
        image
    }

    fn new_topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
        NewTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: rf,
            ..NewTopic::default()
        }
    }

    fn create(image: &mut MetadataImage, topic: &NewTopic) -> Uuid {
        let record = create_topic_records(image, topic, 1, 1).unwrap();
        image.apply(&record).unwrap();
        image.topic(&topic.name).unwrap().topic_id
    }

    fn kind(e: &TopicError) -> &'static str {
        match e {
            TopicError::InvalidTopic(_) => "InvalidTopic",
            TopicError::TopicAlreadyExists(_) => "TopicAlreadyExists",
            TopicError::UnknownTopic(_) => "UnknownTopic",
            TopicError::UnknownTopicId(_) => "UnknownTopicId",
            TopicError::InvalidPartitions(_) => "InvalidPartitions",
            TopicError::InvalidReplicationFactor(_) => "InvalidReplicationFactor",
            TopicError::InvalidReplicaAssignment(_) => "InvalidReplicaAssignment",
            TopicError::InvalidConfig(_) => "InvalidConfig",
            TopicError::InvalidRequest(_) => "InvalidRequest",
            TopicError::InvalidUpdateVersion(_) => "InvalidUpdateVersion",
            TopicError::FencedLeaderEpoch(_) => "FencedLeaderEpoch",
            TopicError::NotLeaderOrFollower(_) => "NotLeaderOrFollower",
            TopicError::IneligibleReplica(_) => "IneligibleReplica",
            TopicError::ElectionNotNeeded(_) => "ElectionNotNeeded",
            TopicError::PreferredLeaderNotAvailable(_) => "PreferredLeaderNotAvailable",
            TopicError::EligibleLeadersNotAvailable(_) => "EligibleLeadersNotAvailable",
            TopicError::NoReassignmentInProgress(_) => "NoReassignmentInProgress",
            TopicError::BrokerNotAvailable(_) => "BrokerNotAvailable",
        }
    }

    #[test]
    fn topic_name_validation() {
        let long = "a".repeat(250);
        let max = "a".repeat(249);
        let cases: &[(&str, bool)] = &[
            ("", false),
            (".", false),
            ("..", false),
            (&long, false),
            (&max, true),
            ("a/b", false),
            ("a b", false),
            ("tëst", false),
            ("good-name_1.x", true),
            ("...", true),
            ("__consumer_offsets", true),
        ];
        for (name, ok) in cases {
            let result = validate_topic_name(name);
            assert_eq!(result.is_ok(), *ok, "{name:?}: {result:?}");
            if let Err(e) = result {
                assert_eq!(kind(&e), "InvalidTopic");
            }
        }
    }

    #[test]
    fn create_topic_defaults_and_placement() {
        let image = image_with_brokers(&[1, 2, 3]);
        let record = create_topic_records(&image, &new_topic("t", -1, -1), 6, 2).unwrap();
        let MetadataRecord::CreateTopic {
            name, partitions, ..
        } = record
        else {
            panic!("not a CreateTopic: {record:?}");
        };
        assert_eq!(name, "t");
        assert_eq!(partitions.len(), 6);
        let mut leaders = BTreeMap::new();
        for (i, p) in partitions.iter().enumerate() {
            assert_eq!(p.partition, i as i32);
            assert_eq!(p.replicas.len(), 2);
            assert_ne!(p.replicas[0], p.replicas[1]);
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
            *leaders.entry(p.leader).or_insert(0) += 1;
        }
        // Round-robin: every broker leads two of six partitions.
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    }

    #[test]
    fn create_topic_errors() {
        let mut image = image_with_brokers(&[1]);
        create(&mut image, &new_topic("exists", 1, 1));
        let cases: &[(NewTopic, &str)] = &[
            (new_topic("a/b", 1, 1), "InvalidTopic"),
            (new_topic("exists", 1, 1), "TopicAlreadyExists"),
            (new_topic("t", 0, 1), "InvalidPartitions"),
            (new_topic("t", -2, 1), "InvalidPartitions"),
            (new_topic("t", 1, 0), "InvalidReplicationFactor"),
            (new_topic("t", 1, 2), "InvalidReplicationFactor"),
        ];
        for (topic, expected) in cases {
            let err = create_topic_records(&image, topic, 1, 1).unwrap_err();
            assert_eq!(kind(&err), *expected, "{topic:?}: {err}");
        }
        // No brokers registered at all: nothing can host a replica.
        let empty = MetadataImage::default();
        let err = create_topic_records(&empty, &new_topic("t", 1, -1), 1, 1).unwrap_err();
        assert_eq!(kind(&err), "InvalidReplicationFactor");
    }

    #[test]
    fn create_topic_collision_on_dot_and_underscore() {
        let mut image = image_with_brokers(&[1]);
        create(&mut image, &new_topic("a.b", 1, 1));
        let err = create_topic_records(&image, &new_topic("a_b", 1, 1), 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Topic 'a_b' collides with existing topic: a.b"
        );
    }

    #[test]
    fn create_topic_manual_assignments() {
        let mut image = image_with_brokers(&[1, 2, 3]);
        let manual = |pairs: &[(i32, &[i32])]| NewTopic {
            name: "m".to_string(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: pairs.iter().map(|(p, r)| (*p, r.to_vec())).collect(),
            configs: BTreeMap::new(),
        };
        let record =
            create_topic_records(&image, &manual(&[(0, &[3, 1]), (1, &[2, 3])]), 1, 1).unwrap();
        let MetadataRecord::CreateTopic { partitions, .. } = &record else {
            panic!("{record:?}");
        };
        assert_eq!(partitions[0].replicas, vec![3, 1]);
        assert_eq!(partitions[0].leader, 3);
        assert_eq!(partitions[1].leader, 2);

        let bad: &[(NewTopic, &str)] = &[
            (manual(&[(1, &[1])]), "InvalidReplicaAssignment"),
            (manual(&[(0, &[])]), "InvalidReplicaAssignment"),
            (manual(&[(0, &[1, 1])]), "InvalidReplicaAssignment"),
            (manual(&[(0, &[9])]), "InvalidReplicaAssignment"),
            (
                manual(&[(0, &[1]), (1, &[1, 2])]),
                "InvalidReplicaAssignment",
            ),
            (
                NewTopic {
                    num_partitions: 2,
                    ..manual(&[(0, &[1])])
                },
                "InvalidRequest",
            ),
        ];
        for (topic, expected) in bad {
            let err = create_topic_records(&image, topic, 1, 1).unwrap_err();
            assert_eq!(kind(&err), *expected, "{topic:?}: {err}");
        }

        // A fenced broker stays out of the isr; all-fenced partitions are refused.
        image.brokers.get_mut(&3).unwrap().fenced = true;
        let record = create_topic_records(&image, &manual(&[(0, &[3, 1])]), 1, 1).unwrap();
        let MetadataRecord::CreateTopic { partitions, .. } = &record else {
            panic!("{record:?}");
        };
        assert_eq!(
            (partitions[0].leader, partitions[0].isr.clone()),
            (1, vec![1])
        );
        let err = create_topic_records(&image, &manual(&[(0, &[3])]), 1, 1).unwrap_err();
        assert_eq!(kind(&err), "InvalidReplicaAssignment");
    }

    #[test]
    fn delete_topic() {
        let mut image = image_with_brokers(&[1]);
        let id = create(&mut image, &new_topic("t", 1, 1));
        assert_eq!(
            delete_topic_records(&image, Some("t"), None).unwrap(),
            MetadataRecord::DeleteTopic { topic_id: id }
        );
        assert_eq!(
            delete_topic_records(&image, None, Some(id)).unwrap(),
            MetadataRecord::DeleteTopic { topic_id: id }
        );
        // A nil id is Kafka's "not set".
        assert!(delete_topic_records(&image, Some("t"), Some(Uuid::nil())).is_ok());
        let other = Uuid::new_v4();
        let cases: &[(Option<&str>, Option<Uuid>, &str)] = &[
            (Some("nope"), None, "UnknownTopic"),
            (None, Some(other), "UnknownTopicId"),
            (Some("t"), Some(id), "InvalidRequest"),
            (None, None, "InvalidRequest"),
        ];
        for (name, topic_id, expected) in cases {
            let err = delete_topic_records(&image, *name, *topic_id).unwrap_err();
            assert_eq!(kind(&err), *expected);
        }
        image
            .apply(&delete_topic_records(&image, Some("t"), None).unwrap())
            .unwrap();
        assert!(image.topic("t").is_none());
        assert!(image.topic_by_id(id).is_none());
    }

    #[test]
    fn create_partitions() {
        let mut image = image_with_brokers(&[1, 2]);
        let id = create(&mut image, &new_topic("t", 2, 2));
        let record = create_partitions_records(&image, "t", 5, None).unwrap();
        let MetadataRecord::CreatePartitions {
            topic_id,
            partitions,
        } = &record
        else {
            panic!("{record:?}");
        };
        assert_eq!(*topic_id, id);
        assert_eq!(
            partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(partitions.iter().all(|p| p.replicas.len() == 2));
        image.apply(&record).unwrap();
        assert_eq!(image.topic("t").unwrap().partitions.len(), 5);
        // Replaying the same record again is refused: partition 2 already exists.
        assert_eq!(
            kind(&image.apply(&record).unwrap_err()),
            "InvalidPartitions"
        );

        type Case = (&'static str, i32, Option<Vec<Vec<i32>>>, &'static str);
        let cases: &[Case] = &[
            ("nope", 6, None, "UnknownTopic"),
            ("t", 5, None, "InvalidPartitions"),
            ("t", 4, None, "InvalidPartitions"),
            ("t", 7, Some(vec![vec![1, 2]]), "InvalidReplicaAssignment"),
            ("t", 6, Some(vec![vec![1]]), "InvalidReplicaAssignment"),
            ("t", 6, Some(vec![vec![1, 7]]), "InvalidReplicaAssignment"),
        ];
        for (topic, total, assignments, expected) in cases {
            let err =
                create_partitions_records(&image, topic, *total, assignments.clone()).unwrap_err();
            assert_eq!(kind(&err), *expected, "{topic} {total}: {err}");
        }
        let record = create_partitions_records(&image, "t", 6, Some(vec![vec![2, 1]])).unwrap();
        image.apply(&record).unwrap();
        assert_eq!(image.topic("t").unwrap().partitions[&5].leader, 2);
    }

    #[test]
    fn alter_configs() {
        let mut image = image_with_brokers(&[1]);
        create(&mut image, &new_topic("t", 1, 1));
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let record = alter_config_records(
            &image,
            ConfigResource::Topic("t".to_string()),
            set(&[("retention.ms", "1000"), ("cleanup.policy", "compact")]),
            vec![],
        )
        .unwrap();
        image.apply(&record).unwrap();
        let record = alter_config_records(
            &image,
            ConfigResource::Topic("t".to_string()),
            BTreeMap::new(),
            vec!["retention.ms".to_string()],
        )
        .unwrap();
        image.apply(&record).unwrap();
        assert_eq!(
            image.topic("t").unwrap().configs,
            set(&[("cleanup.policy", "compact")])
        );

        let record = alter_config_records(
            &image,
            ConfigResource::Broker(1),
            set(&[("log.retention.ms", "5")]),
            vec![],
        )
        .unwrap();
        image.apply(&record).unwrap();
        assert_eq!(image.broker_configs[&1], set(&[("log.retention.ms", "5")]));

        let err = alter_config_records(
            &image,
            ConfigResource::Topic("nope".to_string()),
            BTreeMap::new(),
            vec![],
        )
        .unwrap_err();
        assert_eq!(kind(&err), "UnknownTopic");
        let err = alter_config_records(
            &image,
            ConfigResource::Broker(1),
            set(&[("a", "1")]),
            vec!["a".to_string()],
        )
        .unwrap_err();
        assert_eq!(kind(&err), "InvalidRequest");
    }

    #[test]
    fn kafka_uuid_strings() {
        assert_eq!(kafka_uuid_string(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        // Kafka: Uuid.fromString("vDxTkf58SrW7xtxD4l5oJQ") round-trips this uuid.
        let id = Uuid::from_u128(0xbc3c_5391_fe7c_4ab5_bbc6_dc43_e25e_6825);
        assert_eq!(kafka_uuid_string(id), "vDxTkf58SrW7xtxD4l5oJQ");
        let cluster_id = new_cluster_id();
        assert_eq!(cluster_id.len(), 22);
        assert!(!cluster_id.starts_with('-'));
    }

    // ---- multi-broker controller: fixtures ----

    fn cluster_with_racks(brokers: &[(i32, Option<&str>)]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &(id, rack) in brokers {
            image
                .apply(&MetadataRecord::RegisterBroker {
                    node_id: id,
                    host: "localhost".to_string(),
                    port: 9092 + id,
                    rack: rack.map(str::to_string),
                })
                .unwrap();
        }
        image
    }

    /// A topic where partition i has `replicas[i]` (replication factors may differ, which
    /// CreateTopics would refuse), leader the first live replica, isr the live ones.
    fn manual_topic(image: &mut MetadataImage, name: &str, replicas: &[&[i32]]) -> Uuid {
        let topic_id = new_topic_id(image);
        let lists = replicas.iter().map(|r| r.to_vec()).collect();
        let record = MetadataRecord::CreateTopic {
            name: name.to_string(),
            topic_id,
            configs: BTreeMap::new(),
            partitions: new_partitions(image, 0, lists).unwrap(),
        };
        image.apply(&record).unwrap();
        topic_id
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for record in records {
            image
                .apply(record)
                .unwrap_or_else(|e| panic!("{record:?}: {e}"));
        }
    }

    /// (leader, isr, replicas) of one partition.
    fn state(image: &MetadataImage, topic: &str, partition: i32) -> (i32, Vec<i32>, Vec<i32>) {
        let p = image.partition(topic, partition).unwrap();
        (p.leader, p.isr.clone(), p.replicas.clone())
    }

    fn set_isr(image: &mut MetadataImage, topic: &str, partition: i32, leader: i32, isr: &[i32]) {
        let topic_id = image.topic(topic).unwrap().topic_id;
        image
            .apply(&MetadataRecord::PartitionChange(PartitionChange {
                topic_id,
                partition,
                leader: Some(leader),
                isr: Some(isr.to_vec()),
                ..PartitionChange::default()
            }))
            .unwrap();
    }

    fn set_unclean(image: &mut MetadataImage, topic: &str) {
        let record = alter_config_records(
            image,
            ConfigResource::Topic(topic.to_string()),
            BTreeMap::from([(
                UNCLEAN_LEADER_ELECTION_ENABLE.to_string(),
                "true".to_string(),
            )]),
            vec![],
        )
        .unwrap();
        image.apply(&record).unwrap();
    }

    fn change(record: &MetadataRecord) -> &PartitionChange {
        match record {
            MetadataRecord::PartitionChange(c) => c,
            other => panic!("not a PartitionChange: {other:?}"),
        }
    }

    // ---- records and their application ----

    #[test]
    fn partition_change_apply_revalidates() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        let id = manual_topic(&mut image, "t", &[&[1, 2, 3]]);
        let base = PartitionChange {
            topic_id: id,
            partition: 0,
            ..PartitionChange::default()
        };
        let with = |f: &dyn Fn(&mut PartitionChange)| {
            let mut c = base.clone();
            f(&mut c);
            MetadataRecord::PartitionChange(c)
        };
        // An isr-only change bumps the partition epoch alone.
        image
            .apply(&with(&|c| {
                c.isr = Some(vec![1, 2]);
                c.expected_partition_epoch = Some(0);
            }))
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
        // A leader change bumps both.
        image.apply(&with(&|c| c.leader = Some(2))).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));

        image
            .apply(&MetadataRecord::FenceBroker { node_id: 3 })
            .unwrap();
        let before = image.clone();
        let bad: Vec<(MetadataRecord, &str)> = vec![
            (
                with(&|c| c.expected_partition_epoch = Some(1)),
                "InvalidUpdateVersion",
            ),
            (with(&|c| c.isr = Some(vec![])), "InvalidRequest"),
            (with(&|c| c.isr = Some(vec![2, 4])), "InvalidRequest"),
            (with(&|c| c.isr = Some(vec![2, 2])), "InvalidRequest"),
            (with(&|c| c.leader = Some(3)), "InvalidRequest"),
            (
                with(&|c| {
                    c.leader = Some(3);
                    c.isr = Some(vec![2, 3]);
                }),
                "BrokerNotAvailable",
            ),
            (
                with(&|c| c.replicas = Some(vec![2, 1, 9])),
                "InvalidReplicaAssignment",
            ),
            (
                with(&|c| c.replicas = Some(vec![2, 1, 1])),
                "InvalidReplicaAssignment",
            ),
            (
                with(&|c| c.adding_replicas = Some(vec![4])),
                "InvalidReplicaAssignment",
            ),
            (with(&|c| c.partition = 5), "UnknownTopic"),
            (with(&|c| c.topic_id = Uuid::new_v4()), "UnknownTopicId"),
            (
                MetadataRecord::FenceBroker { node_id: 9 },
                "BrokerNotAvailable",
            ),
            (
                MetadataRecord::UnfenceBroker { node_id: 9 },
                "BrokerNotAvailable",
            ),
        ];
        for (record, expected) in bad {
            let err = image.apply(&record).unwrap_err();
            assert_eq!(kind(&err), expected, "{record:?}: {err}");
            assert_eq!(image, before, "a rejected record changed the image");
        }
        // The same leader, though fenced meanwhile, does not count as a new leader.
        image
            .apply(&MetadataRecord::UnfenceBroker { node_id: 3 })
            .unwrap();
        assert!(image.alive(3));
        assert_eq!(image.live_brokers(), vec![1, 2, 3]);
        assert_eq!(image.partitions_led_by(2).len(), 1);
        assert!(image.partitions_led_by(1).is_empty());
    }

    #[test]
    fn snapshot_without_reassignment_fields_loads() {
        let json = r#"{"partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}"#;
        let p: PartitionImage = serde_json::from_str(json).unwrap();
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
        assert!(!p.reassigning());
    }

    // ---- placement ----

    #[test]
    fn rack_alternated_broker_list() {
        // Kafka's AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
        let racks: BTreeMap<i32, &str> = [
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ]
        .into_iter()
        .collect();
        assert_eq!(rack_alternated_brokers(&racks), vec![0, 3, 1, 5, 4, 2]);
    }

    #[test]
    fn rack_aware_placement_spreads_across_racks() {
        let racks = [
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("b")),
            (4, Some("b")),
            (5, Some("c")),
            (6, Some("c")),
        ];
        let mut image = cluster_with_racks(&racks);
        let rack_of = |b: i32| racks.iter().find(|r| r.0 == b).unwrap().1.unwrap();
        for rf in [2i16, 3] {
            let name = format!("t{rf}");
            let record = create_topic_records(&image, &new_topic(&name, 12, rf), 1, 1).unwrap();
            image.apply(&record).unwrap();
            let mut leaders = BTreeMap::new();
            for p in image.topic(&name).unwrap().partitions.values() {
                let distinct: HashSet<&str> = p.replicas.iter().map(|&b| rack_of(b)).collect();
                assert_eq!(distinct.len(), usize::from(rf.unsigned_abs()), "{p:?}");
                assert_eq!((p.leader, &p.isr), (p.replicas[0], &p.replicas));
                *leaders.entry(p.leader).or_insert(0) += 1;
            }
            assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2; 6]);
        }
        // Growing the topic keeps the spread.
        let record = create_partitions_records(&image, "t3", 18, None).unwrap();
        image.apply(&record).unwrap();
        for p in image.topic("t3").unwrap().partitions.values() {
            let distinct: HashSet<&str> = p.replicas.iter().map(|&b| rack_of(b)).collect();
            assert_eq!(distinct.len(), 3, "{p:?}");
        }

        // Uneven racks: the lone broker of rack b is in every two-replica partition.
        let image = cluster_with_racks(&[
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("a")),
            (4, Some("b")),
        ]);
        let record = create_topic_records(&image, &new_topic("u", 8, 2), 1, 1).unwrap();
        let MetadataRecord::CreateTopic { partitions, .. } = &record else {
            panic!("{record:?}");
        };
        assert!(
            partitions.iter().all(|p| p.replicas.contains(&4)),
            "{partitions:?}"
        );

        // A broker without a rack counts as a rack of its own.
        let image = cluster_with_racks(&[(1, Some("a")), (2, Some("a")), (3, None)]);
        let record = create_topic_records(&image, &new_topic("v", 6, 2), 1, 1).unwrap();
        let MetadataRecord::CreateTopic { partitions, .. } = &record else {
            panic!("{record:?}");
        };
        assert!(
            partitions.iter().all(|p| p.replicas.contains(&3)),
            "{partitions:?}"
        );
    }

    #[test]
    fn rack_unaware_placement_is_kafkas() {
        // Kafka's AdminUtils with startIndex 0, shift 0 over brokers 0..5, rf 3: partition p
        // leads on p % 5, followers at a shift that grows every 5 partitions.
        let brokers = [0, 1, 2, 3, 4];
        let placed = place_replicas_rack_unaware(&brokers, 0, 10, 3, Uuid::from_u64_pair(0, 0));
        let expected: Vec<Vec<i32>> = vec![
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 0],
            vec![4, 0, 1],
            vec![0, 2, 3],
            vec![1, 3, 4],
            vec![2, 4, 0],
            vec![3, 0, 1],
            vec![4, 1, 2],
        ];
        assert_eq!(placed, expected);
    }

    // ---- fencing ----

    #[test]
    fn fence_and_unfence_move_leadership() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[2, 1, 3], &[1, 2, 3], &[2], &[2, 3]]);
        set_isr(&mut image, "t", 3, 2, &[2]);
        manual_topic(&mut image, "u", &[&[2, 3]]);
        set_isr(&mut image, "u", 0, 2, &[2]);
        set_unclean(&mut image, "u");

        let records = fence_broker_records(&image, 2, false);
        assert_eq!(records[0], MetadataRecord::FenceBroker { node_id: 2 });
        assert!(records[1..]
            .iter()
            .all(|r| change(r).expected_partition_epoch.is_some()));
        apply_all(&mut image, &records);
        assert!(!image.alive(2));
        assert_eq!(state(&image, "t", 0), (1, vec![1, 3], vec![2, 1, 3]));
        assert_eq!(state(&image, "t", 1), (1, vec![1, 3], vec![1, 2, 3]));
        // The last isr member stays, so it is known where the data is.
        assert_eq!(state(&image, "t", 2), (-1, vec![2], vec![2]));
        assert_eq!(state(&image, "t", 3), (-1, vec![2], vec![2, 3]));
        // Unclean election is allowed on u: the live replica leads alone.
        assert_eq!(state(&image, "u", 0), (3, vec![3], vec![2, 3]));
        assert_eq!(image.partition("t", 0).unwrap().leader_epoch, 1);
        // Fencing again changes nothing; the records computed earlier are now stale.
        assert!(fence_broker_records(&image, 2, false).is_empty());
        for record in &records[1..] {
            assert_eq!(
                kind(&image.apply(record).unwrap_err()),
                "InvalidUpdateVersion"
            );
        }
        // Leaderless partitions are not the fence's business, even with unclean election on.
        assert!(fence_broker_records(&image, 2, true).is_empty());
        assert!(fence_broker_records(&image, 9, false).is_empty());

        let records = unfence_broker_records(&image, 2, false);
        assert_eq!(records[0], MetadataRecord::UnfenceBroker { node_id: 2 });
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 2), (2, vec![2], vec![2]));
        assert_eq!(state(&image, "t", 3), (2, vec![2], vec![2, 3]));
        // Not in the isr of t-0/t-1 any more, and u-0 has a leader: nothing else changes.
        assert_eq!(state(&image, "t", 0), (1, vec![1, 3], vec![2, 1, 3]));
        assert_eq!(state(&image, "u", 0), (3, vec![3], vec![2, 3]));
        assert_eq!(records.len(), 3);
        assert!(unfence_broker_records(&image, 2, false).is_empty());
    }

    #[test]
    fn leaderless_partition_elects_unclean_on_unfence_of_non_isr_replica() {
        let mut image = cluster_with_racks(&[(1, None), (2, None)]);
        manual_topic(&mut image, "t", &[&[1, 2]]);
        set_isr(&mut image, "t", 0, 1, &[1]);
        let records = fence_broker_records(&image, 2, false);
        apply_all(&mut image, &records);
        let records = fence_broker_records(&image, 1, false);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (-1, vec![1], vec![1, 2]));
        // 2 returns but is not in the isr: only an unclean election may pick it.
        let clean = unfence_broker_records(&image, 2, false);
        assert_eq!(clean, vec![MetadataRecord::UnfenceBroker { node_id: 2 }]);
        let records = unfence_broker_records(&image, 2, true);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (2, vec![2], vec![1, 2]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_then_fence() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[1, 2, 3], &[2, 1], &[1], &[3, 1]]);
        let records = controlled_shutdown_records(&image, 1);
        assert!(records
            .iter()
            .all(|r| change(r).expected_partition_epoch.is_some()));
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (2, vec![2, 3], vec![1, 2, 3]));
        assert_eq!(state(&image, "t", 1), (2, vec![2], vec![2, 1]));
        assert_eq!(state(&image, "t", 2), (-1, vec![1], vec![1]));
        assert_eq!(state(&image, "t", 3), (3, vec![3], vec![3, 1]));
        assert!(image.partitions_led_by(1).is_empty());
        assert!(controlled_shutdown_records(&image, 1).is_empty());
        // Controlled shutdown does not fence; the fence afterwards has nothing left to move.
        assert!(image.alive(1));
        assert_eq!(
            fence_broker_records(&image, 1, false),
            vec![MetadataRecord::FenceBroker { node_id: 1 }]
        );
    }

    // ---- AlterPartition ----

    #[test]
    fn alter_partition_checks() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        let id = manual_topic(&mut image, "t", &[&[1, 2, 3]]);
        let req = |isr: &[i32]| AlterPartitionRequest {
            topic_id: id,
            partition: 0,
            leader_id: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            new_isr: isr.to_vec(),
        };
        let record = alter_partition_records(&image, &req(&[1, 2])).unwrap();
        assert_eq!(change(&record).expected_partition_epoch, Some(0));
        image.apply(&record).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.isr.clone(), p.leader_epoch, p.partition_epoch),
            (vec![1, 2], 0, 1)
        );

        let records = fence_broker_records(&image, 3, false);
        apply_all(&mut image, &records);
        let at = |isr: &[i32]| AlterPartitionRequest {
            partition_epoch: 1,
            ..req(isr)
        };
        let cases: Vec<(AlterPartitionRequest, &str)> = vec![
            (req(&[1]), "InvalidUpdateVersion"),
            (
                AlterPartitionRequest {
                    leader_id: 2,
                    ..at(&[1])
                },
                "NotLeaderOrFollower",
            ),
            (
                AlterPartitionRequest {
                    leader_epoch: 1,
                    ..at(&[1])
                },
                "FencedLeaderEpoch",
            ),
            (at(&[2]), "InvalidRequest"),
            (at(&[1, 4]), "InvalidRequest"),
            (at(&[1, 1]), "InvalidRequest"),
            (at(&[1, 2, 3]), "IneligibleReplica"),
            (
                AlterPartitionRequest {
                    partition: 7,
                    ..at(&[1])
                },
                "UnknownTopic",
            ),
            (
                AlterPartitionRequest {
                    topic_id: Uuid::new_v4(),
                    ..at(&[1])
                },
                "UnknownTopicId",
            ),
        ];
        for (request, expected) in cases {
            let err = alter_partition_records(&image, &request).unwrap_err();
            assert_eq!(kind(&err), expected, "{request:?}: {err}");
        }
        // Once 3 is back it may rejoin.
        let records = unfence_broker_records(&image, 3, false);
        apply_all(&mut image, &records);
        let record = alter_partition_records(&image, &at(&[1, 2, 3])).unwrap();
        image.apply(&record).unwrap();
        assert_eq!(state(&image, "t", 0).1, vec![1, 2, 3]);
    }

    // ---- reassignment ----

    #[test]
    fn reassignment_start_complete_cancel() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None), (4, None)]);
        let id = manual_topic(&mut image, "t", &[&[1, 2]]);
        for (target, expected) in [
            (vec![], "InvalidReplicaAssignment"),
            (vec![3, 3], "InvalidReplicaAssignment"),
            (vec![3, 9], "InvalidReplicaAssignment"),
        ] {
            let err = reassign_records(&image, "t", 0, Some(target)).unwrap_err();
            assert_eq!(kind(&err), expected);
        }
        assert_eq!(
            kind(&reassign_records(&image, "t", 5, Some(vec![1])).unwrap_err()),
            "UnknownTopic"
        );
        assert_eq!(
            kind(&reassign_records(&image, "t", 0, None).unwrap_err()),
            "NoReassignmentInProgress"
        );

        // Start: 1,2 -> 3,4.
        let record = reassign_records(&image, "t", 0, Some(vec![3, 4])).unwrap();
        image.apply(&record).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, vec![3, 4, 1, 2]);
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![3, 4], vec![1, 2])
        );
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (1, vec![1, 2], 1)
        );
        assert_eq!(
            ongoing_reassignments(&image),
            vec![OngoingReassignment {
                topic: "t".to_string(),
                topic_id: id,
                partition: 0,
                replicas: vec![3, 4, 1, 2],
                adding_replicas: vec![3, 4],
                removing_replicas: vec![1, 2],
            }]
        );
        assert!(reassignment_progress_records(&image).is_empty());

        // 3 catches up: not complete yet. Then 4: the AlterPartition completes it, and the
        // leader, being removed, hands over to the first target replica.
        let alter = |image: &MetadataImage, isr: &[i32]| {
            let p = image.partition("t", 0).unwrap();
            alter_partition_records(
                image,
                &AlterPartitionRequest {
                    topic_id: id,
                    partition: 0,
                    leader_id: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    new_isr: isr.to_vec(),
                },
            )
            .unwrap()
        };
        let record = alter(&image, &[1, 2, 3]);
        assert!(change(&record).replicas.is_none());
        image.apply(&record).unwrap();
        let record = alter(&image, &[1, 2, 3, 4]);
        image.apply(&record).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.replicas.clone()),
            (3, vec![3, 4], vec![3, 4])
        );
        assert!(!p.reassigning());
        assert!(ongoing_reassignments(&image).is_empty());

        // Start 3,4 -> 1,2 and cancel: back to 3,4 with the adding replicas gone from the isr.
        image
            .apply(&reassign_records(&image, "t", 0, Some(vec![1, 2])).unwrap())
            .unwrap();
        let record = alter(&image, &[3, 4, 1]);
        image.apply(&record).unwrap();
        let record = reassign_records(&image, "t", 0, None).unwrap();
        image.apply(&record).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.replicas.clone()),
            (3, vec![3, 4], vec![3, 4])
        );
        assert!(!p.reassigning());

        // Nothing to add: completes at once (3,4 -> 4), leadership moves off 3.
        let record = reassign_records(&image, "t", 0, Some(vec![4])).unwrap();
        image.apply(&record).unwrap();
        assert_eq!(state(&image, "t", 0), (4, vec![4], vec![4]));
    }

    #[test]
    fn reassignment_completes_on_tick_and_cancel_moves_leader_off_adding() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[1]]);
        image
            .apply(&reassign_records(&image, "t", 0, Some(vec![2, 3])).unwrap())
            .unwrap();
        assert_eq!(state(&image, "t", 0), (1, vec![1], vec![2, 3, 1]));
        // The isr grew without completing (as a raced AlterPartition could leave it).
        set_isr(&mut image, "t", 0, 1, &[1, 2, 3]);
        let records = reassignment_progress_records(&image);
        assert_eq!(records.len(), 1);
        let mut done = image.clone();
        apply_all(&mut done, &records);
        assert_eq!(state(&done, "t", 0), (2, vec![2, 3], vec![2, 3]));
        assert!(reassignment_progress_records(&done).is_empty());

        // Cancel instead, with an adding replica leading: leadership returns to 1.
        set_isr(&mut image, "t", 0, 2, &[1, 2, 3]);
        let record = reassign_records(&image, "t", 0, None).unwrap();
        image.apply(&record).unwrap();
        assert_eq!(state(&image, "t", 0), (1, vec![1], vec![1]));
    }

    // ---- ElectLeaders ----

    #[test]
    fn elect_leaders_preferred_and_unclean() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[1, 2], &[2, 3], &[3]]);
        manual_topic(&mut image, "v", &[&[3, 1]]);
        set_isr(&mut image, "v", 0, 3, &[3]);
        let records = fence_broker_records(&image, 1, false);
        apply_all(&mut image, &records);
        image
            .apply(&MetadataRecord::UnfenceBroker { node_id: 1 })
            .unwrap();
        assert_eq!(state(&image, "t", 0), (2, vec![2], vec![1, 2]));

        let tp = |t: &str, p: i32| (t.to_string(), p);
        // 1 is alive but out of the isr.
        let (records, results) =
            elect_leaders_records(&image, Some(&[tp("t", 0)]), ElectionType::Preferred, false);
        assert!(records.is_empty());
        assert_eq!(
            kind(results[0].2.as_ref().unwrap_err()),
            "PreferredLeaderNotAvailable"
        );

        set_isr(&mut image, "t", 0, 2, &[2, 1]);
        // All partitions: only the one that changes is reported.
        let (records, results) =
            elect_leaders_records(&image, None, ElectionType::Preferred, false);
        assert_eq!(results, vec![("t".to_string(), 0, Ok(()))]);
        assert_eq!(records.len(), 1);

        let asked = [
            tp("t", 0),
            tp("t", 1),
            tp("t", 9),
            tp("nope", 0),
            tp("t", 0),
        ];
        let (records, results) =
            elect_leaders_records(&image, Some(&asked), ElectionType::Preferred, false);
        let kinds: Vec<&str> = results
            .iter()
            .map(|(_, _, r)| r.as_ref().err().map_or("ok", kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                "ok",
                "ElectionNotNeeded",
                "UnknownTopic",
                "UnknownTopic",
                "InvalidRequest"
            ]
        );
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (1, vec![2, 1], vec![1, 2]));

        // Unclean: 3 goes away, leaving t-2 and v-0 leaderless.
        let records = fence_broker_records(&image, 3, false);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "v", 0), (-1, vec![3], vec![3, 1]));
        let asked = [tp("v", 0), tp("t", 2), tp("t", 1)];
        let (records, results) =
            elect_leaders_records(&image, Some(&asked), ElectionType::Unclean, false);
        let kinds: Vec<&str> = results
            .iter()
            .map(|(_, _, r)| r.as_ref().err().map_or("ok", kind))
            .collect();
        assert_eq!(
            kinds,
            vec!["ok", "EligibleLeadersNotAvailable", "ElectionNotNeeded"]
        );
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "v", 0), (1, vec![1], vec![3, 1]));
        assert_eq!(ElectionType::from_kafka(1), Some(ElectionType::Unclean));
        assert_eq!(ElectionType::from_kafka(2), None);
    }

    #[test]
    fn preferred_leader_rebalance() {
        let mut image = cluster_with_racks(&[(1, None), (2, None)]);
        manual_topic(&mut image, "t", &[&[1, 2], &[2, 1]]);
        let records = fence_broker_records(&image, 1, false);
        apply_all(&mut image, &records);
        image
            .apply(&MetadataRecord::UnfenceBroker { node_id: 1 })
            .unwrap();
        assert!(
            preferred_leader_records(&image).is_empty(),
            "1 is not in the isr yet"
        );
        set_isr(&mut image, "t", 0, 2, &[2, 1]);
        let records = preferred_leader_records(&image);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0).0, 1);
        assert_eq!(state(&image, "t", 1).0, 2);
        assert!(preferred_leader_records(&image).is_empty());
    }
}
