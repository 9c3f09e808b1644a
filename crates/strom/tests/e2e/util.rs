//! Small helpers shared by the e2e modules: where the binary is, starting a broker, creating a topic in one line,
//! one raw-wire request/response round trip.

use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use strom_test_support::{kafka, wire, TestBroker};

/// The `strom` binary cargo built for this test run.
pub(crate) fn strom_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strom"))
}

/// A broker with default settings plus `extra_args`.
pub(crate) fn start_broker(extra_args: &[&str]) -> TestBroker {
    TestBroker::start(strom_bin(), extra_args).expect("starting strom broker")
}

/// Creates `topic` with `partitions` partitions and the given topic configs, and waits until it is usable.
pub(crate) fn create_topic(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let admin = kafka::admin(&broker.bootstrap()).expect("admin client");
    kafka::create_topic(&admin, topic, partitions, configs)
        .unwrap_or_else(|e| panic!("creating topic {topic}: {e:#}"));
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One request at `version` on a fresh connection, and its decoded response.
pub(crate) fn call<Req, Resp>(broker: &TestBroker, key: ApiKey, version: i16, request: &Req) -> Resp
where
    Req: Encodable + HeaderVersion,
    Resp: Decodable + HeaderVersion,
{
    let mut stream = wire::connect(broker.addr()).unwrap();
    let frame = wire::encode_request(key as i16, version, 1, request).unwrap();
    wire::send(&mut stream, &frame).unwrap();
    let wire::Reply::Frame(reply) = wire::read_reply(&mut stream, Duration::from_secs(10)).unwrap()
    else {
        panic!("no {key:?} v{version} response");
    };
    wire::decode_response::<Resp>(&reply, version).unwrap().1
}
