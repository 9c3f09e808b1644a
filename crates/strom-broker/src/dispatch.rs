//! The one table of served APIs and the one `match` that routes each request to its handler in `api/`.
//! ApiVersions is built from the same table, so there is never a second list to keep in step.

use std::ops::RangeInclusive;
use std::sync::Arc;

use strom_protocol::kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use strom_protocol::Request;

use crate::api::{self, RequestContext};
use crate::broker::Broker;

/// Every API this broker serves, with the versions served.
pub(crate) const SUPPORTED: &[(ApiKey, RangeInclusive<i16>)] = &[
    (ApiKey::Produce, api::produce::VERSIONS),
    (ApiKey::Fetch, api::fetch::VERSIONS),
    (ApiKey::ListOffsets, api::list_offsets::VERSIONS),
    (ApiKey::Metadata, api::metadata::VERSIONS),
    (ApiKey::ApiVersions, api::api_versions::VERSIONS),
    (ApiKey::CreateTopics, api::create_topics::VERSIONS),
    (ApiKey::DeleteTopics, api::delete_topics::VERSIONS),
    (ApiKey::DeleteRecords, api::delete_records::VERSIONS),
    (ApiKey::InitProducerId, api::init_producer_id::VERSIONS),
    (ApiKey::DescribeConfigs, api::describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, api::alter_configs::VERSIONS),
    (ApiKey::CreatePartitions, api::create_partitions::VERSIONS),
    (ApiKey::IncrementalAlterConfigs, api::incremental_alter_configs::VERSIONS),
    (ApiKey::DescribeCluster, api::describe_cluster::VERSIONS),
];

/// The served version range of an API, for the decoder.
pub(crate) fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, r)| (*r.start(), *r.end()))
}

/// A request that reached dispatch without a handler: a bug in the table above. The connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("no handler for {0:?}")]
pub(crate) struct NoHandler(ApiKey);

/// Routes one request. `Ok(None)` means no response is sent (acks=0 produce).
pub(crate) async fn handle(broker: &Arc<Broker>, request: Request) -> Result<Option<ResponseKind>, NoHandler> {
    let ctx = RequestContext::new(broker, &request);
    let response = match request.body {
        RequestKind::Produce(r) => return Ok(api::produce::handle(&ctx, r).await.map(ResponseKind::Produce)),
        RequestKind::Fetch(r) => ResponseKind::Fetch(api::fetch::handle(&ctx, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(api::list_offsets::handle(&ctx, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(api::metadata::handle(&ctx, r).await),
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api::api_versions::handle(&ctx, r)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(api::create_topics::handle(&ctx, r).await),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(api::delete_topics::handle(&ctx, r).await),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(api::delete_records::handle(&ctx, r)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(api::init_producer_id::handle(&ctx, r)),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(api::describe_configs::handle(&ctx, r)),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(api::alter_configs::handle(&ctx, r).await),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(api::create_partitions::handle(&ctx, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(api::incremental_alter_configs::handle(&ctx, r).await)
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(api::describe_cluster::handle(&ctx, r)),
        _ => return Err(NoHandler(request.api_key)),
    };
    Ok(Some(response))
}
