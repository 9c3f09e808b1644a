//! Broker settings under Kafka's names (`listeners`, `log.dirs`, `node.id`, ...). One table drives the struct,
//! its defaults, parsing from strings (file, env, flags all end up as `set(key, value)`), and DescribeConfigs
//! of the BROKER resource. Topic-level settings and their broker synonyms live in `topic_config.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown broker setting `{0}`")]
    UnknownKey(String),
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
}

/// How a broker setting is typed, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
}

impl ConfigType {
    /// DescribeConfigs `config_type` code.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }
}

/// One row of the broker settings table.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub default: &'static str,
    pub config_type: ConfigType,
    pub doc: &'static str,
}

macro_rules! broker_config {
    ($( #[doc = $doc:literal] $field:ident : $ty:ty = $name:literal, $ctype:ident, $default:literal; )*) => {
        /// The broker's static configuration. Every field is Kafka's setting of the same name.
        #[derive(Debug, Clone)]
        pub struct BrokerConfig {
            $( #[doc = $doc] pub $field: $ty, )*
            /// Names set explicitly (file, env or flag), reported as STATIC_BROKER_CONFIG.
            pub explicit: BTreeSet<String>,
        }

        impl BrokerConfig {
            pub const KEYS: &'static [ConfigKey] = &[
                $( ConfigKey { name: $name, default: $default, config_type: ConfigType::$ctype, doc: $doc }, )*
            ];

            /// Sets one setting from its string form.
            pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
                match key {
                    $( $name => {
                        self.$field = parse_value(key, value)?;
                    } )*
                    // Kafka's hour/minute spellings of the millisecond settings.
                    "log.retention.hours" | "log.retention.minutes" | "log.roll.hours" => {
                        let n: i64 = parse_value(key, value)?;
                        let ms = if key.ends_with("hours") { n.saturating_mul(3_600_000) } else { n.saturating_mul(60_000) };
                        let target = if key.starts_with("log.roll") { "log.roll.ms" } else { "log.retention.ms" };
                        return self.set(target, &ms.to_string());
                    }
                    _ => return Err(ConfigError::UnknownKey(key.to_string())),
                }
                self.explicit.insert(key.to_string());
                Ok(())
            }

            /// The current value of a setting in its string form.
            pub fn get(&self, key: &str) -> Option<String> {
                match key {
                    $( $name => Some(self.$field.to_config_string()), )*
                    _ => None,
                }
            }
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                let mut c = BrokerConfig {
                    $( $field: Default::default(), )*
                    explicit: BTreeSet::new(),
                };
                $( if let Ok(v) = parse_value($name, $default) { c.$field = v; } )*
                c
            }
        }
    };
}

