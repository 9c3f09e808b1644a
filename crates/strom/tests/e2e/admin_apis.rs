//! The describe-the-cluster admin APIs over raw Kafka requests, each answer checked against what the broker
//! really holds: DescribeTopicPartitions against Metadata (leader, epoch, replicas, ISR) and its cursor
//! pagination (every partition exactly once, in order); DescribeLogDirs against the partition files on disk
//! (sizes grow with produced records, the dir is the absolute `log.dirs` path); AlterReplicaLogDirs' answers
//! for the replica's own dir, an unknown dir, an offline second dir and an unknown partition; DescribeQuorum
//! against the metadata log (the high watermark moves with a new topic) and, on three nodes, against the
//! controller Metadata names (every node, follower or leader, gives the leader's view).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_test_support::cluster::create_replicated_topic;
use strom_test_support::kafka::{Record, TestProducer};
use strom_test_support::{wait_until, TestBroker};

use crate::cluster::FAILOVER_TIMEOUT;
use crate::util::{call, create_topic, start_broker};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const KAFKA_STORAGE_ERROR: i16 = 56;
const LOG_DIR_NOT_FOUND: i16 = 57;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Leader, leader epoch, replicas and ISR of every partition, keyed (topic, partition).
type Layout = BTreeMap<(String, i32), (i32, i32, Vec<i32>, Vec<i32>)>;

fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

fn metadata_layout(broker: &TestBroker) -> Layout {
    let response: MetadataResponse = call(
        broker,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    let mut layout = Layout::new();
    for t in response.topics {
        let topic = t.name.unwrap().0.to_string();
        for p in t.partitions {
            layout.insert(
                (topic.clone(), p.partition_index),
                (
                    p.leader_id.0,
                    p.leader_epoch,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes),
                ),
            );
        }
    }
    layout
}

fn describe_page(
    broker: &TestBroker,
    topics: &[&str],
    limit: i32,
    cursor: Option<Cursor>,
) -> DescribeTopicPartitionsResponse {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor);
    call(broker, ApiKey::DescribeTopicPartitions, 0, &request)
}

