//! The RESP server: a tokio listener, one task per connection, and the
//! connection and server commands (HELLO, AUTH, CLIENT, INFO, CONFIG,
//! MULTI/EXEC/WATCH, pub/sub, blocking pops, SHUTDOWN, ...).
//!
//! The entry point is injectable (mini-redis style): [`run`] takes a bound
//! listener and a shutdown future, so tests bind port 0 and the binary stays
//! thin. Data commands go to the [`Backend`] (the keyspace) through
//! `execute` with a `Ctx` built per command.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::command::{CommandSpec, Ctx, Reply};

mod acl;
mod admin;
mod backend;
mod client;
mod config;
mod connection;
mod latency;
mod lolwut;
mod metrics;
mod migrate;
mod notifier;
mod pubsub;
mod subcommands;
mod table;
mod tracking;

pub use backend::KeyspaceBackend;
pub use config::{parse_memory, FsyncSetting, ServerConfig, OPTION_NAMES};
pub use notifier::Notifier;
pub use pubsub::glob_match;
pub use table::SERVER_COMMANDS;

use client::{ClientHandle, PushSender};

/// A boxed `Send` future (cluster routing hooks of [`Backend`]).
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the server needs from the data layer: the keyspace implements it
/// (see `docs/architecture.md`, "keyspace -> server"); tests may use a fake.
pub trait Backend: Send + Sync + 'static {
    /// Runs one data command atomically (durable per the fsync policy).
    fn execute(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply;
    /// Runs MULTI/EXEC's commands atomically; one reply per command.
    fn execute_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Vec<Reply>;
    /// Installs the key-change hook (WATCH and blocking pops).
    fn set_observer(&self, notifier: Arc<Notifier>);
    /// Number of databases.
    fn databases(&self) -> usize;
    /// One round of active expiry.
    fn active_expire_cycle(&self, now_ms: u64);
    /// Whether enough dead data piled up for a merge.
    fn needs_merge(&self) -> bool;
    /// Compacts the data files (blocking; run it off the async workers).
    fn merge(&self) -> Result<(), String>;
    /// Fsyncs everything written so far.
    fn sync(&self) -> Result<(), String>;
    /// Writes a consistent copy of the data into the new directory `dest`
    /// (blocking; run it off the async workers) and describes what it did.
    fn backup(&self, dest: &std::path::Path) -> Result<String, String> {
        let _ = dest;
        Err("backups are not supported by this backend".to_owned())
    }
    /// (keys, keys with an expiry) of each database.
    fn key_counts(&self) -> Vec<(u64, u64)>;
    /// Hits, misses and expired keys (INFO stats); zero by default.
    fn lookup_stats(&self) -> crate::keyspace::LookupStats {
        crate::keyspace::LookupStats::default()
    }
    /// Zeroes [`Backend::lookup_stats`] (CONFIG RESETSTAT).
    fn reset_lookup_stats(&self) {}
    /// A digest of the whole dataset (`DEBUG DIGEST`; all zero when
    /// empty), or `None` when the backend cannot compute one.
    fn digest(&self) -> Option<[u8; 20]> {
        None
    }
    /// The data command of this lower-case name.
    fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec>;
    /// Every data command.
    fn table(&self) -> &'static [CommandSpec];
    /// True when a write waits for its fsync (`fsync = always`): the server
    /// then runs writes on the blocking pool so that many can share one fsync.
    fn sync_writes(&self) -> bool {
        false
    }
    /// Whether this node is in a formed cluster (`READONLY` / `READWRITE`
    /// are refused otherwise, as by a Redis without cluster support).
    fn cluster_enabled(&self) -> bool {
        false
    }
    /// Extra `INFO persistence` fields (storage statistics).
    fn persistence_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The `INFO replication` fields; `None`, the default: a master
    /// without replicas.
    fn replication_info(&self) -> Option<Vec<(String, String)>> {
        None
    }
    /// Cluster mode (`crate::cluster::ClusterBackend`): takes over a data
    /// command (replication, forwarding, linearizable reads). `None`, the
    /// default: the server runs it with `execute`. `stale_ok`: the client
    /// accepts a read from this node's own state (`READONLY`).
    fn route(
        &self,
        _ctx: &Ctx,
        _spec: &CommandSpec,
        _argv: &[Bytes],
        _stale_ok: bool,
    ) -> Option<BoxFuture<Reply>> {
        None
    }
    /// Cluster mode: whether this write command goes through
    /// [`Backend::submit_writes`] (`false`, the default: the server runs it
    /// with `execute`).
    fn submits_write(&self, _spec: &CommandSpec) -> bool {
        false
    }
    /// Cluster mode: submits write commands NOW, together and in order
    /// (groups submitted one after another apply in that order), and
    /// returns the future of their replies, one per command, so that a
    /// pipelining connection keeps many writes in flight. Called only for
    /// commands [`Backend::submits_write`] accepted.
    /// The backend may rewrite `cmds` in place; the caller clears the
    /// vector afterwards and keeps its room for the next group.
    fn submit_writes(&self, cmds: &mut Vec<(Ctx, Vec<Bytes>)>) -> BoxFuture<Vec<Reply>> {
        let n = cmds.len();
        Box::pin(async move { vec![Reply::error("ERR this server does not submit writes"); n] })
    }
    /// Cluster mode: takes over MULTI/EXEC's commands (`None`: run locally).
    fn route_transaction(&self, _ctx: &Ctx, _cmds: &[Vec<Bytes>]) -> Option<BoxFuture<Vec<Reply>>> {
        None
    }
    /// Extra INFO sections (e.g. `raft`): (name, fields). Shown by
    /// `INFO <name>` and by `INFO` / `INFO all`.
    fn info_sections(&self) -> Vec<(String, Vec<(String, String)>)> {
        Vec::new()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Counters of INFO stats / commandstats.
#[derive(Default)]
pub(crate) struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Per command: calls, microseconds, failed calls, rejected calls.
    /// Connections add their counts once per batch, so the lock is cold.
    pub commandstats: Mutex<HashMap<&'static str, CommandStat>>,
}

/// INFO commandstats entry.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub failed: u64,
    pub rejected: u64,
    /// Latency histogram: one count per bucket of
    /// `metrics::LATENCY_BUCKETS_US`, then `+Inf`.
    pub hist: [u64; metrics::LATENCY_BUCKETS_US.len() + 1],
    /// Redis's latency histogram (LATENCY HISTOGRAM): one count per
    /// power-of-two bucket of `latency::histogram_bucket`.
    pub redis_hist: [u64; latency::HISTOGRAM_BUCKETS],
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub(crate) struct SlowlogEntry {
    pub id: u64,
    pub time: u64,
    pub micros: u64,
    pub argv: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

/// The slow log: newest first, bounded by `slowlog-max-len`.
#[derive(Default)]
pub(crate) struct Slowlog {
    pub next_id: u64,
    pub entries: std::collections::VecDeque<SlowlogEntry>,
}

/// Shutdown modes requested by SHUTDOWN.
const SHUTDOWN_NONE: u8 = 0;
const SHUTDOWN_SAVE: u8 = 1;
const SHUTDOWN_NOSAVE: u8 = 2;

/// State shared by the listener, every connection and the background tasks
/// (one `Arc<Shared>`). Each field says who writes it.
pub(crate) struct Shared {
    /// The data layer; immutable handle.
    pub backend: Arc<dyn Backend>,
    /// The configuration; CONFIG SET writes it, connections read it once per
    /// batch (an uncontended read lock).
    pub config: RwLock<ServerConfig>,
    /// Bumped by every CONFIG SET so connections refresh their cached copy.
    pub config_gen: AtomicU64,
    /// Connected clients by id; connections insert and remove themselves,
    /// CLIENT LIST/KILL and INFO read.
    pub clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    /// Users and their permissions (`ACL SETUSER`).
    pub acl: RwLock<acl::Acl>,
    /// `acl.open()`, readable without the lock: while no user is
    /// restricted, connections of the default user skip the per-command
    /// check. Only `update_acl` writes it.
    pub acl_open: AtomicBool,
    /// The last refused commands and passwords (`ACL LOG`).
    pub acl_log: Mutex<acl::AclLog>,
    pub next_client_id: AtomicU64,
    /// WATCH, blocking pops and keyspace notifications (the keyspace's
    /// observer); its `pubsub` is the server's channel registry.
    pub notifier: Arc<Notifier>,
    pub stats: Stats,
    pub slowlog: Mutex<Slowlog>,
    /// The latency monitor's events; locked only when a command crosses
    /// `latency-monitor-threshold` and by the LATENCY command.
    pub latency: Mutex<latency::LatencyMonitor>,
    /// MONITOR clients; `monitors_active` lets the hot path skip the lock.
    pub monitors: Mutex<Vec<PushSender>>,
    pub monitors_active: AtomicBool,
    /// Set to true once: the listener stops and every connection winds down.
    pub shutdown: watch::Sender<bool>,
    /// CLIENT PAUSE: until when, and whether every command (`ALL`) or only
    /// writes wait; `None` when not paused.
    pub pause: watch::Sender<Option<Pause>>,
    pub shutdown_mode: AtomicU8,
    pub started: Instant,
    /// Heap bytes in use when the server was set up (INFO's
    /// `used_memory_startup`, MEMORY STATS' `startup.allocated`).
    pub startup_heap: u64,
    /// Unix seconds of the last successful SAVE (sync).
    pub lastsave: AtomicU64,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: AtomicBool,
    /// The heap in use was above `maxmemory` when last looked at
    /// ([`Shared::check_maxmemory`]): commands that may grow the data
    /// (`denyoom`) are refused, as Redis's `noeviction` policy does.
    pub over_maxmemory: AtomicBool,
    /// A merge is running.
    pub merging: AtomicBool,
    pub merges_done: AtomicU64,
    /// The port actually bound.
    pub port: u16,
}

impl Shared {
    /// Compares the heap in use ([`admin::heap_bytes`], INFO's
    /// `used_memory`) with `maxmemory` (0 = no limit) and records the
    /// answer in [`Shared::over_maxmemory`]. Runs `hz` times a second and
    /// after CONFIG SET, so a burst of writes can pass the limit by what
    /// arrives in between (Redis checks before every command; summing the
    /// count's shards, lines other threads keep writing, per command would
    /// cost a cache miss per shard).
    pub(crate) fn check_maxmemory(&self) {
        let limit = self.config.read().maxmemory;
        let over = limit != 0 && admin::heap_bytes() > limit;
        self.over_maxmemory.store(over, Ordering::Relaxed);
    }

    /// Changes the users (ACL SETUSER / DELUSER) and keeps `acl_open` in
    /// step, under the one write lock.
    pub(crate) fn update_acl<R>(&self, change: impl FnOnce(&mut acl::Acl) -> R) -> R {
        let mut users = self.acl.write();
        let out = change(&mut users);
        self.acl_open.store(users.open(), Ordering::Release);
        out
    }

    /// The CLIENT PAUSE in force now, if any.
    pub(crate) fn paused(&self) -> Option<Pause> {
        (*self.pause.borrow()).filter(|p| p.until > tokio::time::Instant::now())
    }

    /// Adds a refusal to ACL LOG (`client`'s CLIENT INFO line is kept with
    /// it).
    pub(crate) fn log_acl_refusal(
        &self,
        client: &ClientHandle,
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
    ) {
        let entry = acl::LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: now_ms(),
            client_info: client.info_line(),
        };
        let max = self.config.read().acllog_max_len as usize;
        self.acl_log.lock().add(entry, max);
    }

    /// The connected client with this id (CLIENT TRACKING REDIRECT,
    /// CLIENT UNBLOCK).
    pub(crate) fn client(&self, id: i64) -> Option<Arc<ClientHandle>> {
        let id = u64::try_from(id).ok()?;
        self.clients.lock().get(&id).cloned()
    }

    /// Closes every connection authenticated as one of `users` (their user
    /// was deleted or replaced: ACL DELUSER, ACL LOAD), as Redis does.
    pub(crate) fn kill_clients_of(&self, users: &[String]) {
        for c in self.clients.lock().values() {
            if users.iter().any(|u| *c.user.lock() == *u) {
                c.kill();
            }
        }
    }

    /// Asks the server to shut down (SHUTDOWN command).
    pub fn request_shutdown(&self, save: bool) {
        self.shutdown_mode.store(
            if save { SHUTDOWN_SAVE } else { SHUTDOWN_NOSAVE },
            Ordering::SeqCst,
        );
        let _ = self.shutdown.send(true);
    }

    /// Starts a merge on a blocking thread unless one is running.
    pub fn start_merge(self: &Arc<Self>) -> bool {
        if self.merging.swap(true, Ordering::AcqRel) {
            return false;
        }
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            match shared.backend.merge() {
                Ok(()) => {
                    shared.merges_done.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "merge done"
                    );
                }
                Err(e) => tracing::error!(error = %e, "merge failed"),
            }
            shared.merging.store(false, Ordering::Release);
        });
        true
    }
}

