//! A running cluster node: its raft instance, the peer listener, and the
//! operations the server needs (propose a write, linearizable read, forward
//! to the leader, join / remove members, describe the cluster).
//!
//! Forming a cluster (docs/architecture.md, "Cluster"): `CLUSTER INIT name
//! addr` only records the node's identity and starts its raft listener. The
//! cluster is created by the first `CLUSTER JOIN` run on a node that is not
//! yet in one: that node initialises a one-node cluster of itself, snapshots
//! and purges its log (so that every later member starts from a snapshot,
//! which replaces whatever data the member had), then adds the peer as a
//! learner, waits for it to catch up and promotes it to voter. A node that
//! was `CLUSTER INIT`-ed and then joined therefore never forms a second
//! cluster: its log is empty until the leader's snapshot arrives.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::metrics::RaftServerMetrics;
use openraft::{ChangeMembers, ServerState};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::log_store::LogStore;
use super::network::{
    is_higher_vote, Forward, Network, PeerAuth, PeerConn, PeerPool, RpcHandler, RpcRequest,
    RpcResponse,
};
use super::prevote::{Elector, Voter};
use super::state_machine::StateMachine;
use super::{node_id, NodeInfo, Raft, Request, WireReply};
use crate::command::{Ctx, Reply};
use crate::keyspace::Keyspace;
use crate::server::BoxFuture;

/// Cluster settings (startup flags `--node-id`, `--raft-addr`, `--join`,
/// `--cluster-secret`).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the raft log, snapshot and identity live (default:
    /// `<data dir>/cluster`).
    pub dir: PathBuf,
    /// The shared secret peers must present. Default: empty (any peer that
    /// also has an empty secret).
    pub secret: String,
    /// TLS for the raft transport (`tls-cluster`); `None`: plain TCP.
    pub tls: Option<crate::tls::PeerTls>,
    /// This node's name; with `raft_addr`, starts the node at boot (as
    /// `CLUSTER INIT` would).
    pub node_name: Option<String>,
    /// This node's raft address, as peers dial it.
    pub raft_addr: Option<String>,
    /// Where the raft listener binds, when not at `raft_addr` (a node behind
    /// NAT or a proxy: peers dial `raft_addr`, which leads here).
    pub raft_bind: Option<String>,
    /// The raft address of a member to ask to add this node at boot.
    pub join: Option<String>,
    /// How long a write or linearizable read may wait for a quorum before
    /// `-TIMEOUT` (default 5 s).
    pub timeout: Duration,
    /// Leader heartbeat interval, ms (`--raft-heartbeat-ms`, default 50).
    pub heartbeat_ms: u64,
    /// Election timeout, ms (`--raft-election-timeout-ms`, default 200): a
    /// node draws its timeout in [t, 2t]. openraft 0.9 makes a follower of a
    /// live leader wait 2t (its lease) plus its timeout before campaigning,
    /// so failover takes about 3-4 t.
    pub election_timeout_ms: u64,
    /// Upper end of the election timeout draw, ms
    /// (`--raft-election-timeout-max-ms`, default twice the lower end). It
    /// is also openraft's leader lease: a follower waits it plus its own
    /// timeout after the last heartbeat before it campaigns.
    pub election_timeout_max_ms: Option<u64>,
    /// Serve reads from this node's own state without a leadership check
    /// (`--cluster-read-mode local`): possibly stale, never forwarded.
    /// Default: linearizable reads. `CLUSTER READMODE` switches it.
    pub local_reads: bool,
    /// Redirect mode (`--cluster-redirect`): a follower answers a keyed
    /// write or linearizable read with `-MOVED <slot> <leader>` instead of
    /// forwarding it. `CLUSTER REDIRECT` switches it.
    pub redirect: bool,
    /// The RESP address clients reach this node at, as `-MOVED` and
    /// `CLUSTER SLOTS` name it (`--cluster-announce-addr`). Default: the
    /// raft address's host with [`ClusterConfig::client_port`].
    pub announce: Option<String>,
    /// The server's RESP port (for the default announced address).
    pub client_port: u16,
}

/// How long JOIN waits for a new learner to catch up (a snapshot install of
/// a big dataset included) before it gives up on promoting it.
const LEARNER_CATCH_UP: Duration = Duration::from_secs(600);

/// How long each membership change of JOIN (adding the learner, promoting
/// it) may take on the leader.
const JOIN_STEP: Duration = Duration::from_secs(60);

/// How long a membership change of REMOVE / LEAVE may take on the leader.
const REMOVE_STEP: Duration = Duration::from_secs(30);

/// How long a follower waits for the leader's answer to a forwarded JOIN:
/// the leader's own budget for it, and a second of slack. (With the write
/// timeout, a JOIN whose learner took a few seconds to catch up answered
/// `-TIMEOUT` at the follower while the leader went on and promoted it.)
const JOIN_FORWARD: Duration =
    Duration::from_secs(2 * JOIN_STEP.as_secs() + LEARNER_CATCH_UP.as_secs() + 1);

/// The same for a forwarded REMOVE / LEAVE (at most one membership change).
const REMOVE_FORWARD: Duration = Duration::from_secs(REMOVE_STEP.as_secs() + 1);

/// How long a snapshot chunk RPC may take, the follower's install of the
/// whole snapshot included (the last chunk's reply waits for it). Only a
/// snapshot transfer to a node that stops answering without closing its
/// connection (a partition) waits this long before the leader retries.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 120_000;

impl ClusterConfig {
    /// How this node authenticates to peers and checks them.
    pub fn peer_auth(&self) -> PeerAuth {
        PeerAuth {
            secret: self.secret.clone(),
            tls: self.tls.clone(),
            source_ip: None,
        }
    }

    /// Defaults under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ClusterConfig {
        ClusterConfig {
            dir: dir.into(),
            secret: String::new(),
            tls: None,
            node_name: None,
            raft_addr: None,
            raft_bind: None,
            join: None,
            timeout: Duration::from_secs(5),
            heartbeat_ms: 50,
            election_timeout_ms: 200,
            election_timeout_max_ms: None,
            local_reads: false,
            redirect: false,
            announce: None,
            client_port: 0,
        }
    }
}

/// The persisted identity (`identity.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    name: String,
    raft_addr: String,
}

