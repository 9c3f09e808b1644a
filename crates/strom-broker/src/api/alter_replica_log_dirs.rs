//! AlterReplicaLogDirs (`kafka-reassign-partitions.sh` with log dirs, AdminClient `alterReplicaLogDirs`): move
//! a replica hosted here to another of this broker's `log.dirs`. Answered per partition with the checks of
//! Kafka's `ReplicaManager.alterReplicaLogDirs`, in its order: a topic name too long for a future dir name is
//! INVALID_TOPIC_EXCEPTION; a path that is not one of `log.dirs` (absolute, as DescribeLogDirs names them) is
//! LOG_DIR_NOT_FOUND; an offline dir is KAFKA_STORAGE_ERROR; a partition this broker does not host is
//! REPLICA_NOT_AVAILABLE (UNKNOWN_TOPIC_OR_PARTITION when no such partition exists); a replica already in the
//! requested dir is NONE, with nothing to do.
//!
//! Strom never moves a replica. It keeps all data in the first `log.dirs` entry and reports the others offline
//! (see `Broker::log_dirs`), so a move could only target an offline dir, which Kafka refuses with
//! KAFKA_STORAGE_ERROR: it creates no future replica while a log dir is offline. Should a replica ever sit
//! outside the requested online dir, the answer is KAFKA_STORAGE_ERROR too, because Strom has no future-replica
//! copier (Kafka's `ReplicaAlterLogDirsThread`); answering NONE would pretend a move that never happens.

use std::ops::RangeInclusive;
use std::path::Path;

use strom_protocol::kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use strom_protocol::kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse,
};

use super::RequestContext;
use crate::broker::{absolute, LogDir};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=2;

/// The longest file name Kafka allows for a future replica's dir (`UnifiedLog.logFutureDirName`).
const MAX_DIR_NAME: usize = 255;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let log_dirs = ctx.broker.log_dirs();
    let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in &request.dirs {
        let destination = dir.path.to_string();
        for topic in &dir.topics {
            let partitions = topic.partitions.iter().map(|&index| {
                let code = alter(ctx, &log_dirs, &destination, &topic.name.0, index);
                AlterReplicaLogDirPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(code.map_or(0, |c| c.code()))
            });
            // Kafka answers one entry per topic even when several dirs name it.
            match results.iter_mut().find(|r| r.topic_name == topic.name) {
                Some(result) => result.partitions.extend(partitions),
                None => results.push(
                    AlterReplicaLogDirTopicResult::default()
                        .with_topic_name(topic.name.clone())
                        .with_partitions(partitions.collect()),
                ),
            }
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}

/// One partition's outcome; `None` is NONE.
fn alter(
    ctx: &RequestContext<'_>,
    log_dirs: &[LogDir],
    destination: &str,
    topic: &str,
    index: i32,
) -> Option<Code> {
    // `<topic>-<partition>.<32 hex digits>-future`
    if topic.len() + index.to_string().len() + 1 + 1 + 32 + "-future".len() > MAX_DIR_NAME {
        return Some(Code::InvalidTopicException);
    }
    let Some(dir) = log_dirs
        .iter()
        .find(|d| d.path.as_path() == Path::new(destination))
    else {
        return Some(Code::LogDirNotFound);
    };
    if !dir.online {
        return Some(Code::KafkaStorageError);
    }
    let Some(partition) = ctx.broker.replicas.get(topic, index) else {
        return Some(if ctx.image.partition(topic, index).is_some() {
            Code::ReplicaNotAvailable
        } else {
            Code::UnknownTopicOrPartition
        });
    };
    let Some(replica) = partition.log_dir_info() else {
        return Some(Code::ReplicaNotAvailable);
    };
    if absolute(&replica.log_dir).as_path() == Path::new(destination) {
        None
    } else {
        Some(Code::KafkaStorageError)
    }
}
