//! Topics and their configs (Kafka's `ReplicationControlManager` for CreateTopics, DeleteTopics
//! and CreatePartitions, and `ConfigurationControlManager` for AlterConfigs): validate a
//! request against the image with Kafka's checks and error texts, and return the record to
//! propose. Where new replicas go is placement.rs's business, fresh ids ids.rs's; elections and
//! reassignments of existing partitions live in election.rs and reassignment.rs. Config *names
//! and values* are not validated here; that is the broker's job.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use super::ids::new_topic_id;
use super::placement::place_replicas;
use crate::error::TopicError;
use crate::image::{MetadataImage, PartitionImage};
use crate::record::{ConfigResource, MetadataRecord};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{cluster_with_racks, image_with_brokers, kind};

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

    // ---- placement, as topic creation uses it ----

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
}
