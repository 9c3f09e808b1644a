//! EndTxn: the coordinator persists PrepareCommit/PrepareAbort and answers; the markers are written to the
//! transaction's partitions afterwards (`txn_coordinator/markers.rs`). v5+ is a KIP-890 part 2 client: the
//! producer epoch is bumped with every transaction and returned in the response.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use strom_txn::TxnResult;

use super::RequestContext;
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=5;

pub(crate) async fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> EndTxnResponse {
    let client_transaction_version = if ctx.version > 4 { 2 } else { 0 };
    let result = if request.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let answer = ctx
        .broker
        .txns
        .end_txn(
            &request.transactional_id,
            request.producer_id.0,
            request.producer_epoch,
            result,
            client_transaction_version,
        )
        .await;
    let response = EndTxnResponse::default();
    match answer {
        // The producer id and epoch exist in the response from v5 only.
        Ok((producer_id, epoch)) if ctx.version >= 5 => response
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch),
        Ok(_) => response,
        Err(code) => response
            .with_error_code(error_code::downgrade_producer_fenced(code, ctx.version, 2).code()),
    }
}
