//! Writing a transaction's COMMIT/ABORT markers (Kafka's `TransactionMarkerChannelManager` and
//! `TransactionMarkerRequestCompletionHandler`): once PrepareCommit/PrepareAbort is persisted, a task of its
//! own writes the markers of the partitions this broker leads straight into their logs (the WriteTxnMarkers
//! handler's own `write_markers`, no request over this broker's listener) and sends WriteTxnMarkers to the
//! leader of each other partition, retries what failed with Kafka's retriable errors or did not
//! reach its leader (unreachable, not leading, or not serving WriteTxnMarkers yet) with a growing back-off,
//! and when every partition has its marker persists CompleteCommit/CompleteAbort. It stops, leaving the work
//! to the next coordinator, when this broker no longer coordinates the transaction in the same epoch, and it
//! never holds the coordinator's lock across a send. Connections to leaders are pooled per broker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use strom_client::{ClientError, Connection};
use strom_protocol::kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use strom_protocol::kafka_protocol::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest,
};
use strom_protocol::str_bytes;
use strom_storage::batch::ControlMarker;
use strom_txn::{MarkerPlan, TopicPartition, TxnRecord, TxnResult};
use tracing::{debug, info, warn};

use super::TxnCoordinatorService;
use crate::api::write_txn_markers::{write_markers, TxnMarkerWrite};
use crate::error_code::Code;

/// Client id of the coordinator's marker connections.
const CLIENT_ID: &str = "strom-txn-marker-sender";
/// How long one WriteTxnMarkers may take (Kafka's `request.timeout.ms` for inter-broker requests).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Idle connections to partition leaders, per broker id.
#[derive(Default)]
pub(crate) struct MarkerChannel {
    idle: tokio::sync::Mutex<HashMap<i32, Vec<Connection>>>,
}

impl MarkerChannel {
    async fn take(&self, broker: i32, addr: &str) -> Result<Connection, ClientError> {
        if let Some(c) = self.idle.lock().await.get_mut(&broker).and_then(Vec::pop) {
            if c.addr() == addr {
                return Ok(c);
            }
        }
        Connection::connect(addr, CLIENT_ID, REQUEST_TIMEOUT).await
    }

    async fn put_back(&self, broker: i32, conn: Connection) {
        self.idle.lock().await.entry(broker).or_default().push(conn);
    }
}

/// What one leader answered for its partitions.
enum LeaderAnswer {
    /// Per partition: `None` written, `Some(code)` not.
    Partitions(Vec<(TopicPartition, Option<Code>)>),
    /// The request did not get an answer (connect, I/O, timeout, API not served): retry all.
    Unreachable,
}

