//! KIP-890 on the partition leader (Kafka's `AddPartitionsToTxnManager`): part 1 asks the transaction
//! coordinator whether this partition is in the producer's open transaction (AddPartitionsToTxn v4+
//! `VerifyOnly`); part 2 (Produce v12, TxnOffsetCommit v5: producers on `transaction.version` 2 no longer send
//! AddPartitionsToTxn / AddOffsetsToTxn themselves) asks it to add the partition instead ([`Mode::Add`], the
//! same request without `VerifyOnly`). Requests go over strom-client, batched per coordinator broker: while one
//! request to a broker is in flight, the next checks for it gather and go out together in the following one. A
//! coordinator on this broker is asked directly (the same `TxnCoordinatorService` calls its AddPartitionsToTxn
//! handler makes), without a round trip through the listener. An add the coordinator refuses with
//! CONCURRENT_TRANSACTIONS (the producer's previous transaction is still writing its markers, or another add
//! of the same transaction is being persisted) is retried every 20 ms for up to 100 ms (Kafka's
//! `add.partitions.to.txn.retry.backoff.ms` and `add.partitions.to.txn.retry.backoff.max.ms` defaults).
//!
//! Answers are Kafka's: no leader for the transactional id's `__transaction_state` partition is
//! COORDINATOR_NOT_AVAILABLE, an unreachable coordinator NETWORK_EXCEPTION, a coordinator that does not serve
//! AddPartitionsToTxn v4+ skips the check (Kafka continues the produce), PRODUCER_FENCED becomes
//! INVALID_PRODUCER_EPOCH (what producers handle there), and two checks of one transactional id waiting for the
//! same request keep the newer epoch (the other gets INVALID_PRODUCER_EPOCH, or NETWORK_EXCEPTION at the same
//! epoch). What a Produce answers for each code is [`produce_error`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strom_client::{ClientError, Connection};
use strom_metadata::MetadataImage;
use strom_protocol::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use strom_protocol::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, ProducerId, TopicName, TransactionalId,
};
use strom_protocol::str_bytes;
use strom_txn::TopicPartition;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::error_code::Code;
use crate::txn_coordinator::{TxnCoordinatorService, TRANSACTION_STATE_TOPIC};

/// Client id of the verification connections.
const CLIENT_ID: &str = "strom-txn-verification";
/// Kafka's `request.timeout.ms` for inter-broker requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's `add.partitions.to.txn.retry.backoff.ms` default: the wait before an add refused with
/// CONCURRENT_TRANSACTIONS is retried.
const ADD_RETRY_BACKOFF: Duration = Duration::from_millis(20);
/// Kafka's `add.partitions.to.txn.retry.backoff.max.ms` default: how long such an add keeps being retried.
const ADD_RETRY_MAX: Duration = Duration::from_millis(100);

/// What the leader asks the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// KIP-890 part 1: is the partition in the open transaction (AddPartitionsToTxn `VerifyOnly`)?
    Verify,
    /// KIP-890 part 2: add the partition to the transaction (Produce v12, TxnOffsetCommit v5).
    Add,
}

/// The partitions that failed a check, with their codes; an empty list means all are in the transaction.
pub(crate) type Unverified = Vec<(TopicPartition, Code)>;

/// One check waiting for the next request to its coordinator.
struct Waiting {
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<TopicPartition>,
    mode: Mode,
    reply: oneshot::Sender<Unverified>,
}

impl Waiting {
    fn fail(self, code: Code) {
        let failed = self.partitions.into_iter().map(|tp| (tp, code)).collect();
        let _ = self.reply.send(failed);
    }
}

/// The checks for one coordinator broker.
#[derive(Default)]
struct NodeQueue {
    addr: String,
    waiting: Vec<Waiting>,
    /// A sender task is running for this broker (Kafka's `inflightNodes`).
    sending: bool,
}

/// The leader's side of KIP-890 part 1.
pub(crate) struct TxnVerifier {
    node_id: i32,
    num_partitions: i32,
    txns: Arc<TxnCoordinatorService>,
    nodes: Mutex<HashMap<i32, NodeQueue>>,
    idle: tokio::sync::Mutex<HashMap<i32, Vec<Connection>>>,
}

