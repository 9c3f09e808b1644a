//! FindCoordinator: the coordinator of a group is the leader of its `__consumer_offsets` partition, that of
//! a transactional id the leader of its `__transaction_state` partition, answered once the topic exists
//! (created on first use, as Kafka does, by `Broker::ensure_offsets_topic` /
//! `ensure_transaction_state_topic`). Batched `coordinator_keys` from v4. An unknown key type answers
//! INVALID_REQUEST.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use strom_protocol::kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse,
};
use strom_protocol::kafka_protocol::protocol::StrBytes;

use super::{str_bytes, RequestContext};
use crate::error_code::Code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=6;

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let outcome = match request.key_type {
        GROUP_KEY => ctx.broker.ensure_offsets_topic().await,
        TRANSACTION_KEY => ctx.broker.ensure_transaction_state_topic().await,
        _ => Err(Code::InvalidRequest),
    };
    let answer = |key: StrBytes| {
        let c = Coordinator::default().with_key(key.clone());
        let image = ctx.broker.image();
        let found = outcome.and_then(|()| {
            if request.key_type == TRANSACTION_KEY {
                ctx.broker.txns.coordinator_of(&image, &key)
            } else {
                let found = ctx.broker.groups.coordinator_of(&image, &key)?;
                // The image names this broker as the leader a moment before the partition's groups are loaded
                // (the role change follows the image). Sending the client here now would earn it NOT_COORDINATOR,
                // which librdkafka's committed() hands to the application; COORDINATOR_NOT_AVAILABLE makes every
                // client look again shortly, and Kafka's answer in that window (LOAD_IN_PROGRESS) is retried too.
                if found.0 == ctx.broker.node_id() && !ctx.broker.groups.has_loaded(&key) {
                    return Err(Code::CoordinatorNotAvailable);
                }
                Ok(found)
            }
        });
        match found {
            Ok((node_id, host, port)) => c
                .with_node_id(BrokerId(node_id))
                .with_host(str_bytes(&host))
                .with_port(port),
            Err(code) => c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(match code {
                    Code::CoordinatorNotAvailable if request.key_type == TRANSACTION_KEY => {
                        "the transaction coordinator is not available"
                    }
                    Code::InvalidRequest => "unknown coordinator key type",
                    _ => "the group coordinator is not available",
                }))),
        }
    };
    if ctx.version >= 4 {
        let coordinators = request.coordinator_keys.into_iter().map(answer).collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(request.key);
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if ctx.version >= 1 {
        response.error_message = c.error_message;
    }
    response
}
