//! What the Kafka 4.x AdminClient and CLI tools send or read that older clients did not, over raw requests:
//! Metadata v12 naming topics by id (as `describeTopics(TopicCollection.ofTopicIds(..))` does, with an empty or
//! null name); the feature flags in ApiVersions (`describeFeatures`, `kafka-features describe`); the replication
//! throttles `kafka-reassign-partitions --throttle` sets and `--verify` clears (dynamic broker rates, topic
//! throttled-replica lists); DescribeQuorum's per-voter fetch and caught-up times on three nodes.

use std::time::Duration;

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_test_support::{wait_until, TestBroker};
use uuid::Uuid;

use crate::util::{call, create_topic, now_ms, start_broker};

const UNKNOWN_TOPIC_ID: i16 = 100;
const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const DEFAULT_CONFIG: i8 = 5;
const LEADER_RATE: &str = "leader.replication.throttled.rate";
const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
const LOG_DIRS_RATE: &str = "replica.alter.log.dirs.io.max.bytes.per.second";
const UNLIMITED: &str = "9223372036854775807";

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn metadata(
    broker: &TestBroker,
    version: i16,
    topics: Vec<MetadataRequestTopic>,
) -> MetadataResponse {
    call(
        broker,
        ApiKey::Metadata,
        version,
        &MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(true),
    )
}

/// Metadata v12 by topic id: the topic (name, id, partitions) whatever name accompanies the id (empty as the 4.4
/// AdminClient sends, null, or another topic's name: Kafka then ignores names), UNKNOWN_TOPIC_ID with the id for
/// an id nobody holds, and nothing auto-created. Before v12 an id is an invalid request.
#[test]
fn metadata_v12_resolves_topics_by_id() {
    let broker = start_broker(&["--auto-create-topics-enable", "true"]);
    create_topic(&broker, "by-id-a", 3, &[]);
    create_topic(&broker, "by-id-b", 1, &[]);
    let by_name = metadata(
        &broker,
        12,
        vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("by-id-a"))),
            MetadataRequestTopic::default().with_name(Some(topic_name("by-id-b"))),
        ],
    );
    let id_a = by_name.topics[0].topic_id;
    let id_b = by_name.topics[1].topic_id;
    assert!(!id_a.is_nil() && !id_b.is_nil() && id_a != id_b);

    for name in [Some(topic_name("")), None] {
        let response = metadata(
            &broker,
            12,
            vec![MetadataRequestTopic::default()
                .with_name(name.clone())
                .with_topic_id(id_a)],
        );
        assert_eq!(response.topics.len(), 1, "{name:?}: {response:?}");
        let t = &response.topics[0];
        assert_eq!(t.error_code, 0, "{name:?}: {t:?}");
        assert_eq!(t.topic_id, id_a);
        assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some("by-id-a"));
        assert_eq!(t.partitions.len(), 3);
        assert!(t
            .partitions
            .iter()
            .all(|p| p.leader_id.0 == broker.node_id()));
    }

    // One id present: every entry is resolved by its id, names ignored (a name-only entry contributes nothing).
    let unknown = Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001);
    let response = metadata(
        &broker,
        12,
        vec![
            MetadataRequestTopic::default()
                .with_name(Some(topic_name("by-id-a")))
                .with_topic_id(id_b),
            MetadataRequestTopic::default().with_topic_id(unknown),
            MetadataRequestTopic::default().with_name(Some(topic_name("would-be-auto-created"))),
            MetadataRequestTopic::default().with_topic_id(id_b),
        ],
    );
    let summary: Vec<(i16, Option<String>, Uuid)> = response
        .topics
        .iter()
        .map(|t| {
            (
                t.error_code,
                t.name.as_ref().map(|n| n.0.to_string()),
                t.topic_id,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (UNKNOWN_TOPIC_ID, None, unknown),
            (0, Some("by-id-b".to_string()), id_b),
        ]
    );
    let all: MetadataResponse = call(
        &broker,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    assert!(
        all.topics
            .iter()
            .all(|t| t.name.as_ref().map(|n| n.0.as_str()) != Some("would-be-auto-created")),
        "a by-id request must not auto-create the names it carries"
    );

    // v11 has no topic ids: Kafka refuses the request as invalid.
    let response = metadata(
        &broker,
        11,
        vec![MetadataRequestTopic::default()
            .with_name(Some(topic_name("by-id-a")))
            .with_topic_id(id_a)],
    );
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].error_code, INVALID_REQUEST);
}

