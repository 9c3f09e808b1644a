//! Where new replicas go (Kafka's replica placer, `AdminUtils.assignReplicasToBrokers` and its
//! rack-aware variant): round-robin over the live brokers so leaders and followers spread evenly,
//! and across as many racks as possible when brokers have racks. Deterministic given the seed
//! (the topic id), so a placement is reproducible from its record. Owns no validation: whether
//! enough brokers are live, and what the partitions' isr and leader are, is topics.rs's business.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use crate::image::MetadataImage;

/// Automatic replica placement over the live brokers `brokers` (ascending ids): Kafka's
/// `AdminUtils.assignReplicasToBrokers`, rack-aware when any of them has a rack (a broker without
/// one then counts as a rack of its own, named ""), rack-unaware otherwise.
pub(super) fn place_replicas(
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
}