impl TxnVerifier {
    pub(crate) fn new(
        node_id: i32,
        num_partitions: i32,
        txns: Arc<TxnCoordinatorService>,
    ) -> TxnVerifier {
        TxnVerifier {
            node_id,
            num_partitions: num_partitions.max(1),
            txns,
            nodes: Mutex::new(HashMap::new()),
            idle: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<i32, NodeQueue>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the coordinator of `transactional_id` whether `partitions` are in the producer's open transaction
    /// ([`Mode::Verify`]), or to add them to it ([`Mode::Add`]); the ones that are not in it (or could not be
    /// checked or added) come back with their codes.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        image: &MetadataImage,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        mode: Mode,
    ) -> Unverified {
        let deadline = Instant::now() + ADD_RETRY_MAX;
        loop {
            let failed = self
                .verify_once(
                    image,
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions.clone(),
                    mode,
                )
                .await;
            let concurrent = !failed.is_empty()
                && failed
                    .iter()
                    .all(|(_, code)| *code == Code::ConcurrentTransactions);
            if mode == Mode::Verify || !concurrent || Instant::now() + ADD_RETRY_BACKOFF > deadline
            {
                return failed;
            }
            tokio::time::sleep(ADD_RETRY_BACKOFF).await;
        }
    }

    async fn verify_once(
        self: &Arc<Self>,
        image: &MetadataImage,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        mode: Mode,
    ) -> Unverified {
        let state_partition = strom_txn::partition_for(transactional_id, self.num_partitions);
        let coordinator = image
            .topic(TRANSACTION_STATE_TOPIC)
            .and_then(|t| t.partitions.get(&state_partition))
            .map(|p| p.leader)
            .and_then(|leader| {
                image
                    .brokers
                    .get(&leader)
                    .filter(|b| !b.fenced)
                    .map(|b| (leader, format!("{}:{}", b.host, b.port)))
            });
        let Some((leader, addr)) = coordinator else {
            return partitions
                .into_iter()
                .map(|tp| (tp, Code::CoordinatorNotAvailable))
                .collect();
        };
        if leader == self.node_id {
            let asked: BTreeSet<TopicPartition> = partitions.into_iter().collect();
            if mode == Mode::Add {
                return match self
                    .txns
                    .add_partitions(transactional_id, producer_id, producer_epoch, &asked, 2)
                    .await
                {
                    Ok(()) => Vec::new(),
                    Err(code) => asked
                        .into_iter()
                        .map(|tp| (tp, producer_code(code)))
                        .collect(),
                };
            }
            let answers = match self.txns.verify_partitions(
                transactional_id,
                producer_id,
                producer_epoch,
                &asked,
            ) {
                Ok(answers) => answers,
                Err(code) => asked.into_iter().map(|tp| (tp, Some(code))).collect(),
            };
            return answers
                .into_iter()
                .filter_map(|(tp, code)| code.map(|c| (tp, producer_code(c))))
                .collect();
        }
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
            mode,
            reply,
        };
        if self.enqueue(leader, addr, waiting) {
            let verifier = Arc::clone(self);
            tokio::spawn(async move { verifier.send_loop(leader).await });
        }
        answer.await.unwrap_or_else(|_| {
            partitions
                .into_iter()
                .map(|tp| (tp, Code::NetworkException))
                .collect()
        })
    }

    /// Queues a check for `leader`; true when no sender runs for it yet (the caller starts one). One check
    /// per transactional id waits at a time, the newer epoch winning (Kafka's `addTxnData`).
    fn enqueue(&self, leader: i32, addr: String, waiting: Waiting) -> bool {
        let mut nodes = self.nodes();
        let queue = nodes.entry(leader).or_default();
        queue.addr = addr;
        if let Some(i) = queue
            .waiting
            .iter()
            .position(|w| w.transactional_id == waiting.transactional_id)
        {
            if queue.waiting[i].producer_epoch > waiting.producer_epoch {
                waiting.fail(Code::InvalidProducerEpoch);
                return false;
            }
            let older = queue.waiting.swap_remove(i);
            let code = if older.producer_epoch < waiting.producer_epoch {
                Code::InvalidProducerEpoch
            } else {
                // The client is likely retrying: a retriable code for the earlier copy.
                Code::NetworkException
            };
            older.fail(code);
        }
        queue.waiting.push(waiting);
        let start = !queue.sending;
        queue.sending = true;
        start
    }

