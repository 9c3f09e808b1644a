//! AlterPartitionReassignments (KIP-455): starts (target replicas) or cancels (null replicas) the
//! reassignment of each named partition. The controller (`strom_metadata::reassign_records`)
//! validates and builds the change; this file adds the request-level checks (a partition named
//! twice, KIP-860's `allow_replication_factor_change`, a target equal to the current replicas),
//! proposes every change as one metadata entry and writes per-partition codes. Moving the data
//! (followers catching up, the reassignment completing) happens later, outside this request.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use strom_metadata::{MetadataImage, MetadataRecord, TopicError};
use strom_protocol::kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use strom_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::{propose_planned, str_bytes, RequestContext};

/// v1 adds `allow_replication_factor_change` (KIP-860).
pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=1;

/// The first version carrying `allow_replication_factor_change` in request and response.
const FIRST_WITH_RF_CHANGE_FLAG: i16 = 1;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // Below v1 the flag is absent and decodes as its default, true: any replication factor.
    let allow_rf_change = request.allow_replication_factor_change;
    let mut seen = HashSet::new();
    let mut planned = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            let name = topic.name.0.as_str();
            let target = p
                .replicas
                .as_ref()
                .map(|r| r.iter().map(|b| b.0).collect::<Vec<i32>>());
            let plan = if seen.insert((name, p.partition_index)) {
                plan(&ctx.image, name, p.partition_index, target, allow_rf_change)
            } else {
                Err(TopicError::InvalidRequest(format!(
                    "Partition {name}-{} appears more than once in the request.",
                    p.partition_index
                )))
            };
            planned.push(plan);
        }
    }
    let mut outcomes = propose_planned(ctx.broker, planned).await.into_iter();

    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        // One outcome per requested partition, in request order.
        for (p, outcome) in topic.partitions.iter().zip(outcomes.by_ref()) {
            let mut result =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            if let Err((code, message)) = outcome {
                result = result
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(&message)));
            }
            partitions.push(result);
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    let response = AlterPartitionReassignmentsResponse::default().with_responses(responses);
    if ctx.version >= FIRST_WITH_RF_CHANGE_FLAG {
        response.with_allow_replication_factor_change(allow_rf_change)
    } else {
        response
    }
}

/// The change for one partition: `Ok(None)` when there is nothing to do (the target is the current
/// replica set and no reassignment is in progress, which Kafka also answers with success).
fn plan(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    allow_rf_change: bool,
) -> Result<Option<MetadataRecord>, TopicError> {
    if let (Some(target), Some(current)) = (&target, image.partition(topic, partition)) {
        // The replication factor the partition has outside of any reassignment in progress.
        let replication_factor = current
            .replicas
            .iter()
            .filter(|r| !current.adding_replicas.contains(r))
            .count();
        if !allow_rf_change && target.len() != replication_factor {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "The replication factor is changed from {replication_factor} to {} but \
                 allowReplicationFactorChange is false.",
                target.len()
            )));
        }
        if !current.reassigning() && *target == current.replicas {
            return Ok(None);
        }
    }
    strom_metadata::reassign_records(image, topic, partition, target).map(Some)
}

#[cfg(test)]
mod tests {
    //! Reassignments through a real single-node broker on a temp dir, and the listing of an image with
    //! a reassignment in progress (which a single node cannot start: it has no second broker).
    use std::sync::Arc;

    use strom_protocol::kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use strom_protocol::kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
    use strom_protocol::kafka_protocol::messages::{
        BrokerId, ListPartitionReassignmentsRequest, TopicName,
    };

    use super::*;
    use crate::api::list_partition_reassignments;
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

