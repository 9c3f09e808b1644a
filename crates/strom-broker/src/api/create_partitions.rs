//! CreatePartitions: raises a topic's partition count (never lowers it); new partitions' logs are opened
//! before the response.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use strom_protocol::kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{str_bytes, RequestContext};
use crate::error_code;

pub(crate) const VERSIONS: RangeInclusive<i16> = 0..=3;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = ctx.broker;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let assignments = topic.assignments.map(|a| {
            a.into_iter()
                .map(|x| x.broker_ids.into_iter().map(|b| b.0).collect())
                .collect()
        });
        let image = broker.image();
        let outcome = match strom_metadata::create_partitions_records(
            &image,
            &topic.name.0,
            topic.count,
            assignments,
        ) {
            Ok(_) if request.validate_only => Ok(()),
            Ok(record) => broker.propose_one(record).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => results.push(result),
            Err(e) => results.push(
                result
                    .with_error_code(error_code::topic_error(&e).code())
                    .with_error_message(Some(str_bytes(&e.to_string()))),
            ),
        }
    }
    CreatePartitionsResponse::default().with_results(results)
}
