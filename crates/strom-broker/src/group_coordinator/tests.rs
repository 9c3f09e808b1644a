//! The glue through a real broker on a temp dir: a delayed JoinGroup completed by a second member's
//! join, an offset commit appended to `__consumer_offsets`, and a restart that replays it.
use super::*;
use crate::broker::Broker;
use strom_group::{CommitPartition, Protocol};

async fn start(dir: &std::path::Path) -> Arc<Broker> {
    let mut config = BrokerConfig::default();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    config.set("group.initial.rebalance.delay.ms", "0").unwrap();
    config.set("offsets.topic.num.partitions", "4").unwrap();
    Broker::start(config).await.unwrap()
}

/// JoinGroup's topic lookup for tests whose groups stay classic.
fn no_topics(_: &str) -> Option<TopicMeta> {
    None
}

fn join(member_id: &str) -> JoinGroup {
    JoinGroup {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"m"),
        }],
        require_known_member_id: false,
    }
}

fn sync_req(group: &str, generation_id: i32, member_id: &str) -> SyncGroup {
    SyncGroup {
        group_id: group.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: Vec::new(),
    }
}

fn commit_req(
    group: &str,
    generation_id: i32,
    member_id: &str,
    instance: Option<&str>,
) -> CommitOffsets {
    CommitOffsets {
        group_id: group.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: instance.map(str::to_string),
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 5,
            leader_epoch: -1,
            metadata: None,
        }],
    }
}

/// The Kafka code of a group operation's outcome (0 for success).
fn code<T>(r: Result<T, Error>) -> i16 {
    r.err().map_or(0, |e| error_code::group_error(&e).code())
}

async fn commit_code(groups: &GroupCoordinatorService, req: &CommitOffsets) -> i16 {
    groups.commit(req).await[0].1.map_or(0, |c| c.code())
}

fn heartbeat_code(
    groups: &GroupCoordinatorService,
    group: &str,
    member_id: &str,
    instance: Option<&str>,
    generation_id: i32,
) -> i16 {
    code(groups.with(|c, now| {
        let r = c.heartbeat(group, member_id, instance, generation_id, now);
        (r, Effects::default())
    }))
}

