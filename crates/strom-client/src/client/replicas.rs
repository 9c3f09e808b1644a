//! Replica-placement admin calls on [`Client`]: ElectLeaders (preferred or unclean leader elections),
//! AlterPartitionReassignments (start or cancel moving a partition's replicas, KIP-455) and
//! ListPartitionReassignments. Any broker takes them (the broker forwards to the controller), so they go
//! over the bootstrap connection. Per-partition errors are returned, not raised: one refused partition
//! does not hide the others' outcomes. Requests are built by the pure `*_request` functions at the bottom,
//! unit-tested at every version this client negotiates. Waiting for a reassignment to finish is not done here.

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ElectLeadersRequest,
    ListPartitionReassignmentsRequest,
};

use strom_protocol::api_name;

use super::requests::topic_name;
use super::Client;
use crate::error::ClientError;

/// Kafka's `ElectionType.PREFERRED`.
const ELECTION_PREFERRED: i8 = 0;
/// Kafka's `ElectionType.UNCLEAN`.
const ELECTION_UNCLEAN: i8 = 1;
/// ElectLeaders v1 is the first with an election type (v0 elects preferred leaders only).
const FIRST_ELECT_LEADERS_WITH_TYPE: i16 = 1;

/// One partition's outcome of an ElectLeaders or AlterPartitionReassignments request.
#[derive(Debug)]
pub struct PartitionOutcome {
    pub topic: String,
    pub partition: i32,
    /// `None` when the broker accepted the change; otherwise its Kafka error (e.g. ELECTION_NOT_NEEDED,
    /// INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS).
    pub error: Option<ClientError>,
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// All current replicas, the adding and removing ones included.
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

impl Client {
    /// Elects leaders: `preferred` makes each partition's first replica its leader, otherwise an unclean
    /// election gives leaderless partitions a leader (needs ElectLeaders v1+). `partitions` of `None` means
    /// every partition; the broker then reports only partitions for which an election was attempted.
    pub async fn elect_leaders(
        &mut self,
        preferred: bool,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<PartitionOutcome>, ClientError> {
        let election = if preferred {
            ELECTION_PREFERRED
        } else {
            ELECTION_UNCLEAN
        };
        let key = ApiKey::ElectLeaders;
        let version = self.any_connection().await?.version(key)?;
        if election != ELECTION_PREFERRED && version < FIRST_ELECT_LEADERS_WITH_TYPE {
            return Err(ClientError::VersionTooOld {
                what: "an unclean leader election",
                api: api_name(key),
                needed: FIRST_ELECT_LEADERS_WITH_TYPE,
                available: version,
            });
        }
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(key, |v| {
                elect_leaders_request(v, election, partitions.as_deref(), timeout_ms)
            })
            .await?;
        ClientError::check(resp.error_code, None)?;
        self.metadata.topics.clear();
        Ok(resp
            .replica_election_results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.to_string();
                t.partition_result
                    .into_iter()
                    .map(move |p| PartitionOutcome {
                        topic: topic.clone(),
                        partition: p.partition_id,
                        error: ClientError::check(p.error_code, p.error_message.as_deref()).err(),
                    })
            })
            .collect())
    }

    /// Starts (`Some(target replicas)`, preferred leader first) or cancels (`None`) the reassignment of
    /// each `(topic, partition)`. The broker accepts a change of replication factor.
    pub async fn alter_partition_reassignments(
        &mut self,
        reassignments: Vec<(String, i32, Option<Vec<i32>>)>,
    ) -> Result<Vec<PartitionOutcome>, ClientError> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(ApiKey::AlterPartitionReassignments, |_| {
                alter_partition_reassignments_request(&reassignments, timeout_ms)
            })
            .await?;
        ClientError::check(resp.error_code, resp.error_message.as_deref())?;
        self.metadata.topics.clear();
        Ok(resp
            .responses
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.to_string();
                t.partitions.into_iter().map(move |p| PartitionOutcome {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    error: ClientError::check(p.error_code, p.error_message.as_deref()).err(),
                })
            })
            .collect())
    }

    /// Every reassignment in progress, in the broker's order (topic name, then partition).
    pub async fn list_partition_reassignments(
        &mut self,
    ) -> Result<Vec<OngoingReassignment>, ClientError> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .send_any(ApiKey::ListPartitionReassignments, |_| {
                list_partition_reassignments_request(timeout_ms)
            })
            .await?;
        ClientError::check(resp.error_code, resp.error_message.as_deref())?;
        let ids = |v: Vec<BrokerId>| v.into_iter().map(|b| b.0).collect::<Vec<i32>>();
        Ok(resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.to_string();
                t.partitions.into_iter().map(move |p| OngoingReassignment {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    replicas: ids(p.replicas),
                    adding_replicas: ids(p.adding_replicas),
                    removing_replicas: ids(p.removing_replicas),
                })
            })
            .collect())
    }
}

