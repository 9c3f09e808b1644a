//! DeleteTopics: by name (all versions) or by topic id (v6+). The topic leaves the metadata image and its
//! partition directories are renamed and removed.

use std::ops::RangeInclusive;

use strom_protocol::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use strom_protocol::kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use uuid::Uuid;

use super::{str_bytes, RequestContext};
use crate::error_code::{self, Code};

pub(crate) const VERSIONS: RangeInclusive<i16> = 1..=6;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let broker = ctx.broker;
    let targets: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let result = DeletableTopicResult::default()
            .with_name(name.as_deref().map(|n| TopicName(str_bytes(n))))
            .with_topic_id(id);
        if !broker.config.delete_topic_enable {
            responses.push(result.with_error_code(Code::TopicDeletionDisabled.code()));
            continue;
        }
        let image = broker.image();
        let by_id = if id.is_nil() { None } else { Some(id) };
        let record = strom_metadata::delete_topic_records(&image, name.as_deref(), by_id);
        let outcome = match record {
            Ok(record) => {
                let resolved = match &record {
                    strom_metadata::MetadataRecord::DeleteTopic { topic_id } => image
                        .topic_by_id(*topic_id)
                        .map(|t| (t.name.clone(), t.topic_id)),
                    _ => None,
                };
                broker.propose_one(record).await.map(|()| resolved)
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(resolved) => {
                let (n, i) = resolved.map_or((name, id), |(n, i)| (Some(n), i));
                responses.push(
                    result
                        .with_name(n.as_deref().map(|n| TopicName(str_bytes(n))))
                        .with_topic_id(i),
                );
            }
            Err(e) => {
                responses.push(
                    result
                        .with_error_code(error_code::topic_error(&e).code())
                        .with_error_message(Some(str_bytes(&e.to_string()))),
                );
            }
        }
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
