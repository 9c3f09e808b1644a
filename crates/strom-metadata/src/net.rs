//! The CONTROLLER listener's wire: a TCP client (`TcpTransport`, a pool of connections per
//! peer, also the `RaftTransport` of a multi-voter quorum) and a server (`bind` + `serve`, one
//! task per connection) that hands each request to a `RequestHandler`.
//!
//! A request is `[u32 BE length][u8 kind][JSON body]` (the length counts kind + body); a reply
//! is `[u32 BE length][JSON body]`. A connection carries one request at a time. Frames longer
//! than `MAX_FRAME_BYTES` or of an unknown kind close the connection, and bodies are buffered
//! only as their bytes arrive, so hostile bytes cost at most one frame of memory per connection
//! and never a panic. What the JSON means (raft RPCs, forwarded proposals, broker heartbeats,
//! DescribeQuorum) is the handler's business (node/mod.rs), not this file's.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{MetadataError, TransportError};
use crate::raft_types::NodeId;
use crate::transport::{RaftRpc, RaftTransport};

/// The largest frame either side accepts (a raft snapshot chunk is well below it).
pub(crate) const MAX_FRAME_BYTES: u32 = 64 * 1024 * 1024;
/// How long opening a connection to a peer may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a raft RPC (request sent, reply read) may take. openraft puts its own, usually
/// shorter, deadline around each call.
const RAFT_RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Once the first byte of a frame arrived, the rest must follow within this time; an idle
/// connection between frames may stay open indefinitely (the pool keeps them).
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per peer.
const MAX_IDLE_PER_PEER: usize = 4;

/// What a request frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// openraft `AppendEntriesRequest`; reply `Result<AppendEntriesResponse, RaftError>`.
    AppendEntries = 1,
    /// openraft `VoteRequest`; reply `Result<VoteResponse, RaftError>`.
    Vote = 2,
    /// openraft `InstallSnapshotRequest`; reply `Result<InstallSnapshotResponse, RaftError<_, InstallSnapshotError>>`.
    InstallSnapshot = 3,
    /// A `MetadataRequest` forwarded to the leader; reply `ProposeReply`.
    Propose = 4,
    /// A `BrokerHeartbeat` for the active controller; reply `HeartbeatResponse`.
    Heartbeat = 5,
    /// DescribeQuorum asked of the leader (no body); reply `DescribeQuorumReply`.
    DescribeQuorum = 6,
}

impl RequestKind {
    fn from_byte(byte: u8) -> Option<RequestKind> {
        Some(match byte {
            1 => RequestKind::AppendEntries,
            2 => RequestKind::Vote,
            3 => RequestKind::InstallSnapshot,
            4 => RequestKind::Propose,
            5 => RequestKind::Heartbeat,
            6 => RequestKind::DescribeQuorum,
            _ => return None,
        })
    }

    /// Whether sending the request twice is harmless (so a stale pooled connection may be
    /// retried on a fresh one). A forwarded proposal is not: it could commit twice.
    fn idempotent(self) -> bool {
        self != RequestKind::Propose
    }
}

impl From<RaftRpc> for RequestKind {
    fn from(rpc: RaftRpc) -> RequestKind {
        match rpc {
            RaftRpc::AppendEntries => RequestKind::AppendEntries,
            RaftRpc::Vote => RequestKind::Vote,
            RaftRpc::InstallSnapshot => RequestKind::InstallSnapshot,
        }
    }
}

/// The client side: requests to peers' controller listeners over pooled connections.
#[derive(Debug, Default)]
pub(crate) struct TcpTransport {
    /// Idle connections by peer address. Taken out for one request, put back after a reply.
    idle: Mutex<HashMap<String, Vec<TcpStream>>>,
}

impl TcpTransport {
    pub(crate) fn new() -> TcpTransport {
        TcpTransport::default()
    }

    /// Sends one request to `target` at `addr` and returns the reply body. `Unreachable`
    /// means the request was certainly not delivered (no connection); `Network` means it may
    /// or may not have been processed.
    pub(crate) async fn request(
        &self,
        target: NodeId,
        addr: &str,
        kind: RequestKind,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        match tokio::time::timeout(timeout, self.request_on_pool(target, addr, kind, body)).await {
            Ok(reply) => reply,
            Err(_) => Err(TransportError::Network {
                target,
                reason: format!("no reply within {timeout:?}"),
            }),
        }
    }

