//! ElectLeaders (KIP-183, KIP-460): a preferred election makes each partition's first replica its
//! leader; an unclean one gives a leaderless partition a leader, from outside the isr if need be.
//! The controller (`strom_metadata::elect_leaders_records`) decides per partition; this file only
//! maps the request onto it, proposes the records (any broker may be asked; `propose` forwards to
//! the metadata leader) and writes the per-partition codes. It does not wait for the new leaders
//! to catch up or to be seen by other brokers.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use strom_metadata::ElectionType;
use strom_protocol::kafka_protocol::messages::elect_leaders_response::{
    PartitionResult, ReplicaElectionResult,
};
use strom_protocol::kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, TopicName,
};

use super::{propose_planned, str_bytes, RequestContext};
use crate::error_code::Code;

/// v0 elects only preferred leaders and has no top-level error code; v1 adds both; v2 is flexible.
pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

/// The first version with `election_type` in the request and `error_code` in the response.
const FIRST_WITH_ELECTION_TYPE: i16 = 1;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    // Below v1 the field is absent and decodes as 0, the preferred election v0 always means.
    let Some(election) = ElectionType::from_kafka(request.election_type) else {
        let response = ElectLeadersResponse::default();
        return if ctx.version >= FIRST_WITH_ELECTION_TYPE {
            response.with_error_code(Code::InvalidRequest.code())
        } else {
            response
        };
    };
    let partitions: Option<Vec<(String, i32)>> = request.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let (records, decisions) = strom_metadata::elect_leaders_records(
        &ctx.image,
        partitions.as_deref(),
        election,
        ctx.broker.config.unclean_leader_election_enable,
    );
    // The controller returns one record per successful decision, in the order of the decisions.
    let mut records = records.into_iter();
    let mut keys = Vec::with_capacity(decisions.len());
    let mut planned = Vec::with_capacity(decisions.len());
    for decision in decisions {
        keys.push((decision.topic, decision.partition));
        planned.push(decision.result.map(|()| records.next()));
    }
    let outcomes = propose_planned(ctx.broker, planned).await;

    // Group per topic, keeping the order in which topics were first named.
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for ((topic, partition), outcome) in keys.into_iter().zip(outcomes) {
        let mut result = PartitionResult::default().with_partition_id(partition);
        if let Err((code, message)) = outcome {
            result = result
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(&message)));
        }
        let i = *index.entry(topic).or_insert_with_key(|topic| {
            results.push(ReplicaElectionResult::default().with_topic(TopicName(str_bytes(topic))));
            results.len() - 1
        });
        if let Some(r) = results.get_mut(i) {
            r.partition_result.push(result);
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}

#[cfg(test)]
mod tests {
    //! Elections through a real single-node broker on a temp dir: its only replica already leads, so
    //! every valid election is not needed.
    use std::sync::Arc;

    use strom_protocol::kafka_protocol::messages::elect_leaders_request::TopicPartitions;

    use super::*;
    use crate::broker::Broker;

    async fn start(dir: &std::path::Path) -> Arc<Broker> {
        let mut config = crate::BrokerConfig::default();
        config.set("log.dirs", dir.to_str().unwrap()).unwrap();
        let broker = Broker::start(config).await.unwrap();
        let topic = strom_metadata::NewTopic {
            name: "t".into(),
            num_partitions: 2,
            replication_factor: 1,
            assignments: Default::default(),
            configs: Default::default(),
        };
        broker.create_topic(&topic).await.unwrap();
        broker
    }

    async fn elect(broker: &Arc<Broker>, version: i16, request: ElectLeadersRequest) -> String {
        let ctx = RequestContext {
            broker,
            version,
            image: broker.image(),
            peer: None,
        };
        let response = handle(&ctx, request).await;
        let mut out = format!("error={}", response.error_code);
        for t in &response.replica_election_results {
            for p in &t.partition_result {
                out.push_str(&format!(
                    " {}-{}={}",
                    t.topic.0, p.partition_id, p.error_code
                ));
            }
        }
        out
    }

    fn named(partitions: Vec<i32>) -> Option<Vec<TopicPartitions>> {
        Some(vec![TopicPartitions::default()
            .with_topic(TopicName(str_bytes("t")))
            .with_partitions(partitions)])
    }

    #[tokio::test]
    async fn elections_on_a_single_node_are_not_needed() {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let epoch_before = broker.image().partition("t", 0).unwrap().leader_epoch;

        // Preferred (v0 can ask for nothing else): 84 = ELECTION_NOT_NEEDED, 3 = UNKNOWN_TOPIC_OR_PARTITION,
        // 42 = INVALID_REQUEST for a partition named twice.
        for version in VERSIONS {
            let request =
                ElectLeadersRequest::default().with_topic_partitions(named(vec![0, 9, 0]));
            assert_eq!(
                elect(&broker, version, request).await,
                "error=0 t-0=84 t-9=3 t-0=42",
                "v{version}"
            );
        }
        // All partitions: those needing no election are left out.
        let all = ElectLeadersRequest::default().with_topic_partitions(None);
        assert_eq!(elect(&broker, 2, all).await, "error=0");
        // Unclean: the partition has a leader.
        let unclean = ElectLeadersRequest::default()
            .with_election_type(1)
            .with_topic_partitions(named(vec![1]));
        assert_eq!(elect(&broker, 1, unclean).await, "error=0 t-1=84");
        // An unknown election type fails the whole request.
        let unknown = ElectLeadersRequest::default()
            .with_election_type(7)
            .with_topic_partitions(named(vec![0]));
        assert_eq!(elect(&broker, 2, unknown).await, "error=42");

        assert_eq!(
            broker.image().partition("t", 0).unwrap().leader_epoch,
            epoch_before
        );
        broker.shutdown().await;
    }
}