/// Groups `(topic, partition)` pairs per topic, in the order topics first appear.
fn per_topic<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut grouped: Vec<(String, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match grouped.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, list)) => list.push(item),
            None => grouped.push((topic, vec![item])),
        }
    }
    grouped
}

pub(crate) fn elect_leaders_request(
    version: i16,
    election_type: i8,
    partitions: Option<&[(String, i32)]>,
    timeout_ms: i32,
) -> ElectLeadersRequest {
    let topics = partitions.map(|list| {
        per_topic(list.iter().map(|(t, p)| (t.clone(), *p)))
            .into_iter()
            .map(|(topic, partitions)| {
                TopicPartitions::default()
                    .with_topic(topic_name(&topic))
                    .with_partitions(partitions)
            })
            .collect()
    });
    let req = ElectLeadersRequest::default()
        .with_topic_partitions(topics)
        .with_timeout_ms(timeout_ms);
    // v0 has no election type (always preferred), and kafka-protocol refuses to encode a non-default
    // value the version cannot carry; the caller checks that v0 is only used for preferred elections.
    if version >= FIRST_ELECT_LEADERS_WITH_TYPE {
        req.with_election_type(election_type)
    } else {
        req
    }
}

pub(crate) fn alter_partition_reassignments_request(
    reassignments: &[(String, i32, Option<Vec<i32>>)],
    timeout_ms: i32,
) -> AlterPartitionReassignmentsRequest {
    let topics = per_topic(
        reassignments
            .iter()
            .map(|(t, p, r)| (t.clone(), (*p, r.clone()))),
    )
    .into_iter()
    .map(|(topic, partitions)| {
        ReassignableTopic::default()
            .with_name(topic_name(&topic))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(p, replicas)| {
                        ReassignablePartition::default()
                            .with_partition_index(p)
                            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
                    })
                    .collect(),
            )
    })
    .collect();
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(topics)
}

pub(crate) fn list_partition_reassignments_request(
    timeout_ms: i32,
) -> ListPartitionReassignmentsRequest {
    // Null topics: every reassignment in progress.
    ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::requests::tests::{round_trip, versions};

    #[test]
    fn every_replica_request_encodes_at_every_client_version() {
        let named = vec![
            ("a".to_owned(), 0),
            ("b".to_owned(), 1),
            ("a".to_owned(), 2),
        ];
        for v in versions(ApiKey::ElectLeaders) {
            let req = round_trip(
                &elect_leaders_request(v, ELECTION_PREFERRED, Some(&named), 1000),
                v,
            );
            let topics = req.topic_partitions.unwrap();
            assert_eq!(topics.len(), 2, "v{v}");
            assert_eq!(topics[0].topic.as_str(), "a");
            assert_eq!(topics[0].partitions, vec![0, 2]);
            let all = round_trip(&elect_leaders_request(v, ELECTION_PREFERRED, None, 1000), v);
            assert!(all.topic_partitions.is_none());
            if v >= FIRST_ELECT_LEADERS_WITH_TYPE {
                let unclean =
                    round_trip(&elect_leaders_request(v, ELECTION_UNCLEAN, None, 1000), v);
                assert_eq!(unclean.election_type, ELECTION_UNCLEAN);
            }
        }
        for v in versions(ApiKey::AlterPartitionReassignments) {
            let req = round_trip(
                &alter_partition_reassignments_request(
                    &[
                        ("t".to_owned(), 0, Some(vec![2, 3, 1])),
                        ("t".to_owned(), 1, None),
                    ],
                    1000,
                ),
                v,
            );
            let partitions = &req.topics[0].partitions;
            assert_eq!(
                partitions[0].replicas,
                Some(vec![BrokerId(2), BrokerId(3), BrokerId(1)])
            );
            assert_eq!(partitions[1].replicas, None);
            assert!(req.allow_replication_factor_change);
        }
        for v in versions(ApiKey::ListPartitionReassignments) {
            assert!(round_trip(&list_partition_reassignments_request(1000), v)
                .topics
                .is_none());
        }
    }
}
