//! Reconciliation through heartbeats: a partition is revoked from its owner before it is handed to the
//! new member, epochs only move forward, and commits need the current epoch.

use uuid::Uuid;

use crate::assignor::Assignment;
use crate::config::GroupConfig;
use crate::coordinator::GroupCoordinator;
use crate::error::Error;
use crate::record::{ConsumerKey, Record, TopicMeta};
use crate::types::{
    CommitOffsets, CommitPartition, ConsumerHeartbeat, ConsumerHeartbeatResult, GroupState,
};

const T: Uuid = Uuid::from_u128(7);

fn lookup(name: &str) -> Option<TopicMeta> {
    (name == "t").then(|| TopicMeta {
        id: T,
        name: "t".into(),
        partitions: 6,
    })
}

fn hb(member: &str, epoch: i32, owned: Option<&[i32]>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        owned: owned.map(|ps| Assignment::from([(T, ps.iter().copied().collect())])),
        ..ConsumerHeartbeat::default()
    }
}

fn parts(r: &ConsumerHeartbeatResult) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        a.get(&T)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    })
}

#[test]
fn partitions_move_only_after_their_owner_revoked_them() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let now = 1_000;
    let a = c
        .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, now)
        .unwrap();
    assert_eq!(parts(&a), Some((0..6).collect()));
    let a_epoch = a.member_epoch;
    assert_eq!(a_epoch, 1);

    // b joins: the target splits 3/3 but a still holds everything, so b gets nothing yet.
    let b = c
        .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, now)
        .unwrap();
    assert_eq!(parts(&b), Some(vec![]));
    let b_epoch = b.member_epoch;
    assert!(b_epoch > a_epoch);

    // a is told to keep three; its epoch stays until it acknowledges.
    let all: Vec<i32> = (0..6).collect();
    let a2 = c
        .consumer_heartbeat(hb("a", a_epoch, Some(&all)), &lookup, now)
        .unwrap();
    let kept = parts(&a2).unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(a2.member_epoch, a_epoch);
    // b still waits while a owns the others.
    let b2 = c
        .consumer_heartbeat(hb("b", b_epoch, Some(&[])), &lookup, now)
        .unwrap();
    assert_eq!(parts(&b2), None);
    let describe = c.describe_consumer_group("g").unwrap();
    assert_eq!(describe.state, "Reconciling");

    // a acknowledges; it moves to the new epoch, then b gets the other three.
    let a3 = c
        .consumer_heartbeat(hb("a", a_epoch, Some(&kept)), &lookup, now)
        .unwrap();
    assert_eq!(a3.member_epoch, b_epoch);
    let b3 = c
        .consumer_heartbeat(hb("b", b_epoch, Some(&[])), &lookup, now)
        .unwrap();
    let moved = parts(&b3).unwrap();
    assert_eq!(moved.len(), 3);
    assert!(moved.iter().all(|p| !kept.contains(p)));
    assert_eq!(c.describe_consumer_group("g").unwrap().state, "Stable");

    // An epoch from the future is fenced; a commit needs the current epoch.
    assert!(matches!(
        c.consumer_heartbeat(hb("a", b_epoch + 5, None), &lookup, now),
        Err(Error::FencedMemberEpoch { .. })
    ));
    let commit = |epoch: i32| CommitOffsets {
        group_id: "g".into(),
        generation_id: epoch,
        member_id: "b".into(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: moved[0],
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    let (stale, _) = c.commit_offsets(&commit(b_epoch - 1), now);
    assert!(matches!(
        stale[0].error,
        Some(Error::StaleMemberEpoch { .. })
    ));
    let (ok, records) = c.commit_offsets(&commit(b_epoch), now);
    assert_eq!(ok[0].error, None);
    assert_eq!(records.len(), 1);

    // A classic member cannot join while the consumer group has members.
    assert!(c.list_groups(&[]).iter().any(|g| g.group_id == "g"));
    // Both leave; the group is empty and may be deleted.
    c.consumer_heartbeat(hb("a", -1, None), &lookup, now)
        .unwrap();
    c.consumer_heartbeat(hb("b", -1, None), &lookup, now)
        .unwrap();
    assert_eq!(c.describe_consumer_group("g").unwrap().state, "Empty");
    assert!(c.delete_group("g").is_ok());
}

#[test]
fn silent_members_expire_and_free_their_partitions() {
    let mut c = GroupCoordinator::new(GroupConfig {
        consumer_session_timeout_ms: 1_000,
        ..GroupConfig::default()
    });
    let a = c
        .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
        .unwrap();
    let b = c
        .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
        .unwrap();
    let all: Vec<i32> = (0..6).collect();
    let a2 = c
        .consumer_heartbeat(hb("a", a.member_epoch, Some(&all)), &lookup, 500)
        .unwrap();
    let kept = parts(&a2).unwrap();
    c.consumer_heartbeat(hb("a", a.member_epoch, Some(&kept)), &lookup, 500)
        .unwrap();
    // b never heartbeats again; a's session is refreshed at 900.
    c.tick(900);
    let a3 = c
        .consumer_heartbeat(hb("a", b.member_epoch, None), &lookup, 900)
        .unwrap();
    assert_eq!(parts(&a3), None);
    c.tick(1_200);
    let a4 = c
        .consumer_heartbeat(hb("a", a3.member_epoch, None), &lookup, 1_200)
        .unwrap();
    assert_eq!(parts(&a4), Some(all));
}

/// Replays records through their byte encoding, as the broker does at start-up.
fn restart(records: &[Record], now: i64) -> GroupCoordinator {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    for r in records {
        let back = Record::decode(&r.key(), r.value().as_deref())
            .unwrap()
            .unwrap();
        assert_eq!(&back, r);
        c.replay(&back, now);
    }
    c
}

#[test]
fn members_epochs_and_assignments_survive_a_replay() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let mut log = Vec::new();
    let a = c
        .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
        .unwrap();
    let b = c
        .consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
        .unwrap();
    let all: Vec<i32> = (0..6).collect();
    let a2 = c
        .consumer_heartbeat(hb("a", a.member_epoch, Some(&all)), &lookup, 0)
        .unwrap();
    let kept = parts(&a2).unwrap();
    log.extend(c.take_records());
    // A heartbeat that changes nothing writes nothing.
    c.consumer_heartbeat(hb("a", a.member_epoch, None), &lookup, 0)
        .unwrap();
    assert!(c.take_records().is_empty());

    // Restart mid-revocation: a still has to give up three partitions.
    let mut r = restart(&log, 10_000);
    assert_eq!(
        r.describe_consumer_group("g").unwrap(),
        c.describe_consumer_group("g").unwrap()
    );
    assert_eq!(r.list_groups(&[])[0].state, GroupState::Stable);
    let a3 = r
        .consumer_heartbeat(hb("a", a.member_epoch, Some(&kept)), &lookup, 10_000)
        .unwrap();
    assert_eq!(a3.member_epoch, b.member_epoch);
    let b3 = r
        .consumer_heartbeat(hb("b", b.member_epoch, Some(&[])), &lookup, 10_000)
        .unwrap();
    assert_eq!(parts(&b3).map(|p| p.len()), Some(3));
    log.extend(r.take_records());

    // Sessions restart at load: both survive until 10 s + the session timeout.
    let mut r2 = restart(&log, 20_000);
    assert!(r2.tick(20_000 + 44_000).records.is_empty());
    assert_eq!(r2.describe_consumer_group("g").unwrap().members.len(), 2);
    log.extend(r2.tick(20_000 + 45_000).records);
    assert!(r2.describe_consumer_group("g").unwrap().members.is_empty());
    let r3 = restart(&log, 70_000);
    let d = r3.describe_consumer_group("g").unwrap();
    assert_eq!(d.state, "Empty");
    assert!(d.group_epoch > b.member_epoch);

    // Deleting the group tombstones everything: nothing comes back.
    let mut r4 = restart(&log, 80_000);
    log.extend(r4.delete_group("g").unwrap());
    let r5 = restart(&log, 90_000);
    assert!(r5.list_groups(&[]).is_empty());
}

