//! The peer transport: raft RPCs, forwarded client commands and join
//! requests over TCP.
//!
//! ```text
//! frame:  len u32 BE | bincode body (len bytes, at most MAX_FRAME)
//! a connection: client -> Hello { version, secret }   (PROTOCOL_VERSION,
//!                                              the shared cluster secret)
//!               server -> Welcome | closes the connection
//!               then request / response frames, one exchange at a time
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::tls::{PeerTls, Stream};

use super::{NodeInfo, Request, TypeConfig, WireReply};

/// The peer protocol's version: bumped when a message changes shape.
pub const PROTOCOL_VERSION: u32 = 4;

/// Largest frame accepted (a snapshot chunk is a few MiB).
pub const MAX_FRAME: u32 = 256 << 20;

/// How long connecting to a peer may take, the TLS and secret handshake
/// included (a peer that accepts but never answers, e.g. a stopped
/// process, must not hang a CLUSTER JOIN).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Would the peer vote for the sender (see `prevote`)? Changes nothing.
    PreVote {
        /// The term the sender would campaign at (its term + 1).
        term: u64,
        /// The sender's last log id.
        last_log_id: Option<super::LogId>,
    },
    /// A follower forwards a client's command to the leader.
    Forward(Forward),
    /// A node asks the leader to add it (`--join`).
    Join(NodeInfo),
    /// A node asks the leader to remove a member (`CLUSTER LEAVE`).
    Remove {
        /// The member's node name.
        name: String,
    },
    /// Where clients reach the node (its RESP address): the redirect mode's
    /// `-MOVED` and `CLUSTER SLOTS` name other members by it.
    ClientAddr,
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
    /// Whether the peer would vote for the sender.
    PreVote(bool),
    /// The replies of a forwarded command (or of Join / Remove: one reply).
    Replies(Vec<WireReply>),
    /// The node's RESP address (`host:port`).
    ClientAddr(String),
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
    write_frame_with(s, msg, &mut Vec::new()).await
}

/// Writes one frame, encoded in `buf` (a connection's reusable buffer:
/// one encoding pass straight into it, no allocation once it has grown).
async fn write_frame_with<T: Serialize, S: AsyncWrite + Unpin>(
    s: &mut S,
    msg: &T,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    codec()
        .serialize_into(&mut *buf, msg)
        .map_err(std::io::Error::other)?;
    let len = u32::try_from(buf.len() - 4)
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("frame too large"))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    let res = s.write_all(buf).await;
    if buf.capacity() > KEEP_BUFFER {
        // A snapshot chunk's worth is not kept for every connection.
        *buf = Vec::new();
    }
    res?;
    s.flush().await
}

/// Largest write buffer a connection keeps between frames, and its read
/// buffer's size (one read usually takes in a whole frame, or several).
const KEEP_BUFFER: usize = 1 << 20;
const READ_BUFFER: usize = 64 << 10;

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
    stream: BufReader<Stream>,
    /// The frame being written.
    wbuf: Vec<u8>,
}

impl std::fmt::Debug for PeerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConn")
            .field("tls", &self.stream.get_ref().is_tls())
            .finish()
    }
}

impl PeerConn {
    /// Connects to `addr` (over TLS if `auth` says so) and authenticates
    /// with the cluster secret, within [`CONNECT_TIMEOUT`].
    pub async fn connect(addr: &str, auth: &PeerAuth) -> std::io::Result<PeerConn> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::handshake(addr, auth))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer to the handshake within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                )
            })?
    }

    /// [`PeerConn::connect`] without its deadline.
    async fn handshake(addr: &str, auth: &PeerAuth) -> std::io::Result<PeerConn> {
        let tcp = dial(addr, auth.source_ip).await?;
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
            RpcResponse::Welcome => Ok(PeerConn {
                stream: BufReader::with_capacity(READ_BUFFER, stream),
                wbuf: Vec::new(),
            }),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "peer refused the cluster secret",
            )),
        }
    }

    /// Sends a request and reads its response.
    pub async fn call(&mut self, req: &RpcRequest) -> std::io::Result<RpcResponse> {
        write_frame_with(&mut self.stream, req, &mut self.wbuf).await?;
        read_frame(&mut self.stream).await
    }
}

/// Whether `r` is an AppendEntries answer naming a newer vote (the leader
/// must step down).
pub(super) fn is_higher_vote(r: &RpcResponse) -> bool {
    matches!(
        r,
        RpcResponse::AppendEntries(Ok(AppendEntriesResponse::HigherVote(_)))
    )
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
    /// The leader's log watermark: the commit index sent to followers is
    /// cut to it (see [`super::log_store::Durable`]).
    pub durable: Option<super::log_store::Durable>,
    /// How soon after an entries exchange an empty AppendEntries counts as
    /// its commit notice (see [`PeerClient`]): a quarter of the heartbeat
    /// interval (openraft sends the notice right after the answer).
    pub notice_window: Duration,
}

