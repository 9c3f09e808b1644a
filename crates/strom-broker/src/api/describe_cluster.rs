//! DescribeCluster: cluster id, controller and brokers from the metadata image.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use strom_protocol::kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse,
};

use super::{
    cluster_authorized_operations, str_bytes, RequestContext, AUTHORIZED_OPERATIONS_OMITTED,
};

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=2;

/// DescribeCluster endpoint types (KIP-919): 1 = brokers, 2 = controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = &ctx.image;
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(&image.cluster_id))
        .with_controller_id(BrokerId(ctx.image.controller_id))
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            cluster_authorized_operations()
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        });
    if ctx.version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        // Controllers are only described through a controller listener, which this broker does not expose.
        return response
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes(
                "only broker endpoints are served on this listener",
            )));
    }
    response.brokers = image
        .brokers
        .values()
        .filter(|b| request.include_fenced_brokers || !b.fenced)
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(b.port)
                .with_rack(b.rack.as_deref().map(str_bytes))
                .with_is_fenced(b.fenced)
        })
        .collect();
    response
}
