//! The broker's shared state and lifecycle: configuration, the metadata node, the hosted partitions, producer
//! ids; start-up (open the data dir, replay metadata, open every partition log), reconciliation of hosted
//! partitions with the metadata image, the background retention/cleaner, producer-id expiry, flush and ISR tasks (each a
//! `periodic.rs` loop around one partition-layer call), creating `__consumer_offsets` and
//! `__transaction_state` on first use, and clean shutdown. Request handling lives in `api/`; accepting
//! connections in `server.rs`; everything done to a partition in `partition/`. The parts it starts (replica
//! fetchers, group and transaction coordinators) get what they need from here at construction and never see
//! the `Broker`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strom_metadata::{
    MetadataError, MetadataImage, MetadataNode, MetadataNodeConfig, MetadataRecord, NewTopic,
    TopicError,
};
use strom_protocol::clock::now_ms;
use strom_storage::{LogManager, StorageError};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, Listener};
use crate::error_code::Code;
use crate::group_coordinator::{GroupCoordinatorService, OFFSETS_TOPIC};
use crate::partition::{ReplicaManager, Role};
use crate::periodic::spawn_periodic;
use crate::producer_id::ProducerIdManager;
use crate::replica_fetcher::ReplicaFetchers;
use crate::topic_config::log_config;
use crate::txn_coordinator::{TxnCoordinatorService, TRANSACTION_STATE_TOPIC};
use crate::txn_verification::TxnVerifier;

/// One `log.dirs` entry ([`Broker::log_dirs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogDir {
    pub(crate) path: PathBuf,
    pub(crate) online: bool,
}

/// Kafka's `toAbsolutePath`: relative to the working directory, not resolved further (no symlinks followed),
/// so the same entry always gives the same name. A path the OS cannot make absolute stays as written.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Failures that stop the broker from starting.
#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The name of the metadata log's directory inside the first data dir (Kafka's KRaft name).
const METADATA_DIR: &str = "__cluster_metadata-0";
/// How long a stopping broker waits for the controller to move its leaderships away.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Written into each partition dir so a log is never adopted by a later topic of the same name.
const PARTITION_METADATA: &str = "partition.metadata";

pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) metadata: MetadataNode,
    /// The hosted partitions (shared with the group coordinator and, weakly, the replica fetchers).
    pub(crate) replicas: Arc<ReplicaManager>,
    pub(crate) producer_ids: Arc<ProducerIdManager>,
    /// The group coordinator: the groups whose `__consumer_offsets` partition this broker leads.
    pub(crate) groups: Arc<GroupCoordinatorService>,
    /// The transaction coordinator: the transactional ids whose `__transaction_state` partition this broker
    /// leads.
    pub(crate) txns: Arc<TxnCoordinatorService>,
    /// KIP-890 part 1: the partition leader's checks with the transaction coordinators.
    pub(crate) txn_verifier: Arc<TxnVerifier>,
    /// Follower side of replication: one fetcher task per leader broker.
    fetchers: ReplicaFetchers,
    log_manager: LogManager,
    reconcile_lock: tokio::sync::Mutex<()>,
    /// Serialises creating `__consumer_offsets`, so concurrent first FindCoordinators propose it once.
    offsets_topic_lock: tokio::sync::Mutex<()>,
    /// Serialises creating `__transaction_state`.
    transaction_state_topic_lock: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
}