/// Opens the RESP listening socket on `host:port` with a listen queue of
/// `backlog` (Redis's `tcp-backlog`; std and tokio use 128, which drops the
/// SYNs of a burst of connections and costs each of them a one-second
/// retry) and `SO_REUSEADDR`, as Redis does. Non-blocking, ready for
/// `tokio::net::TcpListener::from_std`.
pub fn listen(host: &str, port: u16, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        let bound = socket
            .bind(&addr.into())
            .and_then(|()| socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX)));
        match bound {
            Ok(()) => {
                socket.set_nonblocking(true)?;
                return Ok(socket.into());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host} resolves to no address"),
        )
    }))
}

/// The listeners a server opens besides its RESP port: the TLS port and the
/// Prometheus metrics address, when configured.
struct ExtraListeners {
    tls: Option<(std::net::TcpListener, tokio_rustls::TlsAcceptor)>,
    metrics: Option<std::net::TcpListener>,
}

/// Every listener of a server ([`bind_all`]), with the users it starts with.
pub struct Listeners {
    /// The RESP port (non-blocking).
    pub resp: std::net::TcpListener,
    extras: ExtraListeners,
    acl: acl::Acl,
}

/// Checks the start-up users of `config` (its `user` entries or its
/// `aclfile`, against the commands `lookup` knows besides the server's
/// own), then binds its listeners: the TLS port and the metrics address
/// first (reading the certificate files now: a bad file fails the start),
/// the RESP port last, so that a server that cannot start never accepts a
/// client (not even a TCP handshake that a start-up check then drops).
pub fn bind_all(
    config: &ServerConfig,
    lookup: &dyn Fn(&[u8]) -> Option<&'static CommandSpec>,
) -> std::io::Result<Listeners> {
    let (acl, extras) = prepare(config, lookup)?;
    let resp = listen(&config.bind, config.port, config.tcp_backlog).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}:{}: {e}", config.bind, config.port),
        )
    })?;
    Ok(Listeners { resp, extras, acl })
}

