//! Partition reassignment and AlterPartition (Kafka's `ReplicationControlManager` handling of
//! AlterPartition and AlterPartitionReassignments, with `PartitionReassignmentReplicas`, KIP-455):
//! a leader's isr change, starting or cancelling a reassignment, and completing one once its new
//! replicas have joined the isr (from AlterPartition as the isr grows, or from the periodic tick).
//! Builds on election.rs for who may lead (`Eligible`) and for epoch-guarded changes
//! (`change_of`); owns no timing (liveness.rs decides when the tick runs). What a reassignment
//! looks like to ListPartitionReassignments is read straight from the image by the broker.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::election::{change_of, Eligible};
use crate::error::TopicError;
use crate::image::{MetadataImage, PartitionImage};
use crate::record::{MetadataRecord, PartitionChange};

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
///
/// Never elects a broker of `excluded`.
pub(crate) fn reassignment_progress_records(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::election::{fence_broker_records, unfence_broker_records};
    use crate::test_fixtures::{
        apply_all, change, cluster_with_racks, kind, manual_topic, set_isr, state,
    };

    /// One reassignment in progress, as ListPartitionReassignments reports it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct OngoingReassignment {
        topic: String,
        topic_id: Uuid,
        partition: i32,
        /// All current replicas, the adding and removing ones included.
        replicas: Vec<i32>,
        adding_replicas: Vec<i32>,
        removing_replicas: Vec<i32>,
    }

    /// Every reassignment in progress, in topic-name then partition order.
    fn ongoing_reassignments(image: &MetadataImage) -> Vec<OngoingReassignment> {
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

        let records = fence_broker_records(&image, 3, false, &[]);
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
        let records = unfence_broker_records(&image, 3, false, &[]);
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
        assert!(reassignment_progress_records(&image, &[]).is_empty());

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
        let records = reassignment_progress_records(&image, &[]);
        assert_eq!(records.len(), 1);
        let mut done = image.clone();
        apply_all(&mut done, &records);
        assert_eq!(state(&done, "t", 0), (2, vec![2, 3], vec![2, 3]));
        assert!(reassignment_progress_records(&done, &[]).is_empty());

        // Cancel instead, with an adding replica leading: leadership returns to 1.
        set_isr(&mut image, "t", 0, 2, &[1, 2, 3]);
        let record = reassign_records(&image, "t", 0, None).unwrap();
        image.apply(&record).unwrap();
        assert_eq!(state(&image, "t", 0), (1, vec![1], vec![1]));
    }
}
