//! Topic-level settings as Kafka names them: the table of every topic config with its broker synonym and
//! type, validation of values set through CreateTopics/AlterConfigs, and turning a topic's overrides plus the
//! broker defaults into the storage crate's `LogConfig`. Which settings the storage honours is stated per row.

use std::collections::BTreeMap;

use strom_storage::{CleanupPolicy, Compression, LogConfig, TimestampType};

use crate::config::{BrokerConfig, ConfigType};

/// One topic setting.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    pub name: &'static str,
    /// The broker setting that supplies the default, if any (DescribeConfigs reports it as a synonym).
    pub broker_synonym: Option<&'static str>,
    /// Default when neither the topic nor the broker sets it.
    pub default: &'static str,
    pub config_type: ConfigType,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    broker_synonym: Option<&'static str>,
    default: &'static str,
    config_type: ConfigType,
    doc: &'static str,
) -> TopicConfigKey {
    TopicConfigKey {
        name,
        broker_synonym,
        default,
        config_type,
        doc,
    }
}

use ConfigType::{Boolean, Double, Int, List, Long, String as Str};

/// Every topic config a Kafka 4.1 broker lists (minus tiered storage), in Kafka's order, plus Strom's
/// `write.caching` at the end.
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    key("cleanup.policy", Some("log.cleanup.policy"), "delete", List, "delete (time/size retention), compact (keep the latest record per key; keyless records refused), compact,delete (both), or empty (neither: kept until DeleteRecords). Enforced."),
    key("compression.type", Some("compression.type"), "producer", Str, "Codec of stored batches: producer (keep each batch as sent), uncompressed, gzip, snappy, lz4 or zstd (batches sent in another codec are recompressed on the broker). Enforced."),
    key("compression.gzip.level", Some("compression.gzip.level"), "-1", Int, "gzip level used when compression.type is gzip: -1 (default) or 1..9 (enforced)."),
    key("compression.lz4.level", Some("compression.lz4.level"), "9", Int, "lz4 level used when compression.type is lz4: 1..17 (enforced)."),
    key("compression.zstd.level", Some("compression.zstd.level"), "3", Int, "zstd level used when compression.type is zstd: -131072..22 (enforced)."),
    key("delete.retention.ms", Some("log.cleaner.delete.retention.ms"), "86400000", Long, "How long the cleaner keeps tombstones of compacted topics, counted from the tombstone batch's timestamp (enforced)."),
    key("file.delete.delay.ms", Some("log.segment.delete.delay.ms"), "60000", Long, "Delay before a deleted segment's files are removed."),
    key("flush.messages", Some("log.flush.interval.messages"), "9223372036854775807", Long, "Messages between forced fsyncs (enforced)."),
    key("flush.ms", Some("log.flush.interval.ms"), "9223372036854775807", Long, "Milliseconds between forced fsyncs (enforced)."),
    key("follower.replication.throttled.replicas", None, "", List, "Replicas whose follower-side replication is throttled: `*` or `partition:broker,...` (kafka-reassign-partitions --throttle). Validated and stored; Strom does not throttle replication."),
    key("index.interval.bytes", Some("log.index.interval.bytes"), "4096", Int, "Bytes between offset index entries (enforced)."),
    key("leader.replication.throttled.replicas", None, "", List, "Replicas whose leader-side replication is throttled: `*` or `partition:broker,...` (kafka-reassign-partitions --throttle). Validated and stored; Strom does not throttle replication."),
    key("max.compaction.lag.ms", Some("log.cleaner.max.compaction.lag.ms"), "9223372036854775807", Long, "Compaction only (no effect yet)."),
    key("max.message.bytes", Some("message.max.bytes"), "1048588", Int, "Largest record batch accepted (enforced)."),
    key("message.timestamp.after.max.ms", Some("log.message.timestamp.after.max.ms"), "3600000", Long, "With CreateTime, records whose timestamp is further ahead of the broker's clock are refused with INVALID_TIMESTAMP (enforced)."),
    key("message.timestamp.before.max.ms", Some("log.message.timestamp.before.max.ms"), "9223372036854775807", Long, "With CreateTime, records whose timestamp is further behind the broker's clock are refused with INVALID_TIMESTAMP (enforced)."),
    key("message.timestamp.type", Some("log.message.timestamp.type"), "CreateTime", Str, "CreateTime or LogAppendTime (enforced)."),
    key("min.cleanable.dirty.ratio", Some("log.cleaner.min.cleanable.ratio"), "0.5", Double, "Share of not-yet-cleaned bytes in the sealed segments below which the cleaner skips a compacted log (enforced)."),
    key("min.compaction.lag.ms", Some("log.cleaner.min.compaction.lag.ms"), "0", Long, "Sealed segments with records newer than this are not compacted yet (enforced)."),
    key("min.insync.replicas", Some("min.insync.replicas"), "1", Int, "Replicas that must have a record for acks=all (single node: always 1)."),
    key("preallocate", Some("log.preallocate"), "false", Boolean, "Kafka preallocates segment files; Strom does not (no effect)."),
    key("retention.bytes", Some("log.retention.bytes"), "-1", Long, "Bytes kept per partition (enforced)."),
    key("retention.ms", Some("log.retention.ms"), "604800000", Long, "Time a segment is kept (enforced)."),
    key("segment.bytes", Some("log.segment.bytes"), "1073741824", Int, "Segment size at which the log rolls (enforced)."),
    key("segment.index.bytes", Some("log.index.size.max.bytes"), "10485760", Int, "Max offset index size per segment."),
    key("segment.jitter.ms", Some("log.roll.jitter.ms"), "0", Long, "Random jitter on segment.ms (no effect)."),
    key("segment.ms", Some("log.roll.ms"), "604800000", Long, "Segment age at which the log rolls (enforced)."),
    key("unclean.leader.election.enable", Some("unclean.leader.election.enable"), "false", Boolean, "Leader election from out-of-sync replicas (single node: no effect)."),
    key("write.caching", Some("write.caching.default"), "true", Boolean, "Strom extension (Redpanda's name): false fsyncs each write before acknowledging it (acks 1 and all, leader and followers), one fsync covering every request appended before it (enforced)."),
];

