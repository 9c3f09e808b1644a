//! DescribeLogDirs (`kafka-log-dirs.sh`, AdminClient `describeLogDirs`): this broker's `log.dirs`, each with
//! the hosted replicas it holds (size in bytes, offset lag, never a future replica: Strom does not move
//! replicas between dirs) and, from v4, the total and usable bytes of its filesystem (statvfs), as Kafka's
//! `ReplicaManager.describeLogDirs` answers. Null topics means every hosted partition. Sizes and lags come from
//! the partition layer ([`crate::partition::Partition::log_dir_info`]). Only the first `log.dirs` entry holds
//! data; the others are reported offline with KAFKA_STORAGE_ERROR, as Kafka reports a dir it cannot use.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use strom_protocol::kafka_protocol::messages::{
    DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use tracing::warn;

use super::{str_bytes, RequestContext};
use crate::broker::{absolute, LogDir};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=4;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted: Option<HashSet<(String, i32)>> = request.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.to_string(), p)))
            .collect()
    });
    // (log dir, topic) → (partition, replica); BTreeMaps so the answer comes in a stable order.
    let mut by_dir: BTreeMap<_, BTreeMap<String, Vec<DescribeLogDirsPartition>>> = BTreeMap::new();
    for partition in ctx.broker.replicas.all() {
        let key = (partition.topic.clone(), partition.index);
        if wanted.as_ref().is_some_and(|w| !w.contains(&key)) {
            continue;
        }
        let Some(replica) = partition.log_dir_info() else {
            continue; // closed or deleted since the lookup
        };
        by_dir
            .entry(absolute(&replica.log_dir))
            .or_default()
            .entry(key.0)
            .or_default()
            .push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(key.1)
                    .with_partition_size(i64::try_from(replica.size_bytes).unwrap_or(i64::MAX))
                    .with_offset_lag(replica.offset_lag)
                    .with_is_future_key(false),
            );
    }
    let results = ctx
        .broker
        .log_dirs()
        .into_iter()
        .map(|dir| {
            let topics = by_dir.remove(&dir.path).unwrap_or_default();
            log_dir_result(&dir, topics)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

fn log_dir_result(
    dir: &LogDir,
    topics: BTreeMap<String, Vec<DescribeLogDirsPartition>>,
) -> DescribeLogDirsResult {
    let name = str_bytes(&dir.path.to_string_lossy());
    let offline = DescribeLogDirsResult::default()
        .with_log_dir(name.clone())
        .with_error_code(Code::KafkaStorageError.code());
    if !dir.online {
        return offline;
    }
    let space = match rustix::fs::statvfs(&dir.path) {
        Ok(space) => space,
        Err(e) => {
            warn!("log dir {} is unreadable: {e}", dir.path.display());
            return offline;
        }
    };
    // Kafka's adjustForLargeFileSystems: a size past i64 is reported as i64::MAX.
    let bytes =
        |blocks: u64| i64::try_from(blocks.saturating_mul(space.f_frsize)).unwrap_or(i64::MAX);
    let topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(str_bytes(&name)))
                .with_partitions(partitions)
        })
        .collect();
    DescribeLogDirsResult::default()
        .with_log_dir(name)
        .with_topics(topics)
        .with_total_bytes(bytes(space.f_blocks))
        .with_usable_bytes(bytes(space.f_bavail))
}
