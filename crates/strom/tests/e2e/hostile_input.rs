//! Hostile and broken input on raw TCP connections. For each attack the broker must either answer with an error or
//! close that one connection (never hang on it, never allocate what a forged size asks for, never panic), while a
//! librdkafka producer connected before the attack keeps producing and a consumer keeps reading.

use std::net::Shutdown;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use rdkafka::message::Message;
use rdkafka::Offset;
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::wire::{self, Reply};
use strom_test_support::TestBroker;

use crate::util::{create_topic, start_broker};

/// How long the broker gets to answer or close after an attack. Generous for a loaded machine; a broker that is
/// simply waiting for more bytes would be silent for all of it.
const REACTION: Duration = Duration::from_secs(15);

const API_VERSIONS: i16 = 18;
const METADATA: i16 = 3;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_TOPIC_EXCEPTION: i16 = 17;

/// A broker with a `canary` topic and a producer already connected to it.
struct Fixture {
    broker: TestBroker,
    producer: TestProducer,
}

impl Fixture {
    fn new() -> Fixture {
        let broker = start_broker(&[]);
        create_topic(&broker, "canary", 1, &[]);
        let producer =
            TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")])
                .unwrap();
        let fixture = Fixture { broker, producer };
        fixture.still_serving("before any attack");
        fixture
    }

    /// Produces a record labelled `after` through the long-lived producer and reads it back at its offset.
    fn still_serving(&self, after: &str) {
        let value = format!("canary {after}");
        let outcome = self
            .producer
            .send_sync(&Record::new("canary").partition(0).value(value.as_bytes()))
            .unwrap_or_else(|e| panic!("{after}: {e:#}"));
        let (_, offset) = outcome.unwrap_or_else(|e| panic!("{after}: canary produce failed: {e}"));
        let consumer = kafka::assigned_consumer(
            &self.broker.bootstrap(),
            "canary",
            &[(0, Offset::Offset(offset))],
            &[],
        )
        .unwrap();
        let read = kafka::poll_until(&consumer, Duration::from_secs(60), |got| !got.is_empty())
            .unwrap_or_else(|e| panic!("{after}: canary consume failed: {e:#}"));
        assert_eq!(
            (read[0].offset(), read[0].payload()),
            (offset, Some(value.as_bytes())),
            "{after}"
        );
        self.broker.assert_no_panic();
    }

    /// Opens a raw connection, sends `bytes`, and returns how the broker reacted; a silent broker fails the test.
    fn attack(&self, what: &str, bytes: &[u8]) -> Reply {
        let mut stream = wire::connect(self.broker.addr()).unwrap();
        wire::send(&mut stream, bytes).unwrap();
        let reply = wire::read_reply(&mut stream, REACTION).unwrap();
        assert_ne!(
            reply,
            Reply::Silent,
            "{what}: the broker neither answered nor closed the connection"
        );
        reply
    }
}