    async fn request_on_pool(
        &self,
        target: NodeId,
        addr: &str,
        kind: RequestKind,
        body: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        if let Some(mut stream) = self.take_idle(addr) {
            match exchange(&mut stream, kind, body).await {
                Ok(reply) => {
                    self.put_idle(addr, stream);
                    return Ok(reply);
                }
                // The peer may have closed the idle connection (it restarted); an idempotent
                // request simply goes again on a fresh connection.
                Err(e) if kind.idempotent() => {
                    tracing::debug!(target, addr, error = %e, "pooled controller connection failed, reconnecting");
                }
                Err(e) => {
                    return Err(TransportError::Network {
                        target,
                        reason: e.to_string(),
                    })
                }
            }
        }
        let mut stream = connect(target, addr).await?;
        let reply =
            exchange(&mut stream, kind, body)
                .await
                .map_err(|e| TransportError::Network {
                    target,
                    reason: e.to_string(),
                })?;
        self.put_idle(addr, stream);
        Ok(reply)
    }

    /// An idle connection to `addr` that still looks open.
    fn take_idle(&self, addr: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let streams = idle.get_mut(addr)?;
        while let Some(stream) = streams.pop() {
            // Between requests the peer sends nothing: readable data or EOF means the
            // connection is broken (or the peer closed it), WouldBlock means it is usable.
            let mut probe = [0u8; 1];
            match stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(stream),
                _ => continue,
            }
        }
        None
    }

    fn put_idle(&self, addr: &str, stream: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let streams = idle.entry(addr.to_string()).or_default();
        if streams.len() < MAX_IDLE_PER_PEER {
            streams.push(stream);
        }
    }
}

impl RaftTransport for Arc<TcpTransport> {
    async fn call(
        &self,
        target: NodeId,
        addr: &str,
        rpc: RaftRpc,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        self.request(target, addr, rpc.into(), &request, RAFT_RPC_TIMEOUT)
            .await
    }
}

async fn connect(target: NodeId, addr: &str) -> Result<TcpStream, TransportError> {
    let unreachable = |reason: String| TransportError::Unreachable { target, reason };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(format!("connect to {addr} timed out")))?
        .map_err(|e| unreachable(format!("connect to {addr}: {e}")))?;
    // Requests are small and latency-bound (raft heartbeats).
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(addr, error = %e, "TCP_NODELAY not set");
    }
    Ok(stream)
}

/// Writes one request frame and reads one reply frame.
async fn exchange(stream: &mut TcpStream, kind: RequestKind, body: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(body.len() + 1)
        .ok()
        .filter(|len| *len <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "request too large"))?;
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(kind as u8);
    frame.extend_from_slice(body);
    stream.write_all(&frame).await?;
    let len = stream.read_u32().await?;
    read_body(stream, len).await
}

/// Reads a frame body of `len` bytes, refusing lengths over the cap. The buffer grows with
/// the bytes that actually arrive, so a lying length costs nothing up front.
async fn read_body(stream: &mut TcpStream, len: u32) -> io::Result<Vec<u8>> {
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"),
        ));
    }
    let mut body = Vec::with_capacity(usize::try_from(len.min(64 * 1024)).unwrap_or(0));
    stream.take(u64::from(len)).read_to_end(&mut body).await?;
    if u64::try_from(body.len()).ok() != Some(u64::from(len)) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a frame",
        ));
    }
    Ok(body)
}

/// The server side's view of a request: answers one decoded frame. `None` means the body was
/// garbage; the connection is then closed.
pub(crate) trait RequestHandler: Send + Sync + 'static {
    fn handle(
        &self,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// Binds the controller listener.
pub(crate) async fn bind(addr: &str) -> Result<TcpListener, MetadataError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| MetadataError::Listen {
            addr: addr.to_string(),
            source: e,
        })
}

