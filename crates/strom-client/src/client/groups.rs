//! Consumer-group admin calls on [`Client`]: FindCoordinator, ListGroups, DescribeGroups, OffsetFetch, OffsetCommit
//! (simple commits, as an admin resetting an inactive group makes them) and DeleteGroups. Every group request goes
//! to the group's coordinator, found with FindCoordinator, through one helper (`send_for_group`) that picks the
//! group's part out of the response and retries when the coordinator moved, is loading or the connection failed.
//! Part of `Client`'s `impl`, split off deliberately (see `client/mod.rs`). Also decodes the consumer protocol's assignment bytes (`ConsumerProtocolAssignment`).
//! Does not join groups, heartbeat or assign partitions: this is an admin client, never a group member. Requests
//! are built by the pure `*_request` functions at the bottom, unit-tested at every version this client negotiates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI16, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
    OffsetFetchResponse,
};
use kafka_protocol::protocol::{Decodable, Message, Request};
use kafka_protocol::ResponseError;
use strom_protocol::{api_name, str_bytes};

use super::requests::topic_name;
use super::{response_entry, BrokerMetadata, Client};
use crate::error::ClientError;

/// FindCoordinator key type of a consumer group.
pub(crate) const GROUP_KEY_TYPE: i8 = 0;
/// FindCoordinator key type of a transactional id.
pub(crate) const TRANSACTION_KEY_TYPE: i8 = 1;
/// FindCoordinator v4+ looks up a batch of `coordinator_keys` instead of one `key`.
const FIRST_BATCHED_FIND_COORDINATOR: i16 = 4;
/// ListGroups v4+ carries a states filter and each group's state.
const FIRST_LIST_GROUPS_WITH_STATES: i16 = 4;
/// OffsetFetch v8+ asks about a batch of groups.
const FIRST_OFFSET_FETCH_WITH_GROUPS: i16 = 8;

/// One group as ListGroups reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// `consumer` for Kafka consumers, `connect` for Connect workers, empty for groups that only hold offsets.
    pub protocol_type: String,
    /// `Stable`, `Empty`... `None` when the broker answered below ListGroups v4.
    pub state: Option<String>,
    /// `classic` or `consumer` (KIP-848); `None` below ListGroups v5.
    pub group_type: Option<String>,
}

/// One member of a described group. Metadata and assignment are opaque bytes of the group's protocol type;
/// for `consumer` groups decode the assignment with [`decode_consumer_assignment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups reported it, with the coordinator that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's group state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead` (below
    /// DescribeGroups v6 an unknown group is described as `Dead`; from v6 it is GROUP_ID_NOT_FOUND).
    pub state: String,
    pub protocol_type: String,
    /// The chosen protocol, for consumers the assignor (`range`, `roundrobin`...); empty unless Stable.
    pub protocol: String,
    pub members: Vec<GroupMember>,
    pub coordinator: BrokerMetadata,
}

/// A committed offset from OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when the group has committed nothing for this partition.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// The outcome of committing one partition's offset.
#[derive(Debug)]
pub struct CommitResult {
    pub topic: String,
    pub partition: i32,
    pub result: Result<(), ClientError>,
}

impl Client {
    /// The coordinator of `group_id` (FindCoordinator, key type 0). The broker creates `__consumer_offsets` on
    /// the first lookup, so COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS are retried with backoff.
    /// The coordinator is added to the cached brokers so later requests can reach it by id.
    pub async fn find_coordinator(
        &mut self,
        group_id: &str,
    ) -> Result<BrokerMetadata, ClientError> {
        self.find_coordinator_of(group_id, GROUP_KEY_TYPE).await
    }