#[test]
fn a_leaving_member_is_tombstoned() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    c.consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
        .unwrap();
    c.consumer_heartbeat(hb("b", 0, Some(&[])), &lookup, 0)
        .unwrap();
    let mut log = c.take_records();
    c.consumer_heartbeat(hb("b", -1, None), &lookup, 0).unwrap();
    let leave = c.take_records();
    assert!(leave.iter().any(|r| matches!(
        r,
        Record::Consumer { key: ConsumerKey::Member(m), value: None, .. } if m == "b"
    )));
    log.extend(leave);
    let r = restart(&log, 1);
    let members: Vec<String> = r
        .describe_consumer_group("g")
        .unwrap()
        .members
        .into_iter()
        .map(|m| m.member_id)
        .collect();
    assert_eq!(members, vec!["a".to_string()]);
}

#[test]
fn offset_fetch_checks_the_member_epoch() {
    let mut c = GroupCoordinator::new(GroupConfig::default());
    let a = c
        .consumer_heartbeat(hb("a", 0, Some(&[])), &lookup, 0)
        .unwrap();
    assert_eq!(c.validate_offset_fetch("g", None, -1), Ok(()));
    assert_eq!(c.validate_offset_fetch("other", Some("x"), 3), Ok(()));
    assert_eq!(
        c.validate_offset_fetch("g", Some("a"), a.member_epoch),
        Ok(())
    );
    assert_eq!(
        c.validate_offset_fetch("g", Some("zz"), a.member_epoch),
        Err(Error::UnknownMemberId)
    );
    assert!(matches!(
        c.validate_offset_fetch("g", Some("a"), a.member_epoch + 1),
        Err(Error::StaleMemberEpoch { .. })
    ));
}