/// What every start does before the RESP port: checks the start-up users
/// (against the server's commands and those `lookup` knows), then binds
/// the TLS and metrics listeners.
fn prepare(
    config: &ServerConfig,
    lookup: &dyn Fn(&[u8]) -> Option<&'static CommandSpec>,
) -> std::io::Result<(acl::Acl, ExtraListeners)> {
    let known = |c: &str| lookup(c.as_bytes()).is_some() || table::lookup(c.as_bytes()).is_some();
    Ok((startup_acl(config, &known)?, bind_extras(config)?))
}

/// Binds the TLS port and the metrics address of `config`.
fn bind_extras(config: &ServerConfig) -> std::io::Result<ExtraListeners> {
    let metrics = if config.metrics_addr.is_empty() {
        None
    } else {
        let addr = &config.metrics_addr;
        let l = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on metrics-addr {addr}: {e}"),
                )
            })?;
        tracing::info!(addr = %addr, "Prometheus metrics at http://{addr}/metrics");
        Some(l)
    };
    Ok(ExtraListeners {
        tls: bind_tls(config)?,
        metrics,
    })
}

/// A CLIENT PAUSE: commands of every client wait until `until` (all of
/// them, or only those that write when `all` is false).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// When the pause ends.
    pub until: tokio::time::Instant,
    /// `ALL` (else `WRITE`).
    pub all: bool,
}

