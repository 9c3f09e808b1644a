//! How raft RPCs leave this node. `RaftTransport` is our own seam, free of openraft types: it
//! ships an RPC kind plus a serialized request to a node and returns the serialized reply. The
//! openraft `RaftNetworkFactory`/`RaftNetwork` adapters here only encode, forward and decode.
//!
//! A single voter uses `SingleNodeTransport`, which answers every call with `Unreachable`
//! (raft never calls it with no peers). A quorum uses `net::TcpTransport` over the CONTROLLER
//! listener; on the receiving side node/mod.rs's `ControllerService` feeds the request to
//! `Raft::append_entries`/`vote`/`install_snapshot` and returns the JSON of their `Result`.
//!
//! The connections also note, in `FollowerContacts`, when each follower last answered an AppendEntries (a
//! heartbeat or entries) and when it last was caught up with the leader's log: openraft 0.9 keeps the
//! followers' ack instants to itself, and DescribeQuorum reports them (Kafka's LastFetchTimestamp and
//! LastCaughtUpTimestamp).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use openraft::error::{
    Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftMetrics};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;

use crate::error::TransportError;
use crate::raft_types::{NodeId, TypeConfig};

/// Which raft RPC a payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RaftRpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

/// Sends one raft RPC (JSON of openraft's request) to `target` at `addr`, returning the JSON
/// of the target's `Result<response, RaftError>`.
pub(crate) trait RaftTransport: Send + Sync + 'static {
    fn call(
        &self,
        target: NodeId,
        addr: &str,
        rpc: RaftRpc,
        request: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}

/// The transport of a single-voter quorum: there is nobody to talk to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SingleNodeTransport;

impl RaftTransport for SingleNodeTransport {
    async fn call(
        &self,
        target: NodeId,
        _addr: &str,
        _rpc: RaftRpc,
        _request: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Unreachable {
            target,
            reason: "the metadata quorum has a single voter and no transport".to_string(),
        })
    }
}

/// When this node, as leader, last heard from each follower (Kafka's `ReplicaState` timestamps).
#[derive(Debug, Default)]
pub(crate) struct FollowerContacts {
    contacts: Mutex<BTreeMap<NodeId, Contact>>,
    /// The local raft's metrics (its last log index), set once raft is running.
    metrics: OnceLock<watch::Receiver<RaftMetrics<NodeId, BasicNode>>>,
}

/// One follower's last answers to this node's AppendEntries, in the leader term they were sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Contact {
    pub(crate) term: u64,
    /// Milliseconds since the epoch of the last answer, or -1.
    pub(crate) last_fetch_ms: i64,
    /// Milliseconds since the epoch of the last answer that left the follower's log matching the leader's
    /// whole log, or -1.
    pub(crate) last_caught_up_ms: i64,
}

impl FollowerContacts {
    /// Hands in the raft metrics, which tell the leader's last log index.
    pub(crate) fn set_metrics(&self, metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>) {
        // Set once per raft instance; a second call has nothing to add.
        let _ = self.metrics.set(metrics);
    }

    /// `target` answered an AppendEntries of leader term `term`; `matched` is the log index its log now
    /// matches up to (None: not known from this answer).
    fn record(&self, target: NodeId, term: u64, matched: Option<u64>) {
        let now = strom_protocol::clock::now_ms();
        let leader_end = self.metrics.get().map(|m| m.borrow().last_log_index);
        let caught_up = match (matched, leader_end) {
            (Some(m), Some(end)) => end.is_none_or(|end| m >= end),
            _ => false,
        };
        let mut contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        let contact = contacts.entry(target).or_insert(Contact {
            term,
            last_fetch_ms: -1,
            last_caught_up_ms: -1,
        });
        if contact.term != term {
            *contact = Contact {
                term,
                last_fetch_ms: -1,
                last_caught_up_ms: -1,
            };
        }
        contact.last_fetch_ms = now;
        if caught_up {
            contact.last_caught_up_ms = now;
        }
    }

    /// What `target` last answered in leader term `term` (both -1 when it has not answered in that term).
    pub(crate) fn contact(&self, target: NodeId, term: u64) -> (i64, i64) {
        let contacts = self.contacts.lock().unwrap_or_else(|e| e.into_inner());
        match contacts.get(&target) {
            Some(c) if c.term == term => (c.last_fetch_ms, c.last_caught_up_ms),
            _ => (-1, -1),
        }
    }
}

/// openraft's network factory over a `RaftTransport`.
#[derive(Debug)]
pub(crate) struct Network<T> {
    transport: Arc<T>,
    contacts: Arc<FollowerContacts>,
}

impl<T> Network<T> {
    pub(crate) fn new(transport: T, contacts: Arc<FollowerContacts>) -> Network<T> {
        Network {
            transport: Arc::new(transport),
            contacts,
        }
    }
}

impl<T: RaftTransport> RaftNetworkFactory<TypeConfig> for Network<T> {
    type Network = Connection<T>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection<T> {
        Connection {
            transport: Arc::clone(&self.transport),
            contacts: Arc::clone(&self.contacts),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// openraft's connection to one peer: encodes, forwards to the transport, decodes.
#[derive(Debug)]
pub(crate) struct Connection<T> {
    transport: Arc<T>,
    contacts: Arc<FollowerContacts>,
    target: NodeId,
    addr: String,
}

type RpcResult<R, E> = Result<R, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl<T: RaftTransport> Connection<T> {
    async fn send<Req, Resp, E>(&self, rpc: RaftRpc, request: &Req) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error,
        RaftError<NodeId, E>: DeserializeOwned,
    {
        let request =
            serde_json::to_vec(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = self
            .transport
            .call(self.target, &self.addr, rpc, request)
            .await
            .map_err(|e| match e {
                TransportError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                TransportError::Network { .. } => RPCError::Network(NetworkError::new(&e)),
            })?;
        let reply: Result<Resp, RaftError<NodeId, E>> =
            serde_json::from_slice(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl<T: RaftTransport> RaftNetwork<TypeConfig> for Connection<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, Infallible> {
        let term = rpc.vote.leader_id().get_term();
        let sent_end = rpc
            .entries
            .last()
            .map(|e| e.log_id.index)
            .or(rpc.prev_log_id.map(|l| l.index));
        let result = self.send(RaftRpc::AppendEntries, &rpc).await;
        if let Ok(response) = &result {
            let matched = match response {
                AppendEntriesResponse::Success => sent_end,
                AppendEntriesResponse::PartialSuccess(l) => l.map(|l| l.index),
                AppendEntriesResponse::Conflict | AppendEntriesResponse::HigherVote(_) => None,
            };
            self.contacts.record(self.target, term, matched);
        }
        result
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.send(RaftRpc::InstallSnapshot, &rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, Infallible> {
        self.send(RaftRpc::Vote, &rpc).await
    }
}