/// Stale generations, unknown and fenced members get Kafka's codes on SyncGroup, Heartbeat and
/// OffsetCommit, and none of it disturbs another group.
#[tokio::test]
async fn stale_unknown_and_fenced_members_are_refused_and_other_groups_carry_on() {
    const ILLEGAL_GENERATION: i16 = 22;
    const UNKNOWN_MEMBER_ID: i16 = 25;
    const FENCED_INSTANCE_ID: i16 = 82;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let groups = &broker.groups;
    broker.ensure_offsets_topic().await.unwrap();

    // Another group, stable at generation 1, checked after every step.
    let mut other = join("");
    other.group_id = "other".into();
    let o = groups.join(other, &no_topics).await.unwrap().unwrap();
    let synced = groups.sync(sync_req("other", 1, &o.member_id)).await;
    assert_eq!(code(synced.unwrap()), 0);
    let other_ok = async |step: &str| {
        let hb = heartbeat_code(groups, "other", &o.member_id, None, 1);
        let commit = commit_code(groups, &commit_req("other", 1, &o.member_id, None)).await;
        assert_eq!((hb, commit), (0, 0), "other group disturbed after {step}");
    };

    // g: a alone at generation 1, then a and b at generation 2.
    let a = groups.join(join(""), &no_topics).await.unwrap().unwrap();
    assert_eq!(
        code(groups.sync(sync_req("g", 1, &a.member_id)).await.unwrap()),
        0
    );
    let b_join = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { broker.groups.join(join(""), &no_topics).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let a2 = groups
        .join(join(&a.member_id), &no_topics)
        .await
        .unwrap()
        .unwrap();
    let b = b_join.await.unwrap().unwrap().unwrap();
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    let b_sync = {
        let broker = Arc::clone(&broker);
        let member_id = b.member_id.clone();
        tokio::spawn(async move { broker.groups.sync(sync_req("g", 2, &member_id)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        code(groups.sync(sync_req("g", 2, &a.member_id)).await.unwrap()),
        0
    );
    assert_eq!(code(b_sync.await.unwrap().unwrap()), 0);
    other_ok("the rebalance").await;

    // Generation 1 is over.
    let stale_sync = groups.sync(sync_req("g", 1, &a.member_id)).await.unwrap();
    assert_eq!(code(stale_sync), ILLEGAL_GENERATION);
    assert_eq!(
        heartbeat_code(groups, "g", &a.member_id, None, 1),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit_code(groups, &commit_req("g", 1, &a.member_id, None)).await,
        ILLEGAL_GENERATION
    );
    // Members the group never had.
    let unknown_sync = groups.sync(sync_req("g", 2, "nobody")).await.unwrap();
    assert_eq!(code(unknown_sync), UNKNOWN_MEMBER_ID);
    assert_eq!(
        heartbeat_code(groups, "g", "nobody", None, 2),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit_code(groups, &commit_req("g", 2, "nobody", None)).await,
        UNKNOWN_MEMBER_ID
    );
    // The current generation still works.
    assert_eq!(heartbeat_code(groups, "g", &b.member_id, None, 2), 0);
    assert_eq!(
        commit_code(groups, &commit_req("g", 2, &b.member_id, None)).await,
        0
    );
    other_ok("stale requests").await;

    // b leaves; its later commit is refused.
    let left = groups.with(|c, now| {
        c.leave_group(
            "g",
            &[strom_group::LeaveMember {
                member_id: b.member_id.clone(),
                group_instance_id: None,
            }],
            now,
        )
    });
    assert_eq!(left, vec![Ok(())]);
    assert_eq!(
        commit_code(groups, &commit_req("g", 2, &b.member_id, None)).await,
        UNKNOWN_MEMBER_ID
    );
    other_ok("a leave").await;

    // Static membership: a restarted instance fences the member id it replaced.
    let mut s1 = join("");
    s1.group_id = "static".into();
    s1.group_instance_id = Some("i".into());
    let first = groups.join(s1.clone(), &no_topics).await.unwrap().unwrap();
    let mut sync = sync_req("static", 1, &first.member_id);
    sync.group_instance_id = Some("i".into());
    assert_eq!(code(groups.sync(sync).await.unwrap()), 0);
    let second = groups.join(s1, &no_topics).await.unwrap().unwrap();
    assert_ne!(second.member_id, first.member_id);
    assert_eq!(
        second.generation_id, 1,
        "a static rejoin does not rebalance"
    );
    assert_eq!(
        heartbeat_code(groups, "static", &first.member_id, Some("i"), 1),
        FENCED_INSTANCE_ID
    );
    assert_eq!(
        commit_code(
            groups,
            &commit_req("static", 1, &first.member_id, Some("i"))
        )
        .await,
        FENCED_INSTANCE_ID
    );
    assert_eq!(
        commit_code(
            groups,
            &commit_req("static", 1, &second.member_id, Some("i"))
        )
        .await,
        0
    );
    other_ok("fencing").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn rebalance_commit_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let groups = &broker.groups;
    broker.ensure_offsets_topic().await.unwrap();
    let a = groups.join(join(""), &no_topics).await.unwrap().unwrap();
    assert_eq!(a.generation_id, 1);
    // b's join parks until a rejoins.
    let b_join = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { broker.groups.join(join(""), &no_topics).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!b_join.is_finished());
    let a2 = groups
        .join(join(&a.member_id), &no_topics)
        .await
        .unwrap()
        .unwrap();
    let b = b_join.await.unwrap().unwrap().unwrap();
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    assert_eq!(a2.members.len(), 2);
    // b's sync parks until the leader syncs.
    let b_sync = {
        let broker = Arc::clone(&broker);
        let member_id = b.member_id.clone();
        tokio::spawn(async move {
            let req = SyncGroup {
                group_id: "g".into(),
                generation_id: 2,
                member_id,
                group_instance_id: None,
                protocol_type: None,
                protocol_name: None,
                assignments: Vec::new(),
            };
            broker.groups.sync(req).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let leader_sync = SyncGroup {
        group_id: "g".into(),
        generation_id: 2,
        member_id: a.member_id.clone(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![
            (a.member_id.clone(), Bytes::from_static(b"for-a")),
            (b.member_id.clone(), Bytes::from_static(b"for-b")),
        ],
    };
    let mine = groups.sync(leader_sync).await.unwrap().unwrap();
    assert_eq!(mine.assignment, Bytes::from_static(b"for-a"));
    let theirs = b_sync.await.unwrap().unwrap().unwrap();
    assert_eq!(theirs.assignment, Bytes::from_static(b"for-b"));
    let commit = CommitOffsets {
        group_id: "g".into(),
        generation_id: 2,
        member_id: b.member_id.clone(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 17,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    let results = groups.commit(&commit).await;
    assert_eq!(results[0].1, None);
    broker.shutdown().await;
    drop(broker);

    let broker = start(dir.path()).await;
    let offsets = broker.groups.read(|c| c.fetch_offsets("g", None));
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0].offset.as_ref().map(|v| v.offset), Some(17));
    let d = broker.groups.read(|c| c.describe_group("g")).unwrap();
    assert_eq!(d.state, strom_group::GroupState::Stable);
    assert_eq!(d.members.len(), 2);
    broker.shutdown().await;
}
