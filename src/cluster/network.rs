//! The peer transport: raft RPCs, forwarded client commands and join
//! requests over TCP.
//!
//! ```text
//! frame:  len u32 BE | bincode body (len bytes, at most MAX_FRAME)
//! a connection: client -> Hello { version, secret }   (PROTOCOL_VERSION,
//!                                              the shared cluster secret)
//!               server -> Welcome | closes the connection
//!               then request / response frames, one at a time
//! ```
//!
//! Bodies are bincode (serde's compact binary form: integers fixed-width,
//! byte strings length-prefixed), so an entry of SETs costs about its
//! argument bytes; the enums below are the whole schema. A peer speaking
//! another protocol version is refused at its Hello.
//! The secret authenticates peers; it is not encryption. With `tls-cluster`
//! every connection is TLS first (both sides present a certificate signed by
//! the cluster's CA), then the Hello exchange runs inside it; without it,
//! keep the raft port on a private network.

use std::sync::Arc;
use std::time::Duration;

use bincode::Options;
use bytes::Bytes;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::tls::{PeerTls, Stream};

use super::{NodeInfo, Request, TypeConfig, WireReply};

/// The peer protocol's version: bumped when a message changes shape.
pub const PROTOCOL_VERSION: u32 = 2;

/// Largest frame accepted (a snapshot chunk is a few MiB).
pub const MAX_FRAME: u32 = 256 << 20;

/// How long connecting to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a peer asks.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    /// First frame of a connection.
    Hello {
        /// The sender's [`PROTOCOL_VERSION`].
        version: u32,
        /// The shared cluster secret.
        secret: String,
    },
    /// Raft AppendEntries.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft InstallSnapshot (one chunk).
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Raft RequestVote.
    Vote(VoteRequest<u64>),
    /// A follower forwards a client's command to the leader.
    Forward(Forward),
    /// A node asks the leader to add it (`--join`).
    Join(NodeInfo),
    /// A node asks the leader to remove a member (`CLUSTER LEAVE`).
    Remove {
        /// The member's node name.
        name: String,
    },
}

/// A client command forwarded to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum Forward {
    /// A write, already normalised: the leader proposes it as is.
    Write(Request),
    /// A linearizable read: the leader confirms its leadership, then runs it.
    Read {
        /// Logical database.
        db: usize,
        /// The follower's clock.
        now_ms: u64,
        /// The argv.
        argv: Vec<Bytes>,
    },
}

/// What a peer answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    /// Hello accepted.
    Welcome,
    /// AppendEntries result.
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// InstallSnapshot result.
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// Vote result.
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// The replies of a forwarded command (or of Join / Remove: one reply).
    Replies(Vec<WireReply>),
}

/// How a node authenticates to its peers and checks them.
#[derive(Debug, Clone, Default)]
pub struct PeerAuth {
    /// The shared cluster secret.
    pub secret: String,
    /// TLS for every peer connection (`tls-cluster`), if on.
    pub tls: Option<PeerTls>,
    /// Local address outgoing peer connections come from: the IP of this
    /// node's raft address, so that a peer (or a firewall, or the fault
    /// test's proxy) sees which node is calling. Falls back to the kernel's
    /// choice when the address is not local (NAT).
    pub source_ip: Option<std::net::IpAddr>,
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
pub(super) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Connects to `addr`, from `source` when given and usable.
async fn dial(addr: &str, source: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if target.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if socket.bind(std::net::SocketAddr::new(source, 0)).is_err() {
            // Not a local address (NAT): let the kernel choose.
            return TcpStream::connect(target).await;
        }
        match socket.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        None => TcpStream::connect(addr).await,
    }
}

/// Writes one frame.
pub async fn write_frame<T: Serialize, S: AsyncWrite + Unpin>(
    s: &mut S,
    msg: &T,
) -> std::io::Result<()> {
    let body = codec().serialize(msg).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    s.write_all(&buf).await?;
    s.flush().await
}

/// The bincode options of the transport: varint integers, no trailing
/// bytes, and no value may claim more than a frame's worth of memory.
fn codec() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_limit(u64::from(MAX_FRAME))
}