/// ApiVersions v3+ carries the features Strom implements: metadata.version 4.0-IV3 (25) supported and finalized,
/// group.version 1 (KIP-848) finalized, transaction.version 0-2 supported and 2 finalized (KIP-890 part 2, as on a
/// new Kafka 4.x cluster: Produce v12 and TxnOffsetCommit v5 add their partition to the transaction), the others
/// listed as supported at level 0 only.
#[test]
fn api_versions_reports_the_features_strom_implements() {
    let broker = start_broker(&[]);
    let response: ApiVersionsResponse = call(
        &broker,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strom-e2e"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    assert_eq!(response.error_code, 0);
    let supported: Vec<(String, i16, i16)> = response
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version, f.max_version))
        .collect();
    let finalized: Vec<(String, i16, i16)> = response
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
        .collect();
    let has = |list: &[(String, i16, i16)], name: &str, min: i16, max: i16| {
        list.iter()
            .any(|(n, a, b)| n == name && *a == min && *b == max)
    };
    assert!(has(&supported, "metadata.version", 25, 25), "{supported:?}");
    assert!(has(&supported, "group.version", 0, 1), "{supported:?}");
    assert!(
        has(&supported, "transaction.version", 0, 2),
        "{supported:?}"
    );
    assert!(has(&supported, "kraft.version", 0, 0), "{supported:?}");
    assert!(has(&finalized, "metadata.version", 25, 25), "{finalized:?}");
    assert!(has(&finalized, "group.version", 1, 1), "{finalized:?}");
    assert!(
        has(&finalized, "transaction.version", 2, 2),
        "{finalized:?}"
    );
    assert_eq!(
        finalized.len(),
        3,
        "only features at a level above 0: {finalized:?}"
    );
    assert!(response.finalized_features_epoch >= 0);
    // Every finalized level lies in the broker's supported range.
    for (name, _, level) in &finalized {
        let (_, min, max) = supported.iter().find(|(n, _, _)| n == name).unwrap();
        assert!((*min..=*max).contains(level), "{name}");
    }
}

fn alter(
    broker: &TestBroker,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_config_operation(*op)
                            .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            ),
    ]);
    let response: IncrementalAlterConfigsResponse =
        call(broker, ApiKey::IncrementalAlterConfigs, 1, &request);
    let r = &response.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// (value, source, read_only) of each named config of one resource.
fn describe(
    broker: &TestBroker,
    resource_type: i8,
    name: &str,
    keys: &[&str],
) -> Vec<(String, i8, bool)> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(Some(
                keys.iter()
                    .map(|k| StrBytes::from_string(k.to_string()))
                    .collect(),
            )),
    ]);
    let response: DescribeConfigsResponse = call(broker, ApiKey::DescribeConfigs, 4, &request);
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    keys.iter()
        .map(|k| {
            let c = result
                .configs
                .iter()
                .find(|c| c.name.as_str() == *k)
                .unwrap_or_else(|| panic!("{k} not described"));
            let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            (value, c.config_source, c.read_only)
        })
        .collect()
}