/// openraft's client to one peer; its connection goes back to the pool
/// when it is dropped.
///
/// Commit notices are not sent. openraft 0.9's replication stream to a
/// follower keeps one AppendEntries in flight, and right after entries are
/// acknowledged and committed it sends an empty AppendEntries that only
/// carries the new commit index (one per entries exchange under load),
/// and waits for its answer before the next entries. An empty request that
/// comes within the notice window (a quarter of the heartbeat interval) of
/// an entries exchange on the same client is taken for such a notice: it
/// is answered `Success` here and not sent. The commit index reaches the
/// follower with the next request, entries or heartbeat (every request
/// carries it): under load with the next entries, and at most a heartbeat
/// interval later when the cluster goes idle. Clients never wait for it:
/// the leader answers them once it applied. Measured (session 41,
/// alternated pairs, `redis-benchmark -c 50`): SET `-P 1` on disk
/// 49.0-51.3k/s against 36.4-42.1k, on tmpfs +9-10 %; a follower's CPU per
/// entry -25 to -30 %, its context switches per entry 4.2 -> 2.8; `-P 16`
/// unchanged. Sound because an empty request changes nothing openraft
/// relies on: 0.9 never sends a log probe without entries, and takes
/// nothing from the success of an empty request but a metrics clock (the
/// matching index moves only with entries); a conflict or a higher vote
/// shows in the next request's answer (same or later previous log id), so
/// the leader steps down one exchange later at worst. Any empty request
/// after another one, or later than the window, is sent and waited for:
/// a heartbeat that happens to fall in the window is skipped, so a
/// follower hears from the leader at least once per 1.25 heartbeat
/// intervals (well inside the election timeout). Leadership checks
/// (`ensure_linearizable`) use a fresh client each, whose first request is
/// always sent, so they never see an answer made up here.
#[derive(Debug)]
pub struct PeerClient {
    addr: String,
    auth: Arc<PeerAuth>,
    pool: Arc<PeerPool>,
    conn: Option<PeerConn>,
    /// When this client's last request, if it carried entries, was
    /// answered (see [`PeerClient`] on commit notices).
    after_entries: Option<std::time::Instant>,
    /// See [`Network::durable`].
    durable: Option<super::log_store::Durable>,
    /// See [`Network::notice_window`].
    notice_window: Duration,
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
            after_entries: None,
            durable: self.durable.clone(),
            notice_window: self.notice_window,
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
        within(ttl, fut).await
    }
}

/// `fut`, or a timeout error after `ttl`.
async fn within<T>(
    ttl: Duration,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(ttl, fut).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "peer rpc timed out",
        )),
    }
}

/// A failed call, for openraft: `Unreachable`, so that replication to
/// that peer backs off ([`PeerClient::backoff`]) before the next try. A
/// timeout too: as a `Network` error openraft would retry at once, and a
/// follower that is only slow would get the same entries again while it
/// still works on them (tried in session 23: no gain in the snapshot
/// stall once the backoff was short, failover figures within the noise).
fn transport_error<E: std::error::Error>(e: std::io::Error) -> RPCError<u64, NodeInfo, E> {
    RPCError::Unreachable(Unreachable::new(&e))
}