/// Largest first frame (the Hello) read from a connection not yet
/// authenticated.
const MAX_HELLO: u32 = 64 << 10;

/// Reads one frame (checks the length before allocating).
pub async fn read_frame<T: DeserializeOwned>(
    s: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<T> {
    read_frame_limited(s, MAX_FRAME).await
}

/// Reads one frame of at most `max` bytes.
async fn read_frame_limited<T: DeserializeOwned>(
    s: &mut (impl AsyncRead + Unpin),
    max: u32,
) -> std::io::Result<T> {
    let len = s.read_u32().await?;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "peer frame too large",
        ));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).await?;
    codec()
        .deserialize(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Compares two secrets without an early exit.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// One authenticated connection to a peer.
pub struct PeerConn {
    stream: Stream,
}

impl std::fmt::Debug for PeerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConn")
            .field("tls", &self.stream.is_tls())
            .finish()
    }
}

impl PeerConn {
    /// Connects to `addr` (over TLS if `auth` says so) and authenticates
    /// with the cluster secret.
    pub async fn connect(addr: &str, auth: &PeerAuth) -> std::io::Result<PeerConn> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, dial(addr, auth.source_ip))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        tcp.set_nodelay(true)?;
        let mut stream = match &auth.tls {
            None => Stream::Plain(tcp),
            Some(tls) => Stream::connect(&tls.connector, host_of(addr), tcp)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("TLS with {addr}: {e}")))?,
        };
        write_frame(
            &mut stream,
            &RpcRequest::Hello {
                version: PROTOCOL_VERSION,
                secret: auth.secret.clone(),
            },
        )
        .await?;
        match read_frame::<RpcResponse>(&mut stream).await? {
            RpcResponse::Welcome => Ok(PeerConn { stream }),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "peer refused the cluster secret",
            )),
        }
    }

    /// Sends a request and reads its response.
    pub async fn call(&mut self, req: &RpcRequest) -> std::io::Result<RpcResponse> {
        write_frame(&mut self.stream, req).await?;
        read_frame(&mut self.stream).await
    }
}

/// Most idle connections kept per peer.
const MAX_IDLE_PER_PEER: usize = 1024;

/// Idle authenticated connections to peers, by raft address. A connection
/// carries one request at a time: a caller takes one (or dials), and puts
/// it back after a whole request/response exchange.
#[derive(Debug, Default)]
pub struct PeerPool {
    idle: parking_lot::Mutex<std::collections::HashMap<String, Vec<PeerConn>>>,
}

impl PeerPool {
    /// An idle connection to `addr`, if one is pooled.
    pub fn take(&self, addr: &str) -> Option<PeerConn> {
        self.idle.lock().get_mut(addr).and_then(Vec::pop)
    }

    /// Returns a connection that finished its exchange cleanly.
    pub fn put(&self, addr: &str, conn: PeerConn) {
        let mut idle = self.idle.lock();
        let v = idle.entry(addr.to_owned()).or_default();
        if v.len() < MAX_IDLE_PER_PEER {
            v.push(conn);
        }
    }
}

/// Creates a [`PeerClient`] per target (openraft's network factory).
/// openraft 0.9 also asks for a fresh client for every leadership check
/// (each linearizable read round): clients share the pool, so that costs
/// no new TCP connection.
#[derive(Debug, Clone)]
pub struct Network {
    /// How to authenticate to peers.
    pub auth: Arc<PeerAuth>,
    /// Connections shared by every client (and the node's forwarding).
    pub pool: Arc<PeerPool>,
}

/// openraft's client to one peer; its connection goes back to the pool
/// when it is dropped.
#[derive(Debug)]
pub struct PeerClient {
    addr: String,
    auth: Arc<PeerAuth>,
    pool: Arc<PeerPool>,
    conn: Option<PeerConn>,
}

impl Drop for PeerClient {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.put(&self.addr, c);
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, _target: u64, node: &NodeInfo) -> PeerClient {
        PeerClient {
            addr: node.raft_addr.clone(),
            auth: self.auth.clone(),
            pool: self.pool.clone(),
            conn: None,
        }
    }
}

