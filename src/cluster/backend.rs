//! The server's [`Backend`] in cluster mode: wraps the standalone backend
//! and routes commands through raft once the node has an identity.
//!
//! * `CLUSTER ...` is handled here (INIT, JOIN, INFO, MEMBERS, LEAVE,
//!   REMOVE, SNAPSHOT, READMODE, REDIRECT, SLOTS, KEYSLOT, MYID);
//! * in the redirect mode (`--cluster-redirect`) a follower answers a
//!   command with a fixed-position key by `-MOVED <slot> <leader>`;
//! * commands flagged `write` are normalised and proposed (a follower
//!   forwards them to the leader); the reply is the applied entry's reply,
//!   so `+OK` means committed;
//! * other data commands are linearizable reads (`ensure_linearizable` on
//!   the leader, forwarded from followers), or, in the `local` read mode
//!   (`--cluster-read-mode local`, `CLUSTER READMODE local`), run on this
//!   node's own state: possibly stale, never forwarded;
//! * MULTI/EXEC is one entry;
//! * active expiry is proposed by the leader as an entry; followers do none;
//! * blocking pops: each attempt (the first, and each one the unblocker
//!   makes when a key changes) is a replicated non-blocking pop, so the
//!   element leaves the list on every node; a follower's blocked client
//!   wakes when the follower applies the push, and its pop is forwarded;
//! * a write reaching the synchronous `execute` in cluster mode is refused
//!   (nothing routes one there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::node::{join_via, load_identity, ClusterConfig, ClusterNode, MemberRole};
use super::packed::{command_len, Packer};
use super::state_machine::{normalise, rewritten};
use super::{NodeInfo, Request};
use crate::command::{CommandFlags, CommandSpec, Ctx, KeySpec, Reply};
use crate::keyspace::Keyspace;
use crate::server::{Backend, BoxFuture, Notifier};

/// A server command of the cluster backend: no keys, not replicated.
const fn node_command(
    name: &'static str,
    arity: i32,
    no_multi: bool,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    let mut flags = crate::command::args::NO_FLAGS;
    flags.fast = true;
    flags.no_multi = no_multi;
    CommandSpec {
        name,
        arity,
        flags,
        keys: KeySpec::NONE,
        group: "server",
        summary,
        since,
        complexity: "O(1)",
    }
}

/// The commands a cluster node adds to the keyspace's: CLUSTER, ROLE and
/// WAIT (lower-case `name`). A server checks its ACL rules against these
/// before it has built its [`ClusterBackend`].
pub fn node_lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    match name {
        b"cluster" => Some(&CLUSTER_SPEC),
        b"role" => Some(&ROLE_SPEC),
        b"wait" => Some(&WAIT_SPEC),
        _ => None,
    }
}

/// `ROLE`'s table entry.
pub static ROLE_SPEC: CommandSpec = node_command(
    "role",
    1,
    false,
    "Returns the replication role: the raft leader is a master listing its followers, a follower a slave of the leader.",
    "2.8.12",
);

/// `WAIT`'s table entry.
pub static WAIT_SPEC: CommandSpec = node_command(
    "wait",
    3,
    true,
    "Blocks until the given number of followers hold every entry this node has appended (every acknowledged write is on a quorum already).",
    "3.0.0",
);

/// The `CLUSTER` command's table entry.
pub static CLUSTER_SPEC: CommandSpec = CommandSpec {
    name: "cluster",
    arity: -2,
    flags: CommandFlags {
        write: false,
        readonly: false,
        admin: true,
        blocking: false,
        pubsub: false,
        no_auth: false,
        random: false,
        fast: false,
        denyoom: false,
        no_multi: true,
        pubsub_allowed: false,
    },
    keys: KeySpec::NONE,
    group: "cluster",
    summary:
        "Raft cluster administration: INIT, JOIN, INFO, MEMBERS, LEAVE, REMOVE, SLOTS, REDIRECT.",
    since: "3.0.0",
    complexity: "O(1) except JOIN (waits for the new member to catch up)",
};