/// The users a server starts with: `requirepass` sets the default user's
/// password, then the config's `user` entries replace the users they name,
/// or the `aclfile` (if any) replaces every user, as Redis 7.0 does (a file
/// that does not name `default` gives the fresh default user). A missing or
/// invalid file, a bad `user` entry, or both kinds of users, stop the start.
fn startup_acl(
    config: &ServerConfig,
    commands: &dyn Fn(&str) -> bool,
) -> std::io::Result<acl::Acl> {
    let mut users = acl::Acl::default();
    users.set_requirepass(&config.requirepass);
    let fail = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    if !config.user.is_empty() && !config.aclfile.is_empty() {
        return Err(fail("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".to_owned()));
    }
    if config.aclfile.is_empty() {
        let file = config
            .config_file
            .as_ref()
            .map_or_else(|| "config".to_owned(), |f| f.display().to_string());
        users.declare(&file, &config.user, commands).map_err(fail)?;
        return Ok(users);
    }
    let text = std::fs::read_to_string(&config.aclfile).map_err(|e| {
        fail(format!(
            "Error loading ACLs, opening file '{}': {e}",
            config.aclfile
        ))
    })?;
    acl::Acl::load(&config.aclfile, &text, commands).map_err(fail)
}

/// [`run_with`] on `listener` as the RESP port, binding the TLS and metrics
/// listeners of `config` itself.
pub async fn run(
    config: ServerConfig,
    backend: Arc<dyn Backend>,
    listener: TcpListener,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let (acl, extras) = prepare(&config, &|c: &[u8]| backend.lookup(c))?;
    let listeners = Listeners {
        acl,
        extras,
        resp: listener.into_std()?,
    };
    run_with(config, backend, listeners, shutdown).await
}

