//! Criterion micro-benchmarks of request decoding on the broker's hot paths: a Produce request carrying 1 MB
//! of records (one partition, and eight partitions of 128 KB), and a Fetch request for 8 and 100 partitions.
//! The records stay an opaque `Bytes` slice, so the Produce figure should not grow with the payload size.
//!
//! Measures strom-protocol only (framing + header + body codec). Quick smoke run for CI:
//! `cargo bench -p strom-protocol --bench decode -- --test` (each benchmark once).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use strom_protocol::{decode_request, encode_request_frame, Decoded, FrameDecoder};

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

/// Serves every version, so the benchmark measures decoding and not the version table.
fn all_versions(_: ApiKey) -> Option<(i16, i16)> {
    Some((0, i16::MAX))
}

/// A size-prefixed frame: header + body as a client sends it.
fn frame(api_key: ApiKey, version: i16, body: &(impl Encodable + HeaderVersion)) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("bench")));
    encode_request_frame(&header, body, version).expect("encoding the request")
}

fn produce(partitions: i32, bytes_per_partition: usize) -> Bytes {
    let records = Bytes::from(vec![b'x'; bytes_per_partition]);
    let body = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench-topic")))
            .with_partition_data(
                (0..partitions)
                    .map(|p| {
                        PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(records.clone()))
                    })
                    .collect(),
            )]);
    frame(ApiKey::Produce, PRODUCE_VERSION, &body)
}

fn fetch(partitions: i32) -> Bytes {
    let body = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("bench-topic")))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(1_000_000)
                            .with_partition_max_bytes(1_048_576)
                    })
                    .collect(),
            )]);
    frame(ApiKey::Fetch, FETCH_VERSION, &body)
}

/// Cuts the frame off a read buffer as the connection does, then decodes it.
fn decode(mut buf: BytesMut) -> Decoded {
    let frame = FrameDecoder::new(200 * 1024 * 1024)
        .decode(&mut buf)
        .expect("a valid frame")
        .expect("a whole frame");
    decode_request(frame, all_versions).expect("a valid request")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, wire) in [
        ("produce_v9_1x1mb", produce(1, 1_000_000)),
        ("produce_v9_8x128kb", produce(8, 128_000)),
        ("fetch_v12_8_partitions", fetch(8)),
        ("fetch_v12_100_partitions", fetch(100)),
    ] {
        // Sanity: the frame decodes to the request we meant.
        assert!(matches!(
            decode(BytesMut::from(&wire[..])),
            Decoded::Request(_)
        ));
        g.throughput(Throughput::Elements(1));
        // The read buffer is filled outside the timed region: copying bytes off the socket is not decoding.
        g.bench_function(name, |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |buf| black_box(decode(buf)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