/// State shared by the backend and the futures it returns.
struct Shared {
    keyspace: Arc<Keyspace>,
    cfg: ClusterConfig,
    /// The running node: None until `CLUSTER INIT` (or the startup flags /
    /// a persisted identity) started it; then set once.
    node: RwLock<Option<Arc<ClusterNode>>>,
    /// Serialises `CLUSTER INIT`s.
    init: tokio::sync::Mutex<()>,
    /// Reads run on this node's state, unchecked (`local` read mode).
    local_reads: AtomicBool,
    /// Redirect mode: a follower answers keyed commands with `-MOVED`.
    redirect: AtomicBool,
}

/// The words for the read mode (`local_reads` false, true).
const READ_MODES: [&str; 2] = ["linearizable", "local"];

/// The words for the redirect mode (`redirect` false, true).
const ON_OFF: [&str; 2] = ["off", "on"];

/// The read mode and the redirect mode, for `CLUSTER INFO` and `INFO raft`.
fn mode_fields(shared: &Shared) -> [(String, String); 2] {
    let local = shared.local_reads.load(Ordering::Relaxed);
    let redirect = shared.redirect.load(Ordering::Relaxed);
    [
        (
            "raft_read_mode".to_owned(),
            READ_MODES[usize::from(local)].to_owned(),
        ),
        (
            "raft_redirect".to_owned(),
            ON_OFF[usize::from(redirect)].to_owned(),
        ),
    ]
}

/// Shows or sets a switch of `CLUSTER READMODE` / `CLUSTER REDIRECT`:
/// `names` are its words for false and true.
fn switch(flag: &AtomicBool, argv: &[Bytes], names: [&'static str; 2]) -> Reply {
    match argv.get(2) {
        None => Reply::bulk(names[usize::from(flag.load(Ordering::Relaxed))]),
        Some(word) => {
            let word = String::from_utf8_lossy(word).to_ascii_lowercase();
            match names.iter().position(|n| *n == word) {
                Some(i) => {
                    flag.store(i == 1, Ordering::Relaxed);
                    Reply::ok()
                }
                None => Reply::Error(format!(
                    "ERR CLUSTER {} takes {} or {}",
                    arg(argv, 1).to_ascii_uppercase(),
                    names[1],
                    names[0]
                )),
            }
        }
    }
}

/// `host` and `port` of a `host:port` client address.
pub(super) fn split_addr(addr: &str) -> (String, i64) {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "0"));
    (
        super::network::host_of(host).to_owned(),
        port.parse().unwrap_or(0),
    )
}

/// `ROLE`: without a cluster, a master without replicas (as Redis
/// answers). The leader answers `master`, its applied index as the
/// offset, and each follower that told its client address as `[host,
/// port, matched index]` (strings, as Redis); a follower answers `slave`,
/// the leader's host and port, `connected` (`connect` while it knows no
/// leader's address) and its applied index.
async fn role(node: Option<Arc<ClusterNode>>) -> Reply {
    let Some(node) = node.filter(|n| n.is_formed()) else {
        return Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Integer(0),
            Reply::Array(Vec::new()),
        ]);
    };
    let (applied, followers) = node.replication();
    let (members, _) = node.client_view().await;
    match followers {
        Some(followers) => {
            let mut replicas = Vec::new();
            for (id, matched) in followers {
                let Some(addr) = members
                    .iter()
                    .find(|m| m.id == id)
                    .and_then(|m| m.addr.clone())
                else {
                    continue;
                };
                let (host, port) = split_addr(&addr);
                replicas.push(Reply::Array(vec![
                    Reply::bulk(host),
                    Reply::bulk(port.to_string()),
                    Reply::bulk(matched.to_string()),
                ]));
            }
            Reply::Array(vec![
                Reply::bulk("master"),
                Reply::Integer(applied as i64),
                Reply::Array(replicas),
            ])
        }
        None => {
            let leader = members
                .iter()
                .find(|m| m.role == MemberRole::Leader)
                .and_then(|m| m.addr.clone());
            let (host, port, state) = match leader {
                Some(addr) => {
                    let (host, port) = split_addr(&addr);
                    (host, port, "connected")
                }
                None => (String::from("?"), 0, "connect"),
            };
            Reply::Array(vec![
                Reply::bulk("slave"),
                Reply::bulk(host),
                Reply::Integer(port),
                Reply::bulk(state),
                Reply::Integer(applied as i64),
            ])
        }
    }
}