    /// The coordinator of `key` for FindCoordinator `key_type` (0 a group, 1 a transactional id), retried
    /// while the coordinator is not available or loading.
    pub(crate) async fn find_coordinator_of(
        &mut self,
        group_id: &str,
        key_type: i8,
    ) -> Result<BrokerMetadata, ClientError> {
        let mut attempt = 0;
        loop {
            match self.find_coordinator_once(group_id, key_type).await {
                Err(e) if attempt < self.config.retries && coordinator_retriable(&e) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn find_coordinator_once(
        &mut self,
        group_id: &str,
        key_type: i8,
    ) -> Result<BrokerMetadata, ClientError> {
        // The version send_any chose decides the response layout (an atomic keeps the future Send).
        let used = AtomicI16::new(0);
        let key = ApiKey::FindCoordinator;
        let resp = self
            .send_any(key, |v| {
                used.store(v, Ordering::Relaxed);
                find_coordinator_request(v, group_id, key_type)
            })
            .await?;
        let (node_id, host, port) =
            if used.load(Ordering::Relaxed) >= FIRST_BATCHED_FIND_COORDINATOR {
                let c = group_entry(resp.coordinators, group_id, key, |c| c.key.as_str())?;
                ClientError::check(c.error_code, c.error_message.as_deref())?;
                (c.node_id.0, c.host.to_string(), c.port)
            } else {
                ClientError::check(resp.error_code, resp.error_message.as_deref())?;
                (resp.node_id.0, resp.host.to_string(), resp.port)
            };
        if node_id < 0 {
            return Err(ClientError::Kafka {
                code: ResponseError::CoordinatorNotAvailable.code(),
                name: "COORDINATOR_NOT_AVAILABLE".into(),
                message: Some(format!("no coordinator for {group_id}")),
            });
        }
        let coordinator = self
            .metadata
            .brokers
            .entry(node_id)
            .or_insert(BrokerMetadata {
                node_id,
                host,
                port,
                rack: None,
            })
            .clone();
        Ok(coordinator)
    }

    /// Every group known to any broker of the cluster (ListGroups is answered per coordinator, so every broker
    /// is asked), sorted by id. A non-empty `states` filter (`Stable`, `Empty`...) needs ListGroups v4+.
    pub async fn list_groups(
        &mut self,
        states: &[String],
    ) -> Result<Vec<ListedGroup>, ClientError> {
        let ids: Vec<i32> = self.metadata.brokers.keys().copied().collect();
        let mut groups = BTreeMap::new();
        for id in ids {
            let version = self
                .broker_connection(id)
                .await?
                .version(ApiKey::ListGroups)?;
            if !states.is_empty() && version < FIRST_LIST_GROUPS_WITH_STATES {
                return Err(ClientError::VersionTooOld {
                    what: "filtering groups by state",
                    api: "ListGroups",
                    needed: FIRST_LIST_GROUPS_WITH_STATES,
                    available: version,
                });
            }
            let resp = self
                .send_to_broker(id, ApiKey::ListGroups, Duration::ZERO, |v| {
                    list_groups_request(v, states)
                })
                .await?;
            ClientError::check(resp.error_code, Some(&format!("ListGroups on broker {id}")))?;
            for g in resp.groups {
                let group_id = g.group_id.to_string();
                groups.insert(
                    group_id.clone(),
                    ListedGroup {
                        group_id,
                        protocol_type: g.protocol_type.to_string(),
                        state: (version >= FIRST_LIST_GROUPS_WITH_STATES)
                            .then(|| g.group_state.to_string()),
                        group_type: (version >= 5).then(|| g.group_type.to_string()),
                    },
                );
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Describes one group through its coordinator. An unknown group is GROUP_ID_NOT_FOUND from DescribeGroups
    /// v6 and a `Dead` description before (see [`ClientError::is_group_not_found`]).
    pub async fn describe_group(
        &mut self,
        group_id: &str,
    ) -> Result<GroupDescription, ClientError> {
        let key = ApiKey::DescribeGroups;
        let (group, coordinator) = self
            .send_for_group(
                group_id,
                key,
                |_| describe_groups_request(group_id),
                |resp, _| group_entry(resp.groups, group_id, key, |g| g.group_id.as_str()),
                |g| g.error_code,
            )
            .await?;
        ClientError::check(group.error_code, group.error_message.as_deref())?;
        Ok(GroupDescription {
            group_id: group_id.to_owned(),
            state: group.group_state.to_string(),
            protocol_type: group.protocol_type.to_string(),
            protocol: group.protocol_data.to_string(),
            members: group
                .members
                .into_iter()
                .map(|m| GroupMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    client_host: m.client_host.to_string(),
                    metadata: m.member_metadata,
                    assignment: m.member_assignment,
                })
                .collect(),
            coordinator,
        })
    }

    /// Committed offsets of a group: for `topics` (topic, partitions), or every offset the group holds when
    /// `None`. Partitions without a commit come back with offset -1. Sorted by topic and partition.
    pub async fn committed_offsets(
        &mut self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        let (group, _) = self
            .send_for_group(
                group_id,
                ApiKey::OffsetFetch,
                |v| offset_fetch_request(v, group_id, topics),
                |resp, v| fetched_group_offsets(resp, v, group_id),
                |g| g.error_code,
            )
            .await?;
        ClientError::check(group.error_code, Some(&format!("group {group_id}")))?;
        let mut out = Vec::with_capacity(group.partitions.len());
        for (offset, code) in group.partitions {
            ClientError::check(
                code,
                Some(&format!("{}-{}", offset.topic, offset.partition)),
            )?;
            out.push(offset);
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Commits `offsets` (topic, partition, offset) for a group. `generation_id` -1 with an empty `member_id` is
    /// a simple commit, which the coordinator accepts only while the group has no members (Kafka's admin
    /// `alterConsumerGroupOffsets`). Returns one result per partition, in the order given.
    pub async fn commit_offsets(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<Vec<CommitResult>, ClientError> {
        if offsets.is_empty() {
            return Ok(Vec::new());
        }
        // OffsetCommit names no group in its answer: the whole response is about this group, and a
        // coordinator error shows in the partitions' codes.
        let (resp, _) = self
            .send_for_group(
                group_id,
                ApiKey::OffsetCommit,
                |_| offset_commit_request(group_id, generation_id, member_id, offsets),
                |resp, _| Ok(resp),
                |r| {
                    r.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| p.error_code)
                        .find(|&c| c != 0)
                        .unwrap_or(0)
                },
            )
            .await?;
        let codes: BTreeMap<(String, i32), i16> = resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.to_string();
                t.partitions
                    .into_iter()
                    .map(move |p| ((name.clone(), p.partition_index), p.error_code))
            })
            .collect();
        Ok(offsets
            .iter()
            .map(|(topic, partition, _)| {
                let result = match codes.get(&(topic.clone(), *partition)) {
                    Some(&code) => ClientError::check(code, Some(&format!("{topic}-{partition}"))),
                    None => Err(ClientError::MissingInResponse {
                        what: format!("{topic}-{partition} in OffsetCommit"),
                    }),
                };
                CommitResult {
                    topic: topic.clone(),
                    partition: *partition,
                    result,
                }
            })
            .collect())
    }

    /// Deletes a group and its committed offsets. NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND when
    /// the coordinator does not know it.
    pub async fn delete_group(&mut self, group_id: &str) -> Result<(), ClientError> {
        let key = ApiKey::DeleteGroups;
        let (result, _) = self
            .send_for_group(
                group_id,
                key,
                |_| delete_groups_request(group_id),
                |resp, _| group_entry(resp.results, group_id, key, |g| g.group_id.as_str()),
                |g| g.error_code,
            )
            .await?;
        ClientError::check(result.error_code, Some(&format!("group {group_id}")))
    }

    /// Sends a request to the coordinator of `group_id` and returns the response's part about the group
    /// (`group_in` picks it out of the response decoded at the version sent), with the coordinator that
    /// answered. Looks the coordinator up again and retries when the connection fails or the part's error code
    /// (`error_of`) says the coordinator moved or is loading. Other error codes are left for the caller.
    async fn send_for_group<R: Request, G>(
        &mut self,
        group_id: &str,
        key: ApiKey,
        build: impl Fn(i16) -> R,
        group_in: impl Fn(R::Response, i16) -> Result<G, ClientError>,
        error_of: impl Fn(&G) -> i16,
    ) -> Result<(G, BrokerMetadata), ClientError> {
        let mut attempt = 0;
        loop {
            let coordinator = self.find_coordinator(group_id).await?;
            let sent = self
                .send_to_broker_versioned(coordinator.node_id, key, Duration::ZERO, &build)
                .await;
            let may_retry = attempt < self.config.retries;
            match sent {
                Ok((resp, version)) => {
                    let group = group_in(resp, version)?;
                    if !(may_retry && is_coordinator_code(error_of(&group))) {
                        return Ok((group, coordinator));
                    }
                }
                Err(e) if may_retry && coordinator_retriable(&e) => {}
                Err(e) => return Err(e),
            }
            self.backoff(attempt).await;
            attempt += 1;
        }
    }
}

/// The entry about `group_id` among a response's per-group `entries`, or MissingInResponse naming the API.
fn group_entry<T>(
    entries: Vec<T>,
    group_id: &str,
    key: ApiKey,
    id_of: impl Fn(&T) -> &str,
) -> Result<T, ClientError> {
    response_entry(
        entries,
        |e| id_of(e) == group_id,
        || format!("group {group_id} in {}", api_name(key)),
    )
}

/// One group's part of an OffsetFetch response, whichever layout the version has.
struct FetchedGroupOffsets {
    error_code: i16,
    /// Each partition's committed offset with its own error code.
    partitions: Vec<(CommittedOffset, i16)>,
}

/// The part of an OffsetFetch response about `group_id`: its entry in `groups` from v8, the top level before.
fn fetched_group_offsets(
    resp: OffsetFetchResponse,
    version: i16,
    group_id: &str,
) -> Result<FetchedGroupOffsets, ClientError> {
    // The two layouts' topic and partition types differ but carry the same fields.
    macro_rules! offsets_of {
        ($topics:expr) => {
            $topics
                .into_iter()
                .flat_map(|t| {
                    let topic = t.name.to_string();
                    t.partitions.into_iter().map(move |p| {
                        let offset = CommittedOffset {
                            topic: topic.clone(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.metadata.map(|m| m.to_string()),
                        };
                        (offset, p.error_code)
                    })
                })
                .collect()
        };
    }
    if version >= FIRST_OFFSET_FETCH_WITH_GROUPS {
        let group = group_entry(resp.groups, group_id, ApiKey::OffsetFetch, |g| {
            g.group_id.as_str()
        })?;
        Ok(FetchedGroupOffsets {
            error_code: group.error_code,
            partitions: offsets_of!(group.topics),
        })
    } else {
        Ok(FetchedGroupOffsets {
            error_code: resp.error_code,
            partitions: offsets_of!(resp.topics),
        })
    }
}

/// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS: ask FindCoordinator again.
pub(crate) fn is_coordinator_code(code: i16) -> bool {
    [
        ResponseError::NotCoordinator,
        ResponseError::CoordinatorNotAvailable,
        ResponseError::CoordinatorLoadInProgress,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// Errors after which a group request is worth sending again to a freshly looked-up coordinator.
pub(crate) fn coordinator_retriable(err: &ClientError) -> bool {
    match err {
        ClientError::Kafka { code, .. } => is_coordinator_code(*code),
        ClientError::Connect { .. } => true,
        other => other.poisons_connection(),
    }
}

/// Decodes a `consumer` group member's assignment (Kafka's `ConsumerProtocolAssignment`: an i16 version, then
/// the assigned topics and partitions) into (topic, partitions) pairs. Empty bytes, which a member has before its
/// first SyncGroup, are no partitions. Versions newer than this client knows are read as the newest it knows,
/// as Kafka's consumer does: later versions only append fields.
pub fn decode_consumer_assignment(bytes: &Bytes) -> Result<Vec<(String, Vec<i32>)>, ClientError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(ClientError::decode(
            "consumer assignment",
            "shorter than its version",
        ));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(ClientError::decode(
            "consumer assignment",
            format!("negative version {version}"),
        ));
    }
    let version = version.min(ConsumerProtocolAssignment::VERSIONS.max);
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, version)
        .map_err(|e| ClientError::decode("consumer assignment", format!("{e:#}")))?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.to_string(), tp.partitions))
        .collect())
}

pub(crate) fn find_coordinator_request(
    version: i16,
    group_id: &str,
    key_type: i8,
) -> FindCoordinatorRequest {
    let req = FindCoordinatorRequest::default().with_key_type(key_type);
    if version >= FIRST_BATCHED_FIND_COORDINATOR {
        req.with_coordinator_keys(vec![str_bytes(group_id)])
    } else {
        req.with_key(str_bytes(group_id))
    }
}

pub(crate) fn list_groups_request(version: i16, states: &[String]) -> ListGroupsRequest {
    let req = ListGroupsRequest::default();
    // The field exists from v4; kafka-protocol refuses to encode a non-default value a version cannot carry.
    if version >= FIRST_LIST_GROUPS_WITH_STATES {
        req.with_states_filter(states.iter().map(|s| str_bytes(s)).collect())
    } else {
        req
    }
}

pub(crate) fn describe_groups_request(group_id: &str) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes(group_id))])
}