/// Deterministic junk (a small LCG), so a failure can be replayed.
fn junk(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

fn response_correlation_id(frame: &[u8]) -> i32 {
    i32::from_be_bytes(
        frame[..4]
            .try_into()
            .expect("a response starts with a correlation id"),
    )
}

#[test]
fn garbage_bytes() {
    let f = Fixture::new();

    // An HTTP request: "GET " read as a size is ~1.1 GB, far beyond any request limit.
    let reply = f.attack("HTTP request", b"GET / HTTP/1.1\r\nHost: strom\r\n\r\n");
    assert_eq!(
        reply,
        Reply::Closed,
        "an HTTP request must get the connection closed"
    );
    f.still_serving("an HTTP request");

    // A negative size.
    let mut negative = (-1_i32).to_be_bytes().to_vec();
    negative.extend(junk(60, 1));
    assert_eq!(f.attack("negative frame size", &negative), Reply::Closed);
    f.still_serving("a negative frame size");

    // A plausible size followed by junk (api key -1 style nonsense, bogus client id length).
    let framed = wire::size_prefixed(&[0xff, 0xff, 0x7f, 0x01, 0, 0, 0, 1, 0x7f, 0xff]);
    f.attack("junk inside a well-sized frame", &framed);
    f.still_serving("junk inside a well-sized frame");

    for seed in 3..8 {
        let body = junk(40, seed);
        let reply = f.attack(
            &format!("random frame (seed {seed})"),
            &wire::size_prefixed(&body),
        );
        if let Reply::Frame(frame) = reply {
            assert!(
                frame.len() >= 4,
                "seed {seed}: a response needs at least a correlation id"
            );
        }
        f.still_serving(&format!("random frame seed {seed}"));
    }
}

#[test]
fn frame_size_of_two_gigabytes() {
    let f = Fixture::new();
    let rss_before = f.broker.rss_kib().unwrap();
    let mut bytes = 0x7fff_ffff_i32.to_be_bytes().to_vec();
    bytes.extend(wire::request_frame(API_VERSIONS, 0, 1, Some("x"), &[]).split_off(4));
    bytes.extend(vec![0u8; 4096]);
    assert_eq!(
        f.attack("a 2 GB frame size", &bytes),
        Reply::Closed,
        "an over-limit frame size must close the connection"
    );
    f.still_serving("a 2 GB frame size");
    let rss_after = f.broker.rss_kib().unwrap();
    assert!(
        rss_after < rss_before + 256 * 1024,
        "broker RSS grew from {rss_before} KiB to {rss_after} KiB: it must not allocate what a frame size claims"
    );
}

#[test]
fn unknown_api_key() {
    let f = Fixture::new();
    let frame = wire::request_frame(9999, 0, 4242, Some("strom-e2e-raw"), &[0, 0, 0, 0]);
    if let Reply::Frame(response) = f.attack("api key 9999", &frame) {
        assert_eq!(
            response_correlation_id(&response),
            4242,
            "a response must carry the request's correlation id"
        );
    }
    f.still_serving("api key 9999");
}

#[test]
fn truncated_requests() {
    let f = Fixture::new();

    // The size promises 100 bytes; 10 arrive, then the client half-closes. The broker must notice the EOF and close.
    let mut stream = wire::connect(f.broker.addr()).unwrap();
    let mut bytes = 100_i32.to_be_bytes().to_vec();
    bytes.extend(&wire::request_frame(API_VERSIONS, 0, 5, Some("x"), &[])[4..10]);
    wire::send(&mut stream, &bytes).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let reply = wire::read_reply(&mut stream, REACTION).unwrap();
    assert_eq!(
        reply,
        Reply::Closed,
        "a frame cut short by EOF must close the connection"
    );
    f.still_serving("a frame cut short by EOF");

    // The same, with the client closing the socket entirely: nothing to observe but the broker's health.
    let mut stream = wire::connect(f.broker.addr()).unwrap();
    wire::send(&mut stream, &bytes).unwrap();
    drop(stream);
    f.still_serving("a frame cut short by close");

    // A complete frame whose body is cut: Metadata v1 says 5 topics follow, then the frame ends after half a name.
    let mut body = 5_i32.to_be_bytes().to_vec();
    body.extend(10_i16.to_be_bytes());
    body.extend(b"cano");
    let frame = wire::request_frame(METADATA, 1, 6, Some("strom-e2e-raw"), &body);
    if let Reply::Frame(response) = f.attack("Metadata with a truncated body", &frame) {
        assert_eq!(response_correlation_id(&response), 6);
    }
    f.still_serving("a Metadata request with a truncated body");

    // A frame that ends inside the request header (client id length 20, 3 bytes of it).
    let mut header = Vec::new();
    header.extend(METADATA.to_be_bytes());
    header.extend(1_i16.to_be_bytes());
    header.extend(7_i32.to_be_bytes());
    header.extend(20_i16.to_be_bytes());
    header.extend(b"abc");
    f.attack("a truncated request header", &wire::size_prefixed(&header));
    f.still_serving("a truncated request header");
}

/// KIP-511: an ApiVersions request with a version the broker does not know gets an ApiVersions v0 response with
/// UNSUPPORTED_VERSION and the broker's supported ranges, so the client can retry with a version it knows.
#[test]
fn api_versions_with_unsupported_version() {
    let f = Fixture::new();
    let mut stream = wire::connect(f.broker.addr()).unwrap();
    // Header v2 and a v3-style body (client software name and version, compact strings), as a newer client sends.
    let body = [&[10][..], b"strom-e2e", &[4], b"1.0", &[0]].concat();
    let request = wire::request_frame_flexible(API_VERSIONS, 99, 77, Some("strom-e2e-raw"), &body);
    wire::send(&mut stream, &request).unwrap();
    let reply = wire::read_reply(&mut stream, REACTION).unwrap();
    let Reply::Frame(frame) = reply else {
        panic!("ApiVersions v99 must be answered (KIP-511), got {reply:?}");
    };
    let mut buf = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut buf, 0).unwrap();
    assert_eq!(header.correlation_id, 77);
    let response = ApiVersionsResponse::decode(&mut buf, 0)
        .expect("the answer must be an ApiVersions v0 body");
    assert_eq!(
        response.error_code, UNSUPPORTED_VERSION,
        "error code for ApiVersions v99"
    );
    let own = response.api_keys.iter().find(|k| k.api_key == API_VERSIONS);
    let own =
        own.expect("the UNSUPPORTED_VERSION answer must list the supported ApiVersions range");
    assert_eq!(own.min_version, 0);
    assert!(
        own.max_version >= 3,
        "ApiVersions max version {}",
        own.max_version
    );

    // The connection stays usable: the retry with a supported version succeeds.
    let retry = wire::encode_request(API_VERSIONS, 0, 78, &ApiVersionsRequest::default()).unwrap();
    wire::send(&mut stream, &retry).unwrap();
    let reply = wire::read_reply(&mut stream, REACTION).unwrap();
    let Reply::Frame(frame) = reply else {
        panic!("the ApiVersions v0 retry on the same connection got {reply:?}");
    };
    let (header, response) = wire::decode_response::<ApiVersionsResponse>(&frame, 0).unwrap();
    assert_eq!((header.correlation_id, response.error_code), (78, 0));
    assert!(
        response.api_keys.iter().any(|k| k.api_key == METADATA),
        "Metadata must be advertised"
    );
    f.still_serving("ApiVersions v99");
}

