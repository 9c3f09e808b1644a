//! Data calls on [`Client`], routed to partition leaders: Produce (one batch per call), Fetch (one request per
//! leader, several partitions of one topic) and ListOffsets. Owns what each call retries (a produce only what
//! guarantees nothing was appended) and how a response becomes the caller's records; the routing and the retry
//! pacing are `routing.rs`'s, the requests are built in `requests.rs`, record batches are encoded by
//! strom-protocol and decoded in `records.rs`. Part of `Client`'s `impl`, split off deliberately (see
//! `client/mod.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::Compression;
use uuid::Uuid;

use super::requests::{
    fetch_request, list_offsets_request, produce_request, LAST_FETCH_VERSION_WITH_NAMES,
};
use super::{response_entry, Client, MAX_TIMESTAMP};
use crate::error::ClientError;
use crate::records::{decode_fetched, encode_batch, ConsumedRecord, OwnedRecord};

/// The answer to ListOffsets for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    /// The timestamp of the found record, -1 for the earliest/latest queries.
    pub timestamp: i64,
    pub leader_epoch: i32,
}

/// The result of fetching one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub partition: i32,
    /// Data records at or above the requested offset, in offset order (control records are dropped).
    pub records: Vec<ConsumedRecord>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Where the next fetch of this partition should start: past every complete batch returned, including
    /// control batches and offsets removed by compaction.
    pub next_offset: i64,
}

