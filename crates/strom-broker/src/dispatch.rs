//! The one table of served APIs and the one `match` that routes each request to its handler in `api/`.
//! ApiVersions is built from the same table, so there is never a second list to keep in step.

use std::ops::RangeInclusive;
use std::sync::Arc;

use strom_protocol::kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use strom_protocol::Request;
use strom_storage::FileSlice;

use crate::api::{self, RequestContext};
use crate::broker::Broker;

/// Every API this broker serves, with the versions served.
pub(crate) const SUPPORTED: &[(ApiKey, RangeInclusive<i16>)] = &[
    (ApiKey::Produce, api::produce::VERSIONS),
    (ApiKey::Fetch, api::fetch::VERSIONS),
    (ApiKey::ListOffsets, api::list_offsets::VERSIONS),
    (
        ApiKey::OffsetForLeaderEpoch,
        api::offset_for_leader_epoch::VERSIONS,
    ),
    (ApiKey::Metadata, api::metadata::VERSIONS),
    (ApiKey::ApiVersions, api::api_versions::VERSIONS),
    (ApiKey::CreateTopics, api::create_topics::VERSIONS),
    (ApiKey::DeleteTopics, api::delete_topics::VERSIONS),
    (ApiKey::DeleteRecords, api::delete_records::VERSIONS),
    (ApiKey::InitProducerId, api::init_producer_id::VERSIONS),
    (ApiKey::DescribeConfigs, api::describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, api::alter_configs::VERSIONS),
    (ApiKey::CreatePartitions, api::create_partitions::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        api::incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::DescribeCluster, api::describe_cluster::VERSIONS),
    (ApiKey::FindCoordinator, api::find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, api::join_group::VERSIONS),
    (ApiKey::SyncGroup, api::sync_group::VERSIONS),
    (ApiKey::Heartbeat, api::heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, api::leave_group::VERSIONS),
    (ApiKey::OffsetCommit, api::offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, api::offset_fetch::VERSIONS),
    (ApiKey::ListGroups, api::list_groups::VERSIONS),
    (ApiKey::DescribeGroups, api::describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, api::delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, api::offset_delete::VERSIONS),
    (
        ApiKey::ConsumerGroupHeartbeat,
        api::consumer_group_heartbeat::VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        api::consumer_group_describe::VERSIONS,
    ),
    (ApiKey::ElectLeaders, api::elect_leaders::VERSIONS),
    (
        ApiKey::AlterPartitionReassignments,
        api::alter_partition_reassignments::VERSIONS,
    ),
    (
        ApiKey::ListPartitionReassignments,
        api::list_partition_reassignments::VERSIONS,
    ),
    (
        ApiKey::DescribeTopicPartitions,
        api::describe_topic_partitions::VERSIONS,
    ),
    (ApiKey::DescribeLogDirs, api::describe_log_dirs::VERSIONS),
    (
        ApiKey::AlterReplicaLogDirs,
        api::alter_replica_log_dirs::VERSIONS,
    ),
    (ApiKey::DescribeQuorum, api::describe_quorum::VERSIONS),
    (ApiKey::DescribeProducers, api::describe_producers::VERSIONS),
    (ApiKey::WriteTxnMarkers, api::write_txn_markers::VERSIONS),
    (ApiKey::TxnOffsetCommit, api::txn_offset_commit::VERSIONS),
    // Transactions (KIP-98, KIP-447, KIP-890).
    (
        ApiKey::AddPartitionsToTxn,
        api::add_partitions_to_txn::VERSIONS,
    ),
    (ApiKey::AddOffsetsToTxn, api::add_offsets_to_txn::VERSIONS),
    (ApiKey::EndTxn, api::end_txn::VERSIONS),
    (
        ApiKey::DescribeTransactions,
        api::describe_transactions::VERSIONS,
    ),
    (ApiKey::ListTransactions, api::list_transactions::VERSIONS),
];

/// The served version range of an API, for the decoder.
pub(crate) fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, r)| (*r.start(), *r.end()))
}

/// A request that reached dispatch without a handler: a bug in the table above. The connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("no handler for {0:?}")]
pub(crate) struct NoHandler(ApiKey);

/// A response, and the segment file slices that fill its placeholder record bytes (fetch only), in order.
pub(crate) type Response = (ResponseKind, Vec<FileSlice>);