/// Runs the server on `listeners` ([`bind_all`]) until `shutdown` completes
/// or a client sends SHUTDOWN; then stops accepting, lets connections finish
/// the command they are executing, fsyncs (unless SHUTDOWN NOSAVE) and
/// returns.
///
/// The caller owns the backend and drops it afterwards (which releases the
/// data directory lock).
pub async fn run_with(
    config: ServerConfig,
    backend: Arc<dyn Backend>,
    listeners: Listeners,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let Listeners { resp, extras, acl } = listeners;
    let listener = TcpListener::from_std(resp)?;
    let port = listener.local_addr()?.port();
    let notifier = Arc::new(Notifier::new());
    notifier.set_event_classes(config.event_classes());
    backend.set_observer(notifier.clone());
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let acl_open = acl.open();
    let shared = Arc::new(Shared {
        backend: backend.clone(),
        config: RwLock::new(config),
        config_gen: AtomicU64::new(0),
        clients: Mutex::new(BTreeMap::new()),
        acl: RwLock::new(acl),
        acl_open: AtomicBool::new(acl_open),
        acl_log: Mutex::new(acl::AclLog::default()),
        next_client_id: AtomicU64::new(1),
        notifier: notifier.clone(),
        stats: Stats::default(),
        slowlog: Mutex::new(Slowlog::default()),
        latency: Mutex::new(latency::LatencyMonitor::default()),
        monitors: Mutex::new(Vec::new()),
        monitors_active: AtomicBool::new(false),
        shutdown: shutdown_tx,
        pause: watch::channel(None).0,
        shutdown_mode: AtomicU8::new(SHUTDOWN_NONE),
        started: Instant::now(),
        startup_heap: admin::heap_bytes(),
        lastsave: AtomicU64::new(now_ms() / 1000),
        active_expire: AtomicBool::new(true),
        over_maxmemory: AtomicBool::new(false),
        merging: AtomicBool::new(false),
        merges_done: AtomicU64::new(0),
        port,
    });

    let tls_listener = match extras.tls {
        Some((l, acceptor)) => Some((TcpListener::from_std(l)?, acceptor)),
        None => None,
    };
    let metrics_listener = extras.metrics.map(TcpListener::from_std).transpose()?;
    let mut background = vec![
        tokio::spawn(notifier.clone().run_unblocker(backend.clone())),
        tokio::spawn(active_expiry(shared.clone())),
        tokio::spawn(merge_checker(shared.clone())),
    ];
    if let Some(l) = metrics_listener {
        background.push(tokio::spawn(metrics::serve(l, shared.clone())));
    }

    // Every connection task holds a clone of `done_tx`; when they have all
    // ended, `done_rx.recv()` returns None (mini-redis's shutdown pattern).
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, addr)) => {
                    connection::spawn(shared.clone(), stream, None, addr, done_tx.clone());
                }
                Err(e) => accept_failed(e).await,
            },
            res = accept_tls(&tls_listener) => match res {
                Ok((stream, addr, acceptor)) => {
                    connection::spawn(shared.clone(), stream, Some(acceptor), addr, done_tx.clone());
                }
                Err(e) => accept_failed(e).await,
            },
            _ = &mut shutdown => {
                let _ = shared.shutdown.send(true);
                break;
            }
            _ = shutdown_rx.changed() => break,
        }
    }
    drop(listener);
    drop(tls_listener);
    tracing::info!("shutting down: waiting for connections to finish");
    // Each connection finishes the command it is running, then closes. A
    // connection registering right now sees the shutdown flag instead.
    for client in shared.clients.lock().values() {
        client.kill();
    }
    drop(done_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await;
    for task in background {
        task.abort();
    }
    if shared.shutdown_mode.load(Ordering::SeqCst) != SHUTDOWN_NOSAVE {
        let b = backend.clone();
        match tokio::task::spawn_blocking(move || b.sync()).await {
            Ok(Ok(())) => tracing::info!("data fsynced"),
            Ok(Err(e)) => tracing::error!(error = %e, "final fsync failed"),
            Err(e) => tracing::error!(error = %e, "final fsync task failed"),
        }
    }
    Ok(())
}

