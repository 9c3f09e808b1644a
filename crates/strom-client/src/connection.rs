//! One TCP connection to one broker: writing request frames and reading response frames (both encoded and
//! size-checked by strom-protocol), request headers, correlation-id checks, the ApiVersions handshake and the
//! per-connection version table. Strictly one request in flight at a time (the `&mut self` receiver enforces
//! it). Knows nothing of topics, leaders or retries; that is `Client`.

use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::ResponseError;
use strom_protocol::{api_name, check_frame_size, encode_request_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::ClientError;
use crate::versions::{NegotiatedVersions, CLIENT_VERSIONS};

/// Client id sent in every request header unless configured otherwise.
pub const DEFAULT_CLIENT_ID: &str = "strom-cli";

/// Largest response frame accepted (a Fetch with a generous `max_bytes` stays well below this).
const MAX_RESPONSE_SIZE: usize = 512 * 1024 * 1024;

/// A connection to one broker. Create with [`Connection::connect`], which also negotiates API versions.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    addr: String,
    client_id: StrBytes,
    next_correlation_id: i32,
    request_timeout: Duration,
    versions: NegotiatedVersions,
}

impl Connection {
    /// Opens a TCP connection to `addr` (`host:port`) and performs the ApiVersions handshake.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let connect = TcpStream::connect(addr);
        let stream = tokio::time::timeout(request_timeout, connect)
            .await
            .map_err(|_| ClientError::Connect {
                addr: addr.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        // Requests are written whole; Nagle would only delay them.
        stream.set_nodelay(true).map_err(|source| ClientError::Io {
            addr: addr.to_owned(),
            source,
        })?;
        let mut conn = Connection {
            stream,
            addr: addr.to_owned(),
            client_id: StrBytes::from_string(client_id.to_owned()),
            next_correlation_id: 0,
            request_timeout,
            versions: NegotiatedVersions::default(),
        };
        conn.handshake().await?;
        Ok(conn)
    }

    /// The `host:port` this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The version negotiated for `key`, or `UnsupportedApi` when broker and client share none.
    pub fn version(&self, key: ApiKey) -> Result<i16, ClientError> {
        self.versions
            .get(key)
            .ok_or_else(|| ClientError::UnsupportedApi {
                api: api_name(key),
                addr: self.addr.clone(),
            })
    }

    /// Sends `req` at `version` and waits for its response, within the request timeout plus `extra_wait`
    /// (a Fetch's `max_wait_ms`).
    pub async fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        extra_wait: Duration,
    ) -> Result<R::Response, ClientError> {
        let key = api_key::<R>();
        let mut body = self.round_trip(req, version, extra_wait).await?;
        R::Response::decode(&mut body, version)
            .map_err(|e| ClientError::decode(api_name(key), format!("{e:#}")))
    }

    /// Sends `req` without reading a response: only for Produce with acks=0, which the broker never answers.
    pub async fn send_no_response<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<(), ClientError> {
        self.write_request(req, version).await.map(|_| ())
    }

