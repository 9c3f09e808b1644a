//! DescribeQuorum (`kafka-metadata-quorum.sh describe`, AdminClient `describeMetadataQuorum`): the metadata
//! quorum as `__cluster_metadata` partition 0, built from strom-metadata's [`QuorumInfo`] (leader, raft term
//! as leader epoch, high watermark, voters' and observers' log end offsets; see `describe_quorum.rs` there for
//! how openraft's state maps to Kafka's). Any broker answers: a follower asks the raft leader, as a Kafka
//! broker forwards this request to the active controller. The checks are Kafka's
//! `KafkaRaftClient.handleDescribeQuorumRequest`: a request naming anything but exactly
//! `__cluster_metadata-0` gets UNKNOWN_TOPIC_OR_PARTITION on each named partition; no reachable leader gets
//! a partition error (`error_code::describe_quorum_error`). v2's node endpoints are the voters' CONTROLLER
//! listeners.

use std::ops::RangeInclusive;

use strom_metadata::{QuorumInfo, ReplicaInfo};
use strom_protocol::kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use strom_protocol::kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Kafka's metadata topic, the log the quorum replicates.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let valid = matches!(request.topics.as_slice(), [topic]
        if topic.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0));
    if !valid {
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        error_partition(
                            ctx.version,
                            p.partition_index,
                            Code::UnknownTopicOrPartition,
                        )
                    })
                    .collect();
                TopicData::default()
                    .with_topic_name(t.topic_name)
                    .with_partitions(partitions)
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let (partition, nodes) = match ctx.broker.metadata.describe_quorum().await {
        Ok(info) => (partition(ctx.version, &info), nodes(ctx, &info)),
        Err(e) => {
            let code = error_code::describe_quorum_error(&e);
            let mut p = error_partition(ctx.version, 0, code);
            if ctx.version >= 2 {
                p.error_message = Some(str_bytes(&e.to_string()));
            }
            (p, Vec::new())
        }
    };
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
            .with_partitions(vec![partition])])
        .with_nodes(nodes)
}

fn error_partition(version: i16, index: i32, code: Code) -> PartitionData {
    let p = PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code());
    if version >= 2 {
        p.with_error_message(Some(str_bytes(&code.to_string())))
    } else {
        p
    }
}

fn partition(version: i16, info: &QuorumInfo) -> PartitionData {
    let replicas = |list: &[ReplicaInfo]| {
        list.iter()
            .map(|r| {
                // v0 has no timestamps; the codec refuses values it cannot carry.
                let (fetch, caught_up) = if version >= 1 {
                    (r.last_fetch_timestamp, r.last_caught_up_timestamp)
                } else {
                    (-1, -1)
                };
                ReplicaState::default()
                    .with_replica_id(BrokerId(r.replica_id))
                    .with_log_end_offset(r.log_end_offset)
                    .with_last_fetch_timestamp(fetch)
                    .with_last_caught_up_timestamp(caught_up)
            })
            .collect()
    };
    PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(info.leader_id))
        .with_leader_epoch(info.leader_epoch)
        .with_high_watermark(info.high_watermark)
        .with_current_voters(replicas(&info.voters))
        .with_observers(replicas(&info.observers))
}

/// v2: each voter's controller endpoint, under the name of this broker's controller listener.
fn nodes(ctx: &RequestContext<'_>, info: &QuorumInfo) -> Vec<Node> {
    if ctx.version < 2 {
        return Vec::new();
    }
    let listener = match ctx.broker.config.controller_listener() {
        Ok(Some(l)) => l.name,
        _ => "CONTROLLER".to_string(),
    };
    info.voter_addresses
        .iter()
        .filter_map(|(&id, addr)| {
            let (host, port) = addr.rsplit_once(':')?;
            let port = port.parse().ok()?;
            Some(Node::default().with_node_id(BrokerId(id)).with_listeners(
                vec![Listener::default()
                        .with_name(str_bytes(&listener))
                        .with_host(str_bytes(host.trim_start_matches('[').trim_end_matches(']')))
                        .with_port(port)],
            ))
        })
        .collect()
}
