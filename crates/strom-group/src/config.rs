//! The coordinator's settings (Kafka's `GroupCoordinatorConfig`), named after Kafka's broker keys. Only
//! values: which manager reads which setting is the managers' business, and the broker decides where the
//! values come from.

/// Coordinator settings, Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for more members.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes` in milliseconds: offsets of an empty group expire this long after it emptied.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// How long a new member may take to rejoin during a rebalance (Kafka's fixed 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `group.consumer.session.timeout.ms`: a KIP-848 member is removed after this long without a heartbeat.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.assignors`: the server-side assignors members may ask for; the first is the default.
    pub consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`: whether a classic group may turn into a consumer group when a
    /// KIP-848 member joins it, and back when its last KIP-848 member leaves (KIP-848's online migration).
    pub consumer_migration_policy: MigrationPolicy,
}

/// Kafka's `ConsumerGroupMigrationPolicy`: which online conversions between the classic and the consumer
/// protocol a group may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    /// Both ways (Kafka's default).
    Bidirectional,
    /// Classic to consumer only.
    Upgrade,
    /// Consumer to classic only.
    Downgrade,
    /// Neither: a group keeps its protocol while it has members.
    Disabled,
}

impl MigrationPolicy {
    /// Parses a `group.consumer.migration.policy` value, case-insensitively as Kafka does.
    pub fn parse(value: &str) -> Option<MigrationPolicy> {
        match value.trim().to_ascii_lowercase().as_str() {
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "disabled" => Some(MigrationPolicy::Disabled),
            _ => None,
        }
    }

    /// A KIP-848 member joining a classic group converts it to a consumer group.
    pub fn upgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Upgrade
        )
    }

    /// The last KIP-848 member leaving a group of classic members converts it back to a classic group.
    pub fn downgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Downgrade
        )
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 10080 * 60_000,
            offset_metadata_max_bytes: 4096,
            new_member_join_timeout_ms: 300_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_assignors: vec!["uniform".to_string(), "range".to_string()],
            consumer_migration_policy: MigrationPolicy::Bidirectional,
        }
    }
}