#[test]
fn describe_topic_partitions_matches_metadata_and_pages_through_every_partition() {
    let broker = start_broker(&[]);
    create_topic(&broker, "dtp-a", 5, &[]);
    create_topic(&broker, "dtp-b", 3, &[]);
    // Every topic, `__consumer_offsets` too when the admin client's calls created it.
    let expected = metadata_layout(&broker);
    assert_eq!(
        expected
            .keys()
            .filter(|(t, _)| t.starts_with("dtp-"))
            .count(),
        8,
        "{expected:?}"
    );

    // All topics, three partitions per page (pages cross topic boundaries): follow next_cursor to the end.
    let mut seen = Vec::new();
    let mut cursor = None;
    for page in 0.. {
        assert!(page <= expected.len(), "pagination does not end");
        let response = describe_page(&broker, &[], 3, cursor.take());
        let in_page: usize = response.topics.iter().map(|t| t.partitions.len()).sum();
        assert!(in_page <= 3, "page {page} holds {in_page} partitions");
        for t in &response.topics {
            assert_eq!(t.error_code, 0);
            let topic = t.name.as_ref().unwrap().0.to_string();
            assert_eq!(t.is_internal, topic.starts_with("__"));
            assert!(t.topic_authorized_operations > 0);
            for p in &t.partitions {
                assert_eq!(p.error_code, 0);
                assert_eq!(p.eligible_leader_replicas.as_deref(), Some(&[][..]));
                assert_eq!(p.last_known_elr.as_deref(), Some(&[][..]));
                assert!(p.offline_replicas.is_empty());
                let got = (
                    p.leader_id.0,
                    p.leader_epoch,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes),
                );
                assert_eq!(
                    Some(&got),
                    expected.get(&(topic.clone(), p.partition_index))
                );
                seen.push((topic.clone(), p.partition_index));
            }
        }
        match response.next_cursor {
            Some(next) => {
                cursor = Some(
                    Cursor::default()
                        .with_topic_name(next.topic_name)
                        .with_partition_index(next.partition_index),
                )
            }
            None => break,
        }
    }
    let wanted: Vec<_> = expected.keys().cloned().collect();
    assert_eq!(seen, wanted, "every partition exactly once, in order");

    // Named topics (one unknown), one page big enough for all.
    let response = describe_page(&broker, &["dtp-b", "no-such-topic", "dtp-a"], 100, None);
    let summary: Vec<_> = response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().0.to_string(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("dtp-a".to_string(), 0, 5),
            ("dtp-b".to_string(), 0, 3),
            ("no-such-topic".to_string(), UNKNOWN_TOPIC_OR_PARTITION, 0)
        ]
    );
    assert!(response.next_cursor.is_none());

    // A page that ends exactly at a topic's end points the cursor at the next topic's partition 0.
    let first = describe_page(&broker, &["dtp-a", "dtp-b"], 5, None);
    assert_eq!(first.topics.len(), 1);
    assert_eq!(first.topics[0].partitions.len(), 5);
    let next = first.next_cursor.expect("a cursor to dtp-b");
    assert_eq!(
        (next.topic_name.0.as_str(), next.partition_index),
        ("dtp-b", 0)
    );
    let cursor = Cursor::default()
        .with_topic_name(next.topic_name)
        .with_partition_index(0);
    let second = describe_page(&broker, &["dtp-a", "dtp-b"], 5, Some(cursor));
    assert_eq!(second.topics.len(), 1);
    assert_eq!(second.topics[0].partitions.len(), 3);
    assert!(second.next_cursor.is_none());

    // A cursor in the middle of a named topic resumes there.
    let cursor = Cursor::default()
        .with_topic_name(name("dtp-a"))
        .with_partition_index(3);
    let response = describe_page(&broker, &["dtp-a"], 100, Some(cursor));
    let indexes: Vec<_> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(indexes, [3, 4]);

    // A cursor naming a topic outside the list is INVALID_REQUEST for every listed topic (Kafka's answer).
    let cursor = Cursor::default()
        .with_topic_name(name("dtp-b"))
        .with_partition_index(0);
    let response = describe_page(&broker, &["dtp-a"], 100, Some(cursor));
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].error_code, INVALID_REQUEST);
    assert!(response.topics[0].partitions.is_empty());
    broker.assert_no_panic();
}

fn describe_log_dirs(
    broker: &TestBroker,
    topics: Option<Vec<(&str, Vec<i32>)>>,
) -> DescribeLogDirsResponse {
    let request = DescribeLogDirsRequest::default().with_topics(topics.map(|ts| {
        ts.into_iter()
            .map(|(t, partitions)| {
                describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(name(t))
                    .with_partitions(partitions)
            })
            .collect()
    }));
    call(broker, ApiKey::DescribeLogDirs, 4, &request)
}

/// Bytes in the partition's segment log files, as Kafka's `UnifiedLog.size` counts.
fn segment_bytes(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len() as i64)
        .sum()
}

/// (topic, partition) → (size, offset lag) in the one log dir of the answer.
fn sizes(response: &DescribeLogDirsResponse) -> BTreeMap<(String, i32), (i64, i64)> {
    assert_eq!(response.error_code, 0);
    assert_eq!(response.results.len(), 1);
    let dir = &response.results[0];
    assert_eq!(dir.error_code, 0);
    dir.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                assert!(!p.is_future_key);
                (
                    (t.name.0.to_string(), p.partition_index),
                    (p.partition_size, p.offset_lag),
                )
            })
        })
        .collect()
}