/// Looks a topic setting up by name.
pub fn topic_config_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Why a topic config value was refused (answered as INVALID_CONFIG).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicConfigError {
    #[error("unknown topic config `{0}`")]
    Unknown(String),
    #[error("invalid value `{value}` for topic config `{name}`: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// Kafka 4.x's internal topic config (no broker synonym, not listed by DescribeConfigs): when set it
/// replaces `segment.bytes`, below whose 1 MiB minimum it may go. Kafka's own tests use it for small
/// segments; so do Strom's.
pub const INTERNAL_SEGMENT_BYTES: &str = "internal.segment.bytes";

/// The smallest value Kafka's `LogConfig` ConfigDef accepts for a numeric topic config (`Range.atLeast`);
/// None where it declares no range.
fn minimum(name: &str) -> Option<i64> {
    Some(match name {
        "segment.bytes" => 1024 * 1024,
        "segment.ms" | "flush.messages" | "max.compaction.lag.ms" | "min.insync.replicas" => 1,
        "segment.index.bytes" => 4,
        "retention.ms" => -1,
        "segment.jitter.ms"
        | "flush.ms"
        | "max.message.bytes"
        | "index.interval.bytes"
        | "delete.retention.ms"
        | "min.compaction.lag.ms"
        | "file.delete.delay.ms"
        | "message.timestamp.before.max.ms"
        | "message.timestamp.after.max.ms" => 0,
        _ => return None,
    })
}

/// Checks one topic config name/value pair against Kafka's ConfigDef for it: type and range.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), TopicConfigError> {
    let invalid = |reason: &str| TopicConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if name == INTERNAL_SEGMENT_BYTES {
        return match value.trim().parse::<i32>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid("Not a number of type INT")),
        };
    }
    let key = topic_config_key(name).ok_or_else(|| TopicConfigError::Unknown(name.to_string()))?;
    let number = match key.config_type {
        Int => Some(i64::from(
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT"))?,
        )),
        Long => Some(
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG"))?,
        ),
        Boolean if !matches!(value.trim(), "true" | "false") => {
            return Err(invalid("Expected value to be either true or false"));
        }
        _ => None,
    };
    if let (Some(v), Some(min)) = (number, minimum(name)) {
        if v < min {
            return Err(invalid(&format!("Value must be at least {min}")));
        }
    }
    match name {
        "message.timestamp.type" if !matches!(value, "CreateTime" | "LogAppendTime") => {
            Err(invalid("must be CreateTime or LogAppendTime"))
        }
        "cleanup.policy" if parse_cleanup_policy(value).is_none() => Err(invalid(
            "must be `delete`, `compact`, `compact,delete` or empty",
        )),
        "min.cleanable.dirty.ratio"
            if !value
                .trim()
                .parse::<f64>()
                .is_ok_and(|r| (0.0..=1.0).contains(&r)) =>
        {
            Err(invalid("must be a number between 0 and 1"))
        }
        "leader.replication.throttled.replicas" | "follower.replication.throttled.replicas"
            if !valid_throttled_replicas(value) =>
        {
            Err(invalid(
                "must be the literal `*` or a list of replicas as partitionId:brokerId,partitionId:brokerId,...",
            ))
        }
        "compression.type" if parse_compression(value, -1, 9, 3).is_none() => Err(invalid(
            "must be one of producer, uncompressed, gzip, snappy, lz4, zstd",
        )),
        "compression.gzip.level" if !level_in_range(value, 1..=9, Some(-1)) => {
            Err(invalid("must be -1 or between 1 and 9"))
        }
        "compression.lz4.level" if !level_in_range(value, 1..=17, None) => {
            Err(invalid("must be between 1 and 17"))
        }
        "compression.zstd.level" if !level_in_range(value, -131072..=22, None) => {
            Err(invalid("must be between -131072 and 22"))
        }
        "message.timestamp.before.max.ms" | "message.timestamp.after.max.ms"
            if value.trim().parse::<i64>().is_ok_and(|v| v < 0) =>
        {
            Err(invalid("must be at least 0"))
        }
        _ => Ok(()),
    }
}