impl TxnCoordinatorService {
    /// Writes the markers of `plan`, then persists its completion. Runs until done, until this broker no
    /// longer coordinates the transaction in `epoch`, or until the broker stops.
    pub(super) async fn write_markers(
        self: Arc<Self>,
        plan: MarkerPlan,
        partition: i32,
        epoch: i32,
    ) {
        let id = plan.transactional_id.as_str();
        let stop = self.stop.subscribe();
        let mut remaining: BTreeSet<TopicPartition> = plan.partitions.clone();
        let mut backoff = FIRST_BACKOFF;
        while !remaining.is_empty() {
            if *stop.borrow() || !self.owns(partition, epoch) {
                info!(
                    transactional_id = id,
                    "stopped writing markers: no longer coordinating"
                );
                return;
            }
            let by_leader = self.group_by_leader(id, &mut remaining);
            let mut progressed = false;
            for (leader, (addr, partitions)) in by_leader {
                let answer = if leader == self.node_id {
                    self.write_local_markers(&plan, epoch, &partitions).await
                } else {
                    self.send_markers(&plan, epoch, leader, &addr, &partitions)
                        .await
                };
                match answer {
                    LeaderAnswer::Unreachable => {}
                    LeaderAnswer::Partitions(results) => {
                        for (tp, error) in results {
                            match error {
                                None => {
                                    progressed = true;
                                    remaining.remove(&tp);
                                    self.lock().coordinator.marker_written(id, &tp);
                                }
                                Some(
                                    Code::UnsupportedForMessageFormat | Code::UnsupportedVersion,
                                ) => {
                                    // Kafka drops such a partition: the producer could not have written to it.
                                    remaining.remove(&tp);
                                    self.lock().coordinator.marker_written(id, &tp);
                                }
                                Some(
                                    Code::InvalidProducerEpoch | Code::TransactionCoordinatorFenced,
                                ) => {
                                    info!(transactional_id = id, partition = %tp, "a newer producer or coordinator owns the transaction; stop writing markers");
                                    return;
                                }
                                Some(code) => {
                                    debug!(transactional_id = id, partition = %tp, "marker not written: {code:?}; retrying");
                                }
                            }
                        }
                    }
                }
            }
            if remaining.is_empty() {
                break;
            }
            if progressed {
                backoff = FIRST_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.complete_markers(&plan, partition, epoch).await;
    }

    /// The remaining partitions by the broker leading them. A partition whose topic is gone is dropped
    /// (Kafka does the same: the topic was deleted); one without a live leader waits for the next round.
    fn group_by_leader(
        &self,
        transactional_id: &str,
        remaining: &mut BTreeSet<TopicPartition>,
    ) -> BTreeMap<i32, (String, Vec<TopicPartition>)> {
        let image = self.image.borrow().clone();
        let mut by_leader: BTreeMap<i32, (String, Vec<TopicPartition>)> = BTreeMap::new();
        let mut gone = Vec::new();
        for tp in remaining.iter() {
            let Some(p) = image
                .topic(&tp.topic)
                .and_then(|t| t.partitions.get(&tp.partition))
            else {
                gone.push(tp.clone());
                continue;
            };
            let Some(b) = image.brokers.get(&p.leader).filter(|b| !b.fenced) else {
                continue;
            };
            by_leader
                .entry(p.leader)
                .or_insert_with(|| (format!("{}:{}", b.host, b.port), Vec::new()))
                .1
                .push(tp.clone());
        }
        for tp in gone {
            info!(transactional_id, partition = %tp, "partition no longer exists; no marker needed");
            remaining.remove(&tp);
            self.lock()
                .coordinator
                .marker_written(transactional_id, &tp);
        }
        by_leader
    }

    /// The markers of partitions this broker leads, written as the WriteTxnMarkers handler writes them
    /// (same checks, same wait for the ISR, same errors), without a request to itself.
    async fn write_local_markers(
        &self,
        plan: &MarkerPlan,
        epoch: i32,
        partitions: &[TopicPartition],
    ) -> LeaderAnswer {
        let write = TxnMarkerWrite {
            producer_id: plan.producer_id,
            producer_epoch: plan.producer_epoch,
            control: ControlMarker {
                commit: plan.result == TxnResult::Commit,
                coordinator_epoch: epoch,
            },
            partitions: partitions
                .iter()
                .map(|tp| (tp.topic.as_str(), tp.partition))
                .collect(),
        };
        let codes = write_markers(&self.replicas, &self.groups, std::slice::from_ref(&write))
            .await
            .pop()
            .unwrap_or_default();
        LeaderAnswer::Partitions(partitions.iter().cloned().zip(codes).collect())
    }

    /// One WriteTxnMarkers to another leader.
    async fn send_markers(
        &self,
        plan: &MarkerPlan,
        epoch: i32,
        leader: i32,
        addr: &str,
        partitions: &[TopicPartition],
    ) -> LeaderAnswer {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(plan.producer_id))
            .with_producer_epoch(plan.producer_epoch)
            .with_transaction_result(plan.result == TxnResult::Commit)
            .with_coordinator_epoch(epoch)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, indexes)| {
                        WritableTxnMarkerTopic::default()
                            .with_name(TopicName(str_bytes(name)))
                            .with_partition_indexes(indexes)
                    })
                    .collect(),
            );
        let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let mut conn = match self.markers.take(leader, addr).await {
            Ok(c) => c,
            Err(e) => {
                debug!(
                    leader,
                    addr, "cannot reach partition leader for markers: {e}"
                );
                return LeaderAnswer::Unreachable;
            }
        };
        let version = match conn.version(ApiKey::WriteTxnMarkers) {
            Ok(v) => v,
            Err(e) => {
                // Not served (yet) by that broker: keep the connection and try again later.
                debug!(leader, "{e}");
                self.markers.put_back(leader, conn).await;
                return LeaderAnswer::Unreachable;
            }
        };
        let response = match conn.send(&request, version, Duration::ZERO).await {
            Ok(r) => r,
            Err(e) => {
                warn!(leader, addr, "WriteTxnMarkers failed: {e}");
                return LeaderAnswer::Unreachable;
            }
        };
        self.markers.put_back(leader, conn).await;
        let mut results = Vec::new();
        for m in response
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == plan.producer_id)
        {
            for t in &m.topics {
                for p in &t.partitions {
                    let code = (p.error_code != 0).then(|| Code::try_from_code(p.error_code));
                    let code = match code {
                        None => None,
                        Some(Some(c)) => Some(c),
                        Some(None) => Some(Code::UnknownServerError),
                    };
                    results.push((
                        TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        code,
                    ));
                }
            }
        }
        LeaderAnswer::Partitions(results)
    }

    /// Every marker is written: persists CompleteCommit/CompleteAbort, retrying while the log is
    /// unavailable, as long as this broker coordinates the transaction.
    async fn complete_markers(&self, plan: &MarkerPlan, partition: i32, epoch: i32) {
        let id = plan.transactional_id.as_str();
        let record = TxnRecord {
            transactional_id: id.to_owned(),
            value: Some(plan.complete.to_value()),
        };
        let stop = self.stop.subscribe();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if *stop.borrow() || !self.owns(partition, epoch) {
                return;
            }
            match self.persist(std::slice::from_ref(&record), partition).await {
                Ok(()) => {
                    let mut inner = self.lock();
                    if inner.owned.get(&partition) != Some(&epoch) {
                        return;
                    }
                    match inner.coordinator.complete(
                        id,
                        &plan.complete,
                        strom_protocol::clock::now_ms(),
                    ) {
                        Ok(_) => {
                            debug!(transactional_id = id, state = %plan.complete.state, "transaction completed")
                        }
                        Err(e) => warn!(
                            transactional_id = id,
                            "completing the transaction failed: {e}"
                        ),
                    }
                    return;
                }
                Err(Code::NotCoordinator) => return,
                Err(code) => {
                    warn!(
                        transactional_id = id,
                        "persisting the completion failed: {code:?}; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