/// `WAIT numreplicas timeout`: how many followers hold every entry the
/// leader has applied when WAIT started (so every write acknowledged to
/// this client before it), waiting up to `timeout` ms (0: for ever) for
/// `numreplicas` of them. Without a cluster there are no replicas: 0, at
/// once when 0 are asked for, else after the timeout, as Redis does. A
/// follower answers Redis's error for WAIT on a replica.
async fn wait(node: Option<Arc<ClusterNode>>, argv: Vec<Bytes>) -> Reply {
    let parse = |a: &Bytes| {
        std::str::from_utf8(a)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    let Some(wanted) = parse(&argv[1]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let timeout = match parse(&argv[2]) {
        Some(t) if t < 0 => return Reply::error("ERR timeout is negative"),
        Some(t) => t as u64,
        None => return Reply::error("ERR timeout is not an integer or out of range"),
    };
    let deadline = (timeout > 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout));
    let node = node.filter(|n| n.is_formed());
    let goal = match &node {
        Some(n) => match n.replication() {
            (applied, Some(_)) => Some(applied),
            (_, None) => {
                return Reply::error(
                    "ERR WAIT cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.",
                )
            }
        },
        None => None,
    };
    loop {
        let acked = match (&node, goal) {
            (Some(n), Some(goal)) => n
                .replication()
                .1
                .map_or(0, |f| f.iter().filter(|(_, m)| *m >= goal).count()),
            _ => 0,
        };
        if acked as i64 >= wanted || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Reply::Integer(acked as i64);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// `CLUSTER SLOTS`: one shard holding every slot, the leader as its
/// primary and the other voters that answered as its replicas, each as
/// `[host, port, name, {}]` (Redis 7.0's shape); empty without a leader.
async fn cluster_slots(node: Option<Arc<ClusterNode>>) -> Reply {
    let Some(node) = node else {
        return Reply::error("ERR This instance has cluster support disabled");
    };
    let (members, _) = node.client_view().await;
    let leader_known = members
        .first()
        .is_some_and(|m| m.role == MemberRole::Leader && m.addr.is_some());
    if !leader_known {
        return Reply::Array(Vec::new());
    }
    let mut shard = vec![
        Reply::Integer(0),
        Reply::Integer(i64::from(super::slots::SLOTS - 1)),
    ];
    for m in members
        .into_iter()
        .filter(|m| m.role != MemberRole::Learner)
    {
        let Some(addr) = m.addr else { continue };
        let (host, port) = split_addr(&addr);
        shard.push(Reply::Array(vec![
            Reply::bulk(host),
            Reply::Integer(port),
            Reply::bulk(m.info.name),
            Reply::Map(Vec::new()),
        ]));
    }
    Reply::Array(vec![Reply::Array(shard)])
}

/// `CLUSTER NODES` in Redis's format, one line per member: `<name>
/// <host:port@raft-port> <flags> <primary|-> 0 0 <term> connected
/// [0-16383]`. The leader is the `master` of every slot, voters are
/// `slave`s, learners `slave,nofailover`; a member that did not tell its
/// address shows `:0@0` and `fail?`.
async fn cluster_nodes(node: Option<Arc<ClusterNode>>) -> Reply {
    let Some(node) = node else {
        return Reply::error("ERR This instance has cluster support disabled");
    };
    let (members, term) = node.client_view().await;
    let leader = members
        .iter()
        .find(|m| m.role == MemberRole::Leader)
        .map(|m| m.info.name.clone());
    let mut text = String::new();
    for m in &members {
        let mut flags = Vec::new();
        if m.id == node.id {
            flags.push("myself");
        }
        flags.push(match m.role {
            MemberRole::Leader => "master",
            MemberRole::Voter => "slave",
            MemberRole::Learner => "slave,nofailover",
        });
        let addr = match &m.addr {
            Some(addr) => {
                let raft_port = m.info.raft_addr.rsplit_once(':').map_or("0", |(_, p)| p);
                format!("{addr}@{raft_port}")
            }
            None => {
                flags.push("fail?");
                ":0@0".to_owned()
            }
        };
        let (primary, slots) = match (m.role, &leader) {
            (MemberRole::Leader, _) => ("-", format!(" 0-{}", super::slots::SLOTS - 1)),
            (_, Some(l)) => (l.as_str(), String::new()),
            (_, None) => ("-", String::new()),
        };
        text.push_str(&format!(
            "{} {addr} {} {primary} 0 0 {term} connected{slots}\n",
            m.info.name,
            flags.join(",")
        ));
    }
    Reply::bulk(text)
}

/// The cluster-mode backend.
pub struct ClusterBackend {
    /// Everything not routed through raft runs here (the keyspace backend).
    inner: Arc<dyn Backend>,
    shared: Arc<Shared>,
}

impl ClusterBackend {
    /// Wraps `inner` (which must run over `keyspace`).
    pub fn new(
        inner: Arc<dyn Backend>,
        keyspace: Arc<Keyspace>,
        cfg: ClusterConfig,
    ) -> Arc<ClusterBackend> {
        Arc::new(ClusterBackend {
            inner,
            shared: Arc::new(Shared {
                keyspace,
                local_reads: AtomicBool::new(cfg.local_reads),
                redirect: AtomicBool::new(cfg.redirect),
                cfg,
                node: RwLock::new(None),
                init: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// At startup: starts the node when the flags name it (`--node-id` +
    /// `--raft-addr`) or a previous `CLUSTER INIT` recorded an identity,
    /// then asks `--join`'s member to add it (in the background).
    pub async fn boot(&self) -> std::io::Result<()> {
        let cfg = &self.shared.cfg;
        let info = match (&cfg.node_name, &cfg.raft_addr) {
            (Some(name), Some(addr)) => Some(NodeInfo {
                name: name.clone(),
                raft_addr: addr.clone(),
            }),
            (None, None) => load_identity(&cfg.dir)?,
            _ => {
                return Err(std::io::Error::other(
                    "--node-id and --raft-addr go together",
                ))
            }
        };
        let Some(info) = info else {
            return Ok(());
        };
        info.validate().map_err(std::io::Error::other)?;
        let node = ClusterNode::start(cfg, info.clone(), self.shared.keyspace.clone()).await?;
        *self.shared.node.write() = Some(node.clone());
        if let Some(addr) = cfg.join.clone() {
            if !node.is_formed() {
                let auth = cfg.peer_auth();
                tokio::spawn(async move {
                    let reply = join_via(&addr, &auth, info, 20).await;
                    match reply {
                        Reply::Error(e) => {
                            tracing::error!(error = %e, "joining the cluster failed")
                        }
                        _ => tracing::info!("joined the cluster via {addr}"),
                    }
                });
            }
        }
        Ok(())
    }

    /// The running node, if any.
    pub fn node(&self) -> Option<Arc<ClusterNode>> {
        self.shared.node.read().clone()
    }

    /// Stops raft (call before dropping the keyspace).
    pub async fn shutdown(&self) {
        let node = self.shared.node.write().take();
        if let Some(node) = node {
            node.shutdown().await;
        }
    }
}

/// The replicated form of write commands: one packed batch (see
/// [`super::packed`]), each command normalised.
fn commands_request<'a>(cmds: impl Iterator<Item = (&'a Ctx, &'a [Bytes])> + Clone) -> Request {
    let size = cmds.clone().map(|(_, argv)| command_len(argv)).sum();
    let mut p = Packer::with_capacity(size);
    for (ctx, argv) in cmds {
        let normal = rewritten(argv, ctx.now_ms);
        let argv = normal.as_deref().unwrap_or(argv);
        p.command(ctx.db, ctx.now_ms, ctx.rng_seed, argv);
    }
    Request::Packed(p.finish())
}

/// The replies of `n` commands submitted together: as they are, or, when
/// the whole submission failed (no leader, timeout), its error for each.
fn one_per_command(mut replies: Vec<Reply>, n: usize) -> Vec<Reply> {
    if replies.len() != n {
        let err = replies
            .pop()
            .unwrap_or_else(|| Reply::error("ERR empty reply"));
        replies = vec![err; n];
    }
    replies
}

fn arg(argv: &[Bytes], i: usize) -> String {
    argv.get(i)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default()
}

fn syntax(sub: &str) -> Reply {
    Reply::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLUSTER HELP."
    ))
}

async fn cluster_command(shared: Arc<Shared>, argv: Vec<Bytes>) -> Reply {
    let sub = arg(&argv, 1).to_ascii_lowercase();
    let node = shared.node.read().clone();
    match (sub.as_str(), argv.len()) {
        ("init", 4) => {
            let info = NodeInfo {
                name: arg(&argv, 2),
                raft_addr: arg(&argv, 3),
            };
            if let Err(e) = info.validate() {
                return Reply::Error(format!("ERR {e}"));
            }
            let _guard = shared.init.lock().await;
            if let Some(node) = shared.node.read().clone() {
                return if node.info == info {
                    Reply::ok()
                } else {
                    Reply::Error(format!("ERR this node is already {}", node.info))
                };
            }
            match ClusterNode::start(&shared.cfg, info, shared.keyspace.clone()).await {
                Ok(n) => {
                    *shared.node.write() = Some(n);
                    Reply::ok()
                }
                Err(e) => Reply::Error(format!("ERR cluster init failed: {e}")),
            }
        }
        ("join", 4) => match node {
            None => Reply::error("ERR run CLUSTER INIT <node-id> <raft-addr> on this node first"),
            Some(n) => {
                let peer = NodeInfo {
                    name: arg(&argv, 2),
                    raft_addr: arg(&argv, 3),
                };
                match peer.validate() {
                    Ok(()) => n.join(peer).await,
                    Err(e) => Reply::Error(format!("ERR {e}")),
                }
            }
        },
        ("info", 2) => {
            let fields = match &node {
                None => vec![
                    ("cluster_enabled".to_owned(), "0".to_owned()),
                    ("cluster_state".to_owned(), "standalone".to_owned()),
                ],
                Some(n) => {
                    let mut f = vec![("cluster_enabled".to_owned(), "1".to_owned())];
                    f.extend(n.info_fields());
                    f.extend(mode_fields(&shared));
                    f
                }
            };
            let text: String = fields.iter().map(|(k, v)| format!("{k}:{v}\r\n")).collect();
            Reply::Verbatim(Bytes::from(text))
        }
        ("readmode", 2 | 3) => switch(&shared.local_reads, &argv, READ_MODES),
        ("redirect", 2 | 3) => switch(&shared.redirect, &argv, ON_OFF),
        ("slots", 2) => cluster_slots(node).await,
        ("nodes", 2) => cluster_nodes(node).await,
        ("keyslot", 3) => Reply::Integer(i64::from(super::slots::keyslot(&argv[2]))),
        ("myid", 2) => match node {
            None => Reply::error("ERR this node is not in a cluster"),
            Some(n) => Reply::bulk(n.info.name.clone()),
        },
        ("snapshot", 2) => match node {
            None => Reply::error("ERR this node is not in a cluster"),
            Some(n) => n.snapshot().await,
        },
        ("members", 2) => match node {
            None => Reply::Array(Vec::new()),
            Some(n) => Reply::Array(n.members().into_iter().map(Reply::bulk).collect()),
        },
        ("leave", 2) => match node {
            None => Reply::error("ERR this node is not in a cluster"),
            Some(n) => n.remove(&n.info.name.clone()).await,
        },
        ("remove", 3) => match node {
            None => Reply::error("ERR this node is not in a cluster"),
            Some(n) => n.remove(&arg(&argv, 2)).await,
        },
        ("help", 2) => Reply::Array(
            [
                "CLUSTER INIT <node-id> <raft-addr> -- name this node and start its raft listener",
                "CLUSTER JOIN <node-id> <raft-addr> -- add a node (forms the cluster on first use)",
                "CLUSTER INFO -- cluster state and raft figures",
                "CLUSTER MEMBERS -- one line per member",
                "CLUSTER READMODE [local|linearizable] -- show or set how this node serves reads (local: from its own state, possibly stale)",
                "CLUSTER REDIRECT [on|off] -- show or set the redirect mode (on: a follower answers keyed writes and linearizable reads with -MOVED <slot> <leader> instead of forwarding them)",
                "CLUSTER SLOTS -- one shard with every slot: the leader, then the other voters (for cluster-aware clients)",
                "CLUSTER NODES -- the members in Redis Cluster's format (the leader is the master of every slot)",
                "CLUSTER KEYSLOT <key> -- the key's hash slot",
                "CLUSTER MYID -- this node's name",
                "CLUSTER SNAPSHOT -- start a raft snapshot of this node (the log is purged after it)",
                "CLUSTER LEAVE -- remove this node from the cluster",
                "CLUSTER REMOVE <node-id> -- remove a member",
            ]
            .into_iter()
            .map(Reply::bulk)
            .collect(),
        ),
        _ => syntax(&sub),
    }
}

/// A routed command the usual way: a write is proposed (a follower
/// forwards it), a read is a linearizable read.
fn through_raft(node: Arc<ClusterNode>, ctx: Ctx, write: bool, argv: &[Bytes]) -> BoxFuture<Reply> {
    if write {
        let req = commands_request(std::iter::once((&ctx, argv)));
        Box::pin(async move {
            node.write(req)
                .await
                .into_iter()
                .next()
                .unwrap_or_else(|| Reply::error("ERR empty reply"))
        })
    } else {
        let argv = argv.to_vec();
        Box::pin(async move { node.read(&ctx, &argv).await })
    }
}

impl ClusterBackend {
    /// Whether `spec` gets `-MOVED` here: the redirect mode is on, the
    /// command names a key at a fixed position (commands with movable keys
    /// or none are forwarded as usual), and this node does not lead.
    fn redirects(&self, node: &ClusterNode, spec: &CommandSpec) -> bool {
        spec.keys.first > 0 && self.shared.redirect.load(Ordering::Relaxed) && !node.is_leader()
    }
}

impl Backend for ClusterBackend {
    fn execute(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        let in_cluster = self.shared.node.read().is_some();
        if in_cluster {
            let write = argv
                .first()
                .and_then(|n| self.inner.lookup(&n.to_ascii_lowercase()))
                .is_some_and(|s| s.flags.write);
            if write {
                return Reply::error("ERR this command is not supported in cluster mode");
            }
        }
        self.inner.execute(ctx, argv)
    }

    fn execute_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Vec<Reply> {
        self.inner.execute_transaction(ctx, cmds)
    }

    fn set_observer(&self, notifier: Arc<Notifier>) {
        self.inner.set_observer(notifier);
    }

    fn databases(&self) -> usize {
        self.inner.databases()
    }

    fn active_expire_cycle(&self, now_ms: u64) {
        let node = self.shared.node.read().clone();
        match node {
            None => self.inner.active_expire_cycle(now_ms),
            Some(n) => {
                // Only the leader expires, through the log, and only when
                // some key is past its deadline (an idle cluster with TTLs
                // pending appends nothing).
                if n.is_leader() && self.shared.keyspace.any_due(now_ms) {
                    if let Ok(h) = tokio::runtime::Handle::try_current() {
                        h.spawn(async move {
                            let _ = n.write(Request::ExpireCycle { now_ms }).await;
                        });
                    }
                }
            }
        }
    }

    fn digest(&self) -> Option<[u8; 20]> {
        self.inner.digest()
    }

    fn needs_merge(&self) -> bool {
        self.inner.needs_merge()
    }

    fn merge(&self) -> Result<(), String> {
        self.inner.merge()
    }

    fn sync(&self) -> Result<(), String> {
        self.inner.sync()
    }

    fn backup(&self, dest: &std::path::Path) -> Result<String, String> {
        self.inner.backup(dest)
    }

    fn key_counts(&self) -> Vec<(u64, u64)> {
        self.inner.key_counts()
    }

    fn lookup_stats(&self) -> crate::keyspace::LookupStats {
        self.inner.lookup_stats()
    }

    fn reset_lookup_stats(&self) {
        self.inner.reset_lookup_stats();
    }

    fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        node_lookup(name).or_else(|| self.inner.lookup(name))
    }

    fn table(&self) -> &'static [CommandSpec] {
        // The keyspace's table with CLUSTER, ROLE and WAIT, built once
        // (COMMAND LIST / COUNT / DOCS list them too, as Redis does).
        static TABLE: std::sync::OnceLock<Vec<CommandSpec>> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            let mut all = self.inner.table().to_vec();
            all.extend([CLUSTER_SPEC, ROLE_SPEC, WAIT_SPEC]);
            all
        })
    }

    fn sync_writes(&self) -> bool {
        self.inner.sync_writes()
    }

    fn cluster_enabled(&self) -> bool {
        self.shared
            .node
            .read()
            .as_ref()
            .is_some_and(|n| n.is_formed())
    }

    fn persistence_info(&self) -> Vec<(String, String)> {
        self.inner.persistence_info()
    }

    fn replication_info(&self) -> Option<Vec<(String, String)>> {
        self.node()
            .filter(|n| n.is_formed())
            .map(|n| n.replication_info())
    }

    fn route(
        &self,
        ctx: &Ctx,
        spec: &CommandSpec,
        argv: &[Bytes],
        stale_ok: bool,
    ) -> Option<BoxFuture<Reply>> {
        match spec.name {
            "cluster" => {
                return Some(Box::pin(cluster_command(
                    self.shared.clone(),
                    argv.to_vec(),
                )))
            }
            "role" => return Some(Box::pin(role(self.shared.node.read().clone()))),
            "wait" => {
                return Some(Box::pin(wait(
                    self.shared.node.read().clone(),
                    argv.to_vec(),
                )))
            }
            // The script cache is each node's own, as in a Redis cluster.
            "script" => return None,
            _ => {}
        }
        // EVALSHA travels as EVAL: another node may not have the script.
        let by_body = self.shared.keyspace.script_call_by_body(argv);
        let argv: &[Bytes] = by_body.as_deref().unwrap_or(argv);
        let node = self.shared.node.read().clone()?;
        let (ctx, write) = (*ctx, spec.flags.write);
        if !write && (stale_ok || self.shared.local_reads.load(Ordering::Relaxed)) {
            return None; // run here, on this node's state
        }
        let Some(slot) = argv
            .get(spec.keys.first as usize)
            .filter(|_| self.redirects(&node, spec))
            .map(|key| super::slots::keyslot(key))
        else {
            return Some(through_raft(node, ctx, write, argv));
        };
        let argv = argv.to_vec();
        Some(Box::pin(async move {
            // Without a leader (or its address) the command takes the
            // usual path, which answers CLUSTERDOWN or forwards it.
            if let Some((id, info)) = node.leader().filter(|(id, _)| *id != node.id) {
                if let Some(addr) = node.client_addr_of(id, &info).await {
                    return Reply::Error(format!("MOVED {slot} {addr}"));
                }
            }
            through_raft(node, ctx, write, &argv).await
        }))
    }

    fn submits_write(&self, spec: &CommandSpec) -> bool {
        if !spec.flags.write || spec.name == "cluster" {
            return false;
        }
        let node = self.shared.node.read();
        node.as_ref()
            .is_some_and(|n| n.is_formed() && !self.redirects(n, spec))
    }

    fn submit_writes(&self, cmds: &mut Vec<(Ctx, Vec<Bytes>)>) -> BoxFuture<Vec<Reply>> {
        let n = cmds.len();
        // One packed batch (the proposer joins it with the others queued
        // into one entry). EVALSHA travels as EVAL: another node may not
        // have the script.
        let ks = &self.shared.keyspace;
        for (_, argv) in cmds.iter_mut() {
            if let Some(by_body) = ks.script_call_by_body(argv) {
                *argv = by_body;
            }
        }
        let req = commands_request(cmds.iter().map(|(ctx, argv)| (ctx, argv.as_slice())));
        let node = self.shared.node.read().clone();
        let submitted = node.and_then(|node| node.submit(req));
        Box::pin(async move {
            let replies = match submitted {
                Some(replies) => replies.await,
                // The node left or stopped since `submits_write`.
                None => vec![super::node::not_executed("the cluster is not formed")],
            };
            one_per_command(replies, n)
        })
    }

    fn route_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Option<BoxFuture<Vec<Reply>>> {
        let node = self.shared.node.read().clone()?;
        let n = cmds.len();
        let req = Request::Transaction {
            db: ctx.db,
            now_ms: ctx.now_ms,
            rng_seed: ctx.rng_seed,
            cmds: cmds
                .iter()
                .map(|c| {
                    let by_body = self.shared.keyspace.script_call_by_body(c);
                    normalise(by_body.as_deref().unwrap_or(c), ctx.now_ms)
                })
                .collect(),
        };
        Some(Box::pin(async move {
            one_per_command(node.write(req).await, n)
        }))
    }

    fn info_sections(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut fields = match self.shared.node.read().clone() {
            Some(n) => n.info_fields(),
            None => vec![("cluster_enabled".to_owned(), "0".to_owned())],
        };
        fields.extend(mode_fields(&self.shared));
        // Redis's own section: cluster tools (`redis-cli --cluster`) look
        // for cluster_enabled:1 before they ask CLUSTER NODES.
        let enabled = u8::from(self.cluster_enabled()).to_string();
        let cluster = vec![("cluster_enabled".to_owned(), enabled)];
        vec![("cluster".to_owned(), cluster), ("raft".to_owned(), fields)]
    }
}