#[test]
fn describe_log_dirs_reports_the_partition_files_and_alter_replica_log_dirs_moves_nothing() {
    let broker = start_broker(&[]);
    create_topic(&broker, "ldirs", 2, &[]);
    let data_dir = std::fs::canonicalize(broker.data_dir()).unwrap();

    let before = describe_log_dirs(&broker, None);
    let dir = &before.results[0];
    assert_eq!(
        std::fs::canonicalize(dir.log_dir.as_str()).unwrap(),
        data_dir,
        "log dir {}",
        dir.log_dir.as_str()
    );
    assert!(Path::new(dir.log_dir.as_str()).is_absolute());
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    let before = sizes(&before);
    assert_eq!(before.get(&("ldirs".to_string(), 0)), Some(&(0, 0)));
    assert_eq!(before.get(&("ldirs".to_string(), 1)), Some(&(0, 0)));

    let producer = TestProducer::with(&broker.bootstrap(), &[]).unwrap();
    let value = vec![b'x'; 1000];
    for _ in 0..50 {
        producer
            .send(&Record::new("ldirs").partition(0).value(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let after = sizes(&describe_log_dirs(&broker, None));
    let (size0, lag0) = after[&("ldirs".to_string(), 0)];
    assert!(size0 > 50 * 1000, "partition 0 holds {size0} bytes");
    assert_eq!(size0, segment_bytes(&broker.partition_dir("ldirs", 0)));
    assert_eq!(lag0, 0);
    assert_eq!(after[&("ldirs".to_string(), 1)], (0, 0));

    // Only what was asked for; an unknown partition is left out.
    let only = sizes(&describe_log_dirs(
        &broker,
        Some(vec![("ldirs", vec![0, 7])]),
    ));
    assert_eq!(
        only.into_iter().collect::<Vec<_>>(),
        [(("ldirs".to_string(), 0), (size0, 0))]
    );

    // Older versions carry the same sizes.
    let v1: DescribeLogDirsResponse = call(
        &broker,
        ApiKey::DescribeLogDirs,
        1,
        &DescribeLogDirsRequest::default(),
    );
    assert_eq!(v1.results[0].log_dir, dir_name(&broker));

    // AlterReplicaLogDirs: its own dir is NONE, another path LOG_DIR_NOT_FOUND, an unknown partition
    // UNKNOWN_TOPIC_OR_PARTITION.
    let own = dir_name(&broker).to_string();
    let outcome = |path: &str, topic: &str, partition: i32| -> i16 {
        let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![
            alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                .with_path(StrBytes::from_string(path.to_string()))
                .with_topics(vec![
                    alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![partition]),
                ]),
        ]);
        let response: AlterReplicaLogDirsResponse =
            call(&broker, ApiKey::AlterReplicaLogDirs, 2, &request);
        response.results[0].partitions[0].error_code
    };
    assert_eq!(outcome(&own, "ldirs", 0), 0);
    assert_eq!(outcome("/no/such/dir", "ldirs", 0), LOG_DIR_NOT_FOUND);
    assert_eq!(outcome(&own, "ldirs", 9), UNKNOWN_TOPIC_OR_PARTITION);
    // Nothing moved.
    assert_eq!(sizes(&describe_log_dirs(&broker, None)), after);
    broker.assert_no_panic();
}

/// The broker's log dir as DescribeLogDirs names it.
fn dir_name(broker: &TestBroker) -> StrBytes {
    let response = describe_log_dirs(broker, None);
    response.results[0].log_dir.clone()
}

/// Strom keeps all data in the first `log.dirs` entry; a second one is reported offline (KAFKA_STORAGE_ERROR,
/// as Kafka reports a dir it cannot use) and a move to it is refused with the same code.
#[test]
fn a_second_log_dir_is_reported_offline_and_refuses_moves() {
    let dirs = std::env::temp_dir().join(format!("strom-e2e-logdirs-{}", std::process::id()));
    let (first, second) = (dirs.join("a"), dirs.join("b"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let setting = format!("log.dirs={},{}", first.display(), second.display());
    let broker = start_broker(&["--override", &setting]);
    create_topic(&broker, "two-dirs", 1, &[]);
    let response = describe_log_dirs(&broker, None);
    let dirs_seen: Vec<_> = response
        .results
        .iter()
        .map(|r| {
            let topics = r
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == "two-dirs")
                .count();
            (r.log_dir.to_string(), r.error_code, topics)
        })
        .collect();
    assert_eq!(
        dirs_seen,
        [
            (first.display().to_string(), 0, 1),
            (second.display().to_string(), KAFKA_STORAGE_ERROR, 0)
        ]
    );
    let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![
        alter_replica_log_dirs_request::AlterReplicaLogDir::default()
            .with_path(StrBytes::from_string(second.display().to_string()))
            .with_topics(vec![
                alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                    .with_name(name("two-dirs"))
                    .with_partitions(vec![0]),
            ]),
    ]);
    let response: AlterReplicaLogDirsResponse =
        call(&broker, ApiKey::AlterReplicaLogDirs, 1, &request);
    assert_eq!(
        response.results[0].partitions[0].error_code,
        KAFKA_STORAGE_ERROR
    );
    assert!(first.join("two-dirs-0").is_dir());
    assert!(!second.join("two-dirs-0").exists());
    broker.assert_no_panic();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dirs);
}

