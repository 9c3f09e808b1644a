//! How raft RPCs leave this node. `RaftTransport` is our own seam, free of openraft types: it
//! ships an RPC kind plus a serialized request to a node and returns the serialized reply. The
//! openraft `RaftNetworkFactory`/`RaftNetwork` adapters here only encode, forward and decode.
//!
//! A single voter uses `SingleNodeTransport`, which answers every call with `Unreachable`
//! (raft never calls it with no peers). A quorum uses `net::TcpTransport` over the CONTROLLER
//! listener; on the receiving side node/mod.rs's `ControllerService` feeds the request to
//! `Raft::append_entries`/`vote`/`install_snapshot` and returns the JSON of their `Result`.

use std::future::Future;
use std::sync::Arc;

use openraft::error::{
    Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// openraft's network factory over a `RaftTransport`.
#[derive(Debug)]
pub(crate) struct Network<T> {
    transport: Arc<T>,
}

impl<T> Network<T> {
    pub(crate) fn new(transport: T) -> Network<T> {
        Network {
            transport: Arc::new(transport),
        }
    }
}

impl<T: RaftTransport> RaftNetworkFactory<TypeConfig> for Network<T> {
    type Network = Connection<T>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection<T> {
        Connection {
            transport: Arc::clone(&self.transport),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// openraft's connection to one peer: encodes, forwards to the transport, decodes.
#[derive(Debug)]
pub(crate) struct Connection<T> {
    transport: Arc<T>,
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
        self.send(RaftRpc::AppendEntries, &rpc).await
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
