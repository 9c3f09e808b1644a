//! The follower side of replication (Kafka's ReplicaFetcherThread): one task per leader broker, fetching every
//! partition this broker follows on that leader with the Fetch API (replica id set), appending what comes back
//! byte-for-byte (`PartitionLog::append_replicated`) and taking the leader's high watermark.
//!
//! A partition that just became a follower first truncates its divergent tail (KIP-101/KIP-279): it asks the
//! leader with OffsetForLeaderEpoch for the end offset of its own latest leader epoch and cuts its log there.
//! A follower below the leader's log start starts over at it. `broker.rs` adds and removes partitions as the
//! metadata image moves leadership; errors back off and leave the partition to the next image.
//!
//! This file owns the network side and the set of followed partitions; every step on a local replica is one
//! call into the partition layer (`partition/follower.rs`). It gets what it needs from the broker once, at
//! construction (settings, the metadata image feed, the replica manager), not the broker itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use strom_client::{ClientError, Connection};
use strom_metadata::MetadataImage;
use strom_protocol::clock::now_ms;
use strom_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use strom_protocol::kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use strom_protocol::kafka_protocol::messages::{
    BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName,
};
use strom_protocol::kafka_protocol::protocol::StrBytes;
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

use crate::config::BrokerConfig;
use crate::error_code::Code;
use crate::partition::{FollowerAppend, OffsetOutOfRangeStep, Partition, ReplicaManager};

/// Fetch v12: the last version naming topics, with leader epochs and diverging-epoch fields.
const FETCH_VERSION: i16 = 12;
/// OffsetForLeaderEpoch v4 (flexible, with replica id).
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
/// How long a connect or a non-fetch request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One followed partition in a fetcher.
struct Followed {
    partition: Arc<Partition>,
    leader_epoch: i32,
    /// Truncate the divergent tail (OffsetForLeaderEpoch) before fetching.
    needs_truncation: bool,
}

