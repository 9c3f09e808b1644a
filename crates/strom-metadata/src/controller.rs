//! The controller: pure functions that check a topic, partition or config request against a
//! `MetadataImage` with Kafka's validation and error semantics, and return the record to
//! propose. No clock, no sockets, no state: nothing changes until the record is applied
//! (image.rs re-checks it then, because another proposal may have won the race).
//! Config *names and values* are not validated here; that is the broker's job.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

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
/// `default.replication.factor`. Automatic placement is Kafka's rack-unaware round-robin over
/// the live (registered, unfenced) brokers, starting at an index drawn from the new topic id;
/// the leader is the first replica, the isr all live replicas, epochs start at 0.
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
            place_replicas(&live, current, additional, replication, existing.topic_id)
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
            })
        })
        .collect()
}

/// Kafka's rack-unaware `assignReplicasToBrokers`: partition p's first replica is broker
/// `(p + start) % n`, the others follow at a shift that grows every n partitions, so leaders
/// and followers spread evenly. `start` and the initial shift come from `seed` (the topic id)
/// where Kafka draws them at random.
fn place_replicas(
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
    let (hi, lo) = seed.as_u64_pair();
    let start_index = (hi % n as u64) as usize;
    let mut shift = (lo % n as u64) as usize;
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
            let step = 1 + (shift + j) % (n - 1);
            replicas.push(brokers[(first + step) % n]);
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
}