impl Broker {
    /// Opens the data dir, replays the metadata log, opens every hosted partition (running recovery where the
    /// last shutdown was not clean) and starts the background tasks.
    pub async fn start(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let dirs = config.log_dir_paths();
        let Some(root) = dirs.first().cloned() else {
            return Err(ConfigError::InvalidValue {
                key: "log.dirs".into(),
                value: config.log_dirs.clone(),
                reason: "no directory given".into(),
            }
            .into());
        };
        if dirs.len() > 1 {
            warn!(
                "log.dirs lists {} directories; this version stores everything in the first, {}",
                dirs.len(),
                root.display()
            );
        }
        let mut advertised = config
            .parsed_advertised_listeners()?
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::UnknownKey("advertised.listeners".into()))?;
        if advertised.host == "0.0.0.0" || advertised.host == "::" {
            advertised.host = "localhost".into();
        }
        let log_manager = LogManager::open(root.clone())?;
        let metadata = MetadataNode::start(metadata_config(&config, &advertised, &root)?).await?;
        let producer_ids = Arc::new(ProducerIdManager::open(
            root.join("producer-id-block"),
            config.node_id,
        )?);
        let (shutdown, _) = watch::channel(false);
        let replicas = Arc::new(ReplicaManager::new(config.node_id));
        let groups = Arc::new(GroupCoordinatorService::new(&config, Arc::clone(&replicas)));
        let txns = Arc::new(TxnCoordinatorService::new(
            &config,
            Arc::clone(&replicas),
            Arc::clone(&groups),
            Arc::clone(&producer_ids),
            metadata.subscribe(),
        ));
        let txn_verifier = Arc::new(TxnVerifier::new(
            config.node_id,
            config.transaction_state_log_num_partitions,
            Arc::clone(&txns),
        ));
        let fetchers = ReplicaFetchers::new(&config, &replicas, metadata.subscribe());
        let broker = Arc::new(Broker {
            config,
            metadata,
            replicas,
            producer_ids,
            groups,
            txns,
            txn_verifier,
            fetchers,
            log_manager,
            reconcile_lock: tokio::sync::Mutex::new(()),
            offsets_topic_lock: tokio::sync::Mutex::new(()),
            transaction_state_topic_lock: tokio::sync::Mutex::new(()),
            shutdown,
        });
        broker.remove_stray_logs()?;
        broker.reconcile().await;
        broker.spawn_background_tasks();
        broker.groups.start();
        broker.txns.start();
        Ok(broker)
    }

    /// The current metadata snapshot; handlers take one per request.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Every `log.dirs` entry as an absolute path (how Kafka names log dirs on the wire), and whether it is
    /// online. Only the first holds data (`LogManager` opens it; start-up warns about the rest), so the others
    /// count as offline, as Kafka reports a log dir it cannot use.
    pub(crate) fn log_dirs(&self) -> Vec<LogDir> {
        self.config
            .log_dir_paths()
            .iter()
            .enumerate()
            .map(|(i, dir)| LogDir {
                path: absolute(dir),
                online: i == 0,
            })
            .collect()
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// Creates a topic through the metadata quorum and opens its logs before returning, so clients can
    /// produce as soon as CreateTopics (or an auto-create) answers.
    pub(crate) async fn create_topic(&self, topic: &NewTopic) -> Result<Uuid, TopicError> {
        let image = self.image();
        let record = strom_metadata::create_topic_records(
            &image,
            topic,
            self.config.num_partitions,
            self.config.default_replication_factor,
        )?;
        let topic_id = match &record {
            MetadataRecord::CreateTopic { topic_id, .. } => *topic_id,
            _ => Uuid::nil(),
        };
        self.propose_one(record).await?;
        Ok(topic_id)
    }

    /// Proposes one record and returns its apply result.
    pub(crate) async fn propose_one(&self, record: MetadataRecord) -> Result<(), TopicError> {
        let result = self.metadata.propose(vec![record]).await;
        let outcome = match result {
            Ok(mut results) => results.pop().unwrap_or(Ok(())),
            Err(e) => {
                error!("metadata proposal failed: {e}");
                Err(TopicError::InvalidRequest(format!(
                    "metadata quorum unavailable: {e}"
                )))
            }
        };
        self.reconcile().await;
        outcome
    }

    /// Brings the hosted partitions in line with the metadata image: opens logs of partitions this broker is a
    /// replica of, deletes logs of deleted topics and of partitions moved away, applies changed topic configs,
    /// and takes the role the image gives (leader, follower fetching from the leader, or offline).
    /// Idempotent; serialised by a lock.
    pub(crate) async fn reconcile(&self) {
        let _guard = self.reconcile_lock.lock().await;
        let image = self.image();
        let now = now_ms();
        let me = self.config.node_id;
        // Partitions that are gone, moved off this broker, or belong to an older topic of the same name.
        for partition in self.replicas.all() {
            let current = image
                .topic(&partition.topic)
                .filter(|t| t.topic_id == partition.topic_id);
            let keep = current.is_some_and(|t| {
                t.partitions
                    .get(&partition.index)
                    .is_some_and(|p| p.replicas.contains(&me))
            });
            if !keep {
                self.fetchers.unfollow(&partition.topic, partition.index);
                self.replicas.remove(&partition.topic, partition.index);
                if let Some(log) = partition.take() {
                    info!(topic = %partition.topic, partition = partition.index, "deleting partition log");
                    if let Err(e) = self.log_manager.delete_partition(log) {
                        error!(topic = %partition.topic, partition = partition.index, "deleting partition log failed: {e}");
                    }
                }
                self.groups.on_role_change(&partition, Role::Offline);
                self.txns.on_role_change(&partition, Role::Offline);
            }
        }
        for topic in image.topics.values() {
            let config = log_config(&topic.configs, &self.config);
            let min_insync = topic
                .configs
                .get("min.insync.replicas")
                .and_then(|v| v.parse::<i32>().ok())
                .unwrap_or(self.config.min_insync_replicas);
            for (&index, part) in &topic.partitions {
                if !part.replicas.contains(&me) {
                    continue;
                }
                let partition = match self.replicas.get(&topic.name, index) {
                    Some(p) => {
                        p.update_config(&config);
                        p
                    }
                    None => {
                        let dir = self.log_manager.partition_path(&topic.name, index);
                        if let Err(e) = claim_partition_dir(&dir, topic.topic_id) {
                            error!(topic = %topic.name, partition = index, "cannot prepare partition dir: {e}");
                            continue;
                        }
                        match self.log_manager.open_partition(
                            &topic.name,
                            index,
                            config.clone(),
                            now,
                        ) {
                            Ok(log) => self.replicas.create_partition(
                                topic.name.clone(),
                                index,
                                topic.topic_id,
                                log,
                            ),
                            Err(e) => {
                                error!(topic = %topic.name, partition = index, "cannot open partition log: {e}");
                                continue;
                            }
                        }
                    }
                };
                if let Some(role) = partition.apply_leadership(part, min_insync, now) {
                    info!(topic = %topic.name, partition = index, ?role, leader_epoch = part.leader_epoch, isr = ?part.isr, "partition role");
                    match role {
                        Role::Follower { leader } => {
                            self.fetchers
                                .follow(Arc::clone(&partition), leader, part.leader_epoch);
                        }
                        Role::Leader | Role::Offline => {
                            self.fetchers.unfollow(&topic.name, index);
                        }
                    }
                    self.groups.on_role_change(&partition, role);
                    self.txns.on_role_change(&partition, role);
                }
            }
        }
        // ISR changes may have moved high watermarks.
        self.replicas.notify_data_arrived();
    }

    /// Deletes partition dirs on disk whose topic no longer exists (deleted while this broker was down).
    fn remove_stray_logs(&self) -> Result<(), BrokerError> {
        let image = self.image();
        for dir in self.log_manager.partition_dirs()? {
            if dir.path.file_name().is_some_and(|n| n == METADATA_DIR) {
                continue;
            }
            let me = self.config.node_id;
            let expected = image.topic(&dir.topic).filter(|t| {
                t.partitions
                    .get(&dir.partition)
                    .is_some_and(|p| p.replicas.contains(&me))
            });
            let on_disk = read_partition_topic_id(&dir.path);
            let stray = match (expected, on_disk) {
                (None, _) => true,
                (Some(t), Some(id)) => t.topic_id != id,
                (Some(_), None) => false,
            };
            if stray {
                warn!(path = %dir.path.display(), "removing log of a topic that no longer exists");
                let now = now_ms();
                match self.log_manager.open_partition(
                    &dir.topic,
                    dir.partition,
                    strom_storage::LogConfig::default(),
                    now,
                ) {
                    Ok(log) => self.log_manager.delete_partition(log)?,
                    Err(e) => {
                        warn!(path = %dir.path.display(), "cannot open stray log for deletion: {e}")
                    }
                }
            }
        }
        Ok(())
    }

    fn spawn_background_tasks(self: &Arc<Self>) {
        // Metadata changes (from this node's own proposals today, from other controllers later) reach the
        // partitions through the same reconciliation.
        let broker = Arc::clone(self);
        let mut images = self.metadata.subscribe();
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = images.changed() => {
                        if changed.is_err() { break; }
                        broker.reconcile().await;
                    }
                    _ = stop.changed() => break,
                }
            }
        });

        // Kafka's isr-expiration task, also woken when a follower fetch says the ISR may grow.
        let isr_interval = Duration::from_millis(
            u64::try_from(self.config.replica_lag_time_max_ms / 2)
                .unwrap_or(1000)
                .clamp(50, 5000),
        );
        let broker = Arc::clone(self);
        let lag_ms = self.config.replica_lag_time_max_ms.max(1);
        spawn_periodic(
            "isr",
            isr_interval,
            Some(self.replicas.isr_wake()),
            self.shutdown.subscribe(),
            move || {
                let broker = Arc::clone(&broker);
                async move {
                    broker
                        .replicas
                        .maybe_update_isr(&broker.metadata, now_ms(), lag_ms)
                        .await
                }
            },
        );

        let interval = Duration::from_millis(
            u64::try_from(self.config.log_retention_check_interval_ms)
                .unwrap_or(300_000)
                .max(10),
        );
        let replicas = Arc::clone(&self.replicas);
        spawn_periodic(
            "retention",
            interval,
            None,
            self.shutdown.subscribe(),
            move || {
                replicas.enforce_retention(now_ms());
                std::future::ready(())
            },
        );

        let interval = Duration::from_millis(
            u64::try_from(self.config.producer_id_expiration_check_interval_ms)
                .unwrap_or(600_000)
                .max(10),
        );
        let expiration_ms = i64::from(self.config.producer_id_expiration_ms);
        let replicas = Arc::clone(&self.replicas);
        spawn_periodic(
            "producer-expiry",
            interval,
            None,
            self.shutdown.subscribe(),
            move || {
                replicas.remove_expired_producers(now_ms(), expiration_ms);
                std::future::ready(())
            },
        );

        let interval = Duration::from_millis(
            u64::try_from(self.config.log_flush_scheduler_interval_ms)
                .unwrap_or(1000)
                .max(10),
        );
        let replicas = Arc::clone(&self.replicas);
        spawn_periodic(
            "flush",
            interval,
            None,
            self.shutdown.subscribe(),
            move || {
                replicas.flush_due(now_ms());
                std::future::ready(())
            },
        );
    }

    /// Stops background tasks, flushes and closes every log, marks the data dir cleanly shut down, and stops
    /// the metadata node. Connections are closed by `server::run` before this is called.
    /// Kafka's controlled shutdown (when `controlled.shutdown.enable`): asks the controller to move this
    /// broker's leaderships to other ISR members and waits (bounded) until it has, so clients switch leaders
    /// without waiting out a session timeout. Connections are still served meanwhile.
    pub async fn prepare_shutdown(&self) {
        if self.config.controlled_shutdown_enable {
            self.metadata
                .controlled_shutdown(CONTROLLED_SHUTDOWN_TIMEOUT)
                .await;
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        self.fetchers.shutdown();
        self.groups.shutdown();
        self.txns.shutdown();
        let _guard = self.reconcile_lock.lock().await;
        let mut clean = true;
        for p in self.replicas.all() {
            if let Some(log) = p.take() {
                if let Err(e) = log.close() {
                    clean = false;
                    error!(topic = %p.topic, partition = p.index, "closing log failed: {e}");
                }
            }
        }
        if clean {
            if let Err(e) = self.log_manager.mark_clean_shutdown() {
                error!("cannot mark clean shutdown: {e}");
            }
        }
        if let Err(e) = self.metadata.shutdown().await {
            error!("metadata shutdown failed: {e}");
        }
        info!("broker stopped");
    }

    /// Creates `__consumer_offsets` when it does not exist yet, as the group coordinator configures it
    /// (Kafka's request layer does this on the first FindCoordinator). COORDINATOR_NOT_AVAILABLE when it
    /// cannot be created.
    pub(crate) async fn ensure_offsets_topic(&self) -> Result<(), Code> {
        if self.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let _guard = self.offsets_topic_lock.lock().await;
        if self.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let topic = self.groups.offsets_topic();
        match self.create_topic(&topic).await {
            Ok(_) | Err(TopicError::TopicAlreadyExists(_)) => {
                info!(partitions = topic.num_partitions, "created {OFFSETS_TOPIC}");
                Ok(())
            }
            Err(e) => {
                error!("cannot create {OFFSETS_TOPIC}: {e}");
                Err(Code::CoordinatorNotAvailable)
            }
        }
    }

    /// Creates `__transaction_state` when it does not exist yet, as the transaction coordinator configures it
    /// (Kafka's request layer does this on the first FindCoordinator for a transactional id).
    /// COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub(crate) async fn ensure_transaction_state_topic(&self) -> Result<(), Code> {
        if self.image().topic(TRANSACTION_STATE_TOPIC).is_some() {
            return Ok(());
        }
        let _guard = self.transaction_state_topic_lock.lock().await;
        if self.image().topic(TRANSACTION_STATE_TOPIC).is_some() {
            return Ok(());
        }
        let topic = self.txns.transaction_state_topic();
        match self.create_topic(&topic).await {
            Ok(_) | Err(TopicError::TopicAlreadyExists(_)) => {
                info!(
                    partitions = topic.num_partitions,
                    "created {TRANSACTION_STATE_TOPIC}"
                );
                Ok(())
            }
            Err(e) => {
                error!("cannot create {TRANSACTION_STATE_TOPIC}: {e}");
                Err(Code::CoordinatorNotAvailable)
            }
        }
    }

    /// Topic configs overrides of a topic (empty when unknown).
    pub(crate) fn topic_overrides(&self, topic: &str) -> BTreeMap<String, String> {
        self.image()
            .topic(topic)
            .map(|t| t.configs.clone())
            .unwrap_or_default()
    }
}