broker_config! {
    /// This node's id in the cluster.
    node_id: i32 = "node.id", Int, "1";
    /// Comma-separated listeners, `NAME://host:port`.
    listeners: String = "listeners", List, "PLAINTEXT://0.0.0.0:9092";
    /// Listeners handed to clients in Metadata (default: `listeners` without the controller listeners).
    advertised_listeners: String = "advertised.listeners", List, "PLAINTEXT://localhost:9092";
    /// Comma-separated data directories (the first holds the metadata log).
    log_dirs: String = "log.dirs", List, "./strom-data";
    /// Partitions of an auto-created topic, and of CreateTopics with num_partitions -1.
    num_partitions: i32 = "num.partitions", Int, "1";
    /// Replication factor of auto-created topics.
    default_replication_factor: i16 = "default.replication.factor", Int, "1";
    /// Create a topic when a client asks Metadata for one that does not exist.
    auto_create_topics_enable: bool = "auto.create.topics.enable", Boolean, "true";
    /// Largest record batch the broker accepts (topic synonym max.message.bytes).
    message_max_bytes: i32 = "message.max.bytes", Int, "1048588";
    /// Size at which a segment is rolled (topic synonym segment.bytes).
    log_segment_bytes: i64 = "log.segment.bytes", Int, "1073741824";
    /// Age at which a segment is rolled (topic synonym segment.ms).
    log_roll_ms: i64 = "log.roll.ms", Long, "604800000";
    /// How long a segment is kept (topic synonym retention.ms); -1 keeps forever.
    log_retention_ms: i64 = "log.retention.ms", Long, "604800000";
    /// Bytes kept per partition before old segments go (topic synonym retention.bytes); -1 = no limit.
    log_retention_bytes: i64 = "log.retention.bytes", Long, "-1";
    /// How often retention is checked.
    log_retention_check_interval_ms: i64 = "log.retention.check.interval.ms", Long, "300000";
    /// A partition forgets a producer id idle this long (no batch, no marker), unless it has an open transaction.
    producer_id_expiration_ms: i32 = "producer.id.expiration.ms", Int, "86400000";
    /// How often partitions look for producer ids past `producer.id.expiration.ms`.
    producer_id_expiration_check_interval_ms: i32 = "producer.id.expiration.check.interval.ms", Int, "600000";
    /// Messages accumulated before a partition is fsynced (topic synonym flush.messages).
    log_flush_interval_messages: i64 = "log.flush.interval.messages", Long, "9223372036854775807";
    /// Milliseconds data may stay unflushed (topic synonym flush.ms).
    log_flush_interval_ms: i64 = "log.flush.interval.ms", Long, "9223372036854775807";
    /// false: fsync each write before acknowledging it, with group commit (topic synonym write.caching).
    write_caching_default: bool = "write.caching.default", Boolean, "true";
    /// How often the flush policy is checked.
    log_flush_scheduler_interval_ms: i64 = "log.flush.scheduler.interval.ms", Long, "1000";
    /// Bytes between offset index entries (topic synonym index.interval.bytes).
    log_index_interval_bytes: i32 = "log.index.interval.bytes", Int, "4096";
    /// CreateTime or LogAppendTime (topic synonym message.timestamp.type).
    log_message_timestamp_type: String = "log.message.timestamp.type", String, "CreateTime";
    /// Delay before a deleted segment's file is removed (topic synonym file.delete.delay.ms).
    log_segment_delete_delay_ms: i64 = "log.segment.delete.delay.ms", Long, "60000";
    /// Default cleanup policy (topic synonym cleanup.policy).
    log_cleanup_policy: String = "log.cleanup.policy", List, "delete";
    /// Default compression of stored batches (topic synonym compression.type): `producer` keeps what was sent; `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd` recompress batches sent in another codec.
    compression_type: String = "compression.type", String, "producer";
    /// gzip level of recompressed batches, -1 (zlib's default) or 1..9 (topic synonym compression.gzip.level).
    compression_gzip_level: i32 = "compression.gzip.level", Int, "-1";
    /// lz4 level of recompressed batches, 1..17 (topic synonym compression.lz4.level).
    compression_lz4_level: i32 = "compression.lz4.level", Int, "9";
    /// zstd level of recompressed batches, -131072..22 (topic synonym compression.zstd.level).
    compression_zstd_level: i32 = "compression.zstd.level", Int, "3";
    /// With CreateTime, records older than this (ms before the broker's clock) are refused (topic synonym message.timestamp.before.max.ms).
    log_message_timestamp_before_max_ms: i64 = "log.message.timestamp.before.max.ms", Long, "9223372036854775807";
    /// With CreateTime, records newer than this (ms after the broker's clock) are refused (topic synonym message.timestamp.after.max.ms).
    log_message_timestamp_after_max_ms: i64 = "log.message.timestamp.after.max.ms", Long, "3600000";
    /// Minimum in-sync replicas for acks=all (topic synonym min.insync.replicas).
    min_insync_replicas: i32 = "min.insync.replicas", Int, "1";
    /// Largest request frame accepted; larger frames close the connection.
    socket_request_max_bytes: i32 = "socket.request.max.bytes", Int, "104857600";
    /// Whether DeleteTopics is allowed.
    delete_topic_enable: bool = "delete.topic.enable", Boolean, "true";
    /// How long the first rebalance of an empty group waits for more members to join.
    group_initial_rebalance_delay_ms: i64 = "group.initial.rebalance.delay.ms", Int, "3000";
    /// Smallest session timeout a group member may ask for.
    group_min_session_timeout_ms: i32 = "group.min.session.timeout.ms", Int, "6000";
    /// Largest session timeout a group member may ask for.
    group_max_session_timeout_ms: i32 = "group.max.session.timeout.ms", Int, "1800000";
    /// Partitions of `__consumer_offsets` when it is created.
    offsets_topic_num_partitions: i32 = "offsets.topic.num.partitions", Int, "50";
    /// Replication factor of `__consumer_offsets` when it is created.
    offsets_topic_replication_factor: i16 = "offsets.topic.replication.factor", Short, "1";
    /// An offset commit is answered once the ISR of its `__consumer_offsets` partition has it, or fails after this.
    offsets_commit_timeout_ms: i64 = "offsets.commit.timeout.ms", Int, "5000";
    /// Committed offsets of an empty group are kept this long after it became empty.
    offsets_retention_minutes: i64 = "offsets.retention.minutes", Int, "10080";
    /// How often expired committed offsets are removed.
    offsets_retention_check_interval_ms: i64 = "offsets.retention.check.interval.ms", Long, "600000";
    /// Deprecated, ignored (not a Kafka setting; transactions were gated by it): the transaction APIs are always on.
    transaction_apis_enable: bool = "transaction.apis.enable", Boolean, "true";
    /// Partitions of `__transaction_state` when it is created.
    transaction_state_log_num_partitions: i32 = "transaction.state.log.num.partitions", Int, "50";
    /// Replication factor of `__transaction_state` when created (Kafka: 3; 1 here like the offsets topic's).
    transaction_state_log_replication_factor: i16 = "transaction.state.log.replication.factor", Short, "1";
    /// `min.insync.replicas` of `__transaction_state` (Kafka: 2, with its replication factor 3).
    transaction_state_log_min_isr: i32 = "transaction.state.log.min.isr", Int, "1";
    /// Segment size of `__transaction_state`.
    transaction_state_log_segment_bytes: i32 = "transaction.state.log.segment.bytes", Int, "104857600";
    /// The longest transaction timeout a producer may ask for (else INVALID_TRANSACTION_TIMEOUT).
    transaction_max_timeout_ms: i32 = "transaction.max.timeout.ms", Int, "900000";
    /// A transactional id without a transaction for this long is removed.
    transactional_id_expiration_ms: i32 = "transactional.id.expiration.ms", Int, "604800000";
    /// How often open transactions are checked against their timeout (and aborted past it).
    transaction_abort_timed_out_transaction_cleanup_interval_ms: i32 = "transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, "10000";
    /// How often expired transactional ids are removed.
    transaction_remove_expired_transaction_cleanup_interval_ms: i32 = "transaction.remove.expired.transaction.cleanup.interval.ms", Int, "3600000";
    /// KIP-890 part 1: before appending a transactional batch of a producer with no open transaction on the partition, the leader asks the transaction coordinator whether the partition is in the transaction.
    transaction_partition_verification_enable: bool = "transaction.partition.verification.enable", Boolean, "true";
    /// KIP-848 consumer groups: a member is removed after this long without a heartbeat.
    group_consumer_session_timeout_ms: i32 = "group.consumer.session.timeout.ms", Int, "45000";
    /// KIP-848 consumer groups: how often members are told to heartbeat.
    group_consumer_heartbeat_interval_ms: i32 = "group.consumer.heartbeat.interval.ms", Int, "5000";
    /// KIP-848 consumer groups: server-side assignors (`uniform`, `range`); the first is the default.
    group_consumer_assignors: String = "group.consumer.assignors", List, "uniform,range";
    /// KIP-848 online classic/consumer group conversion: `bidirectional`, `upgrade`, `downgrade`, `disabled`.
    group_consumer_migration_policy: String = "group.consumer.migration.policy", String, "bidirectional";
    /// Roles of this node: `broker,controller` (combined, the default) or `broker`.
    process_roles: String = "process.roles", List, "broker,controller";
    /// Metadata quorum voters, `id@host:port` of each CONTROLLER listener; empty runs a single-node quorum.
    controller_quorum_voters: String = "controller.quorum.voters", List, "";
    /// Listener names used by the metadata quorum.
    controller_listener_names: String = "controller.listener.names", List, "CONTROLLER";
    /// Rack of this broker; replicas of a partition are spread across racks when set.
    broker_rack: String = "broker.rack", String, "";
    /// How often a broker heartbeats the active controller.
    broker_heartbeat_interval_ms: i32 = "broker.heartbeat.interval.ms", Int, "2000";
    /// A broker without a heartbeat for this long is fenced and loses its leaderships.
    broker_session_timeout_ms: i32 = "broker.session.timeout.ms", Int, "9000";
    /// A follower that has not caught up for this long leaves the ISR.
    replica_lag_time_max_ms: i64 = "replica.lag.time.max.ms", Long, "30000";
    /// Longest a follower's fetch waits at the leader for new data.
    replica_fetch_wait_max_ms: i32 = "replica.fetch.wait.max.ms", Int, "500";
    /// Bytes a follower asks for per partition in one fetch.
    replica_fetch_max_bytes: i32 = "replica.fetch.max.bytes", Int, "1048576";
    /// Bytes a follower asks for in one fetch in total.
    replica_fetch_response_max_bytes: i32 = "replica.fetch.response.max.bytes", Int, "10485760";
    /// Back-off after a failed follower fetch.
    replica_fetch_backoff_ms: i32 = "replica.fetch.backoff.ms", Int, "1000";
    /// Elect an out-of-sync replica when no ISR member is alive (topic synonym unclean.leader.election.enable); can lose data.
    unclean_leader_election_enable: bool = "unclean.leader.election.enable", Boolean, "false";
    /// Move leadership away before stopping.
    controlled_shutdown_enable: bool = "controlled.shutdown.enable", Boolean, "true";
    /// Move leadership back to preferred replicas periodically.
    auto_leader_rebalance_enable: bool = "auto.leader.rebalance.enable", Boolean, "true";
    /// How often the controller checks for leaders away from their preferred replica.
    leader_imbalance_check_interval_seconds: i64 = "leader.imbalance.check.interval.seconds", Long, "300";
}

