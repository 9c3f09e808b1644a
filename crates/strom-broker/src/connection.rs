//! One client connection: reads frames, decodes them, hands each request to `dispatch`, writes responses.
//! Requests of a connection are handled one at a time, in order, as Kafka does; responses leave in request
//! order. Pipelined requests that are already buffered are answered together in one write. Fetched record
//! sets that came back as segment file slices are sent with sendfile(2) into the gaps their placeholders left
//! in the encoded output (see `strom_protocol::response`), so record bytes are never copied in user space.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use strom_protocol::kafka_protocol::messages::ApiKey;
use strom_protocol::{decode_request, encode_response, Decoded, FrameDecoder};
use strom_storage::FileSlice;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, error, info};

use crate::api;
use crate::broker::Broker;
use crate::dispatch;

/// Encoded responses waiting to be written, with the file slices that go into their gaps.
struct Output {
    buf: BytesMut,
    /// (position in `buf` the slice goes before, slice), in position order.
    files: Vec<(usize, FileSlice)>,
}

impl Output {
    fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.files.is_empty()
    }

    /// Writes everything, in order, and empties the buffer.
    async fn flush(&mut self, writer: &mut OwnedWriteHalf) -> io::Result<()> {
        let mut from = 0;
        for (at, slice) in self.files.drain(..) {
            writer.write_all(&self.buf[from..at]).await?;
            send_file(writer.as_ref(), &slice).await?;
            from = at;
        }
        writer.write_all(&self.buf[from..]).await?;
        self.buf.clear();
        Ok(())
    }
}

/// sendfile(2) of the whole slice to the socket, waiting for writability as needed.
async fn send_file(stream: &TcpStream, slice: &FileSlice) -> io::Result<()> {
    let mut offset = slice.position();
    let end = offset + slice.len() as u64;
    while offset < end {
        stream.writable().await?;
        let count = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, slice.file(), Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match sent {
            // The segment was truncated after the read located the data: the frame cannot be completed.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended before the fetched slice did",
                ))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) async fn serve(stream: TcpStream, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let max = usize::try_from(broker.config.socket_request_max_bytes).unwrap_or(100 << 20);
    let decoder = FrameDecoder::new(max);
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = Output {
        buf: BytesMut::with_capacity(64 * 1024),
        files: Vec::new(),
    };
    loop {
        loop {
            let frame = match decoder.decode(&mut input) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    info!(%peer, "closing connection: {e}");
                    let _ = output.flush(&mut writer).await;
                    return;
                }
            };
            let request = match decode_request(frame, dispatch::supported) {
                Ok(Decoded::Request(request)) => request,
                Ok(Decoded::UnsupportedApiVersions { header }) => {
                    let body = api::api_versions::unsupported_version(dispatch::SUPPORTED);
                    if let Err(e) = encode_response(
                        &mut output.buf,
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
                    let _ = output.flush(&mut writer).await;
                    return;
                }
            };
            // A fetch may park for max_wait_ms: answers to earlier requests must not wait behind it.
            if request.api_key == ApiKey::Fetch
                && !output.is_empty()
                && output.flush(&mut writer).await.is_err()
            {
                return;
            }
            let api_key = request.api_key;
            let version = request.version();
            let correlation_id = request.header.correlation_id;
            let (response, files) = match dispatch::handle(&broker, *request, peer_addr).await {
                Ok(Some(response)) => response,
                Ok(None) => continue, // acks=0 produce: Kafka sends no response at all
                Err(e) => {
                    error!(%peer, "closing connection: {e}");
                    let _ = output.flush(&mut writer).await;
                    return;
                }
            };
            let start = output.buf.len();
            match encode_response(&mut output.buf, api_key, version, correlation_id, &response) {
                Ok(gaps)
                    if gaps.len() == files.len()
                        && gaps.iter().zip(&files).all(|(g, f)| g.len == f.len()) =>
                {
                    output.files.extend(gaps.iter().map(|g| g.at).zip(files));
                }
                Ok(gaps) => {
                    error!(%peer, ?api_key, gaps = gaps.len(), files = files.len(), "response gaps do not match its file slices, closing connection");
                    output.buf.truncate(start);
                    let _ = output.flush(&mut writer).await;
                    return;
                }
                Err(e) => {
                    error!(%peer, ?api_key, version, "encoding response failed, closing connection: {e}");
                    let _ = output.flush(&mut writer).await;
                    return;
                }
            }
        }
        if !output.is_empty() && output.flush(&mut writer).await.is_err() {
            return;
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