/// EMFILE and friends: log and breathe instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Binds `bind:tls-port` with its acceptor when `tls-port` is set (the
/// certificate files are read now: a bad file fails the start).
fn bind_tls(
    config: &ServerConfig,
) -> std::io::Result<Option<(std::net::TcpListener, tokio_rustls::TlsAcceptor)>> {
    if config.tls_port == 0 {
        return Ok(None);
    }
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let files = config
        .tls_files()
        .map_err(invalid)?
        .ok_or_else(|| invalid("no TLS files".into()))?;
    let acceptor = files.acceptor().map_err(invalid)?;
    let listener = listen(&config.bind, config.tls_port, config.tcp_backlog).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot listen on tls-port {}:{}: {e}",
                config.bind, config.tls_port
            ),
        )
    })?;
    tracing::info!(addr = %listener.local_addr()?, "TLS port ready");
    Ok(Some((listener, acceptor)))
}

/// Accepts on the TLS listener (never completes without one).
async fn accept_tls(
    tls: &Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
) -> std::io::Result<(
    tokio::net::TcpStream,
    std::net::SocketAddr,
    tokio_rustls::TlsAcceptor,
)> {
    match tls {
        Some((listener, acceptor)) => {
            let (stream, addr) = listener.accept().await?;
            Ok((stream, addr, acceptor.clone()))
        }
        None => std::future::pending().await,
    }
}

/// Calls `active_expire_cycle` `hz` times a second (and checks the heap
/// against `maxmemory`).
async fn active_expiry(shared: Arc<Shared>) {
    loop {
        let hz = shared.config.read().hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / u64::from(hz))).await;
        shared.check_maxmemory();
        // A CLIENT PAUSE stops expiry too (the data must not change), as
        // in Redis.
        if shared.active_expire.load(Ordering::Relaxed) && shared.paused().is_none() {
            let backend = shared.backend.clone();
            let _ =
                tokio::task::spawn_blocking(move || backend.active_expire_cycle(now_ms())).await;
        }
        // BCAST tracking of changes no client's batch flushed (expiry,
        // entries a cluster node applied, a blocked client served).
        shared.notifier.tracking.flush_bcast();
    }
}

/// Checks `needs_merge` on an interval and merges on a blocking thread.
async fn merge_checker(shared: Arc<Shared>) {
    loop {
        let every = shared.config.read().merge_check_interval_ms;
        tokio::time::sleep(Duration::from_millis(if every == 0 { 1000 } else { every })).await;
        if every == 0 || shared.merging.load(Ordering::Acquire) {
            continue;
        }
        let backend = shared.backend.clone();
        let due = tokio::task::spawn_blocking(move || backend.needs_merge())
            .await
            .unwrap_or(false);
        if due {
            tracing::info!("automatic merge starting");
            shared.start_merge();
        }
    }
}