impl PeerClient {
    /// One exchange. Raft RPCs are idempotent, so a pooled connection that
    /// turns out dead (the peer restarted) is retried once on a new one.
    async fn call(&mut self, req: RpcRequest, ttl: Duration) -> std::io::Result<RpcResponse> {
        // The connection is held by the exchange, not by `self`, until the
        // response is read: a call cancelled halfway (openraft wraps calls
        // in timeouts) drops its connection instead of pooling a stream
        // with an unread response in it.
        let fut = async {
            if let Some(mut c) = self.conn.take().or_else(|| self.pool.take(&self.addr)) {
                match c.call(&req).await {
                    Ok(r) => {
                        self.conn = Some(c);
                        return Ok(r);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(e),
                    Err(_) => {}
                }
            }
            let mut c = PeerConn::connect(&self.addr, &self.auth).await?;
            let r = c.call(&req).await?;
            self.conn = Some(c);
            Ok(r)
        };
        let res = match tokio::time::timeout(ttl, fut).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer rpc timed out",
            )),
        };
        res
    }
}

fn unexpected() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected peer response")
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        match self
            .call(RpcRequest::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(RpcResponse::AppendEntries(Ok(r))) => Ok(r),
            Ok(RpcResponse::AppendEntries(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(0, e)))
            }
            Ok(_) => Err(RPCError::Network(NetworkError::new(&unexpected()))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, NodeInfo, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(RpcRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(RpcResponse::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(RpcResponse::InstallSnapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(0, e)))
            }
            Ok(_) => Err(RPCError::Network(NetworkError::new(&unexpected()))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        match self.call(RpcRequest::Vote(rpc), option.hard_ttl()).await {
            Ok(RpcResponse::Vote(Ok(r))) => Ok(r),
            Ok(RpcResponse::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(0, e))),
            Ok(_) => Err(RPCError::Network(NetworkError::new(&unexpected()))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

/// Handles the requests of authenticated peers (the node implements it).
pub trait RpcHandler: Send + Sync + 'static {
    /// Answers one request (never `Hello`).
    fn handle(
        self: Arc<Self>,
        req: RpcRequest,
    ) -> impl std::future::Future<Output = RpcResponse> + Send;
}

/// Serves peers on `listener` until the task is dropped.
pub async fn serve<H: RpcHandler>(listener: TcpListener, auth: Arc<PeerAuth>, handler: Arc<H>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "raft accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let auth = auth.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let acceptor = auth.tls.as_ref().map(|t| &t.acceptor);
            let mut stream = match Stream::server(tcp, acceptor).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "raft peer refused: TLS handshake failed");
                    return;
                }
            };
            match read_frame_limited::<RpcRequest>(&mut stream, MAX_HELLO).await {
                Ok(RpcRequest::Hello { version, .. }) if version != PROTOCOL_VERSION => {
                    tracing::warn!(%peer, version, ours = PROTOCOL_VERSION, "raft peer refused: another peer protocol version");
                    return;
                }
                Ok(RpcRequest::Hello { secret: given, .. })
                    if same_secret(&given, &auth.secret) => {}
                Ok(_) => {
                    tracing::warn!(%peer, "raft peer refused: bad or missing cluster secret");
                    return;
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "raft peer left before its hello");
                    return;
                }
            }
            if write_frame(&mut stream, &RpcResponse::Welcome)
                .await
                .is_err()
            {
                return;
            }
            loop {
                let req = match read_frame::<RpcRequest>(&mut stream).await {
                    Ok(RpcRequest::Hello { .. }) => return,
                    Ok(r) => r,
                    Err(_) => return,
                };
                let resp = handler.clone().handle(req).await;
                if write_frame(&mut stream, &resp).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(same_secret("", ""));
    }

    #[test]
    fn host_of_addresses() {
        assert_eq!(host_of("127.0.0.1:7000"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7000"), "::1");
        assert_eq!(host_of("node-a.example:7000"), "node-a.example");
    }
}