/// What `kafka-reassign-partitions --throttle` and `--verify` do to a broker: SET and DELETE of the replication
/// throttle rates on the BROKER resource (deleting unset ones is a no-op), per broker and cluster-wide (empty
/// name); DescribeConfigs reports them as dynamic, not read-only. Negative rates are INVALID_CONFIG, static
/// broker settings INVALID_REQUEST, and the rates survive a restart (they are metadata records).
#[test]
fn replication_throttle_rates_are_dynamic_broker_configs() {
    let mut broker = start_broker(&[]);
    let id = broker.node_id().to_string();
    let all = [LEADER_RATE, FOLLOWER_RATE, LOG_DIRS_RATE];
    let clear: Vec<_> = all.iter().map(|k| (*k, DELETE, None)).collect();
    assert_eq!(alter(&broker, RESOURCE_BROKER, &id, &clear), (0, None));
    assert_eq!(
        describe(&broker, RESOURCE_BROKER, &id, &all),
        vec![(UNLIMITED.to_string(), DEFAULT_CONFIG, false); 3]
    );

    assert_eq!(
        alter(
            &broker,
            RESOURCE_BROKER,
            &id,
            &[
                (LEADER_RATE, SET, Some("1000")),
                (FOLLOWER_RATE, SET, Some("2000"))
            ]
        ),
        (0, None)
    );
    assert_eq!(
        alter(
            &broker,
            RESOURCE_BROKER,
            "",
            &[
                (FOLLOWER_RATE, SET, Some("3000")),
                (LOG_DIRS_RATE, SET, Some("4000"))
            ]
        ),
        (0, None)
    );
    let expected = vec![
        ("1000".to_string(), DYNAMIC_BROKER_CONFIG, false),
        ("2000".to_string(), DYNAMIC_BROKER_CONFIG, false),
        ("4000".to_string(), DYNAMIC_DEFAULT_BROKER_CONFIG, false),
    ];
    assert_eq!(describe(&broker, RESOURCE_BROKER, &id, &all), expected);

    let (code, _) = alter(
        &broker,
        RESOURCE_BROKER,
        &id,
        &[(LEADER_RATE, SET, Some("-5"))],
    );
    assert_eq!(code, INVALID_CONFIG);
    // The rates are longs, not lists: APPEND is INVALID_CONFIG, as in Kafka.
    let (code, _) = alter(
        &broker,
        RESOURCE_BROKER,
        &id,
        &[(LEADER_RATE, APPEND, Some("5"))],
    );
    assert_eq!(code, INVALID_CONFIG);
    let (code, message) = alter(
        &broker,
        RESOURCE_BROKER,
        &id,
        &[
            (LEADER_RATE, SET, Some("7")),
            ("log.retention.ms", SET, Some("5")),
        ],
    );
    assert_eq!(code, INVALID_REQUEST, "{message:?}");
    let (code, _) = alter(
        &broker,
        RESOURCE_BROKER,
        "not-a-broker",
        &[(LEADER_RATE, SET, Some("7"))],
    );
    assert_eq!(code, INVALID_REQUEST);
    // Refused changes changed nothing.
    assert_eq!(describe(&broker, RESOURCE_BROKER, &id, &all), expected);

    broker.restart().unwrap();
    assert_eq!(describe(&broker, RESOURCE_BROKER, &id, &all), expected);

    // --verify's clean-up, on the broker and the cluster default.
    assert_eq!(alter(&broker, RESOURCE_BROKER, &id, &clear), (0, None));
    assert_eq!(alter(&broker, RESOURCE_BROKER, "", &clear), (0, None));
    assert_eq!(
        describe(&broker, RESOURCE_BROKER, &id, &all),
        vec![(UNLIMITED.to_string(), DEFAULT_CONFIG, false); 3]
    );
    broker.assert_no_panic();
}

/// The topic configs `kafka-reassign-partitions --throttle` sets: `*` or `partition:broker` lists, validated as
/// Kafka's ThrottledReplicaListValidator does, stored, described and deleted; also accepted by CreateTopics.
#[test]
fn throttled_replicas_topic_configs() {
    let broker = start_broker(&[]);
    let leader = "leader.replication.throttled.replicas";
    let follower = "follower.replication.throttled.replicas";
    create_topic(&broker, "throttled", 2, &[(follower, "*")]);
    assert_eq!(
        describe(&broker, RESOURCE_TOPIC, "throttled", &[leader, follower]),
        [
            (String::new(), DEFAULT_CONFIG, false),
            ("*".to_string(), TOPIC_CONFIG, false),
        ]
    );
    assert_eq!(
        alter(
            &broker,
            RESOURCE_TOPIC,
            "throttled",
            &[
                (leader, SET, Some("0:1,1:1")),
                (follower, SET, Some("0:2, 1:3"))
            ]
        ),
        (0, None)
    );
    assert_eq!(
        describe(&broker, RESOURCE_TOPIC, "throttled", &[leader, follower]),
        [
            ("0:1,1:1".to_string(), TOPIC_CONFIG, false),
            ("0:2, 1:3".to_string(), TOPIC_CONFIG, false),
        ]
    );
    for bad in ["0-1", "*,0:1", "a:1", "0:1:2"] {
        let (code, message) = alter(
            &broker,
            RESOURCE_TOPIC,
            "throttled",
            &[(leader, SET, Some(bad))],
        );
        assert_eq!(code, INVALID_CONFIG, "{bad}: {message:?}");
    }
    assert_eq!(
        alter(
            &broker,
            RESOURCE_TOPIC,
            "throttled",
            &[(leader, DELETE, None), (follower, DELETE, None)]
        ),
        (0, None)
    );
    assert_eq!(
        describe(&broker, RESOURCE_TOPIC, "throttled", &[leader, follower]),
        [
            (String::new(), DEFAULT_CONFIG, false),
            (String::new(), DEFAULT_CONFIG, false),
        ]
    );
}