fn describe_quorum(broker: &TestBroker, version: i16) -> describe_quorum_response::PartitionData {
    let request = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(name("__cluster_metadata"))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let response: DescribeQuorumResponse = call(broker, ApiKey::DescribeQuorum, version, &request);
    assert_eq!(response.error_code, 0);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(
        response.topics[0].topic_name.0.as_str(),
        "__cluster_metadata"
    );
    response.topics[0].partitions[0].clone()
}

fn controller_id(broker: &TestBroker) -> i32 {
    let response: MetadataResponse = call(
        broker,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    response.controller_id.0
}

#[test]
fn describe_quorum_of_a_single_node_follows_its_metadata_log() {
    let broker = start_broker(&[]);
    let before = describe_quorum(&broker, 2);
    assert_eq!(before.error_code, 0, "{:?}", before.error_message);
    assert_eq!(before.leader_id.0, broker.node_id());
    assert!(before.leader_epoch >= 1);
    let voters: Vec<_> = before
        .current_voters
        .iter()
        .map(|v| v.replica_id.0)
        .collect();
    assert_eq!(voters, [broker.node_id()]);
    assert!(before.observers.is_empty());
    // One voter: everything it wrote is committed.
    assert!(before.high_watermark > 0);
    assert_eq!(
        before.current_voters[0].log_end_offset,
        before.high_watermark
    );
    assert!(before.current_voters[0].last_caught_up_timestamp > 0);

    // A new topic is a metadata record: the high watermark moves.
    create_topic(&broker, "quorum-topic", 1, &[]);
    let after = describe_quorum(&broker, 0);
    assert!(
        after.high_watermark > before.high_watermark,
        "{} -> {}",
        before.high_watermark,
        after.high_watermark
    );
    assert_eq!(
        after.current_voters[0].last_fetch_timestamp, -1,
        "v0 carries no timestamps"
    );

    // Anything but __cluster_metadata-0 is UNKNOWN_TOPIC_OR_PARTITION.
    let request = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(name("quorum-topic"))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let response: DescribeQuorumResponse = call(&broker, ApiKey::DescribeQuorum, 1, &request);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    broker.assert_no_panic();
}

/// On three nodes: every node's DescribeQuorum names the same leader (the controller Metadata names) and all
/// voters, a follower's answer coming from the leader; every replica of a replicated partition reports, on
/// its own node, the size of its segment files (equal on all three once replicated, offset lag 0); and a
/// killed broker shows up as an offline replica in DescribeTopicPartitions, which keeps agreeing with Metadata.
#[test]
fn on_a_cluster_every_node_answers_from_what_it_holds() {
    let mut cluster = crate::cluster::start_cluster(&[]);
    let ids = cluster.ids();
    for &id in &ids {
        let node = cluster.node(id);
        let p = describe_quorum(node, 2);
        assert_eq!(p.error_code, 0, "node {id}: {:?}", p.error_message);
        assert_eq!(p.leader_id.0, controller_id(node), "node {id}");
        let mut voters: Vec<_> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
        voters.sort();
        assert_eq!(voters, ids);
        let leader = p
            .current_voters
            .iter()
            .find(|v| v.replica_id == p.leader_id)
            .unwrap();
        assert!(leader.log_end_offset >= p.high_watermark && p.high_watermark > 0);
        // A majority holds everything below the high watermark.
        let holding = p
            .current_voters
            .iter()
            .filter(|v| v.log_end_offset >= p.high_watermark)
            .count();
        assert!(holding >= 2, "{p:?}");
    }

    replicated_partitions_on_every_node(&mut cluster);
}

fn replicated_partitions_on_every_node(cluster: &mut strom_test_support::TestCluster) {
    let nodes = cluster.ids();
    let bootstrap = cluster.bootstrap();
    create_replicated_topic(&bootstrap, "replicated", 2, 3, &[]).unwrap();
    let producer = TestProducer::with(&bootstrap, &[("acks", "all")]).unwrap();
    let value = vec![b'r'; 500];
    for _ in 0..40 {
        producer
            .send(&Record::new("replicated").partition(0).value(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    wait_until(
        "every replica's size matches its files",
        FAILOVER_TIMEOUT,
        || {
            let mut sizes = Vec::new();
            for &id in &nodes {
                let node = cluster.node(id);
                let held = self::sizes(&describe_log_dirs(
                    node,
                    Some(vec![("replicated", vec![0])]),
                ));
                let on_disk = segment_bytes(&node.partition_dir("replicated", 0));
                match held.get(&("replicated".to_string(), 0)) {
                    Some(&(size, 0)) if size == on_disk => sizes.push(size),
                    _ => return Ok(false),
                }
            }
            Ok(sizes.iter().all(|&s| s == sizes[0] && s > 40 * 500))
        },
    )
    .unwrap();

    // DescribeTopicPartitions agrees with Metadata on every node.
    let only_replicated = |layout: Layout| -> Layout {
        layout
            .into_iter()
            .filter(|((t, _), _)| t == "replicated")
            .collect()
    };
    let layout_of = |node: &TestBroker| -> Layout {
        let response = describe_page(node, &["replicated"], 100, None);
        let t = &response.topics[0];
        t.partitions
            .iter()
            .map(|p| {
                let state = (
                    p.leader_id.0,
                    p.leader_epoch,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes),
                );
                (("replicated".to_string(), p.partition_index), state)
            })
            .collect()
    };
    for &id in &nodes {
        let node = cluster.node(id);
        assert_eq!(
            layout_of(node),
            only_replicated(metadata_layout(node)),
            "node {id}"
        );
    }

    // A killed broker (not the controller) is an offline replica once it is fenced.
    let controller = controller_id(cluster.node(nodes[0]));
    let victim = *nodes.iter().find(|&&id| id != controller).unwrap();
    cluster.node_mut(victim).kill9().unwrap();
    let witness = cluster.node(controller);
    wait_until(
        "the killed broker listed as an offline replica",
        FAILOVER_TIMEOUT,
        || {
            let response = describe_page(witness, &["replicated"], 100, None);
            Ok(response.topics[0]
                .partitions
                .iter()
                .all(|p| ids(&p.offline_replicas) == [victim] && p.leader_id.0 != victim))
        },
    )
    .unwrap();
    wait_until(
        "DescribeTopicPartitions agrees with Metadata",
        FAILOVER_TIMEOUT,
        || Ok(layout_of(witness) == only_replicated(metadata_layout(witness))),
    )
    .unwrap();
}