/// Parses a setting's string form into its field type.
trait ConfigValue: Sized {
    fn parse_config(s: &str) -> Result<Self, String>;
    fn to_config_string(&self) -> String;
}

macro_rules! numeric_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_config(s: &str) -> Result<Self, String> {
                s.trim().parse::<$t>().map_err(|e| e.to_string())
            }
            fn to_config_string(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
numeric_value!(i16, i32, i64);

impl ConfigValue for bool {
    fn parse_config(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("expected true or false, got {other}")),
        }
    }
    fn to_config_string(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    fn parse_config(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn to_config_string(&self) -> String {
        self.clone()
    }
}

fn parse_value<T: ConfigValue>(key: &str, value: &str) -> Result<T, ConfigError> {
    T::parse_config(value).map_err(|reason| ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    })
}

/// A parsed `NAME://host:port` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl BrokerConfig {
    /// The listeners, parsed.
    pub fn parsed_listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        parse_listeners("listeners", &self.listeners)
    }

    /// The advertised listeners, parsed. As in Kafka, when `advertised.listeners` is not set the
    /// `listeners` (without the controller listeners) are advertised; a host 0.0.0.0 is advertised as
    /// localhost by the broker.
    pub fn parsed_advertised_listeners(&self) -> Result<Vec<Listener>, ConfigError> {
        if self.explicit.contains("advertised.listeners") {
            return parse_listeners("advertised.listeners", &self.advertised_listeners);
        }
        let controller = self.controller_listener_name_list();
        Ok(self
            .parsed_listeners()?
            .into_iter()
            .filter(|l| !controller.iter().any(|c| c == &l.name))
            .collect())
    }

    /// The first listener that is not a controller listener: where clients connect.
    pub fn broker_listener(&self) -> Result<Option<Listener>, ConfigError> {
        let controller = self.controller_listener_name_list();
        Ok(self
            .parsed_listeners()?
            .into_iter()
            .find(|l| !controller.iter().any(|c| c == &l.name)))
    }

    /// The first controller listener (`controller.listener.names`), where the metadata quorum listens.
    pub fn controller_listener(&self) -> Result<Option<Listener>, ConfigError> {
        let controller = self.controller_listener_name_list();
        Ok(self
            .parsed_listeners()?
            .into_iter()
            .find(|l| controller.iter().any(|c| c == &l.name)))
    }

    fn controller_listener_name_list(&self) -> Vec<String> {
        self.controller_listener_names
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `controller.quorum.voters` parsed into node id → `host:port`; empty for a single-node quorum.
    pub fn parsed_voters(&self) -> Result<std::collections::BTreeMap<u64, String>, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidValue {
            key: "controller.quorum.voters".to_string(),
            value: self.controller_quorum_voters.clone(),
            reason: reason.to_string(),
        };
        let mut voters = std::collections::BTreeMap::new();
        for item in self
            .controller_quorum_voters
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (id, addr) = item
                .split_once('@')
                .ok_or_else(|| invalid("expected id@host:port"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| invalid("node id is not a number"))?;
            if addr
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                return Err(invalid("expected id@host:port"));
            }
            if voters.insert(id, addr.trim().to_string()).is_some() {
                return Err(invalid("a node id is listed twice"));
            }
        }
        Ok(voters)
    }

    /// The data directories.
    pub fn log_dir_paths(&self) -> Vec<PathBuf> {
        self.log_dirs
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect()
    }
}

fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| invalid("expected NAME://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected NAME://host:port"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        out.push(Listener {
            name: name.to_string(),
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err(invalid("no listener given"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_set() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.log_retention_ms, 604_800_000);
        c.set("log.retention.hours", "1").unwrap();
        assert_eq!(c.log_retention_ms, 3_600_000);
        assert!(c.explicit.contains("log.retention.ms"));
        assert_eq!(
            c.set("no.such", "1"),
            Err(ConfigError::UnknownKey("no.such".into()))
        );
        assert!(c.set("node.id", "x").is_err());
        assert_eq!(c.get("auto.create.topics.enable").as_deref(), Some("true"));
    }

    #[test]
    fn listeners() {
        let mut c = BrokerConfig::default();
        c.set(
            "listeners",
            "PLAINTEXT://127.0.0.1:19092,CONTROLLER://:19093",
        )
        .unwrap();
        let l = c.parsed_listeners().unwrap();
        assert_eq!(
            l[0],
            Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 19092
            }
        );
        assert_eq!(l[1].host, "0.0.0.0");
        assert_eq!(c.broker_listener().unwrap().unwrap().port, 19092);
        assert_eq!(c.controller_listener().unwrap().unwrap().port, 19093);
        c.set(
            "controller.quorum.voters",
            "1@127.0.0.1:19093, 2@127.0.0.1:19094",
        )
        .unwrap();
        let voters = c.parsed_voters().unwrap();
        assert_eq!(voters.get(&2).map(String::as_str), Some("127.0.0.1:19094"));
        c.set("controller.quorum.voters", "1@x").unwrap();
        assert!(c.parsed_voters().is_err());
        c.set("listeners", "127.0.0.1").unwrap();
        assert!(c.parsed_listeners().is_err());
    }

    #[test]
    fn advertised_listeners_default_to_the_listeners_as_in_kafka() {
        let mut c = BrokerConfig::default();
        c.set(
            "listeners",
            "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
        )
        .unwrap();
        c.set("controller.listener.names", "CONTROLLER").unwrap();
        let advertised = c.parsed_advertised_listeners().unwrap();
        assert_eq!(advertised.len(), 1);
        assert_eq!(
            (advertised[0].host.as_str(), advertised[0].port),
            ("127.0.0.1", 19092)
        );
        c.set("advertised.listeners", "PLAINTEXT://broker.example:9092")
            .unwrap();
        let advertised = c.parsed_advertised_listeners().unwrap();
        assert_eq!(
            (advertised[0].host.as_str(), advertised[0].port),
            ("broker.example", 9092)
        );
    }
}