    /// ApiVersions v3, falling back as Kafka clients do: a broker that does not know the requested version answers
    /// UNSUPPORTED_VERSION in the v0 format with its own ApiVersions range, and we retry at that range's maximum.
    async fn handshake(&mut self) -> Result<(), ClientError> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strom-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let ours = CLIENT_VERSIONS
            .iter()
            .find(|(key, _)| *key == ApiKey::ApiVersions)
            .map(|(_, range)| *range.end())
            .unwrap_or(0);
        let mut version = ours;
        for _attempt in 0..2 {
            let body = self.round_trip(&req, version, Duration::ZERO).await?;
            let resp = decode_api_versions(body, version)?;
            if resp.error_code == ResponseError::UnsupportedVersion.code() && version > 0 {
                let broker_max = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                version = broker_max.clamp(0, version - 1);
                continue;
            }
            ClientError::check(resp.error_code, None)?;
            self.versions = NegotiatedVersions::from_broker(
                resp.api_keys
                    .iter()
                    .map(|k| (k.api_key, k.min_version, k.max_version)),
            );
            tracing::debug!(addr = %self.addr, ?self.versions, "negotiated API versions");
            return Ok(());
        }
        Err(ClientError::UnsupportedApi {
            api: "ApiVersions",
            addr: self.addr.clone(),
        })
    }

    async fn write_request<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<i32, ClientError> {
        let key = api_key::<R>();
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let frame = encode_request_frame(&header, req, version)
            .map_err(|e| ClientError::encode(api_name(key), e))?;
        let addr = &self.addr;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|source| ClientError::Io {
                addr: addr.clone(),
                source,
            })?;
        Ok(correlation_id)
    }

    /// Writes one request and returns the response body that follows the response header.
    async fn round_trip<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        extra_wait: Duration,
    ) -> Result<Bytes, ClientError> {
        let key = api_key::<R>();
        let correlation_id = self.write_request(req, version).await?;
        let timeout = self.request_timeout + extra_wait;
        let mut frame = match tokio::time::timeout(timeout, self.read_frame()).await {
            Ok(frame) => frame?,
            Err(_) => {
                return Err(ClientError::Timeout {
                    api: api_name(key),
                    addr: self.addr.clone(),
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
        };
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .map_err(|e| ClientError::decode("response header", format!("{e:#}")))?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::CorrelationMismatch {
                addr: self.addr.clone(),
                expected: correlation_id,
                received: header.correlation_id,
            });
        }
        Ok(frame)
    }

    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let addr = &self.addr;
        let io_err = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                ClientError::ConnectionClosed { addr: addr.clone() }
            } else {
                ClientError::Io {
                    addr: addr.clone(),
                    source,
                }
            }
        };
        let size = self.stream.read_i32().await.map_err(io_err)?;
        let len = check_frame_size(size, MAX_RESPONSE_SIZE).map_err(|_| {
            ClientError::InvalidFrameSize {
                addr: addr.clone(),
                size,
            }
        })?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await.map_err(io_err)?;
        Ok(Bytes::from(body))
    }
}

fn api_key<R: Request>() -> ApiKey {
    // Every `Request` type in kafka-protocol has a key that `ApiKey` knows.
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

/// Decodes an ApiVersions response at `version`, except that an UNSUPPORTED_VERSION answer is always in the v0
/// format (the broker cannot speak the version we asked for). The error code leads the body in every version.
fn decode_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsResponse, ClientError> {
    let unsupported =
        body.len() >= 2 && (&body[..2]).get_i16() == ResponseError::UnsupportedVersion.code();
    let version = if unsupported { 0 } else { version };
    ApiVersionsResponse::decode(&mut body.clone(), version)
        .map_err(|e| ClientError::decode("ApiVersions", format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn api_versions_falls_back_to_v0_format() {
        // What a broker that only knows ApiVersions v0..=2 sends back to a v3 request.
        let resp = ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(0)
                .with_max_version(2)]);
        let mut body = BytesMut::new();
        resp.encode(&mut body, 0).unwrap();
        let decoded = decode_api_versions(body.freeze(), 3).unwrap();
        assert_eq!(decoded.error_code, 35);
        assert_eq!(decoded.api_keys[0].max_version, 2);

        // A normal v3 answer decodes as v3.
        let ok = ApiVersionsResponse::default().with_api_keys(vec![ApiVersion::default()
            .with_api_key(ApiKey::Fetch as i16)
            .with_min_version(4)
            .with_max_version(17)]);
        let mut body = BytesMut::new();
        ok.encode(&mut body, 3).unwrap();
        let decoded = decode_api_versions(body.freeze(), 3).unwrap();
        assert_eq!(decoded.error_code, 0);
        assert_eq!(decoded.api_keys[0].max_version, 17);
    }
}