/// A fetcher task for one leader broker.
struct Fetcher {
    partitions: Arc<Mutex<BTreeMap<(String, i32), Followed>>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// What every fetcher task needs from the broker, handed over once.
struct FetcherContext {
    node_id: i32,
    /// Weak: a fetcher never keeps the partitions of a dropped broker alive.
    replicas: Weak<ReplicaManager>,
    /// The metadata image as it moves: where each leader listens.
    images: watch::Receiver<Arc<MetadataImage>>,
    backoff: Duration,
    wait_max_ms: i32,
    partition_max_bytes: i32,
    response_max_bytes: i32,
}

/// Every fetcher of this broker, by leader id.
pub(crate) struct ReplicaFetchers {
    fetchers: Mutex<HashMap<i32, Fetcher>>,
    context: Arc<FetcherContext>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReplicaFetchers {
    pub(crate) fn new(
        config: &BrokerConfig,
        replicas: &Arc<ReplicaManager>,
        images: watch::Receiver<Arc<MetadataImage>>,
    ) -> ReplicaFetchers {
        ReplicaFetchers {
            fetchers: Mutex::new(HashMap::new()),
            context: Arc::new(FetcherContext {
                node_id: config.node_id,
                replicas: Arc::downgrade(replicas),
                images,
                backoff: Duration::from_millis(
                    u64::try_from(config.replica_fetch_backoff_ms).unwrap_or(1000),
                ),
                wait_max_ms: config.replica_fetch_wait_max_ms.max(0),
                partition_max_bytes: config.replica_fetch_max_bytes,
                response_max_bytes: config.replica_fetch_response_max_bytes,
            }),
        }
    }

    /// Follows `partition` on `leader` in `leader_epoch`, truncating first; moves it off any other leader.
    pub(crate) fn follow(&self, partition: Arc<Partition>, leader: i32, leader_epoch: i32) {
        let key = (partition.topic.clone(), partition.index);
        let mut fetchers = lock(&self.fetchers);
        for (id, f) in fetchers.iter() {
            if *id != leader {
                lock(&f.partitions).remove(&key);
            }
        }
        let fetcher = fetchers.entry(leader).or_insert_with(|| {
            let partitions = Arc::new(Mutex::new(BTreeMap::new()));
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(run(
                Arc::clone(&self.context),
                leader,
                Arc::clone(&partitions),
                Arc::clone(&wake),
            ));
            Fetcher {
                partitions,
                wake,
                task,
            }
        });
        lock(&fetcher.partitions).insert(
            key,
            Followed {
                partition,
                leader_epoch,
                needs_truncation: true,
            },
        );
        fetcher.wake.notify_one();
    }

    /// Stops following `topic`-`index` (it became leader, went offline or was deleted).
    pub(crate) fn unfollow(&self, topic: &str, index: i32) {
        let key = (topic.to_string(), index);
        for f in lock(&self.fetchers).values() {
            lock(&f.partitions).remove(&key);
        }
    }

    /// Stops every fetcher task.
    pub(crate) fn shutdown(&self) {
        for (_, f) in lock(&self.fetchers).drain() {
            f.task.abort();
        }
    }
}

/// The loop of one fetcher: connect to the leader, truncate what needs it, fetch, append, repeat.
async fn run(
    context: Arc<FetcherContext>,
    leader: i32,
    partitions: Arc<Mutex<BTreeMap<(String, i32), Followed>>>,
    wake: Arc<Notify>,
) {
    let mut conn: Option<Connection> = None;
    let backoff = context.backoff;
    loop {
        let Some(replicas) = context.replicas.upgrade() else {
            return;
        };
        if lock(&partitions).is_empty() {
            drop(replicas);
            conn = None;
            wake.notified().await;
            continue;
        }
        if conn.is_none() {
            let image = Arc::clone(&context.images.borrow());
            let Some(addr) = image
                .brokers
                .get(&leader)
                .map(|e| format!("{}:{}", e.host, e.port))
            else {
                drop(replicas);
                tokio::time::sleep(backoff).await;
                continue;
            };
            match Connection::connect(&addr, "strom-replica-fetcher", REQUEST_TIMEOUT).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    debug!(leader, %addr, "replica fetcher cannot connect: {e}");
                    drop(replicas);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let result = match truncate_pending(&context, c, &partitions).await {
            Ok(()) => fetch_once(&context, &replicas, c, &partitions).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            debug!(leader, "replica fetch failed: {e}");
            conn = None;
            drop(replicas);
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Runs OffsetForLeaderEpoch for the partitions that just started following and truncates them.
async fn truncate_pending(
    context: &FetcherContext,
    conn: &mut Connection,
    partitions: &Mutex<BTreeMap<(String, i32), Followed>>,
) -> Result<(), ClientError> {
    // (key, partition, leader epoch, our latest epoch)
    let mut pending = Vec::new();
    for (key, f) in lock(partitions).iter() {
        if !f.needs_truncation {
            continue;
        }
        let latest = f.partition.latest_epoch();
        pending.push((
            key.clone(),
            Arc::clone(&f.partition),
            f.leader_epoch,
            latest,
        ));
    }
    if pending.is_empty() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for ((topic, index), _, leader_epoch, latest) in &pending {
        if let Some(epoch) = latest {
            by_topic.entry(topic.as_str()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(*index)
                    .with_current_leader_epoch(*leader_epoch)
                    .with_leader_epoch(*epoch),
            );
        }
    }
    let mut answers: HashMap<(String, i32), (i16, i32, i64)> = HashMap::new();
    if !by_topic.is_empty() {
        let request = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(context.node_id))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetForLeaderTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = conn
            .send(&request, OFFSET_FOR_LEADER_EPOCH_VERSION, Duration::ZERO)
            .await?;
        for t in response.topics {
            for p in t.partitions {
                answers.insert(
                    (t.topic.0.to_string(), p.partition),
                    (p.error_code, p.leader_epoch, p.end_offset),
                );
            }
        }
    }
    for (key, partition, leader_epoch, latest) in pending {
        let done = match (latest, answers.get(&key)) {
            // Nothing written under any epoch: nothing can diverge.
            (None, _) => true,
            (Some(_), Some(&(0, epoch, end_offset))) => {
                partition.truncate_to_epoch_end_offset(epoch, end_offset);
                true
            }
            (Some(_), Some(&(code, _, _))) => {
                debug!(topic = %key.0, partition = key.1, code, "OffsetForLeaderEpoch refused; retrying");
                false
            }
            (Some(_), None) => false,
        };
        if done {
            if let Some(f) = lock(partitions).get_mut(&key) {
                if f.leader_epoch == leader_epoch {
                    f.needs_truncation = false;
                }
            }
        }
    }
    Ok(())
}

/// One Fetch to the leader for every partition that is ready; appends what comes back.
async fn fetch_once(
    context: &FetcherContext,
    replicas: &ReplicaManager,
    conn: &mut Connection,
    partitions: &Mutex<BTreeMap<(String, i32), Followed>>,
) -> Result<(), ClientError> {
    // (key, partition, leader epoch, fetch offset)
    let mut wanted = Vec::new();
    let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    for (key, f) in lock(partitions).iter() {
        if f.needs_truncation {
            continue;
        }
        let Some(state) = f.partition.follower_fetch_state() else {
            continue;
        };
        let offset = state.fetch_offset;
        by_topic.entry(key.0.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(key.1)
                .with_current_leader_epoch(f.leader_epoch)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(state.last_fetched_epoch)
                .with_log_start_offset(state.log_start_offset)
                .with_partition_max_bytes(context.partition_max_bytes),
        );
        wanted.push((
            key.clone(),
            Arc::clone(&f.partition),
            f.leader_epoch,
            offset,
        ));
    }
    if wanted.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    }
    let max_wait = context.wait_max_ms;
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(context.node_id))
        .with_max_wait_ms(max_wait)
        .with_min_bytes(1)
        .with_max_bytes(context.response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = conn
        .send(
            &request,
            FETCH_VERSION,
            Duration::from_millis(u64::try_from(max_wait).unwrap_or(0)),
        )
        .await?;
    let mut results = HashMap::new();
    for t in response.responses {
        for p in t.partitions {
            results.insert((t.topic.0.to_string(), p.partition_index), p);
        }
    }
    let mut appended = false;
    let mut backoff = false;
    // write.caching=false: fsynced before the next fetch reports the new log end to the leader.
    let mut to_sync: Vec<strom_storage::SyncHandle> = Vec::new();
    for (key, partition, leader_epoch, offset) in wanted {
        let Some(data) = results.remove(&key) else {
            continue;
        };
        // Leadership may have moved while the fetch was out.
        if !partition.is_follower_in_epoch(leader_epoch) {
            continue;
        }
        match Code::try_from_code(data.error_code) {
            None => {
                let records = data.records.as_deref();
                match partition.append_records_as_follower(
                    offset,
                    records,
                    data.high_watermark,
                    now_ms(),
                ) {
                    Ok(FollowerAppend::Stale) => {}
                    Ok(FollowerAppend::Done {
                        appended: done,
                        sync,
                    }) => {
                        appended |= done;
                        to_sync.extend(sync);
                    }
                    Err(e) => {
                        warn!(topic = %key.0, partition = key.1, offset, "replicated append failed: {e}");
                        backoff = true;
                    }
                }
            }
            Some(Code::OffsetOutOfRange) => {
                if partition.on_offset_out_of_range(offset, data.log_start_offset)
                    == Some(OffsetOutOfRangeStep::Diverged)
                {
                    mark_truncation(partitions, &key, leader_epoch);
                }
            }
            other => {
                debug!(topic = %key.0, partition = key.1, code = data.error_code, ?other, "leader refused the replica fetch");
                backoff = true;
            }
        }
    }
    if !to_sync.is_empty() {
        let synced =
            tokio::task::spawn_blocking(move || to_sync.iter().try_for_each(|h| h.sync())).await;
        if !matches!(synced, Ok(Ok(()))) {
            warn!("fsync of replicated data failed: {synced:?}");
            backoff = true;
        }
    }
    if appended {
        replicas.notify_data_arrived();
    }
    if backoff {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn mark_truncation(
    partitions: &Mutex<BTreeMap<(String, i32), Followed>>,
    key: &(String, i32),
    leader_epoch: i32,
) {
    if let Some(f) = lock(partitions).get_mut(key) {
        if f.leader_epoch == leader_epoch {
            f.needs_truncation = true;
        }
    }
}