impl Client {
    /// Looks up an offset by timestamp: [`EARLIEST_TIMESTAMP`], [`LATEST_TIMESTAMP`], [`MAX_TIMESTAMP`] or a time in
    /// ms (the first offset whose timestamp is at or after it; offset -1 when there is none).
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<ListedOffset, ClientError> {
        let mut attempt = 0;
        loop {
            let result = self.list_offsets_once(topic, partition, timestamp).await;
            match result {
                Err(e) if self.should_retry(&e, attempt, true, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn list_offsets_once(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<ListedOffset, ClientError> {
        let leader = self.leader_for(topic, partition).await?;
        let version = self
            .broker_connection(leader)
            .await?
            .version(ApiKey::ListOffsets)?;
        if timestamp == MAX_TIMESTAMP && version < 7 {
            return Err(ClientError::VersionTooOld {
                what: "max-timestamp lookup",
                api: "ListOffsets",
                needed: 7,
                available: version,
            });
        }
        let resp = self
            .send_to_broker(leader, ApiKey::ListOffsets, Duration::ZERO, |_| {
                list_offsets_request(topic, partition, timestamp)
            })
            .await?;
        let p = response_entry(
            resp.topics
                .into_iter()
                .filter(|t| t.name.as_str() == topic)
                .flat_map(|t| t.partitions),
            |p| p.partition_index == partition,
            || format!("{topic}-{partition} in ListOffsets"),
        )?;
        ClientError::check(p.error_code, Some(&format!("{topic}-{partition}")))?;
        Ok(ListedOffset {
            offset: p.offset,
            timestamp: p.timestamp,
            leader_epoch: p.leader_epoch,
        })
    }

    /// Produces `records` as one batch to `topic`-`partition` and returns the base offset the leader assigned
    /// (-1 with `acks` 0, which gets no answer). Retries only errors that guarantee nothing was appended
    /// (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION...) and connection failures before sending.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[OwnedRecord],
        acks: i16,
        compression: Compression,
    ) -> Result<i64, ClientError> {
        let batch = encode_batch(records, compression)?;
        let mut attempt = 0;
        loop {
            let result = self
                .produce_once(topic, partition, batch.clone(), acks)
                .await;
            match result {
                Err(e) if self.should_retry(&e, attempt, false, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn produce_once(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> Result<i64, ClientError> {
        let leader = self.leader_for(topic, partition).await?;
        let timeout_ms = self.timeout_ms();
        let req = produce_request(topic, partition, batch, acks, timeout_ms);
        if acks == 0 {
            let conn = self.broker_connection(leader).await?;
            let version = conn.version(ApiKey::Produce)?;
            let result = conn.send_no_response(&req, version).await;
            if result.as_ref().is_err_and(ClientError::poisons_connection) {
                self.brokers.remove(&leader);
            }
            return result.map(|()| -1);
        }
        let resp = self
            .send_to_broker(leader, ApiKey::Produce, Duration::ZERO, |_| req)
            .await?;
        let p = response_entry(
            resp.responses
                .into_iter()
                .filter(|t| t.name.as_str() == topic)
                .flat_map(|t| t.partition_responses),
            |p| p.index == partition,
            || format!("{topic}-{partition} in Produce"),
        )?;
        if p.error_code != 0 {
            let mut message = p
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_else(|| format!("{topic}-{partition}"));
            for e in &p.record_errors {
                message.push_str(&format!(
                    "; record {}: {}",
                    e.batch_index,
                    e.batch_index_error_message.as_deref().unwrap_or("")
                ));
            }
            ClientError::check(p.error_code, Some(&message))?;
        }
        Ok(p.base_offset)
    }

    /// Fetches one partition from `offset`, waiting up to `max_wait_ms` for data and returning at most about
    /// `max_bytes` (the first batch is returned whole even when larger).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<FetchedPartition, ClientError> {
        let mut attempt = 0;
        loop {
            let mut results = self
                .fetch_partitions(topic, &[(partition, offset)], max_wait_ms, max_bytes)
                .await?;
            let result = results.pop().map(|(_, r)| r).unwrap_or_else(|| {
                Err(ClientError::MissingInResponse {
                    what: format!("{topic}-{partition} in Fetch"),
                })
            });
            match result {
                Err(e) if self.should_retry(&e, attempt, true, topic) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Fetches several partitions of one topic, one request per leader, each partition from its own offset and
    /// up to about `partition_max_bytes` (Kafka's `max.partition.fetch.bytes`; a whole request is capped at
    /// `fetch.max.bytes`, 50 MiB, but never below `partition_max_bytes`). Brokers fill partitions in request
    /// order, so callers fetching many busy partitions should rotate the order between calls.
    /// Per-partition failures (OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER...) come back per partition and are
    /// not retried here; stale leaders are dropped from the cache so the next call re-routes.
    pub async fn fetch_partitions(
        &mut self,
        topic: &str,
        partitions: &[(i32, i64)],
        max_wait_ms: i32,
        partition_max_bytes: i32,
    ) -> Result<Vec<(i32, Result<FetchedPartition, ClientError>)>, ClientError> {
        let mut out = Vec::with_capacity(partitions.len());
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for &(partition, offset) in partitions {
            match self.leader_for(topic, partition).await {
                Ok(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((partition, offset)),
                Err(e) => out.push((partition, Err(e))),
            }
        }
        let topic_id = self
            .metadata
            .topics
            .get(topic)
            .map(|t| t.topic_id)
            .unwrap_or_default();
        // With several leaders, each request waits in turn; keep the total wait near max_wait_ms.
        let wait = if by_leader.len() > 1 {
            max_wait_ms / by_leader.len() as i32
        } else {
            max_wait_ms
        };
        for (leader, wanted) in by_leader {
            match self
                .fetch_from_leader(leader, topic, topic_id, &wanted, wait, partition_max_bytes)
                .await
            {
                Ok(results) => out.extend(results),
                Err(e) => {
                    let invalidate = e.invalidates_metadata() || e.poisons_connection();
                    out.extend(wanted.iter().map(|&(p, _)| (p, Err(e.duplicate()))));
                    if invalidate {
                        self.metadata.topics.remove(topic);
                    }
                }
            }
        }
        if out
            .iter()
            .any(|(_, r)| r.as_ref().is_err_and(ClientError::invalidates_metadata))
        {
            self.metadata.topics.remove(topic);
        }
        out.sort_by_key(|(p, _)| *p);
        Ok(out)
    }

    async fn fetch_from_leader(
        &mut self,
        leader: i32,
        topic: &str,
        topic_id: Uuid,
        wanted: &[(i32, i64)],
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<Vec<(i32, Result<FetchedPartition, ClientError>)>, ClientError> {
        let mut version = self
            .broker_connection(leader)
            .await?
            .version(ApiKey::Fetch)?;
        if topic_id.is_nil() {
            version = version.min(LAST_FETCH_VERSION_WITH_NAMES);
        }
        let extra_wait = Duration::from_millis(max_wait_ms.max(0) as u64);
        let req = fetch_request(topic, topic_id, wanted, max_wait_ms, max_bytes);
        let resp = self
            .send_to_broker_at(leader, version, extra_wait, req)
            .await?;
        ClientError::check(resp.error_code, Some("fetch session"))?;
        let mut results = Vec::with_capacity(wanted.len());
        for &(partition, offset) in wanted {
            let data = resp
                .responses
                .iter()
                .filter(|t| {
                    if version > LAST_FETCH_VERSION_WITH_NAMES {
                        t.topic_id == topic_id
                    } else {
                        t.topic.as_str() == topic
                    }
                })
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition);
            let result = match data {
                None => Err(ClientError::MissingInResponse {
                    what: format!("{topic}-{partition} in Fetch"),
                }),
                Some(p) => ClientError::check(
                    p.error_code,
                    Some(&format!("{topic}-{partition} at offset {offset}")),
                )
                .and_then(|()| {
                    let decoded = decode_fetched(p.records.clone().unwrap_or_default(), offset)?;
                    Ok(FetchedPartition {
                        partition,
                        records: decoded.records,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        next_offset: decoded.next_offset,
                    })
                }),
            };
            results.push((partition, result));
        }
        Ok(results)
    }
}