    /// Sends what waits for `leader`, one request at a time, until nothing is left.
    async fn send_loop(self: Arc<Self>, leader: i32) {
        loop {
            let (addr, batch) = {
                let mut nodes = self.nodes();
                let Some(queue) = nodes.get_mut(&leader) else {
                    return;
                };
                if queue.waiting.is_empty() {
                    queue.sending = false;
                    return;
                }
                (queue.addr.clone(), std::mem::take(&mut queue.waiting))
            };
            self.send(leader, &addr, batch).await;
        }
    }

    /// One AddPartitionsToTxn with every waiting check for `leader`; answers each.
    async fn send(&self, leader: i32, addr: &str, batch: Vec<Waiting>) {
        let request = AddPartitionsToTxnRequest::default().with_transactions(
            batch
                .iter()
                .map(|w| {
                    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for tp in &w.partitions {
                        topics.entry(&tp.topic).or_default().push(tp.partition);
                    }
                    AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(str_bytes(&w.transactional_id)))
                        .with_producer_id(ProducerId(w.producer_id))
                        .with_producer_epoch(w.producer_epoch)
                        .with_verify_only(w.mode == Mode::Verify)
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(name, partitions)| {
                                    AddPartitionsToTxnTopic::default()
                                        .with_name(TopicName(str_bytes(name)))
                                        .with_partitions(partitions)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
        let mut conn = match self.take(leader, addr).await {
            Ok(c) => c,
            Err(e) => {
                warn!(
                    leader,
                    addr, "cannot reach the transaction coordinator: {e}"
                );
                batch
                    .into_iter()
                    .for_each(|w| w.fail(Code::NetworkException));
                return;
            }
        };
        let version = match conn.version(ApiKey::AddPartitionsToTxn) {
            Ok(v) => v,
            Err(e) => {
                // Kafka: a coordinator that cannot answer VerifyOnly means no verification; the produce goes on.
                // An add it cannot make fails (retriably): the partition would be missing from the transaction.
                warn!(leader, "{e}; transactional produce continues unverified");
                self.put_back(leader, conn).await;
                batch.into_iter().for_each(|w| match w.mode {
                    Mode::Verify => {
                        let _ = w.reply.send(Vec::new());
                    }
                    Mode::Add => w.fail(Code::NetworkException),
                });
                return;
            }
        };
        let response = match conn.send(&request, version, Duration::ZERO).await {
            Ok(r) => r,
            Err(e) => {
                warn!(
                    leader,
                    addr, "AddPartitionsToTxn to the coordinator failed: {e}"
                );
                batch
                    .into_iter()
                    .for_each(|w| w.fail(Code::NetworkException));
                return;
            }
        };
        self.put_back(leader, conn).await;
        if response.error_code != 0 {
            let code = Code::try_from_code(response.error_code).unwrap_or(Code::UnknownServerError);
            debug!(
                leader,
                "AddPartitionsToTxn to the coordinator answered {code:?}"
            );
            // Kafka keeps CLUSTER_AUTHORIZATION_FAILED from producers: the check did not complete.
            let code = if code == Code::ClusterAuthorizationFailed {
                Code::InvalidTxnState
            } else {
                code
            };
            batch.into_iter().for_each(|w| w.fail(code));
            return;
        }
        let mut results: HashMap<&str, Unverified> = HashMap::new();
        for txn in &response.results_by_transaction {
            let failed = results.entry(txn.transactional_id.0.as_str()).or_default();
            for topic in &txn.topic_results {
                for p in &topic.results_by_partition {
                    if p.partition_error_code != 0 {
                        let code = Code::try_from_code(p.partition_error_code)
                            .unwrap_or(Code::UnknownServerError);
                        failed.push((
                            TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                            producer_code(code),
                        ));
                    }
                }
            }
        }
        for w in batch {
            match results.remove(w.transactional_id.as_str()) {
                Some(failed) => {
                    let _ = w.reply.send(failed);
                }
                None => w.fail(Code::NetworkException),
            }
        }
    }

    async fn take(&self, leader: i32, addr: &str) -> Result<Connection, ClientError> {
        if let Some(c) = self.idle.lock().await.get_mut(&leader).and_then(Vec::pop) {
            if c.addr() == addr {
                return Ok(c);
            }
        }
        Connection::connect(addr, CLIENT_ID, REQUEST_TIMEOUT).await
    }

    async fn put_back(&self, leader: i32, conn: Connection) {
        self.idle.lock().await.entry(leader).or_default().push(conn);
    }
}

/// A coordinator's per-partition answer as the producer sees it: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
/// ("producers expect to handle INVALID_PRODUCER_EPOCH in this scenario", Kafka's manager).
fn producer_code(code: Code) -> Code {
    if code == Code::ProducerFenced {
        Code::InvalidProducerEpoch
    } else {
        code
    }
}

/// The last Produce version whose clients do not know TRANSACTION_ABORTABLE (Kafka's `DEFAULT_ERROR` for
/// v0–v10; v11+ is `GENERIC_ERROR_SUPPORTED`).
const LAST_PRODUCE_VERSION_WITHOUT_ABORTABLE: i16 = 10;

/// What a Produce answers for a partition that failed its check (Kafka's `postVerificationCallback`): the
/// code, and the message that goes with it. TRANSACTION_ABORTABLE is INVALID_TXN_STATE for clients before
/// Produce v11; the retriable coordinator codes become NOT_ENOUGH_REPLICAS, which older clients retry
/// without a metadata refresh.
pub(crate) fn produce_error(code: Code, produce_version: i16) -> (Code, Option<String>) {
    let code = if code == Code::TransactionAbortable
        && produce_version <= LAST_PRODUCE_VERSION_WITHOUT_ABORTABLE
    {
        Code::InvalidTxnState
    } else {
        code
    };
    match code {
        Code::InvalidTxnState => (
            code,
            Some("Partition was not added to the transaction".to_owned()),
        ),
        Code::ConcurrentTransactions
        | Code::NetworkException
        | Code::CoordinatorLoadInProgress
        | Code::CoordinatorNotAvailable
        | Code::NotCoordinator => (
            Code::NotEnoughReplicas,
            Some(format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {}",
                kafka_name(code)
            )),
        ),
        _ => (code, None),
    }
}

/// Kafka's `Errors` name of the retriable codes [`produce_error`] names in its message.
fn kafka_name(code: Code) -> &'static str {
    match code {
        Code::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
        Code::NetworkException => "NETWORK_EXCEPTION",
        Code::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
        Code::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
        Code::NotCoordinator => "NOT_COORDINATOR",
        _ => "UNKNOWN_SERVER_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_answers_follow_kafkas_post_verification_mapping() {
        // Before Produce v11 clients do not know TRANSACTION_ABORTABLE.
        let (code, message) = produce_error(Code::TransactionAbortable, 10);
        assert_eq!(code, Code::InvalidTxnState);
        assert_eq!(
            message.as_deref(),
            Some("Partition was not added to the transaction")
        );
        assert_eq!(
            produce_error(Code::TransactionAbortable, 11),
            (Code::TransactionAbortable, None)
        );
        for retriable in [
            Code::ConcurrentTransactions,
            Code::NetworkException,
            Code::CoordinatorLoadInProgress,
            Code::CoordinatorNotAvailable,
            Code::NotCoordinator,
        ] {
            let (code, message) = produce_error(retriable, 9);
            assert_eq!(code, Code::NotEnoughReplicas);
            assert!(message.is_some_and(|m| m.ends_with(kafka_name(retriable))));
        }
        assert_eq!(
            produce_error(Code::InvalidProducerIdMapping, 9),
            (Code::InvalidProducerIdMapping, None)
        );
        assert_eq!(
            producer_code(Code::ProducerFenced),
            Code::InvalidProducerEpoch
        );
    }
}