    fn ctx(broker: &Arc<Broker>, version: i16) -> RequestContext<'_> {
        RequestContext {
            broker,
            version,
            image: broker.image(),
            peer: None,
        }
    }

    fn partition(index: i32, replicas: Option<&[i32]>) -> ReassignablePartition {
        ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.iter().copied().map(BrokerId).collect()))
    }

    fn topic(name: &str, partitions: Vec<ReassignablePartition>) -> ReassignableTopic {
        ReassignableTopic::default()
            .with_name(TopicName(str_bytes(name)))
            .with_partitions(partitions)
    }

    async fn reassign(
        broker: &Arc<Broker>,
        version: i16,
        request: AlterPartitionReassignmentsRequest,
    ) -> String {
        let response = handle(&ctx(broker, version), request).await;
        let mut out = format!("error={}", response.error_code);
        for t in &response.responses {
            for p in &t.partitions {
                out.push_str(&format!(
                    " {}-{}={}",
                    t.name.0, p.partition_index, p.error_code
                ));
            }
        }
        out
    }

    #[tokio::test]
    async fn reassignments_on_a_single_node() {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let before = broker.image().partition("t", 0).unwrap().clone();

        // 0 = success (t-0 already lives on broker 1: nothing to do), 39 = INVALID_REPLICA_ASSIGNMENT
        // (broker 7 is not registered), 42 = INVALID_REQUEST (a partition named twice), 3 =
        // UNKNOWN_TOPIC_OR_PARTITION.
        for version in VERSIONS {
            let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
                topic(
                    "t",
                    vec![
                        partition(0, Some(&[1])),
                        partition(1, Some(&[7])),
                        partition(1, None),
                        partition(0, None),
                    ],
                ),
                topic("missing", vec![partition(0, Some(&[1]))]),
            ]);
            assert_eq!(
                reassign(&broker, version, request).await,
                "error=0 t-0=0 t-1=39 t-1=42 t-0=42 missing-0=3",
                "v{version}"
            );
        }
        // v1 without replication-factor changes: 38 = INVALID_REPLICATION_FACTOR; an empty target is
        // an invalid assignment.
        let request = AlterPartitionReassignmentsRequest::default()
            .with_allow_replication_factor_change(false)
            .with_topics(vec![topic(
                "t",
                vec![partition(0, Some(&[1, 7])), partition(1, Some(&[]))],
            )]);
        assert_eq!(reassign(&broker, 1, request).await, "error=0 t-0=38 t-1=38");
        let request = AlterPartitionReassignmentsRequest::default()
            .with_topics(vec![topic("t", vec![partition(1, Some(&[]))])]);
        assert_eq!(reassign(&broker, 1, request).await, "error=0 t-1=39");
        // 85 = NO_REASSIGNMENT_IN_PROGRESS: nothing to cancel.
        let request = AlterPartitionReassignmentsRequest::default()
            .with_topics(vec![topic("t", vec![partition(1, None)])]);
        assert_eq!(reassign(&broker, 0, request).await, "error=0 t-1=85");

        assert_eq!(broker.image().partition("t", 0), Some(&before));
        let listed = list_partition_reassignments::handle(
            &ctx(&broker, 0),
            ListPartitionReassignmentsRequest::default().with_topics(None),
        );
        assert!(listed.topics.is_empty());
        broker.shutdown().await;
    }

    #[tokio::test]
    async fn listing_shows_only_reassigning_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        // An image as a three-broker cluster would have it mid-move: t-1 goes from [1] to [2,3].
        let mut image = (*broker.image()).clone();
        let Some(p) = image
            .topics
            .get_mut("t")
            .and_then(|t| t.partitions.get_mut(&1))
        else {
            panic!("no t-1");
        };
        p.replicas = vec![2, 3, 1];
        p.adding_replicas = vec![2, 3];
        p.removing_replicas = vec![1];
        let ctx = RequestContext {
            broker: &broker,
            version: 0,
            image: Arc::new(image),
            peer: None,
        };
        let show = |response: strom_protocol::kafka_protocol::messages::ListPartitionReassignmentsResponse| {
            response
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        let ids = |v: &[BrokerId]| {
                            v.iter().map(|b| b.0.to_string()).collect::<Vec<_>>().join(",")
                        };
                        format!(
                            "{}-{} replicas={} adding={} removing={}",
                            t.name.0,
                            p.partition_index,
                            ids(&p.replicas),
                            ids(&p.adding_replicas),
                            ids(&p.removing_replicas)
                        )
                    })
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let all = list_partition_reassignments::handle(
            &ctx,
            ListPartitionReassignmentsRequest::default().with_topics(None),
        );
        assert_eq!(show(all), "t-1 replicas=2,3,1 adding=2,3 removing=1");
        let wanted = |name: &str, partitions: Vec<i32>| {
            ListPartitionReassignmentsTopics::default()
                .with_name(TopicName(str_bytes(name)))
                .with_partition_indexes(partitions)
        };
        let named = list_partition_reassignments::handle(
            &ctx,
            ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
                wanted("t", vec![0]),
                wanted("missing", vec![0]),
                wanted("t", vec![1, 5]),
            ])),
        );
        assert_eq!(show(named), "t-1 replicas=2,3,1 adding=2,3 removing=1");
        let not_moving = list_partition_reassignments::handle(
            &ctx,
            ListPartitionReassignmentsRequest::default()
                .with_topics(Some(vec![wanted("t", vec![0])])),
        );
        assert_eq!(show(not_moving), "");
        broker.shutdown().await;
    }
}
