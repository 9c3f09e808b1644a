//! Transaction admin calls on [`Client`], as Kafka's `Admin.listTransactions` / `describeTransactions` /
//! `describeProducers` / `abortTransaction` make them: ListTransactions asked of every broker (each answers for
//! the transactional ids it coordinates), DescribeTransactions sent to the transactional id's coordinator
//! (FindCoordinator key type 1, looked up again when it moved), DescribeProducers sent to each partition's
//! leader (or to one chosen replica), and the abort of a hanging transaction as a WriteTxnMarkers ABORT sent to
//! the partition's leader, its producer found by the transaction's start offset when the caller gives that. Part of `Client`'s `impl`, split off deliberately (see `client/mod.rs`).
//! Requests are built by the pure `*_request` functions at the bottom, unit-tested at every version this
//! client negotiates. Does not produce transactionally.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest,
    ProducerId, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::ResponseError;
use strom_protocol::str_bytes;

use super::groups::{coordinator_retriable, is_coordinator_code, TRANSACTION_KEY_TYPE};
use super::requests::topic_name;
use super::{BrokerMetadata, Client};
use crate::error::ClientError;

/// ListTransactions v1+ filters by how long a transaction has been open.
const FIRST_LIST_TRANSACTIONS_WITH_DURATION: i16 = 1;
/// ListTransactions v2+ filters by a transactional id pattern (KIP-1152).
const FIRST_LIST_TRANSACTIONS_WITH_PATTERN: i16 = 2;

/// One producer of a partition as DescribeProducers reported it (Kafka's `ProducerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateInfo {
    pub producer_id: i64,
    pub producer_epoch: i32,
    /// -1 when the partition holds no sequenced batch of it.
    pub last_sequence: i32,
    /// Max timestamp of its last batch or marker, -1 when unknown.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last transaction marker, -1 when none.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction on the partition, -1 when none is open.
    pub current_txn_start_offset: i64,
}

/// The producers of one partition, or the partition's error, as DescribeProducers answered.
pub type PartitionProducers = ((String, i32), Result<Vec<ProducerStateInfo>, ClientError>);

/// One transaction as ListTransactions reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    pub transactional_id: String,
    pub producer_id: i64,
    /// Kafka's state name: `Empty`, `Ongoing`, `PrepareCommit`, `PrepareAbort`, `CompleteCommit`,
    /// `CompleteAbort`, `PrepareEpochFence`.
    pub state: String,
    /// The broker that coordinates it.
    pub coordinator_id: i32,
}

/// One transaction as DescribeTransactions reported it, with the coordinator that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    pub coordinator: BrokerMetadata,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// When the open transaction started (ms since the epoch), -1 when none is open.
    pub start_time_ms: i64,
    /// The partitions of the open transaction (or those still waiting for their marker).
    pub partitions: Vec<(String, i32)>,
}

/// ListTransactions' filters; empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// Only transactions open for longer than this (needs ListTransactions v1).
    pub min_duration_ms: Option<i64>,
    /// Only transactional ids this regular expression matches whole (needs ListTransactions v2).
    pub transactional_id_pattern: Option<String>,
}

impl Client {
    /// The coordinator of `transactional_id` (FindCoordinator key type 1).
    pub async fn find_transaction_coordinator(
        &mut self,
        transactional_id: &str,
    ) -> Result<BrokerMetadata, ClientError> {
        self.find_coordinator_of(transactional_id, TRANSACTION_KEY_TYPE)
            .await
    }

