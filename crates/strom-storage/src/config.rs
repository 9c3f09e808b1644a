//! Per-partition log settings, named and defaulted as Kafka's topic configs.
//!
//! Owns only the values. Parsing topic-config strings and broker-level defaults (`log.segment.bytes`
//! and friends) belong to the broker, which builds a [`LogConfig`] per partition.

/// Kafka `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// The broker stamps each batch with the append time (attributes bit 3, `max_timestamp = now`).
    LogAppendTime,
}

/// Kafka `compression.type` of a topic: what codec the log stores batches in. With anything but
/// `producer`, batches the producer sent in another codec are decompressed and written again in
/// the topic's codec (Kafka's `LogValidator`); `level` is the topic's `compression.<codec>.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// `producer`: keep each batch in the codec it was produced with (no recompression).
    #[default]
    Producer,
    /// `uncompressed`.
    Uncompressed,
    /// `gzip` at `compression.gzip.level` (-1: zlib's default, 6).
    Gzip { level: i32 },
    /// `snappy` (no level).
    Snappy,
    /// `lz4` at `compression.lz4.level` (1..=17).
    Lz4 { level: i32 },
    /// `zstd` at `compression.zstd.level`.
    Zstd { level: i32 },
}

impl Compression {
    /// The batch attribute codec id this setting writes (0 none, 1 gzip, 2 snappy, 3 lz4, 4
    /// zstd); None for `producer`, which writes whatever the producer sent.
    pub fn codec(self) -> Option<u8> {
        match self {
            Compression::Producer => None,
            Compression::Uncompressed => Some(0),
            Compression::Gzip { .. } => Some(1),
            Compression::Snappy => Some(2),
            Compression::Lz4 { .. } => Some(3),
            Compression::Zstd { .. } => Some(4),
        }
    }
}

/// Kafka `cleanup.policy`: what happens to old data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// `delete`: time and size retention drop whole segments.
    #[default]
    Delete,
    /// `compact`: the cleaner keeps only the latest record of each key.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
    /// An empty list (Kafka 4.2+): neither. No retention and no compaction; segments are kept
    /// until DeleteRecords moves the log start past them, as with `compact`.
    Empty,
}

impl CleanupPolicy {
    /// Whether retention (`retention.ms` / `retention.bytes`) applies.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Whether the log is compacted (and so refuses records without a key).
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
}

/// Settings of one partition log. Changeable at runtime via [`crate::PartitionLog::update_config`];
/// new values apply from the next append / retention run.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// Kafka `segment.bytes`: roll the active segment before it would grow past this. Default 1 GiB.
    pub segment_bytes: u64,
    /// Kafka `segment.ms`: roll a non-empty active segment older than this. Default 7 days.
    pub segment_ms: i64,
    /// Kafka `retention.ms`: delete segments whose newest timestamp is older. -1 = unlimited. Default 7 days.
    pub retention_ms: i64,
    /// Kafka `retention.bytes`: delete oldest segments while the log is bigger. -1 = unlimited (default).
    pub retention_bytes: i64,
    /// Kafka `flush.messages`: fsync after this many appended records. Default i64::MAX (OS decides).
    pub flush_messages: i64,
    /// Kafka `flush.ms`: fsync when the last flush is older than this. Default i64::MAX.
    pub flush_ms: i64,
    /// Kafka `index.interval.bytes`: bytes between sparse offset-index entries. Default 4096.
    pub index_interval_bytes: u32,
    /// Kafka `max.message.bytes`: largest accepted batch. Default 1048588.
    pub max_message_bytes: u32,
    /// Kafka `message.timestamp.type`. Default CreateTime.
    pub message_timestamp_type: TimestampType,
    /// Kafka `message.timestamp.before.max.ms`: with CreateTime, a record whose timestamp is more
    /// than this before the broker's clock is refused (INVALID_TIMESTAMP). Default i64::MAX.
    pub message_timestamp_before_max_ms: i64,
    /// Kafka `message.timestamp.after.max.ms`: with CreateTime, a record whose timestamp is more
    /// than this after the broker's clock is refused. Default 3600000 (one hour, Kafka 4.0+).
    pub message_timestamp_after_max_ms: i64,
    /// Kafka `compression.type` with its level. Default `producer`.
    pub compression: Compression,
    /// Kafka `file.delete.delay.ms`. Default 60000. Strom deletes segment files immediately (reads
    /// copy into an owned buffer under the log's lock, so no reader can still be using a deleted
    /// file); the value is kept for config round-trips only.
    pub file_delete_delay_ms: i64,
    /// Kafka `cleanup.policy`. Default delete.
    pub cleanup_policy: CleanupPolicy,
    /// Kafka `delete.retention.ms`: how long the cleaner keeps tombstones (null values). Strom
    /// compares it with the tombstone's batch max timestamp. Default 1 day.
    pub delete_retention_ms: i64,
    /// Kafka `min.cleanable.dirty.ratio`: the cleaner skips a log while the bytes written since
    /// the last cleaning are a smaller share of the sealed segments than this. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// Kafka `min.compaction.lag.ms`: sealed segments holding records newer than this are not
    /// cleaned yet. Default 0.
    pub min_compaction_lag_ms: i64,
    /// Redpanda's `write.caching` (a Strom extension to Kafka's topic configs): true (default, as
    /// Kafka) acknowledges writes once they are in the page cache; false makes the broker fsync
    /// them before acknowledging (acks 1 and all), with one fsync covering every request that
    /// appended before it started (group commit, [`crate::PartitionLog::sync_handle`]).
    pub write_caching: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            compression: Compression::Producer,
            file_delete_delay_ms: 60_000,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: DAY_MS,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            write_caching: true,
        }
    }
}