/// Routes one request. `Ok(None)` means no response is sent (acks=0 produce).
pub(crate) async fn handle(
    broker: &Arc<Broker>,
    request: Request,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<Response>, NoHandler> {
    let ctx = RequestContext::new(broker, &request, peer);
    let response = match request.body {
        RequestKind::Produce(r) => {
            return Ok(api::produce::handle(&ctx, r)
                .await
                .map(|r| (ResponseKind::Produce(r), Vec::new())))
        }
        RequestKind::Fetch(r) => {
            let (response, files) = api::fetch::handle(&ctx, r).await;
            return Ok(Some((ResponseKind::Fetch(response), files)));
        }
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(api::list_offsets::handle(&ctx, r))
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(api::offset_for_leader_epoch::handle(&ctx, r))
        }
        RequestKind::Metadata(r) => ResponseKind::Metadata(api::metadata::handle(&ctx, r).await),
        RequestKind::ApiVersions(r) => {
            ResponseKind::ApiVersions(api::api_versions::handle(&ctx, r, SUPPORTED))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(api::create_topics::handle(&ctx, r).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(api::delete_topics::handle(&ctx, r).await)
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(api::delete_records::handle(&ctx, r))
        }
        RequestKind::WriteTxnMarkers(r) => {
            ResponseKind::WriteTxnMarkers(api::write_txn_markers::handle(&ctx, r).await)
        }
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(api::txn_offset_commit::handle(&ctx, r).await)
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(api::init_producer_id::handle(&ctx, r).await)
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(api::describe_configs::handle(&ctx, r))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(api::alter_configs::handle(&ctx, r).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(api::create_partitions::handle(&ctx, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            api::incremental_alter_configs::handle(&ctx, r).await,
        ),
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(api::describe_cluster::handle(&ctx, r))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(api::find_coordinator::handle(&ctx, r).await)
        }
        RequestKind::JoinGroup(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default();
            ResponseKind::JoinGroup(api::join_group::handle(&ctx, r, client_id).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(api::sync_group::handle(&ctx, r).await)
        }
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(api::heartbeat::handle(&ctx, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(api::leave_group::handle(&ctx, r)),
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(api::offset_commit::handle(&ctx, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(api::offset_fetch::handle(&ctx, r))
        }
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(api::list_groups::handle(&ctx, r)),
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(api::describe_groups::handle(&ctx, r))
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(api::delete_groups::handle(&ctx, r).await)
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(api::offset_delete::handle(&ctx, r).await)
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let client_id = request.header.client_id.as_deref().unwrap_or_default();
            ResponseKind::ConsumerGroupHeartbeat(
                api::consumer_group_heartbeat::handle(&ctx, r, client_id).await,
            )
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            ResponseKind::ConsumerGroupDescribe(api::consumer_group_describe::handle(&ctx, r))
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(api::elect_leaders::handle(&ctx, r).await)
        }
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            api::alter_partition_reassignments::handle(&ctx, r).await,
        ),
        RequestKind::ListPartitionReassignments(r) => ResponseKind::ListPartitionReassignments(
            api::list_partition_reassignments::handle(&ctx, r),
        ),
        RequestKind::DescribeTopicPartitions(r) => {
            ResponseKind::DescribeTopicPartitions(api::describe_topic_partitions::handle(&ctx, r))
        }
        RequestKind::DescribeLogDirs(r) => {
            ResponseKind::DescribeLogDirs(api::describe_log_dirs::handle(&ctx, r))
        }
        RequestKind::AlterReplicaLogDirs(r) => {
            ResponseKind::AlterReplicaLogDirs(api::alter_replica_log_dirs::handle(&ctx, r))
        }
        RequestKind::DescribeQuorum(r) => {
            ResponseKind::DescribeQuorum(api::describe_quorum::handle(&ctx, r).await)
        }
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(api::describe_producers::handle(&ctx, r))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(api::add_partitions_to_txn::handle(&ctx, r).await)
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(api::add_offsets_to_txn::handle(&ctx, r).await)
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(api::end_txn::handle(&ctx, r).await),
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(api::describe_transactions::handle(&ctx, r))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(api::list_transactions::handle(&ctx, r))
        }
        _ => return Err(NoHandler(request.api_key)),
    };
    Ok(Some((response, Vec::new())))
}

#[cfg(test)]
pub(crate) mod tests;
