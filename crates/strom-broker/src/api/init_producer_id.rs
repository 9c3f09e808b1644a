//! InitProducerId for idempotent (non-transactional) producers: a fresh producer id with epoch 0.
//! Transactions are not implemented, so a transactional id is refused rather than half-served.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};
use tracing::error;

use super::RequestContext;

/// v6 adds two-phase-commit fields (KIP-939) that only matter with transactions.
pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        return response
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    match ctx.broker.producer_ids.next() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            error!("allocating a producer id failed: {e}");
            response
                .with_error_code(ResponseError::UnknownServerError.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