    /// Every transaction any broker coordinates that matches `filter`, sorted by transactional id.
    pub async fn list_transactions(
        &mut self,
        filter: &TransactionFilter,
    ) -> Result<Vec<ListedTransaction>, ClientError> {
        let ids: Vec<i32> = self.metadata.brokers.keys().copied().collect();
        let mut listed = BTreeMap::new();
        for id in ids {
            let version = self
                .broker_connection(id)
                .await?
                .version(ApiKey::ListTransactions)?;
            if filter.min_duration_ms.is_some() && version < FIRST_LIST_TRANSACTIONS_WITH_DURATION {
                return Err(ClientError::VersionTooOld {
                    what: "filtering transactions by duration",
                    api: "ListTransactions",
                    needed: FIRST_LIST_TRANSACTIONS_WITH_DURATION,
                    available: version,
                });
            }
            if filter.transactional_id_pattern.is_some()
                && version < FIRST_LIST_TRANSACTIONS_WITH_PATTERN
            {
                return Err(ClientError::VersionTooOld {
                    what: "filtering transactions by transactional id pattern",
                    api: "ListTransactions",
                    needed: FIRST_LIST_TRANSACTIONS_WITH_PATTERN,
                    available: version,
                });
            }
            let resp = self
                .send_to_broker(id, ApiKey::ListTransactions, Duration::ZERO, |v| {
                    list_transactions_request(v, filter)
                })
                .await?;
            ClientError::check(
                resp.error_code,
                Some(&format!("ListTransactions on broker {id}")),
            )?;
            for t in resp.transaction_states {
                let transactional_id = t.transactional_id.to_string();
                listed.insert(
                    transactional_id.clone(),
                    ListedTransaction {
                        transactional_id,
                        producer_id: t.producer_id.0,
                        state: t.transaction_state.to_string(),
                        coordinator_id: id,
                    },
                );
            }
        }
        Ok(listed.into_values().collect())
    }

    /// Describes one transactional id through its coordinator; TRANSACTIONAL_ID_NOT_FOUND when unknown.
    pub async fn describe_transaction(
        &mut self,
        transactional_id: &str,
    ) -> Result<TransactionDescription, ClientError> {
        let mut attempt = 0;
        loop {
            let coordinator = self.find_transaction_coordinator(transactional_id).await?;
            let sent = self
                .send_to_broker(
                    coordinator.node_id,
                    ApiKey::DescribeTransactions,
                    Duration::ZERO,
                    |_| describe_transactions_request(transactional_id),
                )
                .await;
            let may_retry = attempt < self.config.retries;
            match sent {
                Ok(resp) => {
                    let state = super::response_entry(
                        resp.transaction_states,
                        |s| s.transactional_id.as_str() == transactional_id,
                        || format!("transactional id {transactional_id} in DescribeTransactions"),
                    )?;
                    if !(may_retry && is_coordinator_code(state.error_code)) {
                        ClientError::check(
                            state.error_code,
                            Some(&format!("transactional id {transactional_id}")),
                        )?;
                        let mut partitions: Vec<(String, i32)> = state
                            .topics
                            .iter()
                            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
                            .collect();
                        partitions.sort();
                        return Ok(TransactionDescription {
                            transactional_id: transactional_id.to_owned(),
                            coordinator,
                            state: state.transaction_state.to_string(),
                            producer_id: state.producer_id.0,
                            producer_epoch: state.producer_epoch,
                            timeout_ms: state.transaction_timeout_ms,
                            start_time_ms: state.transaction_start_time_ms,
                            partitions,
                        });
                    }
                }
                Err(e) if may_retry && coordinator_retriable(&e) => {}
                Err(e) => return Err(e),
            }
            self.backoff(attempt).await;
            attempt += 1;
        }
    }