fn quorum_voters(broker: &TestBroker) -> (i32, Vec<describe_quorum_response::ReplicaState>) {
    let request = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let response: DescribeQuorumResponse = call(broker, ApiKey::DescribeQuorum, 2, &request);
    assert_eq!(response.error_code, 0);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "{:?}", p.error_message);
    (p.leader_id.0, p.current_voters.clone())
}

/// On three nodes every voter has a LastFetchTimestamp and LastCaughtUpTimestamp (followers: their last answer
/// to the leader's AppendEntries, heartbeats included), recent and moving; a paused follower's stop moving while
/// the live one's keep advancing.
#[test]
fn describe_quorum_reports_when_voters_last_fetched() {
    let mut cluster = crate::cluster::start_cluster(&[]);
    let asked = cluster.ids()[0];
    let mut leader = 0;
    wait_until(
        "every voter has fetch and caught-up times",
        Duration::from_secs(30),
        || {
            let (l, voters) = quorum_voters(cluster.node(asked));
            leader = l;
            Ok(voters.len() == 3
                && voters
                    .iter()
                    .all(|v| v.last_fetch_timestamp > 0 && v.last_caught_up_timestamp > 0))
        },
    )
    .unwrap();
    let now = now_ms();
    let (_, voters) = quorum_voters(cluster.node(asked));
    for v in &voters {
        assert!(
            v.last_fetch_timestamp <= now_ms() && v.last_fetch_timestamp > now - 10_000,
            "{v:?}"
        );
        assert!(
            v.last_caught_up_timestamp <= v.last_fetch_timestamp,
            "{v:?}"
        );
    }
    let followers: Vec<i32> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let (paused, live) = (followers[0], followers[1]);
    cluster.pause(paused).unwrap();
    let paused_at = now_ms();
    // Heartbeats go out every few hundred ms: the live follower soon answers one sent after the pause.
    let mut voters = Vec::new();
    wait_until(
        "the live follower fetches after the pause",
        Duration::from_secs(30),
        || {
            let (l, v) = quorum_voters(cluster.node(leader));
            assert_eq!(l, leader, "the leader changed while a follower was paused");
            voters = v;
            Ok(voters.iter().any(|v| {
                v.replica_id.0 == live
                    && v.last_fetch_timestamp > paused_at + 1_000
                    && v.last_caught_up_timestamp > paused_at + 1_000
            }))
        },
    )
    .unwrap();
    let paused_state = voters.iter().find(|v| v.replica_id.0 == paused).unwrap();
    assert!(
        paused_state.last_fetch_timestamp <= paused_at + 500,
        "{paused_state:?}"
    );
    assert!(
        paused_state.last_caught_up_timestamp <= paused_at + 500,
        "{paused_state:?}"
    );
    cluster.resume(paused).unwrap();
    wait_until(
        "the resumed follower fetches again",
        Duration::from_secs(30),
        || {
            let (_, voters) = quorum_voters(cluster.node(leader));
            Ok(voters
                .iter()
                .any(|v| v.replica_id.0 == paused && v.last_fetch_timestamp > paused_at + 2_000))
        },
    )
    .unwrap();
    cluster.assert_no_panic();
}
