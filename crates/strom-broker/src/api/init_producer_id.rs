//! InitProducerId. Without a transactional id (idempotent producers): a fresh producer id with epoch 0, as
//! Kafka answers even when the producer names its old id (KIP-360 recovery of an idempotent producer is a new
//! id). With one: the transaction coordinator bumps the epoch (fencing older producers), aborting an open
//! transaction first (CONCURRENT_TRANSACTIONS, the producer retries), with KIP-360's rules when the producer
//! names its id and epoch.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::error::ResponseError;
use strom_protocol::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};
use strom_txn::{ProducerIdAndEpoch, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use tracing::error;

use super::RequestContext;
use crate::error_code::{self, Code};

/// v6 adds two-phase-commit fields (KIP-939) that only matter with transactions.
pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    let failed = |code: Code| {
        InitProducerIdResponse::default()
            .with_error_code(error_code::downgrade_producer_fenced(code, ctx.version, 4).code())
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH)
    };
    if let Some(transactional_id) = &request.transactional_id {
        if transactional_id.is_empty() {
            return failed(Code::InvalidRequest);
        }
        let expected = match (request.producer_id.0, request.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return failed(Code::InvalidRequest),
            (producer_id, epoch) => Some(ProducerIdAndEpoch { producer_id, epoch }),
        };
        return match ctx
            .broker
            .txns
            .init_producer_id(transactional_id, request.transaction_timeout_ms, expected)
            .await
        {
            Ok((producer_id, epoch)) => response
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
            Err(code) => failed(code),
        };
    }
    match ctx.broker.producer_ids.next() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            error!("allocating a producer id failed: {e}");
            failed(ResponseError::UnknownServerError)
        }
    }
}