    /// Aborts a hanging transaction on one partition (Kafka's `Admin.abortTransaction`): an ABORT marker for
    /// `producer_id`/`producer_epoch` written by the partition's leader with WriteTxnMarkers, with the
    /// `coordinator_epoch` the partition last saw from the transaction's coordinator.
    pub async fn abort_transaction(
        &mut self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), ClientError> {
        let leader = self.leader_for(topic, partition).await?;
        let resp = self
            .send_to_broker(leader, ApiKey::WriteTxnMarkers, Duration::ZERO, |_| {
                abort_marker_request(
                    topic,
                    partition,
                    producer_id,
                    producer_epoch,
                    coordinator_epoch,
                )
            })
            .await?;
        let code = resp
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == producer_id)
            .flat_map(|m| m.topics.iter())
            .filter(|t| t.name.as_str() == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.error_code)
            .ok_or_else(|| ClientError::Kafka {
                code: ResponseError::UnknownServerError.code(),
                name: "UNKNOWN_SERVER_ERROR".into(),
                message: Some(format!("{topic}-{partition} missing in WriteTxnMarkers")),
            })?;
        ClientError::check(code, Some(&format!("{topic}-{partition}")))
    }

    /// The producers of `partitions` (Kafka's `Admin.describeProducers`): asked of `broker` when given (any
    /// replica answers from its own log), else of each partition's leader. One request per broker; each
    /// partition gets its producers or its own error, in the order asked.
    pub async fn describe_producers(
        &mut self,
        partitions: &[(String, i32)],
        broker: Option<i32>,
    ) -> Result<Vec<PartitionProducers>, ClientError> {
        let mut by_broker: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut answers: BTreeMap<(String, i32), Result<Vec<ProducerStateInfo>, ClientError>> =
            BTreeMap::new();
        for (topic, partition) in partitions {
            let target = match broker {
                Some(id) => Ok(id),
                None => self.leader_for(topic, *partition).await,
            };
            match target {
                Ok(id) => by_broker
                    .entry(id)
                    .or_default()
                    .push((topic.clone(), *partition)),
                Err(e) => {
                    answers.insert((topic.clone(), *partition), Err(e));
                }
            }
        }
        for (id, asked) in by_broker {
            let resp = self
                .send_to_broker(id, ApiKey::DescribeProducers, Duration::ZERO, |_| {
                    describe_producers_request(&asked)
                })
                .await?;
            for topic in resp.topics {
                for p in topic.partitions {
                    let key = (topic.name.to_string(), p.partition_index);
                    let context = format!("{}-{} on broker {id}", key.0, key.1);
                    let message = p
                        .error_message
                        .as_ref()
                        .map_or(context.clone(), |m| format!("{context}: {m}"));
                    let answer = ClientError::check(p.error_code, Some(&message)).map(|()| {
                        p.active_producers
                            .iter()
                            .map(|s| ProducerStateInfo {
                                producer_id: s.producer_id.0,
                                producer_epoch: s.producer_epoch,
                                last_sequence: s.last_sequence,
                                last_timestamp: s.last_timestamp,
                                coordinator_epoch: s.coordinator_epoch,
                                current_txn_start_offset: s.current_txn_start_offset,
                            })
                            .collect()
                    });
                    answers.insert(key, answer);
                }
            }
        }
        partitions
            .iter()
            .map(|tp| {
                let answer = answers
                    .remove(tp)
                    .ok_or_else(|| ClientError::MissingInResponse {
                        what: format!("{}-{} in DescribeProducers", tp.0, tp.1),
                    })?;
                Ok((tp.clone(), answer))
            })
            .collect()
    }

    /// Aborts the hanging transaction that starts at `start_offset` on one partition (Kafka's
    /// `kafka-transactions.sh abort --start-offset`): the partition leader's DescribeProducers names the
    /// producer whose open transaction starts there, whose id, epoch and last coordinator epoch (0 when it never
    /// saw a marker, as Kafka's tool uses) go into the ABORT marker. Returns that producer.
    pub async fn abort_transaction_at(
        &mut self,
        topic: &str,
        partition: i32,
        start_offset: i64,
    ) -> Result<ProducerStateInfo, ClientError> {
        let tp = (topic.to_owned(), partition);
        let producers = self
            .describe_producers(std::slice::from_ref(&tp), None)
            .await?
            .into_iter()
            .next()
            .map(|(_, answer)| answer)
            .ok_or_else(|| ClientError::MissingInResponse {
                what: format!("{topic}-{partition} in DescribeProducers"),
            })??;
        let producer = producers
            .into_iter()
            .find(|p| p.current_txn_start_offset == start_offset)
            .ok_or_else(|| {
                ClientError::InvalidArgument(format!(
                    "no open transaction starts at offset {start_offset} on partition {topic}-{partition}"
                ))
            })?;
        let epoch =
            i16::try_from(producer.producer_epoch).map_err(|_| ClientError::MissingInResponse {
                what: format!(
                    "a producer epoch of producer {} that fits 16 bits (got {})",
                    producer.producer_id, producer.producer_epoch
                ),
            })?;
        self.abort_transaction(
            topic,
            partition,
            producer.producer_id,
            epoch,
            producer.coordinator_epoch.max(0),
        )
        .await?;
        Ok(producer)
    }
}