/// Reads the identity a previous `CLUSTER INIT` recorded.
pub(crate) fn load_identity(dir: &Path) -> std::io::Result<Option<NodeInfo>> {
    match std::fs::read(dir.join("identity.json")) {
        Ok(b) => {
            let id: Identity = serde_json::from_slice(&b).map_err(std::io::Error::other)?;
            Ok(Some(NodeInfo {
                name: id.name,
                raft_addr: id.raft_addr,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn save_identity(dir: &Path, info: &NodeInfo) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("identity.json.tmp");
    let body = serde_json::to_vec(&Identity {
        name: info.name.clone(),
        raft_addr: info.raft_addr.clone(),
    })
    .map_err(std::io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join("identity.json"))?;
    std::fs::File::open(dir)?.sync_all()
}

/// `-CLUSTERDOWN ...`
fn clusterdown(why: &str) -> Reply {
    Reply::Error(format!("CLUSTERDOWN {why}"))
}

/// `-CLUSTERDOWN ... (not executed)`: the command certainly did not run
/// (nothing was proposed or sent), so a client may retry it safely.
pub(super) fn not_executed(why: &str) -> Reply {
    Reply::Error(format!("CLUSTERDOWN {why} (not executed)"))
}

/// `-TIMEOUT ...`
fn timeout_reply() -> Reply {
    Reply::error("TIMEOUT no quorum within the timeout; the write may or may not be committed")
}

/// A running node.
pub struct ClusterNode {
    /// Raft node id (from the name, see [`node_id`]).
    pub id: u64,
    /// Name and raft address.
    pub info: NodeInfo,
    /// The raft handle (cheap to clone).
    pub raft: Raft,
    /// The state machine's keyspace, for reads served here.
    keyspace: Arc<Keyspace>,
    auth: Arc<PeerAuth>,
    timeout: Duration,
    /// Idle authenticated connections to other nodes (shared with raft's
    /// network): forwarding borrows one and puts it back.
    pool: Arc<PeerPool>,
    /// Writes waiting to be proposed: the proposer task takes everything
    /// queued while the previous entry was in flight and proposes it as one
    /// `Request::Batch` entry (one raft log fsync for all of them).
    proposals: tokio::sync::mpsc::UnboundedSender<Proposal>,
    /// Writes this node forwards to the leader (it is a follower): the
    /// forwarder task sends every write queued as one batch, one request
    /// at a time, so they keep their order.
    forwards: tokio::sync::mpsc::UnboundedSender<Proposal>,
    /// Writes queued to the forwarder and not answered yet: while some
    /// are, new writes queue behind them even on a node that just became
    /// leader (a connection's writes apply in its order).
    forwarding: Arc<AtomicU64>,
    /// Set once the node has seen a membership (it never goes back to
    /// none): `is_formed` on every write then skips the metrics.
    formed: AtomicBool,
    /// Linearizable reads waiting for a leadership check: the read barrier
    /// task confirms leadership once for every read queued meanwhile.
    reads: tokio::sync::mpsc::UnboundedSender<ReadWaiter>,
    /// Times this node saw a new leader (`raft_leader_changes_seen`).
    leader_changes: Arc<AtomicU64>,
    /// Where clients reach this node (`host:port`, RESP).
    pub client_addr: String,
    /// Other members' client addresses, by raft id, with when they were
    /// asked: an answer is kept [`CLIENT_ADDR_TTL`] (a member may restart
    /// elsewhere), no answer [`CLIENT_ADDR_RETRY`] (a member that is down
    /// costs one timeout per that time, not one per `CLUSTER SLOTS`).
    client_addrs: Mutex<HashMap<u64, (Option<String>, Instant)>>,
    /// The raft log (a clone sharing the store openraft owns): its last
    /// log id goes into pre-votes.
    log: LogStore,
    /// The election timer (pre-vote, see `prevote`).
    elector: Arc<Elector>,
    /// The node's tasks (peer listener, proposer, read barrier, leader
    /// watcher, election timer); aborted on drop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Counts every change to a known leader this node sees (a term without a
/// leader does not count; a new leader, or the same one after an election
/// in a later term, does). etcd calls it `leader_changes_seen`. Watches
/// the server metrics, which change with the vote, state, leader or
/// membership only (the full metrics change with every entry, and would
/// wake this task a few times per entry).
async fn watch_leader(
    mut metrics: tokio::sync::watch::Receiver<RaftServerMetrics<u64, NodeInfo>>,
    count: Arc<AtomicU64>,
) {
    let mut last: Option<(u64, u64)> = None;
    loop {
        let now = {
            let m = metrics.borrow_and_update();
            m.current_leader.map(|l| (l, m.vote.leader_id().get_term()))
        };
        if now.is_some() && now != last {
            count.fetch_add(1, Ordering::Relaxed);
            last = now;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// One write waiting for the proposer, and where its replies go.
type Proposal = (Request, tokio::sync::oneshot::Sender<Vec<Reply>>);

/// Most commands in one batch entry (a proposal may carry a whole
/// pipeline of one connection; one bigger than this is an entry alone).
const MAX_BATCH: usize = 2048;

/// A member's role, in the order `CLUSTER SLOTS` / `NODES` list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberRole {
    /// The current leader (a Redis Cluster primary of every slot).
    Leader,
    /// A voter that does not lead (a replica).
    Voter,
    /// A learner, still catching up (a replica that cannot fail over).
    Learner,
}

/// One member of the current membership.
struct Member {
    id: u64,
    info: NodeInfo,
    voter: bool,
    leader: bool,
}

/// One member as cluster-aware clients see it.
#[derive(Debug, Clone)]
pub struct ClientView {
    /// Raft node id.
    pub id: u64,
    /// Name and raft address.
    pub info: NodeInfo,
    /// Its role now.
    pub role: MemberRole,
    /// Where clients reach it, if it answered.
    pub addr: Option<String>,
}

/// How long a member's client address is trusted before it is asked again.
const CLIENT_ADDR_TTL: Duration = Duration::from_secs(5);

/// How long a member that did not tell its client address is left alone
/// (also the longest wait for its answer).
const CLIENT_ADDR_RETRY: Duration = Duration::from_secs(1);

/// Most batch entries proposed and not yet answered. Every entry costs
/// each member an fsync, a few RPCs and thread wake-ups, so on a small
/// machine fewer, bigger entries win. While the leader fsynced its own
/// append before replicating it, two in flight overlapped those rounds
/// (redis-benchmark -c 50: 1: 21k/s, 2: 22-24k/s, 4: 18k/s, 8: 12k/s,
/// unbounded: 4k/s); since its fsync runs beside the replication (see
/// `log_store::Durable`) a round is shorter and one in flight is best
/// (session 30, `scripts/bench-cluster.sh`, two runs each: SET -P 1
/// 37-41k/s against 34-36k/s with two, -P 16 293-297k against 273-279k;
/// `scripts/bench-cluster-cpu.sh`: 24 SETs per entry against 14.5).
/// Also the backpressure that keeps a stalled quorum from queueing
/// without limit.
const MAX_IN_FLIGHT: usize = 1;

/// A linearizable read waiting for a leadership check; gets `Ok` once the
/// leader confirmed it still leads (and applied what it had committed)
/// after the read arrived, or the error to answer.
type ReadWaiter = tokio::sync::oneshot::Sender<Result<(), Reply>>;

/// `first` and whatever else is queued on `rx` right now, while their
/// total `weight` stays under `max`.
fn drain_queued<T>(
    first: T,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    max: usize,
    weight: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut total = weight(&first);
    let mut out = vec![first];
    while total < max {
        match rx.try_recv() {
            Ok(x) => {
                total += weight(&x);
                out.push(x);
            }
            Err(_) => break,
        }
    }
    out
}

/// A proposal's weight in a batch: its commands (at least 1, so that
/// requests without replies, like expiry rounds, count too).
fn commands_in(p: &Proposal) -> usize {
    super::state_machine::reply_count(&p.0).max(1)
}

/// Waits for a queued write's replies (`sent`: whether it was queued).
async fn await_replies(
    sent: bool,
    rx: tokio::sync::oneshot::Receiver<Vec<Reply>>,
    wait: Duration,
) -> Vec<Reply> {
    if !sent {
        return vec![not_executed("the node is shutting down")];
    }
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(replies)) => replies,
        Ok(Err(_)) => vec![clusterdown(
            "the node shut down mid-write; the write may or may not be committed",
        )],
        Err(_) => vec![timeout_reply()],
    }
}

/// Confirms leadership for queued linearizable reads: every read waiting
/// when a check starts shares it (one quorum round for all of them, as
/// etcd's ReadIndex batching does). A read that arrives during a check
/// waits for the next one: the check must start after the read arrived.
async fn run_read_barrier(
    raft: Raft,
    timeout: Duration,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ReadWaiter>,
) {
    while let Some(first) = rx.recv().await {
        let waiters = drain_queued(first, &mut rx, usize::MAX, |_| 1);
        let grant = match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
            Err(_) => Err(timeout_reply()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                Err(clusterdown("leadership moved; retry"))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) => {
                Err(timeout_reply())
            }
            Ok(Err(e)) => Err(clusterdown(&e.to_string())),
        };
        for w in waiters {
            let _ = w.send(grant.clone());
        }
    }
}

/// Proposes queued writes: the writes waiting when the proposer looks are
/// one batch entry; up to [`MAX_IN_FLIGHT`] entries are in flight at once.
/// Entries are submitted to raft in the order their writes arrived, so a
/// connection's writes apply in its order.
async fn run_proposer(
    raft: Raft,
    timeout: Duration,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Proposal>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let batch = drain_queued(first, &mut rx, MAX_BATCH, commands_in);
        let (entry, counts, txs) = batch_entry(batch);
        // Submitting is ordered (this loop); waiting for the outcome is not.
        let submitted = raft.client_write_ff(entry).await;
        tokio::spawn(async move {
            let _permit = permit;
            let outcome = match submitted {
                Err(fatal) => Err(clusterdown(&fatal.to_string())),
                Ok(rx) => match tokio::time::timeout(timeout, rx).await {
                    Err(_) => Err(timeout_reply()),
                    Ok(Err(_)) => Err(clusterdown(
                        "the node shut down mid-write; the write may or may not be committed",
                    )),
                    Ok(Ok(Ok(resp))) => Ok(resp.data.replies),
                    Ok(Ok(Err(ClientWriteError::ForwardToLeader(_)))) => {
                        Err(clusterdown("leadership moved; retry"))
                    }
                    Ok(Ok(Err(e))) => Err(clusterdown(&e.to_string())),
                },
            };
            let replies = match outcome {
                Ok(replies) => replies,
                Err(err) => vec![err],
            };
            hand_out(replies, &counts, txs);
        });
    }
}

/// Makes one request of queued writes, with each write's reply count: a
/// single one as it is, several as one packed batch joining their
/// requests (packed ones by copying their bytes; a forwarded batch is
/// flattened into it).
fn batch_entry(
    batch: Vec<Proposal>,
) -> (
    Request,
    Vec<usize>,
    Vec<tokio::sync::oneshot::Sender<Vec<Reply>>>,
) {
    let counts: Vec<usize> = batch
        .iter()
        .map(|(r, _)| super::state_machine::reply_count(r))
        .collect();
    let (mut reqs, txs): (Vec<Request>, Vec<_>) = batch.into_iter().unzip();
    let entry = match reqs.pop() {
        Some(only) if reqs.is_empty() => only,
        last => {
            reqs.extend(last);
            Request::Packed(super::packed::Packed::pack(&reqs))
        }
    };
    (entry, counts, txs)
}

/// Gives each waiting write its replies: `counts[i]` of them in order, or,
/// when `replies` is one error for the whole batch, that error.
fn hand_out(
    replies: Vec<Reply>,
    counts: &[usize],
    txs: Vec<tokio::sync::oneshot::Sender<Vec<Reply>>>,
) {
    if replies.len() == counts.iter().sum::<usize>() {
        let mut replies = replies.into_iter();
        for (tx, n) in txs.into_iter().zip(counts) {
            let _ = tx.send(replies.by_ref().take(*n).collect());
        }
    } else {
        let err = replies
            .into_iter()
            .next()
            .unwrap_or_else(|| Reply::error("ERR empty reply"));
        for tx in txs {
            let _ = tx.send(vec![err.clone()]);
        }
    }
}

/// Forwards queued writes to the leader: everything queued goes as one
/// request, one request at a time (so a connection's writes keep their
/// order), and each write gets its replies.
async fn run_forwarder(
    node: std::sync::Weak<ClusterNode>,
    pending: Arc<AtomicU64>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Proposal>,
) {
    while let Some(first) = rx.recv().await {
        let batch = drain_queued(first, &mut rx, MAX_BATCH, commands_in);
        let n = batch.len() as u64;
        let (req, counts, txs) = batch_entry(batch);
        let replies = match node.upgrade() {
            Some(node) => node.forward(RpcRequest::Forward(Forward::Write(req))).await,
            None => vec![not_executed("the node is shutting down")],
        };
        hand_out(replies, &counts, txs);
        pending.fetch_sub(n, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

impl ClusterNode {
    /// Starts the node: records the identity, opens the raft log and state
    /// machine under `cfg.dir`, binds the raft listener and starts raft.
    pub async fn start(
        cfg: &ClusterConfig,
        info: NodeInfo,
        keyspace: Arc<Keyspace>,
    ) -> std::io::Result<Arc<ClusterNode>> {
        if let Some(old) = load_identity(&cfg.dir)? {
            if old != info {
                return Err(std::io::Error::other(format!(
                    "this node is already {old}; it cannot become {info}"
                )));
            }
        }
        let bind = cfg.raft_bind.as_deref().unwrap_or(&info.raft_addr);
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {bind}: {e}")))?;
        save_identity(&cfg.dir, &info)?;
        let id = node_id(&info.name);
        // The leader fsyncs its log in parallel with replicating it; the
        // state machine and the commit index sent to followers wait for
        // that fsync (see `log_store::Durable`).
        let log = LogStore::open(cfg.dir.join("log"))?.flush_own_entries_behind(id);
        let durable = log.durable();
        let sm = StateMachine::open(keyspace.clone(), cfg.dir.join("snapshot"))?
            .apply_only_durable(durable.clone());
        let config = openraft::Config {
            cluster_name: "fincaskv".to_owned(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms,
            election_timeout_max: cfg
                .election_timeout_max_ms
                .unwrap_or(cfg.election_timeout_ms * 2),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(20_000),
            // Covers sending a chunk, and for the last one the follower's
            // whole install (checksum pass + import: seconds per GB). At
            // openraft's 200 ms default a big install timed out on the
            // leader, which then sent the whole snapshot again.
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            max_in_snapshot_log_to_keep: 1_000,
            // Elections start from `prevote::run` after a won pre-vote.
            enable_elect: false,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(std::io::Error::other)?);
        let mut auth = cfg.peer_auth();
        // Peers see this node's connections coming from its raft address.
        auth.source_ip = super::network::host_of(&info.raft_addr)
            .parse::<std::net::IpAddr>()
            .ok()
            .filter(|ip| !ip.is_unspecified());
        let auth = Arc::new(auth);
        let client_addr = cfg.announce.clone().unwrap_or_else(|| {
            format!(
                "{}:{}",
                super::network::host_of(&info.raft_addr),
                cfg.client_port
            )
        });
        let pool = Arc::new(PeerPool::default());
        let network = Network {
            auth: auth.clone(),
            pool: pool.clone(),
            durable: Some(durable.clone()),
            notice_window: Duration::from_millis(config.heartbeat_interval / 4),
        };
        let elector = Arc::new(Elector::new(
            Duration::from_millis(config.election_timeout_min),
            Duration::from_millis(config.election_timeout_max),
            Duration::from_millis(config.heartbeat_interval),
        ));
        let log_reader = log.clone();
        let raft = Raft::new(id, config, network, log, sm)
            .await
            .map_err(std::io::Error::other)?;
        // A commit index cut to the leader's disk on its way to the
        // followers: once the fsync covers it, a heartbeat carries it at
        // once (an idle cluster would wait for the next one, 100 ms).
        let mut cuts = durable.cut_watch();
        drop(durable);
        let trigger = raft.clone();
        tokio::spawn(async move {
            while cuts.next_covered().await {
                if trigger.trigger().heartbeat().await.is_err() {
                    break;
                }
            }
        });
        let (proposals, rx) = tokio::sync::mpsc::unbounded_channel();
        let proposer = tokio::spawn(run_proposer(raft.clone(), cfg.timeout, rx));
        let (reads, rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(run_read_barrier(raft.clone(), cfg.timeout, rx));
        let (forwards, forward_rx) = tokio::sync::mpsc::unbounded_channel();
        let forwarding = Arc::new(AtomicU64::new(0));
        let node = Arc::new(ClusterNode {
            proposals,
            forwards,
            forwarding: forwarding.clone(),
            formed: AtomicBool::new(false),
            reads,
            id,
            info,
            raft,
            keyspace,
            auth: auth.clone(),
            timeout: cfg.timeout,
            pool,
            leader_changes: Arc::new(AtomicU64::new(0)),
            client_addr,
            client_addrs: Mutex::new(HashMap::new()),
            log: log_reader,
            elector: elector.clone(),
            tasks: Mutex::new(vec![proposer, reader]),
        });
        let timer = tokio::spawn(super::prevote::run(Arc::downgrade(&node), elector));
        let serve = tokio::spawn(super::network::serve(listener, auth, node.clone()));
        let watcher = tokio::spawn(watch_leader(
            node.raft.server_metrics(),
            node.leader_changes.clone(),
        ));
        let forwarder = tokio::spawn(run_forwarder(Arc::downgrade(&node), forwarding, forward_rx));
        node.tasks.lock().extend([serve, watcher, forwarder, timer]);
        Ok(node)
    }

    /// Whether this node belongs to a cluster (has a membership).
    pub fn is_formed(&self) -> bool {
        if self.formed.load(Ordering::Relaxed) {
            return true;
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        let formed = m.membership_config.membership().nodes().next().is_some();
        if formed {
            self.formed.store(true, Ordering::Relaxed);
        }
        formed
    }

    /// The current leader, if known.
    pub fn leader(&self) -> Option<(u64, NodeInfo)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    /// The id of the last raft log entry here.
    pub fn last_log_id(&self) -> Option<super::LogId> {
        self.log.last_log_id()
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Where clients reach member `id` (`host:port`): this node's own
    /// address, or the member's answer to [`RpcRequest::ClientAddr`]
    /// (cached for [`CLIENT_ADDR_TTL`]). None when it cannot be asked.
    pub async fn client_addr_of(&self, id: u64, info: &NodeInfo) -> Option<String> {
        if id == self.id {
            return Some(self.client_addr.clone());
        }
        if let Some((addr, at)) = self.client_addrs.lock().get(&id) {
            let keep = if addr.is_some() {
                CLIENT_ADDR_TTL
            } else {
                CLIENT_ADDR_RETRY
            };
            if at.elapsed() < keep {
                return addr.clone();
            }
        }
        let ttl = self.timeout.min(CLIENT_ADDR_RETRY);
        let addr = match self
            .call_peer(&info.raft_addr, &RpcRequest::ClientAddr, ttl)
            .await
        {
            Ok(RpcResponse::ClientAddr(addr)) => Some(addr),
            _ => None,
        };
        self.client_addrs
            .lock()
            .insert(id, (addr.clone(), Instant::now()));
        addr
    }

    /// Every member as Redis Cluster tools see it (`CLUSTER SLOTS`,
    /// `CLUSTER NODES`): the leader first, then the voters, then the
    /// learners, each sorted by name, with its client address (None when
    /// it could not be asked), and the current term.
    pub async fn client_view(self: &Arc<Self>) -> (Vec<ClientView>, u64) {
        let (members, term) = self.membership();
        let mut members: Vec<ClientView> = members
            .into_iter()
            .map(|m| ClientView {
                id: m.id,
                role: match (m.leader, m.voter) {
                    (true, _) => MemberRole::Leader,
                    (false, true) => MemberRole::Voter,
                    (false, false) => MemberRole::Learner,
                },
                info: m.info,
                addr: None,
            })
            .collect();
        members.sort_by(|a, b| (a.role, &a.info.name).cmp(&(b.role, &b.info.name)));
        // Asked all at once: a member that is down costs one timeout.
        let asks: Vec<_> = members
            .iter()
            .map(|m| {
                let (node, id, info) = (self.clone(), m.id, m.info.clone());
                tokio::spawn(async move { node.client_addr_of(id, &info).await })
            })
            .collect();
        for (m, ask) in members.iter_mut().zip(asks) {
            m.addr = ask.await.ok().flatten();
        }
        (members, term)
    }

    /// Sends a request to the node at `addr` on a pooled connection.
    pub(super) async fn call_peer(
        &self,
        addr: &str,
        req: &RpcRequest,
        ttl: Duration,
    ) -> Result<RpcResponse, Reply> {
        let pooled = self.pool.take(addr);
        // The error says whether the request may have reached the peer.
        let fut = async {
            let mut conn = match pooled {
                Some(c) => c,
                None => PeerConn::connect(addr, &self.auth)
                    .await
                    .map_err(|e| (false, e))?,
            };
            let resp = conn.call(req).await.map_err(|e| (true, e))?;
            Ok::<_, (bool, std::io::Error)>((conn, resp))
        };
        match tokio::time::timeout(ttl, fut).await {
            Ok(Ok((conn, resp))) => {
                self.pool.put(addr, conn);
                Ok(resp)
            }
            Ok(Err((false, e))) => Err(not_executed(&format!(
                "the leader at {addr} is unreachable: {e}"
            ))),
            Ok(Err((true, e))) => Err(clusterdown(&format!(
                "lost the connection to the leader at {addr} ({e}); a write may or may not be committed"
            ))),
            Err(_) => Err(timeout_reply()),
        }
    }

    /// Forwards to the leader and returns its replies (a write or a read:
    /// the leader's own timeout and a second of slack).
    async fn forward(&self, req: RpcRequest) -> Vec<Reply> {
        self.forward_within(req, self.timeout + Duration::from_secs(1))
            .await
    }

    /// Forwards to the leader and waits up to `ttl` for its replies.
    async fn forward_within(&self, req: RpcRequest, ttl: Duration) -> Vec<Reply> {
        let Some((_, leader)) = self.leader() else {
            return vec![not_executed("no leader elected")];
        };
        match self.call_peer(&leader.raft_addr, &req, ttl).await {
            Ok(RpcResponse::Replies(r)) => r.into_iter().map(Reply::from).collect(),
            Ok(_) => vec![Reply::error("ERR unexpected response from the leader")],
            Err(e) => vec![e],
        }
    }

    /// Proposes a replicated entry; returns its replies once it is committed
    /// and applied (forwarding to the leader when this node is not it).
    pub async fn write(&self, req: Request) -> Vec<Reply> {
        match self.submit(req) {
            Some(replies) => replies.await,
            None => vec![not_executed(
                "the cluster is not formed yet (CLUSTER JOIN a peer)",
            )],
        }
    }

    /// Queues `req` NOW (for the proposer on the leader, for the forwarder
    /// on a follower), so that writes submitted one after another apply
    /// in that order, and returns the future of its replies (a pipelining
    /// client keeps many writes in flight). `None` when the cluster is not
    /// formed.
    pub fn submit(&self, req: Request) -> Option<BoxFuture<Vec<Reply>>> {
        if !self.is_formed() {
            return None;
        }
        // Behind writes still being forwarded, even as the new leader.
        let forward = !self.is_leader() || self.forwarding.load(Ordering::Acquire) > 0;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = if forward {
            self.forwarding.fetch_add(1, Ordering::AcqRel);
            let sent = self.forwards.send((req, tx)).is_ok();
            if !sent {
                self.forwarding.fetch_sub(1, Ordering::AcqRel);
            }
            sent
        } else {
            self.proposals.send((req, tx)).is_ok()
        };
        // Room for the leader's own timeout and the forwarding hop.
        let wait = self.timeout + Duration::from_secs(2);
        Some(Box::pin(await_replies(sent, rx, wait)))
    }

    /// Proposes on this node (must be the leader).
    async fn write_here(&self, req: Request) -> Vec<Reply> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.proposals.send((req, tx)).is_ok();
        await_replies(sent, rx, self.timeout + Duration::from_millis(500)).await
    }

    /// A linearizable read: confirmed by a quorum round on the leader
    /// (`ensure_linearizable`), then run against the leader's keyspace.
    pub async fn read(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        if !self.is_formed() {
            return not_executed("the cluster is not formed yet (CLUSTER JOIN a peer)");
        }
        if !self.is_leader() {
            let req = RpcRequest::Forward(Forward::Read {
                db: ctx.db,
                now_ms: ctx.now_ms,
                argv: argv.to_vec(),
            });
            return self
                .forward(req)
                .await
                .into_iter()
                .next()
                .unwrap_or(Reply::Nil);
        }
        self.read_here(ctx, argv).await
    }

    async fn read_here(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.reads.send(tx).is_err() {
            return not_executed("the node is shutting down");
        }
        match rx.await {
            // Reads are in memory: no need to leave the async worker.
            Ok(Ok(())) => self.keyspace.execute(ctx, argv),
            Ok(Err(e)) => e,
            Err(_) => not_executed("the node is shutting down"),
        }
    }

    /// Creates a one-node cluster of this node, snapshots and purges the log
    /// so that members added later start from a snapshot.
    async fn form(&self) -> Result<(), Reply> {
        let mut members = BTreeMap::new();
        members.insert(self.id, self.info.clone());
        self.raft
            .initialize(members)
            .await
            .map_err(|e| Reply::Error(format!("ERR cannot form the cluster: {e}")))?;
        let wait = self.raft.wait(Some(Duration::from_secs(10)));
        let m = wait
            .state(ServerState::Leader, "become leader")
            .await
            .map_err(|e| clusterdown(&format!("no leader after forming: {e}")))?;
        let applied = m.last_applied.map_or(0, |l| l.index);
        let _ = wait.applied_index_at_least(Some(applied), "applied").await;
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| clusterdown(&e.to_string()))?;
        let m = wait
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= applied),
                "snapshot built",
            )
            .await
            .map_err(|e| clusterdown(&format!("snapshot: {e}")))?;
        if let Some(s) = m.snapshot {
            let _ = self.raft.trigger().purge_log(s.index).await;
        }
        Ok(())
    }

    /// `CLUSTER SNAPSHOT`: asks raft to build a snapshot of this node's state
    /// machine now (in the background; `raft_snapshot_index` in INFO raft
    /// moves when it is done); the log is then purged up to it.
    pub async fn snapshot(&self) -> Reply {
        let applied = self
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index);
        if let Err(e) = self.raft.trigger().snapshot().await {
            return clusterdown(&format!("cannot start a snapshot: {e}"));
        }
        // Purge the whole log up to it once it is built (raft alone keeps
        // the last entries), so that a node joining later starts from it.
        let raft = self.raft.clone();
        tokio::spawn(async move {
            let built = raft
                .wait(Some(Duration::from_secs(600)))
                .metrics(
                    |m| m.snapshot.is_some_and(|s| s.index >= applied),
                    "snapshot built",
                )
                .await;
            if let Ok(Some(s)) = built.map(|m| m.snapshot) {
                let _ = raft.trigger().purge_log(s.index).await;
            }
        });
        Reply::ok()
    }

    /// Adds `peer` to the cluster (run on the leader, or forwarded to it):
    /// as a learner first, waits until it caught up, then as a voter.
    pub async fn join(&self, peer: NodeInfo) -> Reply {
        // Fail fast on a wrong address or secret, before forming anything.
        if peer != self.info {
            if let Err(e) = PeerConn::connect(&peer.raft_addr, &self.auth).await {
                return Reply::Error(format!("ERR cannot reach {peer}: {e}"));
            }
        }
        if !self.is_formed() {
            if let Err(r) = self.form().await {
                return r;
            }
        }
        if !self.is_leader() {
            return self
                .forward_within(RpcRequest::Join(peer), JOIN_FORWARD)
                .await
                .into_iter()
                .next()
                .unwrap_or(Reply::Nil);
        }
        self.join_here(peer).await
    }

    async fn join_here(&self, peer: NodeInfo) -> Reply {
        let id = node_id(&peer.name);
        let voters: BTreeSet<u64> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        if voters.contains(&id) {
            return Reply::ok();
        }
        let added =
            match tokio::time::timeout(JOIN_STEP, self.raft.add_learner(id, peer.clone(), false))
                .await
            {
                Err(_) => return timeout_reply(),
                Ok(Err(e)) => {
                    return Reply::Error(format!("ERR cannot add {peer} as a learner: {e}"))
                }
                Ok(Ok(added)) => added,
            };
        // Not openraft's blocking add_learner: it returns once the learner
        // is within `replication_lag_threshold` (5000) entries of the
        // leader, which a fresh learner of a short or purged log is at once.
        // Wait until it holds the entry that added it, hence everything
        // before it: the
        // promotion then makes a voter of a node that has the data, and
        // does not restart the replication stream (and the snapshot
        // transfer with it) in the middle of the learner's catch-up.
        let want = added.log_id.index;
        let caught_up = self
            .raft
            .wait(Some(LEARNER_CATCH_UP))
            .metrics(
                move |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).copied().flatten())
                        .is_some_and(|matched| matched.index >= want)
                },
                "the learner to catch up",
            )
            .await;
        if caught_up.is_err() {
            return Reply::Error(format!(
                "TIMEOUT {peer} did not catch up within {} s; it stays a learner",
                LEARNER_CATCH_UP.as_secs()
            ));
        }
        match tokio::time::timeout(
            JOIN_STEP,
            self.raft
                .change_membership(ChangeMembers::AddVoterIds([id].into()), false),
        )
        .await
        {
            Err(_) => timeout_reply(),
            Ok(Err(e)) => Reply::Error(format!("ERR cannot promote {peer}: {e}")),
            Ok(Ok(_)) => Reply::ok(),
        }
    }

    /// Removes the member `name` (voter and learner), on the leader.
    pub async fn remove(&self, name: &str) -> Reply {
        if !self.is_formed() {
            return clusterdown("the cluster is not formed yet");
        }
        if !self.is_leader() {
            return self
                .forward_within(
                    RpcRequest::Remove {
                        name: name.to_owned(),
                    },
                    REMOVE_FORWARD,
                )
                .await
                .into_iter()
                .next()
                .unwrap_or(Reply::Nil);
        }
        let id = node_id(name);
        let (voters, learners): (BTreeSet<u64>, BTreeSet<u64>) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let mem = m.membership_config.membership();
            (mem.voter_ids().collect(), mem.learner_ids().collect())
        };
        let ttl = REMOVE_STEP;
        if voters.contains(&id) {
            if voters.len() == 1 {
                return Reply::error("ERR cannot remove the last voter");
            }
            let change = ChangeMembers::RemoveVoters([id].into());
            match tokio::time::timeout(ttl, self.raft.change_membership(change, false)).await {
                Err(_) => return timeout_reply(),
                Ok(Err(e)) => return Reply::Error(format!("ERR cannot remove {name}: {e}")),
                Ok(Ok(_)) => {}
            }
        } else if learners.contains(&id) {
            let change = ChangeMembers::RemoveNodes([id].into());
            match tokio::time::timeout(ttl, self.raft.change_membership(change, false)).await {
                Err(_) => return timeout_reply(),
                Ok(Err(e)) => return Reply::Error(format!("ERR cannot remove {name}: {e}")),
                Ok(Ok(_)) => {}
            }
        } else {
            return Reply::Error(format!("ERR no such member '{name}'"));
        }
        Reply::ok()
    }

    /// `CLUSTER INFO` / `INFO raft` fields.
    pub fn info_fields(&self) -> Vec<(String, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let mem = m.membership_config.membership();
        let voters = mem.voter_ids().count();
        let nodes = mem.nodes().count();
        let leader = m
            .current_leader
            .and_then(|id| mem.get_node(&id).map(|n| n.name.clone()))
            .unwrap_or_default();
        let state = if nodes == 0 {
            "unformed"
        } else if m.current_leader.is_some() {
            "ok"
        } else {
            "fail"
        };
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        vec![
            ("cluster_state".into(), state.into()),
            ("cluster_known_nodes".into(), nodes.to_string()),
            ("cluster_size".into(), voters.to_string()),
            ("raft_node_name".into(), self.info.name.clone()),
            ("raft_node_id".into(), self.id.to_string()),
            ("raft_addr".into(), self.info.raft_addr.clone()),
            ("raft_role".into(), role.into()),
            ("raft_leader".into(), leader),
            ("raft_term".into(), m.current_term.to_string()),
            (
                "raft_last_log_index".into(),
                m.last_log_index.map_or(0, |i| i).to_string(),
            ),
            (
                "raft_last_applied".into(),
                m.last_applied.map_or(0, |l| l.index).to_string(),
            ),
            (
                "raft_snapshot_index".into(),
                m.snapshot.map_or(0, |l| l.index).to_string(),
            ),
            (
                "raft_purged_index".into(),
                m.purged.map_or(0, |l| l.index).to_string(),
            ),
            (
                "raft_leader_changes_seen".into(),
                self.leader_changes.load(Ordering::Relaxed).to_string(),
            ),
        ]
    }

    /// For ROLE and WAIT: this node's last applied index, and on the
    /// leader each other member's id with the index its log matches
    /// (`None` on a node that does not lead).
    pub fn replication(&self) -> (u64, Option<Vec<(u64, u64)>>) {
        let m = self.raft.metrics();
        let m = m.borrow();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let followers = m.replication.as_ref().map(|r| {
            r.iter()
                .filter(|(id, _)| **id != self.id)
                .map(|(id, matched)| (*id, matched.map_or(0, |l| l.index)))
                .collect()
        });
        (applied, followers)
    }

    /// `INFO replication` as Redis's: the leader is a master listing its
    /// followers (`slaveN:ip=..,port=..,state=online,offset=<matched>`), a
    /// follower a slave of the leader; offsets are raft log indexes.
    /// Client addresses come from the cache `client_addr_of` fills (INFO
    /// cannot wait for peers); a missing one is asked for in the
    /// background, for the next INFO.
    pub fn replication_info(self: &Arc<Self>) -> Vec<(String, String)> {
        let (applied, followers) = self.replication();
        let (members, _) = self.membership();
        let cached = |id: u64| -> Option<String> {
            if id == self.id {
                return Some(self.client_addr.clone());
            }
            let addr = self
                .client_addrs
                .lock()
                .get(&id)
                .and_then(|(a, _)| a.clone());
            if addr.is_none() {
                if let (Some(m), Ok(rt)) = (
                    members.iter().find(|m| m.id == id),
                    tokio::runtime::Handle::try_current(),
                ) {
                    let (node, info) = (self.clone(), m.info.clone());
                    rt.spawn(async move { node.client_addr_of(id, &info).await });
                }
            }
            addr
        };
        let host_port = |addr: &str| {
            let (host, port) = super::backend::split_addr(addr);
            (host, port.to_string())
        };
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
        match followers {
            Some(followers) => {
                put("role", "master".into());
                put("connected_slaves", followers.len().to_string());
                for (i, (id, matched)) in followers.into_iter().enumerate() {
                    let (ip, port) = host_port(&cached(id).unwrap_or_else(|| "?:0".into()));
                    put(
                        &format!("slave{i}"),
                        format!("ip={ip},port={port},state=online,offset={matched},lag=0"),
                    );
                }
            }
            None => {
                let leader = members.iter().find(|m| m.leader).map(|m| m.id);
                let (host, port, link) = match leader.and_then(cached) {
                    Some(addr) => {
                        let (h, p) = host_port(&addr);
                        (h, p, "up")
                    }
                    None => ("?".into(), "0".into(), "down"),
                };
                put("role", "slave".into());
                put("master_host", host);
                put("master_port", port);
                put("master_link_status", link.into());
                put("master_sync_in_progress", "0".into());
                put("slave_repl_offset", applied.to_string());
                put("slave_priority", "100".into());
                put("slave_read_only", "1".into());
                put("connected_slaves", "0".into());
            }
        }
        put("master_failover_state", "no-failover".into());
        put("master_repl_offset", applied.to_string());
        out
    }

    /// `CLUSTER MEMBERS`: one line per member,
    /// `<name> <raft addr> <voter|learner> [leader] [myself]`.
    pub fn members(&self) -> Vec<String> {
        self.membership()
            .0
            .into_iter()
            .map(|m| {
                let voter = if m.voter { "voter" } else { "learner" };
                let mut line = format!("{} {} {voter}", m.info.name, m.info.raft_addr);
                if m.leader {
                    line.push_str(" leader");
                }
                if m.id == self.id {
                    line.push_str(" myself");
                }
                line
            })
            .collect()
    }

    /// Every member, in id order, with whether it votes and whether it
    /// leads, and the current term (one read of the metrics).
    fn membership(&self) -> (Vec<Member>, u64) {
        let m = self.raft.metrics();
        let m = m.borrow();
        let mem = m.membership_config.membership();
        let voters: BTreeSet<u64> = mem.voter_ids().collect();
        let members = mem
            .nodes()
            .map(|(id, info)| Member {
                id: *id,
                info: info.clone(),
                voter: voters.contains(id),
                leader: m.current_leader == Some(*id),
            })
            .collect();
        (members, m.current_term)
    }

    /// Stops raft (the process is shutting down).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

fn one(r: Reply) -> RpcResponse {
    RpcResponse::Replies(vec![WireReply::from(&r)])
}

impl RpcHandler for ClusterNode {
    async fn handle(self: Arc<Self>, req: RpcRequest) -> RpcResponse {
        match req {
            RpcRequest::Hello { .. } => RpcResponse::Welcome,
            RpcRequest::AppendEntries(r) => {
                let resp = RpcResponse::AppendEntries(self.raft.append_entries(r).await);
                if matches!(resp, RpcResponse::AppendEntries(Ok(_))) && !is_higher_vote(&resp) {
                    self.elector.heard_from_leader();
                }
                resp
            }
            RpcRequest::InstallSnapshot(r) => {
                let resp = self.raft.install_snapshot(r).await;
                if resp.is_ok() {
                    self.elector.heard_from_leader();
                }
                RpcResponse::InstallSnapshot(resp)
            }
            RpcRequest::Vote(r) => {
                let resp = self.raft.vote(r).await;
                if matches!(&resp, Ok(v) if v.vote_granted) {
                    self.elector.heard_from_leader();
                }
                RpcResponse::Vote(resp)
            }
            RpcRequest::PreVote { term, last_log_id } => {
                let me = {
                    let m = self.raft.metrics();
                    let m = m.borrow();
                    Voter {
                        leading: m.current_leader == Some(self.id),
                        following: m.vote.is_committed(),
                        term: m.current_term,
                        last_log_id: self.last_log_id(),
                    }
                };
                RpcResponse::PreVote(self.elector.grant(me, term, last_log_id))
            }
            RpcRequest::Forward(Forward::Write(req)) => {
                // Forwarded once at most: a node that is not the leader any
                // more answers CLUSTERDOWN instead of bouncing it on.
                let replies = if self.is_leader() {
                    self.write_here(req).await
                } else {
                    vec![clusterdown("leadership moved; retry")]
                };
                RpcResponse::Replies(replies.iter().map(WireReply::from).collect())
            }
            RpcRequest::Forward(Forward::Read { db, now_ms, argv }) => {
                let reply = if self.is_leader() {
                    self.read_here(&Ctx::new(now_ms, 0, db), &argv).await
                } else {
                    clusterdown("leadership moved; retry")
                };
                one(reply)
            }
            // An unformed node forms the cluster; a follower forwards.
            RpcRequest::Join(peer) => one(self.join(peer).await),
            RpcRequest::Remove { name } => one(self.remove(&name).await),
            RpcRequest::ClientAddr => RpcResponse::ClientAddr(self.client_addr.clone()),
        }
    }
}

/// Asks the member at `addr` to add `me` (the `--join` flag), retrying while
/// the cluster elects a leader. Tries the leader it reports, too.
pub async fn join_via(addr: &str, auth: &PeerAuth, me: NodeInfo, attempts: usize) -> Reply {
    let mut last = clusterdown("join not attempted");
    for _ in 0..attempts {
        match PeerConn::connect(addr, auth).await {
            Ok(mut conn) => match conn.call(&RpcRequest::Join(me.clone())).await {
                Ok(RpcResponse::Replies(r)) => {
                    let reply = r.into_iter().next().map(Reply::from).unwrap_or(Reply::Nil);
                    if !reply.is_error() {
                        return reply;
                    }
                    last = reply;
                }
                Ok(_) => last = Reply::error("ERR unexpected response"),
                Err(e) => last = clusterdown(&e.to_string()),
            },
            Err(e) => last = clusterdown(&format!("cannot reach {addr}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(name: &str) -> Request {
        Request::Command {
            db: 0,
            now_ms: 1,
            rng_seed: 2,
            argv: vec![Bytes::copy_from_slice(name.as_bytes())].into(),
        }
    }

    fn proposal(req: Request) -> (Proposal, tokio::sync::oneshot::Receiver<Vec<Reply>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        ((req, tx), rx)
    }

    #[test]
    fn forwarded_batches_are_flattened_and_replies_handed_out_in_order() {
        let (a, mut ra) = proposal(cmd("a"));
        let (b, mut rb) = proposal(Request::Batch(vec![cmd("b1"), cmd("b2")].into()));
        let (c, mut rc) = proposal(Request::Transaction {
            db: 0,
            now_ms: 1,
            rng_seed: 2,
            cmds: vec![
                vec![Bytes::from_static(b"c1")],
                vec![Bytes::from_static(b"c2")],
            ],
        });
        let (entry, counts, txs) = batch_entry(vec![a, b, c]);
        assert_eq!(counts, vec![1, 2, 2]);
        match &entry {
            Request::Packed(p) => {
                assert_eq!(p.len(), 4, "the forwarded batch is flattened");
                assert_eq!(p.reply_count(), 5);
                let subs: Vec<Request> = p.requests().collect();
                assert_eq!(subs[..3], [cmd("a"), cmd("b1"), cmd("b2")]);
                assert!(matches!(subs[3], Request::Transaction { .. }));
            }
            other => panic!("expected a packed batch, got {other}"),
        }
        let replies = (1..=5).map(Reply::Integer).collect();
        hand_out(replies, &counts, txs);
        assert_eq!(ra.try_recv().expect("a"), vec![Reply::Integer(1)]);
        assert_eq!(
            rb.try_recv().expect("b"),
            vec![Reply::Integer(2), Reply::Integer(3)]
        );
        assert_eq!(
            rc.try_recv().expect("c"),
            vec![Reply::Integer(4), Reply::Integer(5)]
        );
    }

    #[test]
    fn one_error_for_a_batch_reaches_every_write() {
        let (a, mut ra) = proposal(cmd("a"));
        let (b, mut rb) = proposal(Request::Batch(vec![cmd("b1"), cmd("b2")].into()));
        let (entry, counts, txs) = batch_entry(vec![a, b]);
        assert!(matches!(entry, Request::Packed(ref p) if p.len() == 3));
        hand_out(vec![timeout_reply()], &counts, txs);
        assert_eq!(ra.try_recv().expect("a"), vec![timeout_reply()]);
        assert_eq!(rb.try_recv().expect("b"), vec![timeout_reply()]);
    }

    #[test]
    fn a_single_write_is_proposed_as_itself() {
        let (a, _ra) = proposal(cmd("a"));
        let (entry, counts, _) = batch_entry(vec![a]);
        assert_eq!(entry, cmd("a"));
        assert_eq!(counts, vec![1]);
    }
}