/// Accepts connections until `shutdown` turns true (or its sender is dropped), serving each on
/// its own task. Returning drops the connection tasks, which closes their sockets.
pub(crate) async fn serve<H: RequestHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "TCP_NODELAY not set");
                    }
                    connections.spawn(serve_connection(stream, Arc::clone(&handler)));
                }
                Err(e) => {
                    // Usually running out of file descriptors; back off instead of spinning.
                    tracing::warn!(error = %e, "controller listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow with every reconnect.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Resolves once `stop` turns true or its sender is gone. Returns `()` so no watch guard
/// lives in a `select!` output (that would make the future `!Send`).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves one connection: one request at a time, answered in order.
async fn serve_connection<H: RequestHandler>(mut stream: TcpStream, handler: Arc<H>) {
    let peer = stream.peer_addr().ok();
    loop {
        // Between frames a connection may idle (the peer pools it); once a frame has begun,
        // the rest must arrive within FRAME_TIMEOUT.
        let first = match stream.read_u8().await {
            Ok(byte) => byte,
            Err(_) => return, // closed between frames: the normal end
        };
        let frame = async {
            let mut rest = [0u8; 3];
            stream.read_exact(&mut rest).await?;
            let len = u32::from_be_bytes([first, rest[0], rest[1], rest[2]]);
            read_body(&mut stream, len).await
        };
        let body = match tokio::time::timeout(FRAME_TIMEOUT, frame).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                tracing::debug!(?peer, error = %e, "closing controller connection: bad frame");
                return;
            }
            Err(_) => {
                tracing::debug!(?peer, "closing controller connection: frame timed out");
                return;
            }
        };
        let Some((&kind, body)) = body.split_first() else {
            tracing::debug!(?peer, "closing controller connection: empty frame");
            return;
        };
        let Some(kind) = RequestKind::from_byte(kind) else {
            tracing::debug!(
                ?peer,
                kind,
                "closing controller connection: unknown request kind"
            );
            return;
        };
        let Some(reply) = handler.handle(kind, body.to_vec()).await else {
            tracing::debug!(
                ?peer,
                ?kind,
                "closing controller connection: undecodable request"
            );
            return;
        };
        let Some(len) = u32::try_from(reply.len())
            .ok()
            .filter(|len| *len <= MAX_FRAME_BYTES)
        else {
            tracing::warn!(
                ?peer,
                ?kind,
                bytes = reply.len(),
                "controller reply too large"
            );
            return;
        };
        let mut frame = Vec::with_capacity(reply.len() + 4);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&reply);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes the body back, prefixed by the kind; refuses bodies starting with `!`.
    struct Echo;

    impl RequestHandler for Echo {
        async fn handle(&self, kind: RequestKind, body: Vec<u8>) -> Option<Vec<u8>> {
            if body.first() == Some(&b'!') {
                return None;
            }
            let mut reply = vec![kind as u8];
            reply.extend(body);
            Some(reply)
        }
    }

    async fn server() -> (String, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::new(Echo), stopped));
        (addr, stop, task)
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn requests_reuse_pooled_connections_and_survive_garbage() {
        let (addr, stop, task) = server().await;
        let transport = TcpTransport::new();
        for i in 0..3u8 {
            let reply = transport
                .request(1, &addr, RequestKind::Vote, &[i, 7], T)
                .await
                .unwrap();
            assert_eq!(reply, vec![2, i, 7]);
        }
        assert_eq!(transport.idle.lock().unwrap()[&addr].len(), 1);

        // Hostile frames: a huge length, an unknown kind, an empty frame, a refused body,
        // a frame cut short. Each closes only its own connection.
        let hostile: [&[u8]; 5] = [
            &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            &[0, 0, 0, 2, 99, b'x'],
            &[0, 0, 0, 0],
            &[0, 0, 0, 2, 5, b'!'],
            &[0, 0x10, 0, 0, 1, b'{'],
        ];
        for bytes in hostile {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            stream.write_all(bytes).await.unwrap();
            // Ends the cut-short frame early; the others are closed by the server first.
            stream.shutdown().await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(T, stream.read_to_end(&mut rest))
                .await
                .unwrap();
            assert!(rest.is_empty(), "{rest:?}");
        }
        // A refused body over the pool surfaces as a network error, and the pool recovers.
        let refused = transport
            .request(1, &addr, RequestKind::Propose, b"!", T)
            .await;
        assert!(matches!(refused, Err(TransportError::Network { .. })));
        let reply = transport
            .request(1, &addr, RequestKind::Heartbeat, b"ok", T)
            .await
            .unwrap();
        assert_eq!(reply, b"\x05ok".to_vec());

        stop.send_replace(true);
        task.await.unwrap();
        // The listener is gone: connecting fails, and a pooled connection is noticed as closed.
        let gone = transport
            .request(1, &addr, RequestKind::Vote, b"x", T)
            .await;
        assert!(
            matches!(gone, Err(TransportError::Unreachable { .. })),
            "{gone:?}"
        );
    }
}
