//! How a metadata node is configured: `MetadataNodeConfig` (the broker's quorum, listener and
//! liveness settings, with Kafka's names and defaults) and `Tuning` (raft snapshot knobs the
//! tests turn). Owns no behaviour; the other files of node/ read these.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::liveness::BrokerHeartbeat;

/// Where and as whom a metadata node runs.
#[derive(Clone, Debug)]
pub struct MetadataNodeConfig {
    /// This node's id in the quorum: the broker's `node.id`.
    pub node_id: u64,
    /// Directory of the raft log, vote and snapshot, e.g. `<log.dirs>/__cluster_metadata-0`.
    /// Created if missing. One node per directory at a time.
    pub dir: PathBuf,
    /// Kafka `controller.quorum.voters`: node id → "host:port" of its CONTROLLER listener.
    /// Empty means a single voter (this node) with no network, which starts in milliseconds.
    /// Otherwise it must contain `node_id`, and all nodes must be given the same map.
    pub voters: BTreeMap<u64, String>,
    /// Where this node's controller listener binds ("host:port"); required with voters.
    pub controller_listen: Option<String>,
    /// This broker's endpoint, sent in every heartbeat (its registration). `want_shutdown` is
    /// ignored: `controlled_shutdown` sets it.
    pub broker: BrokerHeartbeat,
    /// Kafka `broker.heartbeat.interval.ms`. Default 2 s.
    pub heartbeat_interval: Duration,
    /// Kafka `broker.session.timeout.ms`: a broker whose heartbeats stop this long is fenced.
    /// Default 9 s.
    pub session_timeout: Duration,
    /// Kafka `unclean.leader.election.enable` (cluster default). Default false.
    pub unclean_leader_election: bool,
    /// Kafka `auto.leader.rebalance.enable`. Default true.
    pub auto_leader_rebalance: bool,
    /// Kafka `leader.imbalance.check.interval.seconds`. Default 300 s.
    pub leader_imbalance_check_interval: Duration,
    /// How long `start` waits for a quorum leader, the log replayed and this broker
    /// registered. Default 60 s.
    pub startup_timeout: Duration,
}

impl MetadataNodeConfig {
    /// A single-voter configuration with Kafka's default timings.
    pub fn new(node_id: u64, dir: impl Into<PathBuf>, broker: BrokerHeartbeat) -> Self {
        MetadataNodeConfig {
            node_id,
            dir: dir.into(),
            voters: BTreeMap::new(),
            controller_listen: None,
            broker,
            heartbeat_interval: Duration::from_millis(2000),
            session_timeout: Duration::from_millis(9000),
            unclean_leader_election: false,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// Knobs the tests turn; production uses the defaults.
#[derive(Clone, Debug)]
pub(crate) struct Tuning {
    /// Build a snapshot after this many entries since the last one.
    pub(crate) snapshot_every: u64,
    /// Entries kept in the log behind a snapshot (so lagging followers need no snapshot).
    pub(crate) logs_to_keep: u64,
    /// Purge only once this many entries are purgeable.
    pub(crate) purge_batch: u64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            snapshot_every: 1000,
            logs_to_keep: 1000,
            purge_batch: 256,
        }
    }
}