fn level_in_range(value: &str, range: std::ops::RangeInclusive<i32>, default: Option<i32>) -> bool {
    value
        .trim()
        .parse::<i32>()
        .is_ok_and(|v| range.contains(&v) || Some(v) == default)
}

/// Kafka `compression.type` with the levels of its codecs; None for an unknown name.
pub fn parse_compression(
    value: &str,
    gzip_level: i32,
    lz4_level: i32,
    zstd_level: i32,
) -> Option<Compression> {
    Some(match value.trim() {
        "producer" => Compression::Producer,
        "uncompressed" => Compression::Uncompressed,
        "gzip" => Compression::Gzip { level: gzip_level },
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4 { level: lz4_level },
        "zstd" => Compression::Zstd { level: zstd_level },
        _ => return None,
    })
}

/// A throttled-replicas list as Kafka's `ThrottledReplicaListValidator` accepts it: `*` alone, or comma-separated
/// `partition:broker` pairs of decimal digits (blank elements allowed; an empty value clears the list).
fn valid_throttled_replicas(value: &str) -> bool {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    let pair = |s: &str| {
        s.is_empty()
            || s.split_once(':').is_some_and(|(p, b)| {
                !p.is_empty()
                    && !b.is_empty()
                    && p.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
    };
    items.concat() == "*" || items.iter().all(|s| pair(s))
}

/// Kafka `cleanup.policy` as a list: `delete`, `compact`, both in either order, or empty (neither:
/// infinite retention, as Kafka 4.2). None for anything else.
pub fn parse_cleanup_policy(value: &str) -> Option<CleanupPolicy> {
    if value.trim().is_empty() {
        return Some(CleanupPolicy::Empty);
    }
    let (mut compact, mut delete) = (false, false);
    for item in value.split(',') {
        match item.trim() {
            "compact" => compact = true,
            "delete" => delete = true,
            _ => return None,
        }
    }
    match (compact, delete) {
        (true, true) => Some(CleanupPolicy::CompactDelete),
        (true, false) => Some(CleanupPolicy::Compact),
        (false, true) => Some(CleanupPolicy::Delete),
        (false, false) => Some(CleanupPolicy::Empty),
    }
}

/// Where a topic setting's effective value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// The effective value of a topic setting and where it came from.
pub fn effective_topic_config(
    key: &TopicConfigKey,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> (String, ConfigSource) {
    if let Some(v) = overrides.get(key.name) {
        return (v.clone(), ConfigSource::TopicConfig);
    }
    if let Some(syn) = key.broker_synonym {
        if broker.explicit.contains(syn) {
            if let Some(v) = broker.get(syn) {
                return (v, ConfigSource::StaticBrokerConfig);
            }
        }
    }
    (key.default.to_string(), ConfigSource::DefaultConfig)
}

/// Builds the storage configuration of a topic from its overrides and the broker's defaults.
pub fn log_config(overrides: &BTreeMap<String, String>, broker: &BrokerConfig) -> LogConfig {
    let get = |name: &str| -> String {
        topic_config_key(name)
            .map(|k| effective_topic_config(k, overrides, broker).0)
            .unwrap_or_default()
    };
    let long = |name: &str, fallback: i64| get(name).trim().parse::<i64>().unwrap_or(fallback);
    let defaults = LogConfig::default();
    LogConfig {
        segment_bytes: u64::try_from(
            overrides
                .get(INTERNAL_SEGMENT_BYTES)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or_else(|| long("segment.bytes", 1 << 30)),
        )
        .unwrap_or(defaults.segment_bytes)
        .max(1),
        segment_ms: long("segment.ms", defaults.segment_ms),
        retention_ms: long("retention.ms", defaults.retention_ms),
        retention_bytes: long("retention.bytes", defaults.retention_bytes),
        flush_messages: long("flush.messages", defaults.flush_messages),
        flush_ms: long("flush.ms", defaults.flush_ms),
        index_interval_bytes: u32::try_from(long("index.interval.bytes", 4096)).unwrap_or(4096),
        max_message_bytes: u32::try_from(long("max.message.bytes", 1_048_588)).unwrap_or(1_048_588),
        message_timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        message_timestamp_before_max_ms: long(
            "message.timestamp.before.max.ms",
            defaults.message_timestamp_before_max_ms,
        ),
        message_timestamp_after_max_ms: long(
            "message.timestamp.after.max.ms",
            defaults.message_timestamp_after_max_ms,
        ),
        compression: parse_compression(
            &get("compression.type"),
            i32::try_from(long("compression.gzip.level", -1)).unwrap_or(-1),
            i32::try_from(long("compression.lz4.level", 9)).unwrap_or(9),
            i32::try_from(long("compression.zstd.level", 3)).unwrap_or(3),
        )
        .unwrap_or(defaults.compression),
        file_delete_delay_ms: long("file.delete.delay.ms", defaults.file_delete_delay_ms),
        cleanup_policy: parse_cleanup_policy(&get("cleanup.policy"))
            .unwrap_or(defaults.cleanup_policy),
        delete_retention_ms: long("delete.retention.ms", defaults.delete_retention_ms),
        min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio")
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(defaults.min_cleanable_dirty_ratio),
        min_compaction_lag_ms: long("min.compaction.lag.ms", defaults.min_compaction_lag_ms),
        write_caching: !get("write.caching").trim().eq_ignore_ascii_case("false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate_topic_config("retention.ms", "1000").is_ok());
        assert!(validate_topic_config("retention.ms", "-1").is_ok());
        assert!(validate_topic_config("retention.ms", "x").is_err());
        assert!(validate_topic_config("segment.bytes", "0").is_err());
        assert!(validate_topic_config("nope", "1").is_err());
        assert!(validate_topic_config("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate_topic_config("cleanup.policy", "compact").is_ok());
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("cleanup.policy", "delete, compact").is_ok());
        assert!(validate_topic_config("cleanup.policy", "delete").is_ok());
        assert!(validate_topic_config("cleanup.policy", "").is_ok());
        assert_eq!(parse_cleanup_policy(""), Some(CleanupPolicy::Empty));
        assert!(validate_topic_config("cleanup.policy", "compact,").is_err());
        assert!(validate_topic_config("cleanup.policy", "compact,nope").is_err());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "0.1").is_ok());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
        for codec in ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"] {
            assert!(validate_topic_config("compression.type", codec).is_ok());
        }
        assert!(validate_topic_config("compression.type", "brotli").is_err());
        assert!(validate_topic_config("compression.gzip.level", "-1").is_ok());
        assert!(validate_topic_config("compression.gzip.level", "0").is_err());
        assert!(validate_topic_config("compression.lz4.level", "17").is_ok());
        assert!(validate_topic_config("compression.lz4.level", "18").is_err());
        assert!(validate_topic_config("compression.zstd.level", "-5").is_ok());
        assert!(validate_topic_config("message.timestamp.after.max.ms", "-1").is_err());
        assert!(validate_topic_config("message.timestamp.before.max.ms", "0").is_ok());
    }

    #[test]
    fn compression_and_timestamp_bounds_reach_the_log_config() {
        let mut broker = BrokerConfig::default();
        let lc = log_config(&BTreeMap::new(), &broker);
        assert_eq!(lc.compression, Compression::Producer);
        assert_eq!(lc.message_timestamp_before_max_ms, i64::MAX);
        assert_eq!(lc.message_timestamp_after_max_ms, 3_600_000);
        broker.set("compression.type", "zstd").unwrap();
        broker.set("compression.zstd.level", "7").unwrap();
        broker
            .set("log.message.timestamp.before.max.ms", "1000")
            .unwrap();
        let lc = log_config(&BTreeMap::new(), &broker);
        assert_eq!(lc.compression, Compression::Zstd { level: 7 });
        assert_eq!(lc.message_timestamp_before_max_ms, 1000);
        let mut overrides = BTreeMap::new();
        overrides.insert("compression.type".to_string(), "gzip".to_string());
        overrides.insert("compression.gzip.level".to_string(), "9".to_string());
        overrides.insert(
            "message.timestamp.after.max.ms".to_string(),
            "5".to_string(),
        );
        let lc = log_config(&overrides, &broker);
        assert_eq!(lc.compression, Compression::Gzip { level: 9 });
        assert_eq!(lc.message_timestamp_after_max_ms, 5);
    }

    #[test]
    fn throttled_replicas_lists() {
        for name in [
            "leader.replication.throttled.replicas",
            "follower.replication.throttled.replicas",
        ] {
            for ok in ["*", " * ", "", "0:1", "0:1,1:2, 2:3", "0:1,,1:2"] {
                assert!(validate_topic_config(name, ok).is_ok(), "{name}={ok:?}");
            }
            for bad in ["0", "a:1", "0:-1", "*,0:1", "0:1:2", ":1", "0:"] {
                assert!(validate_topic_config(name, bad).is_err(), "{name}={bad:?}");
            }
        }
    }

    /// The ranges of Kafka 4.x's LogConfig ConfigDef, at and just below each bound.
    #[test]
    fn kafka_ranges() {
        for (name, min) in [
            ("segment.bytes", 1_048_576),
            ("segment.ms", 1),
            ("segment.jitter.ms", 0),
            ("segment.index.bytes", 4),
            ("flush.messages", 1),
            ("flush.ms", 0),
            ("retention.ms", -1),
            ("max.message.bytes", 0),
            ("index.interval.bytes", 0),
            ("delete.retention.ms", 0),
            ("min.compaction.lag.ms", 0),
            ("max.compaction.lag.ms", 1),
            ("file.delete.delay.ms", 0),
            ("min.insync.replicas", 1),
            ("message.timestamp.before.max.ms", 0),
            ("message.timestamp.after.max.ms", 0),
        ] {
            assert!(
                validate_topic_config(name, &min.to_string()).is_ok(),
                "{name}"
            );
            let below = validate_topic_config(name, &(min - 1).to_string());
            assert_eq!(
                below,
                Err(TopicConfigError::Invalid {
                    name: name.to_string(),
                    value: (min - 1).to_string(),
                    reason: format!("Value must be at least {min}"),
                }),
                "{name}"
            );
        }
        assert!(validate_topic_config("retention.bytes", "-5").is_ok());
        assert!(validate_topic_config("segment.bytes", "2147483648").is_err());
        assert!(validate_topic_config(INTERNAL_SEGMENT_BYTES, "1024").is_ok());
        assert!(validate_topic_config(INTERNAL_SEGMENT_BYTES, "x").is_err());
        let overrides = BTreeMap::from([
            ("segment.bytes".to_string(), "1048576".to_string()),
            (INTERNAL_SEGMENT_BYTES.to_string(), "1024".to_string()),
        ]);
        assert_eq!(
            log_config(&overrides, &BrokerConfig::default()).segment_bytes,
            1024
        );
        assert_eq!(
            topic_config_key("min.cleanable.dirty.ratio").map(|k| k.config_type.code()),
            Some(6)
        );
    }

    #[test]
    fn sources_and_log_config() {
        let mut broker = BrokerConfig::default();
        broker.set("log.segment.bytes", "2048").unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert("retention.ms".to_string(), "5000".to_string());
        let seg = topic_config_key("segment.bytes").unwrap();
        assert_eq!(
            effective_topic_config(seg, &overrides, &broker),
            ("2048".to_string(), ConfigSource::StaticBrokerConfig)
        );
        let ret = topic_config_key("retention.ms").unwrap();
        assert_eq!(
            effective_topic_config(ret, &overrides, &broker).1,
            ConfigSource::TopicConfig
        );
        let lc = log_config(&overrides, &broker);
        assert_eq!(lc.segment_bytes, 2048);
        assert_eq!(lc.retention_ms, 5000);
        assert_eq!(lc.max_message_bytes, 1_048_588);
        assert_eq!(lc.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(lc.delete_retention_ms, 86_400_000);

        overrides.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        overrides.insert("delete.retention.ms".to_string(), "100".to_string());
        overrides.insert("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
        overrides.insert("min.compaction.lag.ms".to_string(), "7".to_string());
        let lc = log_config(&overrides, &broker);
        assert_eq!(lc.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(lc.delete_retention_ms, 100);
        assert_eq!(lc.min_cleanable_dirty_ratio, 0.01);
        assert_eq!(lc.min_compaction_lag_ms, 7);
    }
}
