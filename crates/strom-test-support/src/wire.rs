//! Raw Kafka wire frames over a plain `TcpStream`, for tests that must send what no well-behaved client would:
//! garbage, absurd sizes, unknown API keys, truncated bodies. Frames are built by hand (size, api key, version,
//! correlation id, client id) so a test can break any field; well-formed requests may use `kafka-protocol` codecs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

/// A request header v1 (the non-flexible one every broker must parse: ApiVersions is always sent with it) followed
/// by `body`, with the i32 size prefix.
pub fn request_frame(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(14 + body.len());
    payload.extend_from_slice(&api_key.to_be_bytes());
    payload.extend_from_slice(&api_version.to_be_bytes());
    payload.extend_from_slice(&correlation_id.to_be_bytes());
    match client_id {
        None => payload.extend_from_slice(&(-1_i16).to_be_bytes()),
        Some(id) => {
            payload.extend_from_slice(&(id.len() as i16).to_be_bytes());
            payload.extend_from_slice(id.as_bytes());
        }
    }
    payload.extend_from_slice(body);
    size_prefixed(&payload)
}

/// A request header v2 (v1 plus an empty tagged-field section), used by flexible versions, followed by `body`,
/// with the i32 size prefix. Kafka picks the header version from the API key and version, so an ApiVersions request
/// of any version above 2, even one the broker does not know, carries this header (KIP-511).
pub fn request_frame_flexible(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut frame = request_frame(api_key, api_version, correlation_id, client_id, &[]);
    frame.push(0); // no tagged fields
    frame.extend_from_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// `payload` with its i32 big-endian length in front.
pub fn size_prefixed(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A well-formed request frame encoded with `kafka-protocol`, header version chosen as the API demands.
pub fn encode_request<R: Encodable + HeaderVersion>(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    request: &R,
) -> anyhow::Result<Vec<u8>> {
    let header = kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_static_str(
            "strom-e2e-raw",
        )));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(api_version))?;
    request.encode(&mut buf, api_version)?;
    Ok(size_prefixed(&buf))
}

/// Splits a response frame body (without its size prefix) into its header and the decoded body.
pub fn decode_response<R: Decodable + HeaderVersion>(
    frame: &[u8],
    api_version: i16,
) -> anyhow::Result<(ResponseHeader, R)> {
    let mut buf = Bytes::copy_from_slice(frame);
    let header = ResponseHeader::decode(&mut buf, R::header_version(api_version))?;
    let body = R::decode(&mut buf, api_version)?;
    Ok((header, body))
}

/// What the broker did after we sent something.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A whole response frame arrived (size prefix stripped).
    Frame(Vec<u8>),
    /// The broker closed the connection (EOF or reset) before a whole frame arrived.
    Closed,
    /// Neither within the deadline: the connection is open and silent.
    Silent,
}

pub fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes `bytes`, tolerating the broker closing the connection part-way (that is one of the allowed reactions).
pub fn send(stream: &mut TcpStream, bytes: &[u8]) -> anyhow::Result<()> {
    match stream.write_all(bytes).and_then(|_| stream.flush()) {
        Ok(()) => Ok(()),
        Err(e) if is_closed(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads one response frame, or notices the connection closing, within `timeout`.
pub fn read_reply(stream: &mut TcpStream, timeout: Duration) -> anyhow::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let mut size = [0u8; 4];
    match read_exact_by(stream, &mut size, deadline)? {
        ReadResult::Done => {}
        ReadResult::Closed => return Ok(Reply::Closed),
        ReadResult::TimedOut => return Ok(Reply::Silent),
    }
    let size = i32::from_be_bytes(size);
    anyhow::ensure!(
        (0..=64 << 20).contains(&size),
        "response frame with implausible size {size}"
    );
    let mut frame = vec![0u8; size as usize];
    match read_exact_by(stream, &mut frame, deadline)? {
        ReadResult::Done => Ok(Reply::Frame(frame)),
        ReadResult::Closed => Ok(Reply::Closed),
        ReadResult::TimedOut => Ok(Reply::Silent),
    }
}

enum ReadResult {
    Done,
    Closed,
    TimedOut,
}

fn read_exact_by(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> anyhow::Result<ReadResult> {
    let mut filled = 0;
    while filled < buf.len() {
        let now = Instant::now();
        if now >= deadline {
            return Ok(ReadResult::TimedOut);
        }
        stream.set_read_timeout(Some(deadline - now))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(ReadResult::Closed),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(ReadResult::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_closed(&e) => return Ok(ReadResult::Closed),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ReadResult::Done)
}

fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_header_matches_kafka_protocol() {
        let hand = request_frame(18, 0, 7, Some("strom-e2e-raw"), &[]);
        let codec = encode_request(
            18,
            0,
            7,
            &kafka_protocol::messages::ApiVersionsRequest::default(),
        )
        .unwrap();
        assert_eq!(hand, codec);
    }

    #[test]
    fn hand_built_flexible_header_matches_kafka_protocol() {
        let body = kafka_protocol::messages::ApiVersionsRequest::default()
            .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str("a"))
            .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str("b"));
        let codec = encode_request(18, 3, 7, &body).unwrap();
        let hand = request_frame_flexible(18, 3, 7, Some("strom-e2e-raw"), &[2, b'a', 2, b'b', 0]);
        assert_eq!(hand, codec);
    }
}
