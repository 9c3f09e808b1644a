//! Tests of what the facade does across managers: DeleteGroups (with OffsetDelete around it), and a restart
//! — everything persisted, replayed through its byte encoding into a fresh coordinator.

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::coordinator::GroupCoordinator;
use crate::error::Error;
use crate::record::Record;
use crate::testkit::{check, subscription, Harness};
use crate::types::{
    CommitOffsets, CommitPartition, GroupState, JoinGroup, Protocol, Reply, SyncGroup,
};

#[test]
fn delete_group_and_offsets() {
    check(
        "
        join a v3
        sync a assign
        commit a gen=1 t-0=1 u-0=2
        delete-group
        delete-offsets t-0
        leave a
        state
        delete-group
        state
        delete-offsets t-0
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        commit a gen=1 t-0=1 u-0=2
          t-0: None
          u-0: None
          record offset t-0=1
          record offset u-0=2
        delete-group
          NonEmptyGroup
        delete-offsets t-0
          t-0: None
          record offset t-0 tombstone
        leave a
          [Ok(())]
          record group gen=2 members=[]
        state
          Empty type=consumer proto= members=[]
        delete-group
          record offset u-0 tombstone
          record group tombstone
        state
          no group
        delete-offsets t-0
          GroupIdNotFound
        ",
    );
}

/// Everything a coordinator persisted, replayed into a fresh one (a broker restart), restores groups and
/// committed offsets; members come back Stable and keep their generation.
#[test]
fn replay_restores_groups_and_offsets() {
    let mut h = Harness::new(GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let mut records = Vec::new();
    let fx = h.c.join_group(
        1,
        JoinGroup {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: String::new(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: subscription(&["t"]),
            }],
            require_known_member_id: false,
        },
        &|_| None,
        0,
    );
    let Some(Reply::Join(_, Ok(join))) = fx.replies.first().cloned() else {
        panic!("{fx:?}")
    };
    let sync = SyncGroup {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(join.member_id.clone(), Bytes::from_static(b"asg"))],
    };
    records.extend(h.c.sync_group(2, sync, 0).records);
    let commit = CommitOffsets {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: 3,
            metadata: Some("m".into()),
        }],
    };
    let (_, commit_records) = h.c.commit_offsets(&commit, 0);
    records.extend(commit_records);
    let (_, simple) = h.c.commit_offsets(
        &CommitOffsets {
            group_id: "simple".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: 1,
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            }],
        },
        0,
    );
    records.extend(simple);

    // Through the on-disk encoding, as the broker replays it.
    let mut restored = GroupCoordinator::new(GroupConfig::default());
    for r in &records {
        let back = Record::decode(&r.key(), r.value().as_deref())
            .unwrap()
            .unwrap();
        restored.replay(&back, 1000);
    }
    let d = restored.describe_group("g").unwrap();
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol_data, "range");
    assert_eq!(d.members[0].member_id, join.member_id);
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"asg"));
    let offsets = restored.fetch_offsets("g", None);
    assert_eq!(offsets.len(), 1);
    assert_eq!(
        offsets[0]
            .offset
            .as_ref()
            .map(|v| (v.offset, v.leader_epoch)),
        Some((42, 3))
    );
    assert_eq!(
        restored
            .fetch_offsets("simple", Some(&[("t".into(), 1), ("t".into(), 2)]))
            .iter()
            .map(|c| c.offset.as_ref().map(|v| v.offset))
            .collect::<Vec<_>>(),
        vec![Some(7), None]
    );
    // The restored member carries on with its generation.
    assert_eq!(
        restored.heartbeat("g", &join.member_id, None, join.generation_id, 2000),
        Ok(())
    );
    // ...and is subscribed to "t" for OffsetDelete.
    assert_eq!(
        restored.delete_offsets("g", &[("t".into(), 0)]).unwrap().0[0].error,
        Some(Error::GroupSubscribedToTopic)
    );
    // Its session was restarted at load time and expires without heartbeats.
    let fx = restored.tick(2000 + 10_000);
    assert_eq!(
        restored.describe_group("g").unwrap().state,
        GroupState::Empty
    );
    assert!(fx.replies.is_empty());
    assert_eq!(fx.records.len(), 1, "the emptied group is persisted");
    let listing = restored.list_groups(&[]);
    assert_eq!(listing.len(), 2);
}
