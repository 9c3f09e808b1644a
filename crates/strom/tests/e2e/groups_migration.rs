//! KIP-848's online migration (`group.consumer.migration.policy`, default `bidirectional`) through
//! librdkafka: a classic member (JoinGroup/SyncGroup) and a KIP-848 member (`group.protocol=consumer`) in
//! the same group. When the KIP-848 member joins a classic group the group becomes a consumer group and
//! the classic member carries on in it; both get partitions and every record is read by exactly one of
//! them. When the KIP-848 member leaves, the group turns classic again and the classic member gets every
//! partition; in the other order the classic member leaves through LeaveGroup and the KIP-848 member
//! gets everything.

use std::collections::BTreeSet;
use std::time::Duration;

use strom_test_support::wait_for;

use crate::groups::{member_config, Member};
use crate::groups_kip848::{kip848_config, produce, KIP848_ARGS};
use crate::util::{create_topic, start_broker};

const PARTITIONS: i32 = 6;

/// Waits until the members hold disjoint, non-empty sets covering every partition.
fn wait_shared(members: &[&Member], what: &str) -> Vec<BTreeSet<i32>> {
    wait_for(what, Duration::from_secs(90), || {
        let a: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let all: Vec<i32> = a.iter().flatten().copied().collect();
        let distinct: BTreeSet<i32> = all.iter().copied().collect();
        let ok = a.iter().all(|s| !s.is_empty())
            && all.len() == PARTITIONS as usize
            && distinct.len() == PARTITIONS as usize;
        Ok(ok.then_some(a))
    })
    .unwrap()
}

/// Waits until `member` holds every partition.
fn wait_all(member: &Member, what: &str) {
    wait_for(what, Duration::from_secs(90), || {
        Ok((member.assignment().len() == PARTITIONS as usize).then_some(()))
    })
    .unwrap();
}

/// Produces `per_partition` records to each partition (whose log ends at `start`) and checks that the
/// members read them all, each exactly once, each from a partition it held (`owned[i]` for member i).
/// Older records a member reads again are not counted: the members commit no offsets, so a partition's
/// new owner starts from the beginning (`auto.offset.reset=earliest`).
fn produce_and_check(
    bootstrap: &str,
    topic: &str,
    start: i64,
    per_partition: usize,
    members: &[&Member],
    owned: &[BTreeSet<i32>],
) {
    let before: Vec<usize> = members
        .iter()
        .map(|m| m.consumed.lock().unwrap().len())
        .collect();
    produce(bootstrap, topic, PARTITIONS, per_partition);
    let want = PARTITIONS as usize * per_partition;
    wait_for("every record consumed", Duration::from_secs(60), || {
        let n: usize = members
            .iter()
            .zip(&before)
            .map(|(m, b)| {
                m.consumed.lock().unwrap()[*b..]
                    .iter()
                    .filter(|(_, o, _)| *o >= start)
                    .count()
            })
            .sum();
        Ok((n >= want).then_some(()))
    })
    .unwrap();
    strom_test_support::pause(Duration::from_millis(500));
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (i, m) in members.iter().enumerate() {
        for (p, o, _) in m.consumed.lock().unwrap()[before[i]..].iter() {
            if *o < start {
                continue;
            }
            assert!(
                owned[i].contains(p),
                "member {i} read partition {p} but owns {:?}",
                owned[i]
            );
            seen.insert((*p, *o));
            total += 1;
        }
    }
    assert_eq!(total, want, "duplicates or extra records");
    assert_eq!(seen.len(), want);
}

#[test]
fn a_kip848_member_joins_a_classic_group_and_leaving_turns_it_classic_again() {
    let broker = start_broker(KIP848_ARGS);
    let topic = "upgrade";
    create_topic(&broker, topic, PARTITIONS, &[]);
    let bootstrap = broker.bootstrap();
    let classic = Member::spawn(member_config(&bootstrap, "upgrade", &[]), topic);
    wait_all(&classic, "the classic member holds every partition");
    produce_and_check(
        &bootstrap,
        topic,
        0,
        20,
        &[&classic],
        &[(0..PARTITIONS).collect()],
    );

    let kip848 = Member::spawn(kip848_config(&bootstrap, "upgrade"), topic);
    let owned = wait_shared(&[&classic, &kip848], "both members hold partitions");
    produce_and_check(&bootstrap, topic, 20, 50, &[&classic, &kip848], &owned);

    // The last KIP-848 member leaves: the group is classic again and its member gets everything.
    kip848.stop();
    wait_all(&classic, "the classic member holds every partition again");
    produce_and_check(
        &bootstrap,
        topic,
        70,
        20,
        &[&classic],
        &[(0..PARTITIONS).collect()],
    );
    classic.stop();
    broker.assert_no_panic();
}

#[test]
fn a_classic_member_joins_a_kip848_group_and_leaves_it() {
    let broker = start_broker(KIP848_ARGS);
    let topic = "downgrade";
    create_topic(&broker, topic, PARTITIONS, &[]);
    let bootstrap = broker.bootstrap();
    let kip848 = Member::spawn(kip848_config(&bootstrap, "downgrade"), topic);
    wait_all(&kip848, "the KIP-848 member holds every partition");

    let classic = Member::spawn(member_config(&bootstrap, "downgrade", &[]), topic);
    let owned = wait_shared(&[&kip848, &classic], "both members hold partitions");
    produce_and_check(&bootstrap, topic, 0, 50, &[&kip848, &classic], &owned);

    // The classic member leaves (LeaveGroup): the KIP-848 member gets everything.
    classic.stop();
    wait_all(&kip848, "the KIP-848 member holds every partition again");
    produce_and_check(
        &bootstrap,
        topic,
        50,
        20,
        &[&kip848],
        &[(0..PARTITIONS).collect()],
    );
    kip848.stop();
    broker.assert_no_panic();
}
