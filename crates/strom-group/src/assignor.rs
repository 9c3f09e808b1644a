//! KIP-848 server-side assignors: `uniform` (balanced and sticky: members keep what they had while the
//! counts stay within one of each other) and `range` (per topic, consecutive partitions to members in
//! member-id order, as Kafka's RangeAssignor). Pure functions from subscriptions and topic sizes to a target
//! assignment; they know nothing of epochs or reconciliation (see `consumer/assignment.rs`).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Topic id → partitions, one member's share.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors this coordinator knows, by their Kafka names.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// What an assignor sees of one member.
#[derive(Debug, Clone)]
pub(crate) struct AssignorMember<'a> {
    pub(crate) member_id: &'a str,
    /// Subscribed topics that exist, by id.
    pub(crate) topics: BTreeSet<Uuid>,
    /// The member's previous target assignment (stickiness).
    pub(crate) previous: Option<&'a Assignment>,
}

/// Runs the named assignor; unknown names fall back to `uniform`. `partitions` is the partition count of every
/// subscribed topic. Returns member id → assignment, with an entry for every member.
pub(crate) fn assign(
    assignor: &str,
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        "range" => range(members, partitions),
        _ => uniform(members, partitions),
    }
}

fn range(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (&topic, &count) in partitions {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(&topic))
            .map(|m| m.member_id)
            .collect();
        subscribers.sort_unstable();
        let n = subscribers.len() as i32;
        if n == 0 {
            continue;
        }
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            if take > 0 {
                if let Some(a) = out.get_mut(member) {
                    a.entry(topic).or_default().extend(next..next + take);
                }
            }
            next += take;
        }
    }
    out
}

fn uniform(
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut owner: BTreeMap<(Uuid, i32), String> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = members
        .iter()
        .map(|m| (m.member_id.to_string(), 0))
        .collect();
    let eligible = |topic: &Uuid| -> Vec<&str> {
        members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect()
    };
    // Stickiness: a member keeps the partitions it had that still exist and that it still subscribes to.
    for m in members {
        for (topic, ps) in m.previous.into_iter().flatten() {
            let Some(&count) = partitions.get(topic) else {
                continue;
            };
            if !m.topics.contains(topic) {
                continue;
            }
            for &p in ps.iter().filter(|&&p| p < count) {
                if let std::collections::btree_map::Entry::Vacant(e) = owner.entry((*topic, p)) {
                    e.insert(m.member_id.to_string());
                    *counts.entry(m.member_id.to_string()).or_default() += 1;
                }
            }
        }
    }
    // Every unowned partition goes to the eligible member with the fewest partitions.
    for (&topic, &count) in partitions {
        let candidates = eligible(&topic);
        for p in 0..count {
            if owner.contains_key(&(topic, p)) {
                continue;
            }
            if let Some(best) = candidates
                .iter()
                .min_by_key(|m| (counts.get(**m).copied().unwrap_or(0), **m))
            {
                owner.insert((topic, p), best.to_string());
                *counts.entry(best.to_string()).or_default() += 1;
            }
        }
    }
    // Balance: move partitions from a member holding two more than an eligible one, until none does.
    let mut moved = true;
    let mut rounds = 0usize;
    while moved && rounds < 10_000 {
        moved = false;
        rounds += 1;
        let keys: Vec<(Uuid, i32)> = owner.keys().copied().collect();
        for key in keys.into_iter().rev() {
            let Some(from) = owner.get(&key).cloned() else {
                continue;
            };
            let from_count = counts.get(&from).copied().unwrap_or(0);
            let target = eligible(&key.0)
                .into_iter()
                .filter(|m| *m != from)
                .min_by_key(|m| (counts.get(*m).copied().unwrap_or(0), *m));
            if let Some(to) = target {
                let to_count = counts.get(to).copied().unwrap_or(0);
                if from_count > to_count + 1 {
                    owner.insert(key, to.to_string());
                    *counts.entry(from).or_default() -= 1;
                    *counts.entry(to.to_string()).or_default() += 1;
                    moved = true;
                }
            }
        }
    }
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for ((topic, p), member) in owner {
        if let Some(a) = out.get_mut(&member) {
            a.entry(topic).or_default().insert(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
        out.values()
            .map(|a| a.values().map(BTreeSet::len).sum())
            .collect()
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let t = Uuid::from_u128(1);
        let topics: BTreeSet<Uuid> = [t].into();
        let partitions = BTreeMap::from([(t, 6)]);
        let one = [AssignorMember {
            member_id: "a",
            topics: topics.clone(),
            previous: None,
        }];
        let first = assign("uniform", &one, &partitions);
        assert_eq!(sizes(&first), vec![6]);
        let two = [
            AssignorMember {
                member_id: "a",
                topics: topics.clone(),
                previous: first.get("a"),
            },
            AssignorMember {
                member_id: "b",
                topics: topics.clone(),
                previous: None,
            },
        ];
        let second = assign("uniform", &two, &partitions);
        assert_eq!(sizes(&second), vec![3, 3]);
        // a kept three of its six; b got the other three.
        let a = &second["a"][&t];
        assert!(a.is_subset(&first["a"][&t]));
    }

    #[test]
    fn range_gives_consecutive_partitions_in_member_order() {
        let t = Uuid::from_u128(1);
        let topics: BTreeSet<Uuid> = [t].into();
        let members = [
            AssignorMember {
                member_id: "b",
                topics: topics.clone(),
                previous: None,
            },
            AssignorMember {
                member_id: "a",
                topics,
                previous: None,
            },
        ];
        let out = assign("range", &members, &BTreeMap::from([(t, 5)]));
        assert_eq!(out["a"][&t], (0..3).collect());
        assert_eq!(out["b"][&t], (3..5).collect());
    }
}
