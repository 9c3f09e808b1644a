//! One client connection: reads frames, decodes them, hands each request to `dispatch`, writes responses.
//! Requests of a connection are handled one at a time, in order, as Kafka does; responses leave in request
//! order. Pipelined requests that are already buffered are answered together in one write.

use std::sync::Arc;

use bytes::BytesMut;
use strom_protocol::kafka_protocol::messages::ApiKey;
use strom_protocol::{decode_request, encode_response, Decoded, FrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, error, info};

use crate::api;
use crate::broker::Broker;
use crate::dispatch;

pub(crate) async fn serve(stream: TcpStream, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let max = usize::try_from(broker.config.socket_request_max_bytes).unwrap_or(100 << 20);
    let decoder = FrameDecoder::new(max);
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            let frame = match decoder.decode(&mut input) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    info!(%peer, "closing connection: {e}");
                    let _ = writer.write_all(&output).await;
                    return;
                }
            };
            let request = match decode_request(frame, dispatch::supported) {
                Ok(Decoded::Request(request)) => request,
                Ok(Decoded::UnsupportedApiVersions { header }) => {
                    let body = api::api_versions::unsupported_version();
                    if let Err(e) = encode_response(
                        &mut output,
                        ApiKey::ApiVersions,
                        0,
                        header.correlation_id,
                        &body,
                    ) {
                        error!(%peer, "encoding ApiVersions fallback failed: {e}");
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    info!(%peer, "closing connection: {e}");
                    let _ = writer.write_all(&output).await;
                    return;
                }
            };
            // A fetch may park for max_wait_ms: answers to earlier requests must not wait behind it.
            if request.api_key == ApiKey::Fetch && !output.is_empty() {
                if writer.write_all(&output).await.is_err() {
                    return;
                }
                output.clear();
            }
            let api_key = request.api_key;
            let version = request.version();
            let correlation_id = request.header.correlation_id;
            let response = match dispatch::handle(&broker, *request, peer_addr).await {
                Ok(Some(response)) => response,
                Ok(None) => continue, // acks=0 produce: Kafka sends no response at all
                Err(e) => {
                    error!(%peer, "closing connection: {e}");
                    let _ = writer.write_all(&output).await;
                    return;
                }
            };
            if let Err(e) =
                encode_response(&mut output, api_key, version, correlation_id, &response)
            {
                error!(%peer, ?api_key, version, "encoding response failed, closing connection: {e}");
                let _ = writer.write_all(&output).await;
                return;
            }
        }
        if !output.is_empty() {
            if writer.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        tokio::select! {
            read = reader.read_buf(&mut input) => match read {
                Ok(0) => { debug!(%peer, "connection closed by client"); return; }
                Ok(_) => {}
                Err(e) => { debug!(%peer, "read failed: {e}"); return; }
            },
            _ = stop.changed() => return,
        }
    }
}