fn unexpected() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected peer response")
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        if let Some(durable) = &self.durable {
            rpc.leader_commit = durable.commit_for_followers(rpc.leader_commit);
        }
        let entries = !rpc.entries.is_empty();
        let notice = !entries
            && self
                .after_entries
                .take()
                .is_some_and(|at| at.elapsed() < self.notice_window);
        if notice {
            return Ok(AppendEntriesResponse::Success);
        }
        match self
            .call(RpcRequest::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(RpcResponse::AppendEntries(Ok(r))) => {
                if entries {
                    self.after_entries = Some(std::time::Instant::now());
                }
                Ok(r)
            }
            Ok(RpcResponse::AppendEntries(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(0, e)))
            }
            Ok(_) => Err(RPCError::Network(NetworkError::new(&unexpected()))),
            Err(e) => Err(transport_error(e)),
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
            Err(e) => Err(transport_error(e)),
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
            Err(e) => Err(transport_error(e)),
        }
    }

    /// After an `Unreachable` error: wait 25 ms, then twice as long each
    /// time up to 500 ms, until a call succeeds. openraft's default is
    /// 500 ms every time: one AppendEntries timeout (the heartbeat
    /// interval, 100 ms) of a follower that was only slow paused
    /// replication to it, and every write that needed its vote, 0.6 s.
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(
            std::iter::successors(Some(Duration::from_millis(25)), |d| Some(*d * 2))
                .map(|d| d.min(Duration::from_millis(500))),
        )
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
            let mut stream = BufReader::with_capacity(READ_BUFFER, stream);
            let mut wbuf = Vec::new();
            loop {
                let req = match read_frame::<RpcRequest>(&mut stream).await {
                    Ok(RpcRequest::Hello { .. }) => return,
                    Ok(r) => r,
                    Err(_) => return,
                };
                let resp = handler.clone().handle(req).await;
                if write_frame_with(&mut stream, &resp, &mut wbuf)
                    .await
                    .is_err()
                {
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

    use openraft::{CommittedLeaderId, EntryPayload, Vote};

    use super::super::{Entry, LogId};

    fn append(index: u64, with_entry: bool) -> AppendEntriesRequest<TypeConfig> {
        let id = |i| LogId::new(CommittedLeaderId::new(1, 1), i);
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: Some(id(index)),
            leader_commit: Some(id(index)),
            entries: if with_entry {
                vec![Entry {
                    log_id: id(index + 1),
                    payload: EntryPayload::Blank,
                }]
            } else {
                Vec::new()
            },
        }
    }

    /// A peer on a free loopback port: welcomes its first connection and
    /// hands it to `serve`. Returns the address.
    async fn fake_peer<F, Fut>(serve: F) -> String
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _: RpcRequest = read_frame(&mut s).await.unwrap();
            write_frame(&mut s, &RpcResponse::Welcome).await.unwrap();
            serve(s).await;
        });
        addr
    }

    fn answer(r: AppendEntriesResponse<u64>) -> RpcResponse {
        RpcResponse::AppendEntries(Ok(r))
    }

    fn client(addr: &str) -> PeerClient {
        client_with(addr, Duration::from_secs(5))
    }

    fn client_with(addr: &str, notice_window: Duration) -> PeerClient {
        PeerClient {
            addr: addr.to_owned(),
            auth: Arc::new(PeerAuth::default()),
            pool: Arc::new(PeerPool::default()),
            conn: None,
            after_entries: None,
            durable: None,
            notice_window,
        }
    }

    fn opt() -> RPCOption {
        RPCOption::new(Duration::from_secs(5))
    }

    /// A peer that answers every request with `answers` in turn and
    /// reports, for each request, whether it carried entries.
    async fn recording_peer(
        answers: Vec<AppendEntriesResponse<u64>>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<bool>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let addr = fake_peer(move |mut s| async move {
            for a in answers {
                let Ok(RpcRequest::AppendEntries(r)) = read_frame::<RpcRequest>(&mut s).await
                else {
                    return;
                };
                let _ = tx.send(!r.entries.is_empty());
                write_frame(&mut s, &answer(a)).await.unwrap();
            }
        })
        .await;
        (addr, rx)
    }

    /// One AppendEntries through `c` (see [`append`]).
    async fn exchange(
        c: &mut PeerClient,
        index: u64,
        with_entry: bool,
    ) -> AppendEntriesResponse<u64> {
        c.append_entries(append(index, with_entry), opt())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_commit_notice_right_after_entries_is_not_sent() {
        let ok = || AppendEntriesResponse::Success;
        let higher = Vote::new_committed(2, 2);
        let (addr, mut seen) =
            recording_peer(vec![ok(), ok(), AppendEntriesResponse::HigherVote(higher)]).await;
        let mut c = client(&addr);
        assert!(exchange(&mut c, 1, true).await.is_success());
        // The notice: answered here, never on the wire.
        assert!(exchange(&mut c, 2, false).await.is_success());
        assert!(exchange(&mut c, 2, true).await.is_success());
        // A second empty request (a heartbeat) is sent, and its answer is
        // the peer's.
        assert!(exchange(&mut c, 3, false).await.is_success());
        let r = exchange(&mut c, 3, false).await;
        assert_eq!(r, AppendEntriesResponse::HigherVote(higher));
        let mut got = Vec::new();
        while let Ok(e) = seen.try_recv() {
            got.push(e);
        }
        assert_eq!(got, vec![true, true, false]);
    }

    #[tokio::test]
    async fn a_heartbeat_long_after_entries_is_sent() {
        let higher = Vote::new_committed(2, 2);
        let answers = vec![
            AppendEntriesResponse::Success,
            AppendEntriesResponse::HigherVote(higher),
        ];
        let (addr, _seen) = recording_peer(answers).await;
        let window = Duration::from_millis(20);
        let mut c = client_with(&addr, window);
        exchange(&mut c, 1, true).await;
        tokio::time::sleep(window * 3).await;
        let r = exchange(&mut c, 2, false).await;
        assert_eq!(r, AppendEntriesResponse::HigherVote(higher));
    }

    #[tokio::test]
    async fn an_empty_first_request_waits_for_its_answer() {
        // A leadership check sends one empty request on a fresh client: it
        // must get the peer's real answer.
        let higher = Vote::new_committed(3, 2);
        let addr = fake_peer(move |mut s| async move {
            let _: RpcRequest = read_frame(&mut s).await.unwrap();
            let r = answer(AppendEntriesResponse::HigherVote(higher));
            write_frame(&mut s, &r).await.unwrap();
        })
        .await;
        let mut c = client(&addr);
        let r = exchange(&mut c, 1, false).await;
        assert_eq!(r, AppendEntriesResponse::HigherVote(higher));
    }
}