/// Metadata for topics whose names Kafka forbids, with auto-creation requested: INVALID_TOPIC_EXCEPTION for each,
/// and nothing is created.
#[test]
fn metadata_with_invalid_topic_names() {
    let f = Fixture::new();
    let names = [
        "bad name!".to_string(),
        "slash/inside".to_string(),
        "..".to_string(),
        "x".repeat(250),
    ];
    let topics: Vec<MetadataRequestTopic> = names
        .iter()
        .map(|n| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
        })
        .collect();
    for version in [4_i16, 12] {
        let request = MetadataRequest::default()
            .with_topics(Some(topics.clone()))
            .with_allow_auto_topic_creation(true);
        let mut stream = wire::connect(f.broker.addr()).unwrap();
        wire::send(
            &mut stream,
            &wire::encode_request(METADATA, version, 9, &request).unwrap(),
        )
        .unwrap();
        let Reply::Frame(frame) = wire::read_reply(&mut stream, REACTION).unwrap() else {
            panic!("Metadata v{version} with invalid topic names must be answered");
        };
        let (header, response) =
            wire::decode_response::<MetadataResponse>(&frame, version).unwrap();
        assert_eq!(header.correlation_id, 9);
        for name in &names {
            let topic = response
                .topics
                .iter()
                .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name.as_str()))
                .unwrap_or_else(|| {
                    panic!("v{version}: no entry for topic {name:?} in the response")
                });
            assert_eq!(
                topic.error_code, INVALID_TOPIC_EXCEPTION,
                "v{version}: error code for topic {name:?}"
            );
        }
    }
    let admin = kafka::admin(&f.broker.bootstrap()).unwrap();
    let md = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    // Internal topics (`__consumer_offsets`, created when the canary consumer looks up its coordinator) are
    // not user topics.
    let listed: Vec<&str> = md
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|n| !n.starts_with("__"))
        .collect();
    assert_eq!(listed, vec!["canary"], "invalid topics must not be created");
    f.still_serving("Metadata with invalid topic names");
}