/// Makes sure `dir` belongs to `topic_id`: a dir left by an older topic of the same name is removed first,
/// then the id is recorded (Kafka's `partition.metadata`).
fn claim_partition_dir(dir: &Path, topic_id: Uuid) -> std::io::Result<()> {
    if let Some(existing) = read_partition_topic_id(dir) {
        if existing != topic_id {
            warn!(path = %dir.display(), "removing log of an older topic with the same name");
            fs::remove_dir_all(dir)?;
        }
    }
    fs::create_dir_all(dir)?;
    let path = dir.join(PARTITION_METADATA);
    if !path.exists() {
        let tmp: PathBuf = dir.join("partition.metadata.tmp");
        fs::write(&tmp, format!("version: 0\ntopic_id: {topic_id}\n"))?;
        fs::rename(tmp, path)?;
    }
    Ok(())
}

fn read_partition_topic_id(dir: &Path) -> Option<Uuid> {
    let text = fs::read_to_string(dir.join(PARTITION_METADATA)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id: "))
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
}

/// The metadata node's settings from the broker config: the quorum voters and controller listener, this
/// broker's endpoint for registration, and the controller's liveness and election settings.
fn metadata_config(
    config: &BrokerConfig,
    advertised: &Listener,
    root: &Path,
) -> Result<MetadataNodeConfig, BrokerError> {
    let voters = config.parsed_voters()?;
    let controller_listen = match config.controller_listener()? {
        Some(l) => Some(format!("{}:{}", l.host, l.port)),
        None if voters.is_empty() => None,
        None => {
            return Err(ConfigError::InvalidValue {
                key: "listeners".into(),
                value: config.listeners.clone(),
                reason: format!(
                    "controller.quorum.voters is set but no listener is named {}",
                    config.controller_listener_names
                ),
            }
            .into())
        }
    };
    let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    Ok(MetadataNodeConfig {
        node_id: u64::try_from(config.node_id).unwrap_or(1),
        dir: root.join(METADATA_DIR),
        voters,
        controller_listen,
        broker: strom_metadata::BrokerHeartbeat {
            node_id: config.node_id,
            host: advertised.host.clone(),
            port: i32::from(advertised.port),
            rack: Some(config.broker_rack.clone()).filter(|r| !r.is_empty()),
            want_shutdown: false,
        },
        heartbeat_interval: ms(i64::from(config.broker_heartbeat_interval_ms.max(10))),
        session_timeout: ms(i64::from(config.broker_session_timeout_ms.max(100))),
        unclean_leader_election: config.unclean_leader_election_enable,
        auto_leader_rebalance: config.auto_leader_rebalance_enable,
        leader_imbalance_check_interval: ms(config
            .leader_imbalance_check_interval_seconds
            .saturating_mul(1000)),
        startup_timeout: Duration::from_secs(60),
    })
}
