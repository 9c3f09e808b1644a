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

// ---------------------------------------------------------------------------------------------
// KIP-848 online migration: classic members in a consumer group, upgrade and downgrade.

mod migration {
    use std::collections::BTreeSet;

    use bytes::Bytes;

    use super::*;
    use crate::config::MigrationPolicy;
    use crate::group::embedded;
    use crate::testkit::subscription;
    use crate::types::{Effects, JoinGroup, JoinResult, LeaveMember, Protocol, Reply, SyncGroup};

    fn join_req(member_id: &str) -> JoinGroup {
        JoinGroup {
            group_id: "g".into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "classic".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 20_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: subscription(&["t"]),
            }],
            require_known_member_id: false,
        }
    }

    fn join_reply(fx: &Effects) -> Result<JoinResult, Error> {
        match fx.replies.iter().find(|r| matches!(r, Reply::Join(..))) {
            Some(Reply::Join(_, r)) => r.clone(),
            _ => panic!("no JoinGroup answer in {fx:?}"),
        }
    }

    fn sync(c: &mut GroupCoordinator, member: &str, generation: i32, assign: &[i32]) -> Vec<i32> {
        sync_logged(c, member, generation, assign, &mut Vec::new())
    }

    fn sync_logged(
        c: &mut GroupCoordinator,
        member: &str,
        generation: i32,
        assign: &[i32],
        log: &mut Vec<Record>,
    ) -> Vec<i32> {
        let assignments = if assign.is_empty() {
            Vec::new()
        } else {
            vec![(member.to_string(), assignment(assign))]
        };
        let fx = c.sync_group(
            9,
            SyncGroup {
                group_id: "g".into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignments,
            },
            0,
        );
        log.extend(fx.records.clone());
        match fx.replies.first() {
            Some(Reply::Sync(_, Ok(s))) => partitions(&s.assignment),
            other => panic!("sync of {member}: {other:?}"),
        }
    }

    fn assignment(ps: &[i32]) -> Bytes {
        embedded::encode_assignment(1, &[("t".to_string(), ps.iter().copied().collect())])
    }

    fn partitions(bytes: &Bytes) -> Vec<i32> {
        embedded::decode_assignment(bytes)
            .unwrap()
            .into_iter()
            .flat_map(|(_, ps)| ps)
            .collect()
    }

    fn group_type(c: &GroupCoordinator) -> &'static str {
        c.list_groups(&[])[0].group_type
    }

    /// A classic group with one member holding all six partitions (generation 1), and its records.
    fn classic_group_logged(config: GroupConfig) -> (GroupCoordinator, Vec<Record>) {
        let mut c = GroupCoordinator::new(GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..config
        });
        let mut log = Vec::new();
        let fx = c.join_group(1, join_req(""), &lookup, 0);
        log.extend(fx.records.clone());
        let j = join_reply(&fx).unwrap();
        assert_eq!(j.generation_id, 1);
        let fx = c.join_group(2, join_req(&j.member_id), &lookup, 0);
        log.extend(fx.records.clone());
        let j = join_reply(&fx).unwrap();
        let all: Vec<i32> = (0..6).collect();
        assert_eq!(
            sync_logged(&mut c, &j.member_id, j.generation_id, &all, &mut log),
            all
        );
        (c, log)
    }

    fn classic_group(config: GroupConfig) -> GroupCoordinator {
        classic_group_logged(config).0
    }

    fn member_id(c: &GroupCoordinator) -> String {
        c.describe_group("g").unwrap().members[0].member_id.clone()
    }

    #[test]
    fn a_consumer_member_upgrades_a_classic_group_and_the_last_one_leaving_downgrades_it() {
        let (mut c, mut log) = classic_group_logged(GroupConfig::default());
        let cm = member_id(&c);
        assert_eq!(
            restart(&log, 50).describe_group("g").unwrap().members.len(),
            1
        );

        // The KIP-848 member joins: the group converts; c still holds everything, so k waits.
        let k = c
            .consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 100)
            .unwrap();
        assert_eq!(parts(&k), Some(vec![]));
        assert_eq!(group_type(&c), "consumer");
        let fx = c.take_effects();
        assert!(matches!(
            fx.records.first(),
            Some(Record::Group { value: None, .. })
        ));
        log.extend(fx.records);
        let d = c.describe_consumer_group("g").unwrap();
        assert_eq!(d.members.len(), 2);

        // The classic member is told to rejoin; it gives up its partitions (eager) and rejoins.
        assert_eq!(
            c.heartbeat("g", &cm, None, 1, 200),
            Err(Error::RebalanceInProgress)
        );
        let fx = c.join_group(3, join_req(&cm), &lookup, 300);
        log.extend(fx.records.clone());
        let j = join_reply(&fx).unwrap();
        assert_eq!(j.generation_id, k.member_epoch);
        assert_eq!(j.leader, "");
        assert!(j.members.is_empty());
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        let mine = sync(&mut c, &cm, j.generation_id, &[]);
        assert_eq!(mine.len(), 3);
        assert_eq!(c.heartbeat("g", &cm, None, j.generation_id, 400), Ok(()));

        // Now k gets the other three; each partition has one owner.
        let k2 = c
            .consumer_heartbeat(hb("k", k.member_epoch, Some(&[])), &lookup, 500)
            .unwrap();
        let theirs = parts(&k2).unwrap();
        assert_eq!(theirs.len(), 3);
        let both: BTreeSet<i32> = mine.iter().chain(&theirs).copied().collect();
        assert_eq!(both.len(), 6);
        log.extend(c.take_records());

        // A commit from the classic member uses its generation (its member epoch).
        let commit = |generation: i32| CommitOffsets {
            group_id: "g".into(),
            generation_id: generation,
            member_id: cm.clone(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: mine[0],
                offset: 5,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        let (stale, _) = c.commit_offsets(&commit(j.generation_id - 1), 500);
        assert!(matches!(
            stale[0].error,
            Some(Error::IllegalGeneration { .. })
        ));
        let (ok, _) = c.commit_offsets(&commit(j.generation_id), 500);
        assert_eq!(ok[0].error, None);

        // The records so far bring back a consumer group with a classic member.
        let r = restart(&log, 1_000);
        assert_eq!(group_type(&r), "consumer");
        assert_eq!(r.describe_consumer_group("g").unwrap().members.len(), 2);

        // k leaves: only classic members remain, so the group turns classic and rebalances.
        c.consumer_heartbeat(hb("k", -1, None), &lookup, 600)
            .unwrap();
        let fx = c.take_effects();
        assert!(matches!(
            fx.records.last(),
            Some(Record::Group { value: Some(_), .. })
        ));
        log.extend(fx.records);
        assert_eq!(group_type(&c), "classic");
        assert_eq!(c.list_groups(&[])[0].state, GroupState::PreparingRebalance);
        // c heartbeats with its old generation or the group's: either way it must rejoin.
        assert!(c.heartbeat("g", &cm, None, j.generation_id, 700).is_err());
        let fx = c.join_group(4, join_req(&cm), &lookup, 800);
        let j2 = join_reply(&fx).unwrap();
        assert_eq!(j2.leader, cm);
        let all: Vec<i32> = (0..6).collect();
        assert_eq!(sync(&mut c, &cm, j2.generation_id, &all), all);

        // The records bring back the classic group.
        let r = restart(&log, 2_000);
        assert_eq!(group_type(&r), "classic");
        assert_eq!(r.describe_group("g").unwrap().members.len(), 1);
    }

    #[test]
    fn a_classic_member_joins_a_consumer_group_and_leaves_it() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let k = c
            .consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0)
            .unwrap();
        assert_eq!(parts(&k).map(|p| p.len()), Some(6));
        // KIP-394: a first join gets a member id to come back with.
        let mut first = join_req("");
        first.require_known_member_id = true;
        let id = match join_reply(&c.join_group(1, first, &lookup, 0)) {
            Err(Error::MemberIdRequired { member_id }) => member_id,
            other => panic!("{other:?}"),
        };
        // A different protocol type does not fit.
        let mut other = join_req(&id);
        other.protocol_type = "connect".into();
        assert_eq!(
            join_reply(&c.join_group(2, other, &lookup, 0)),
            Err(Error::InconsistentGroupProtocol)
        );
        let j = join_reply(&c.join_group(3, join_req(&id), &lookup, 0)).unwrap();
        // k holds everything: the classic member gets nothing until k revoked.
        assert_eq!(sync(&mut c, &id, j.generation_id, &[]), Vec::<i32>::new());
        let all: Vec<i32> = (0..6).collect();
        let k2 = c
            .consumer_heartbeat(hb("k", k.member_epoch, Some(&all)), &lookup, 10)
            .unwrap();
        let kept = parts(&k2).unwrap();
        assert_eq!(kept.len(), 3);
        let k_ack = c
            .consumer_heartbeat(hb("k", k.member_epoch, Some(&kept)), &lookup, 20)
            .unwrap();
        // The freed partitions wait for the classic member: it is told to rejoin and gets them.
        assert_eq!(
            c.heartbeat("g", &id, None, j.generation_id, 30),
            Err(Error::RebalanceInProgress)
        );
        let j2 = join_reply(&c.join_group(4, join_req(&id), &lookup, 40)).unwrap();
        let mine = sync(&mut c, &id, j2.generation_id, &[]);
        assert_eq!(mine.len(), 3);
        assert!(mine.iter().all(|p| !kept.contains(p)));
        // A sync with a stale generation is refused.
        let stale = c.sync_group(
            5,
            SyncGroup {
                group_id: "g".into(),
                generation_id: j2.generation_id + 7,
                member_id: id.clone(),
                group_instance_id: None,
                protocol_type: None,
                protocol_name: None,
                assignments: Vec::new(),
            },
            50,
        );
        assert!(matches!(
            stale.replies.first(),
            Some(Reply::Sync(_, Err(Error::IllegalGeneration { .. })))
        ));

        // The classic member leaves through LeaveGroup; k gets everything back; the group stays consumer.
        let (results, fx) = c.leave_group(
            "g",
            &[LeaveMember {
                member_id: id.clone(),
                group_instance_id: None,
            }],
            60,
        );
        assert_eq!(results, vec![Ok(())]);
        assert!(!fx.records.is_empty());
        // LeaveGroup cannot remove a KIP-848 member.
        let (results, _) = c.leave_group(
            "g",
            &[LeaveMember {
                member_id: "k".into(),
                group_instance_id: None,
            }],
            60,
        );
        assert_eq!(results, vec![Err(Error::UnknownMemberId)]);
        let k3 = c
            .consumer_heartbeat(hb("k", k_ack.member_epoch, Some(&kept)), &lookup, 70)
            .unwrap();
        assert_eq!(parts(&k3), Some(all));
        assert_eq!(group_type(&c), "consumer");
    }

    #[test]
    fn a_silent_classic_member_expires_and_a_silent_consumer_member_downgrades() {
        let mut c = classic_group(GroupConfig::default());
        let cm = member_id(&c);
        let k = c
            .consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let j = join_reply(&c.join_group(3, join_req(&cm), &lookup, 0)).unwrap();
        sync(&mut c, &cm, j.generation_id, &[]);
        // k stops heartbeating (45 s session); c keeps going (10 s session).
        let mut now = 0;
        while now < 44_000 {
            now += 5_000;
            assert_eq!(c.heartbeat("g", &cm, None, j.generation_id, now), Ok(()));
        }
        assert!(k.member_epoch > 0);
        let _ = c.heartbeat("g", &cm, None, j.generation_id, 46_000);
        let fx = c.tick(46_000);
        assert_eq!(group_type(&c), "classic");
        assert!(fx
            .records
            .iter()
            .any(|r| matches!(r, Record::Group { value: Some(_), .. })));

        // Without heartbeats the classic member expires from a consumer group too.
        let mut c = GroupCoordinator::new(GroupConfig::default());
        c.consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0)
            .unwrap();
        let j = join_reply(&c.join_group(1, join_req("x"), &lookup, 0)).unwrap();
        sync(&mut c, "x", j.generation_id, &[]);
        c.consumer_heartbeat(hb("k", 1, None), &lookup, 9_000).ok();
        c.tick(10_001);
        assert_eq!(c.describe_consumer_group("g").unwrap().members.len(), 1);
    }

    #[test]
    fn the_migration_policy_decides_which_way_a_group_may_convert() {
        assert_eq!(
            MigrationPolicy::parse("Bidirectional"),
            Some(MigrationPolicy::Bidirectional)
        );
        assert_eq!(
            MigrationPolicy::parse("upgrade"),
            Some(MigrationPolicy::Upgrade)
        );
        assert_eq!(
            MigrationPolicy::parse("DOWNGRADE"),
            Some(MigrationPolicy::Downgrade)
        );
        assert_eq!(
            MigrationPolicy::parse("disabled"),
            Some(MigrationPolicy::Disabled)
        );
        assert_eq!(MigrationPolicy::parse("sideways"), None);
        assert_eq!(
            GroupConfig::default().consumer_migration_policy,
            MigrationPolicy::Bidirectional
        );

        for policy in [MigrationPolicy::Disabled, MigrationPolicy::Downgrade] {
            let mut c = classic_group(GroupConfig {
                consumer_migration_policy: policy,
                ..GroupConfig::default()
            });
            assert_eq!(
                c.consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0),
                Err(Error::GroupIdNotFound)
            );
            assert_eq!(group_type(&c), "classic");
            assert!(c.take_records().is_empty());
        }

        // Upgrade only: the group converts, but stays a consumer group when the KIP-848 member leaves.
        let mut c = classic_group(GroupConfig {
            consumer_migration_policy: MigrationPolicy::Upgrade,
            ..GroupConfig::default()
        });
        c.consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0)
            .unwrap();
        assert_eq!(group_type(&c), "consumer");
        c.consumer_heartbeat(hb("k", -1, None), &lookup, 0).unwrap();
        assert_eq!(group_type(&c), "consumer");
        assert_eq!(c.describe_consumer_group("g").unwrap().members.len(), 1);

        // A group whose protocol type is not "consumer" (e.g. Connect) never converts.
        let mut c = GroupCoordinator::new(GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        });
        let mut connect = join_req("");
        connect.protocol_type = "connect".into();
        join_reply(&c.join_group(1, connect, &lookup, 0)).unwrap();
        assert_eq!(
            c.consumer_heartbeat(hb("k", 0, Some(&[])), &lookup, 0),
            Err(Error::GroupIdNotFound)
        );
    }
}
