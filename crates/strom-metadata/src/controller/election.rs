//! Leader elections and the isr changes that come with a broker's state (Kafka's
//! `ReplicationControlManager` handling of fenced, unfenced and shutting-down brokers, with
//! `PartitionChangeBuilder`'s election rules, and the ElectLeaders API): who may lead
//! (`Eligible`), fencing and unfencing, controlled shutdown, leaderless-partition repair,
//! ElectLeaders and the preferred-leader rebalance. Every change carries the partition epoch it
//! was computed from (`change_of`), so a record that raced with another is refused on apply.
//! Owns no timing: when a broker's session expires or a tick is due is liveness.rs's business.
//! The reassignment rules (reassignment.rs) build on `Eligible` and `change_of` from here.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::TopicError;
use crate::image::{MetadataImage, PartitionImage, TopicImage};
use crate::record::{MetadataRecord, PartitionChange};

/// Topic config that allows electing a replica outside the isr (Kafka
/// `unclean.leader.election.enable`); overrides the broker default passed in as
/// `unclean_default`.
pub(crate) const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

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
pub(super) struct Eligible<'a> {
    image: &'a MetadataImage,
    excluded: &'a [i32],
    also_alive: Option<i32>,
}

impl Eligible<'_> {
    pub(super) fn new<'a>(image: &'a MetadataImage, excluded: &'a [i32]) -> Eligible<'a> {
        Eligible {
            image,
            excluded,
            also_alive: None,
        }
    }

    pub(super) fn ok(&self, node: i32) -> bool {
        !self.excluded.contains(&node) && (self.also_alive == Some(node) || self.image.alive(node))
    }

    /// The leader a clean election picks: the first eligible replica in `isr`, in replica order
    /// with the replicas a reassignment removes last (Kafka elects from the target replicas).
    fn clean(&self, p: &PartitionImage, isr: &[i32]) -> Option<i32> {
        election_order(p).find(|r| isr.contains(r) && self.ok(*r))
    }

    /// A clean election, or with `unclean` an unclean one when no isr member is eligible: the
    /// first eligible replica, which becomes the whole isr. Returns the leader and the isr.
    pub(super) fn elect(
        &self,
        p: &PartitionImage,
        isr: &[i32],
        unclean: bool,
    ) -> Option<(i32, Vec<i32>)> {
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
pub(super) fn change_of(topic: &TopicImage, p: &PartitionImage) -> PartitionChange {
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
///
/// Never elects a broker of `excluded` (brokers in controlled shutdown or expiring with it).
pub(crate) fn fence_broker_records(
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
///
/// Never elects a broker of `excluded`.
pub(crate) fn unfence_broker_records(
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
///
/// Never elects a broker of `excluded`.
pub(crate) fn controlled_shutdown_records(
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionResult {
    pub topic: String,
    pub partition: i32,
    /// `Ok` when a record elects a new leader (the records come in the order of these results).
    pub result: Result<(), TopicError>,
}

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
                    results.push(ElectionResult {
                        topic: topic.name.clone(),
                        partition: p.partition,
                        result,
                    });
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
                results.push(ElectionResult {
                    topic: name.clone(),
                    partition: *partition,
                    result,
                });
            }
        }
    }
    (records, results)
}

/// The preferred-leader elections of Kafka's automatic leader rebalance
/// (`auto.leader.rebalance.enable`): every partition whose first replica is alive, in the isr
/// and not leading becomes led by it.
///
/// Never elects a broker of `excluded`.
pub(crate) fn preferred_leader_records(
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::topics::alter_config_records;
    use crate::record::ConfigResource;
    use crate::test_fixtures::{
        apply_all, change, cluster_with_racks, kind, manual_topic, set_isr, state,
    };

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

    // ---- fencing ----

    #[test]
    fn fence_and_unfence_move_leadership() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[2, 1, 3], &[1, 2, 3], &[2], &[2, 3]]);
        set_isr(&mut image, "t", 3, 2, &[2]);
        manual_topic(&mut image, "u", &[&[2, 3]]);
        set_isr(&mut image, "u", 0, 2, &[2]);
        set_unclean(&mut image, "u");

        let records = fence_broker_records(&image, 2, false, &[]);
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
        assert!(fence_broker_records(&image, 2, false, &[]).is_empty());
        for record in &records[1..] {
            assert_eq!(
                kind(&image.apply(record).unwrap_err()),
                "InvalidUpdateVersion"
            );
        }
        // Leaderless partitions are not the fence's business, even with unclean election on.
        assert!(fence_broker_records(&image, 2, true, &[]).is_empty());
        assert!(fence_broker_records(&image, 9, false, &[]).is_empty());

        let records = unfence_broker_records(&image, 2, false, &[]);
        assert_eq!(records[0], MetadataRecord::UnfenceBroker { node_id: 2 });
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 2), (2, vec![2], vec![2]));
        assert_eq!(state(&image, "t", 3), (2, vec![2], vec![2, 3]));
        // Not in the isr of t-0/t-1 any more, and u-0 has a leader: nothing else changes.
        assert_eq!(state(&image, "t", 0), (1, vec![1, 3], vec![2, 1, 3]));
        assert_eq!(state(&image, "u", 0), (3, vec![3], vec![2, 3]));
        assert_eq!(records.len(), 3);
        assert!(unfence_broker_records(&image, 2, false, &[]).is_empty());
    }

    #[test]
    fn leaderless_partition_elects_unclean_on_unfence_of_non_isr_replica() {
        let mut image = cluster_with_racks(&[(1, None), (2, None)]);
        manual_topic(&mut image, "t", &[&[1, 2]]);
        set_isr(&mut image, "t", 0, 1, &[1]);
        let records = fence_broker_records(&image, 2, false, &[]);
        apply_all(&mut image, &records);
        let records = fence_broker_records(&image, 1, false, &[]);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (-1, vec![1], vec![1, 2]));
        // 2 returns but is not in the isr: only an unclean election may pick it.
        let clean = unfence_broker_records(&image, 2, false, &[]);
        assert_eq!(clean, vec![MetadataRecord::UnfenceBroker { node_id: 2 }]);
        let records = unfence_broker_records(&image, 2, true, &[]);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (2, vec![2], vec![1, 2]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_then_fence() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[1, 2, 3], &[2, 1], &[1], &[3, 1]]);
        let records = controlled_shutdown_records(&image, 1, &[]);
        assert!(records
            .iter()
            .all(|r| change(r).expected_partition_epoch.is_some()));
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0), (2, vec![2, 3], vec![1, 2, 3]));
        assert_eq!(state(&image, "t", 1), (2, vec![2], vec![2, 1]));
        assert_eq!(state(&image, "t", 2), (-1, vec![1], vec![1]));
        assert_eq!(state(&image, "t", 3), (3, vec![3], vec![3, 1]));
        assert!(image.partitions_led_by(1).is_empty());
        assert!(controlled_shutdown_records(&image, 1, &[]).is_empty());
        // Controlled shutdown does not fence; the fence afterwards has nothing left to move.
        assert!(image.alive(1));
        assert_eq!(
            fence_broker_records(&image, 1, false, &[]),
            vec![MetadataRecord::FenceBroker { node_id: 1 }]
        );
    }

    // ---- ElectLeaders ----

    #[test]
    fn elect_leaders_preferred_and_unclean() {
        let mut image = cluster_with_racks(&[(1, None), (2, None), (3, None)]);
        manual_topic(&mut image, "t", &[&[1, 2], &[2, 3], &[3]]);
        manual_topic(&mut image, "v", &[&[3, 1]]);
        set_isr(&mut image, "v", 0, 3, &[3]);
        let records = fence_broker_records(&image, 1, false, &[]);
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
            kind(results[0].result.as_ref().unwrap_err()),
            "PreferredLeaderNotAvailable"
        );

        set_isr(&mut image, "t", 0, 2, &[2, 1]);
        // All partitions: only the one that changes is reported.
        let (records, results) =
            elect_leaders_records(&image, None, ElectionType::Preferred, false);
        assert_eq!(
            results,
            vec![ElectionResult {
                topic: "t".to_string(),
                partition: 0,
                result: Ok(())
            }]
        );
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
            .map(|r| r.result.as_ref().err().map_or("ok", kind))
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
        let records = fence_broker_records(&image, 3, false, &[]);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "v", 0), (-1, vec![3], vec![3, 1]));
        let asked = [tp("v", 0), tp("t", 2), tp("t", 1)];
        let (records, results) =
            elect_leaders_records(&image, Some(&asked), ElectionType::Unclean, false);
        let kinds: Vec<&str> = results
            .iter()
            .map(|r| r.result.as_ref().err().map_or("ok", kind))
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
        let records = fence_broker_records(&image, 1, false, &[]);
        apply_all(&mut image, &records);
        image
            .apply(&MetadataRecord::UnfenceBroker { node_id: 1 })
            .unwrap();
        assert!(
            preferred_leader_records(&image, &[]).is_empty(),
            "1 is not in the isr yet"
        );
        set_isr(&mut image, "t", 0, 2, &[2, 1]);
        let records = preferred_leader_records(&image, &[]);
        apply_all(&mut image, &records);
        assert_eq!(state(&image, "t", 0).0, 1);
        assert_eq!(state(&image, "t", 1).0, 2);
        assert!(preferred_leader_records(&image, &[]).is_empty());
    }
}