pub(crate) fn offset_fetch_request(
    version: i16,
    group_id: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> OffsetFetchRequest {
    if version >= FIRST_OFFSET_FETCH_WITH_GROUPS {
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        let group = OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes(group_id)))
            .with_topics(topics);
        OffsetFetchRequest::default().with_groups(vec![group])
    } else {
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        OffsetFetchRequest::default()
            .with_group_id(GroupId(str_bytes(group_id)))
            .with_topics(topics)
    }
}

pub(crate) fn offset_commit_request(
    group_id: &str,
    generation_id: i32,
    member_id: &str,
    offsets: &[(String, i32, i64)],
) -> OffsetCommitRequest {
    // One entry per topic, in first-seen order.
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset);
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group_id)))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(str_bytes(member_id))
        .with_topics(topics)
}

pub(crate) fn delete_groups_request(group_id: &str) -> DeleteGroupsRequest {
    DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes(group_id))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::Encodable;

    use crate::client::requests::tests::{round_trip, versions};

    #[test]
    fn every_group_request_encodes_at_every_client_version() {
        for v in versions(ApiKey::FindCoordinator) {
            let req = round_trip(&find_coordinator_request(v, "g", GROUP_KEY_TYPE), v);
            if v >= FIRST_BATCHED_FIND_COORDINATOR {
                assert_eq!(req.coordinator_keys, vec![str_bytes("g")]);
            } else {
                assert_eq!(req.key.as_str(), "g");
            }
        }
        let states = vec!["Stable".to_owned()];
        for v in versions(ApiKey::ListGroups) {
            let req = round_trip(&list_groups_request(v, &states), v);
            assert_eq!(req.states_filter.len(), usize::from(v >= 4), "v{v}");
        }
        for v in versions(ApiKey::DescribeGroups) {
            assert_eq!(
                round_trip(&describe_groups_request("g"), v).groups[0].as_str(),
                "g"
            );
        }
        let topics = vec![("t".to_owned(), vec![0, 1])];
        for v in versions(ApiKey::OffsetFetch) {
            for wanted in [Some(topics.as_slice()), None] {
                let req = round_trip(&offset_fetch_request(v, "g", wanted), v);
                if v >= FIRST_OFFSET_FETCH_WITH_GROUPS {
                    assert_eq!(req.groups[0].group_id.as_str(), "g");
                    assert_eq!(req.groups[0].topics.is_some(), wanted.is_some());
                } else {
                    assert_eq!(req.group_id.as_str(), "g");
                    assert_eq!(req.topics.is_some(), wanted.is_some());
                }
            }
        }
        let offsets = vec![
            ("t".to_owned(), 0, 5),
            ("u".to_owned(), 0, 6),
            ("t".to_owned(), 1, 7),
        ];
        for v in versions(ApiKey::OffsetCommit) {
            let req = round_trip(&offset_commit_request("g", -1, "", &offsets), v);
            assert_eq!(req.generation_id_or_member_epoch, -1);
            assert_eq!(req.topics.len(), 2);
            assert_eq!(req.topics[0].partitions[1].committed_offset, 7);
        }
        for v in versions(ApiKey::DeleteGroups) {
            assert_eq!(
                round_trip(&delete_groups_request("g"), v).groups_names[0].as_str(),
                "g"
            );
        }
    }

    fn assignment_bytes(version: i16, tail: &[u8]) -> Bytes {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![0, 2]),
        ]);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        assignment.encode(&mut buf, version.min(3)).unwrap();
        buf.extend_from_slice(tail);
        buf.freeze()
    }

    #[test]
    fn consumer_assignments_decode() {
        let want = vec![("t".to_owned(), vec![0, 2])];
        for v in 0..=3 {
            assert_eq!(
                decode_consumer_assignment(&assignment_bytes(v, &[])).unwrap(),
                want
            );
        }
        // A future version with extra trailing fields is read as the newest known one.
        assert_eq!(
            decode_consumer_assignment(&assignment_bytes(7, &[1, 2, 3])).unwrap(),
            want
        );
        assert!(decode_consumer_assignment(&Bytes::new())
            .unwrap()
            .is_empty());
        for bad in [&[0u8][..], &[0xff, 0xff], &[0, 0, 0, 0, 0, 5]] {
            assert!(decode_consumer_assignment(&Bytes::copy_from_slice(bad)).is_err());
        }
    }

    #[test]
    fn coordinator_errors_are_retried() {
        assert!(is_coordinator_code(ResponseError::NotCoordinator.code()));
        assert!(is_coordinator_code(15));
        assert!(!is_coordinator_code(ResponseError::NonEmptyGroup.code()));
        assert!(coordinator_retriable(
            &ClientError::check(14, None).unwrap_err()
        ));
        assert!(!coordinator_retriable(
            &ClientError::check(69, None).unwrap_err()
        ));
    }
}