pub(crate) fn describe_producers_request(partitions: &[(String, i32)]) -> DescribeProducersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    DescribeProducersRequest::default().with_topics(
        topics
            .into_iter()
            .map(|(t, p)| {
                TopicRequest::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(p)
            })
            .collect(),
    )
}

pub(crate) fn list_transactions_request(
    version: i16,
    filter: &TransactionFilter,
) -> ListTransactionsRequest {
    let req = ListTransactionsRequest::default()
        .with_state_filters(filter.states.iter().map(|s| str_bytes(s)).collect())
        .with_producer_id_filters(filter.producer_ids.iter().map(|p| ProducerId(*p)).collect());
    // The field exists from v1; kafka-protocol refuses to encode a non-default value a version cannot carry.
    let req = if version >= FIRST_LIST_TRANSACTIONS_WITH_DURATION {
        req.with_duration_filter(filter.min_duration_ms.unwrap_or(-1))
    } else {
        req
    };
    if version >= FIRST_LIST_TRANSACTIONS_WITH_PATTERN {
        req.with_transactional_id_pattern(filter.transactional_id_pattern.as_deref().map(str_bytes))
    } else {
        req
    }
}

pub(crate) fn describe_transactions_request(transactional_id: &str) -> DescribeTransactionsRequest {
    DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(str_bytes(transactional_id))])
}

pub(crate) fn abort_marker_request(
    topic: &str,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
) -> WriteTxnMarkersRequest {
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition])])])
}

#[cfg(test)]
mod tests {
    use super::super::requests::tests::{round_trip, versions};
    use super::*;

    #[test]
    fn requests_encode_at_every_negotiable_version() {
        let filter = TransactionFilter {
            states: vec!["Ongoing".into()],
            producer_ids: vec![7],
            min_duration_ms: Some(1000),
            transactional_id_pattern: Some("app-.*".into()),
        };
        for v in versions(ApiKey::ListTransactions) {
            let req = round_trip(&list_transactions_request(v, &filter), v);
            assert_eq!(req.producer_id_filters, vec![ProducerId(7)]);
            assert_eq!(req.duration_filter, if v >= 1 { 1000 } else { -1 });
            assert_eq!(
                req.transactional_id_pattern.as_deref(),
                (v >= 2).then_some("app-.*")
            );
        }
        let asked = [
            ("b".to_string(), 1),
            ("a".to_string(), 0),
            ("b".to_string(), 0),
        ];
        for v in versions(ApiKey::DescribeProducers) {
            let req = round_trip(&describe_producers_request(&asked), v);
            let topics: Vec<(String, Vec<i32>)> = req
                .topics
                .iter()
                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                .collect();
            assert_eq!(
                topics,
                vec![("a".into(), vec![0]), ("b".into(), vec![1, 0])]
            );
        }
        for v in versions(ApiKey::DescribeTransactions) {
            let req = round_trip(&describe_transactions_request("t"), v);
            assert_eq!(req.transactional_ids.len(), 1);
        }
        for v in versions(ApiKey::WriteTxnMarkers) {
            let req = round_trip(&abort_marker_request("t", 3, 9, 2, 5), v);
            let m = &req.markers[0];
            assert_eq!(
                (
                    m.producer_id.0,
                    m.producer_epoch,
                    m.transaction_result,
                    m.coordinator_epoch
                ),
                (9, 2, false, 5)
            );
        }
    }
}
