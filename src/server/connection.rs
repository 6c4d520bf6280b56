//! One client connection: read requests, execute them, write the replies.
//!
//! Pipelining: every complete request in the read buffer is executed before
//! the replies are written with one `write_all`. Pushes (pub/sub, MONITOR)
//! are written between batches. A protocol error replies
//! `-ERR Protocol error: ...` and closes only this connection.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::acl::Denied;
use super::client::{push_channel, ClientHandle, PushReceiver, PushSender};
use super::notifier::{is_null, WatchFlag};
use super::tracking::with_current_client;
use super::{now_ms, subcommands, table, BoxFuture, CommandStat, Shared, SlowlogEntry};
use crate::command::{CommandSpec, Ctx, Reply};
use crate::keyspace::{with_script_acl, with_script_reads, ScriptAcl, ScriptDenied};
use crate::resp::{encode, Decoded, Decoder, Limits, Protocol};
use crate::tls::{Stream, READ_CHUNK};

/// Replies above this size are written before the batch goes on, so a
/// pipeline of big replies does not pile up in memory.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// What to do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// Write what is pending, then close (QUIT, protocol error, kill).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyMode {
    On,
    Off,
    SkipNext,
}

/// MULTI state: the queued commands and whether one was rejected.
#[derive(Debug, Default)]
pub(super) struct Multi {
    pub queued: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    pub failed: bool,
}

/// WATCH state.
#[derive(Debug, Default)]
pub(super) struct Watching {
    /// (db, key, existed when watched).
    pub keys: Vec<(usize, Bytes, bool)>,
    pub dirty: WatchFlag,
}

/// Pub/Sub state of a subscribed connection.
#[derive(Default)]
pub(super) struct Subscriptions {
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    /// Shard channels (SSUBSCRIBE): a namespace apart from `channels`.
    pub shard_channels: HashSet<Bytes>,
}

pub(super) struct Connection {
    pub shared: Arc<Shared>,
    pub stream: Stream,
    pub handle: Arc<ClientHandle>,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub decoder: Decoder,
    pub proto: Protocol,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user this connection runs as (`default` until AUTH user pass).
    pub user: String,
    pub multi: Option<Multi>,
    pub watching: Option<Box<Watching>>,
    pub subs: Option<Box<Subscriptions>>,
    /// Created lazily on the first SUBSCRIBE / MONITOR: idle connections do
    /// not pay for a channel.
    pub push: Option<(PushSender, PushReceiver)>,
    pub reply_mode: ReplyMode,
    pub rng: u64,
    pub shutdown: watch::Receiver<bool>,
    /// Commandstats of the current batch, added to the shared table once.
    pub local_stats: Vec<(&'static str, CommandStat)>,
    pub net_in: u64,
    /// What `handle.last_cmd` holds: a pipeline of one command takes its
    /// lock once, not once per command.
    last_cmd: &'static str,
    /// The config values the hot path needs, refreshed when CONFIG SET
    /// bumps `Shared::config_gen` (no lock per command).
    pub cached: CachedConfig,
    /// Cluster mode: replies owed in order while pipelined writes are in
    /// flight (see [`Connection::drain_inflight`]); empty otherwise.
    pub inflight: VecDeque<Owed>,
    /// Commands in `inflight` (a submitted group counts each of its own).
    pub inflight_cmds: usize,
    /// `READONLY` (cluster mode): this connection's reads run on this
    /// node's own state, possibly stale, as reads from a Redis Cluster
    /// replica do; `READWRITE` or `RESET` clear it.
    pub readonly: bool,
    /// Cluster mode: writes read from the input and not submitted yet;
    /// they follow everything in `inflight` and are submitted together,
    /// as one proposal, when the input is used up or something else must
    /// wait for them (see [`Connection::submit_pending`]).
    pub pending: PendingWrites,
    /// The clock of the writes in `pending` (monotonic, and milliseconds
    /// since the epoch for their contexts): read at the first and cleared
    /// when they are submitted. They come from one read from the socket
    /// and nothing waits between them, so they share one instant (one
    /// clock read per group instead of three per command).
    pub write_clock: Option<(Instant, u64)>,
    /// The wall clock (microseconds since the epoch) as of an instant:
    /// [`Connection::clock`] derives the time from one monotonic read, and
    /// reads the wall clock again only when this is [`WALL_ANCHOR_TTL`] old.
    pub wall_anchor: Option<(Instant, u128)>,
    /// The milliseconds of the clock a keyspace command read at its start
    /// (taken by the first [`Connection::ctx`] of that command, so nothing
    /// later, a blocked command's retry say, sees it).
    pub cmd_clock: Option<u64>,
}

/// How long [`Connection::clock`] derives the wall clock from the
/// monotonic one before it reads the wall clock again (a step of the
/// system clock shows within this).
const WALL_ANCHOR_TTL: std::time::Duration = std::time::Duration::from_millis(10);

/// Writes waiting to be submitted together.
#[derive(Default)]
pub(super) struct PendingWrites {
    /// Each write's context and arguments.
    pub cmds: Vec<(Ctx, Vec<Bytes>)>,
    /// What the connection needs when each reply comes back.
    pub meta: Vec<WriteMeta>,
}

/// A submitted write's bookkeeping.
pub(super) struct WriteMeta {
    spec: &'static CommandSpec,
    started: Instant,
    /// Whether the client wants the reply (CLIENT REPLY at dispatch).
    send: bool,
    /// The arguments, for the slow log once the reply is back (moved here
    /// when the group is submitted; as the backend left them).
    argv: Vec<Bytes>,
}

/// A reply owed to the client, in command order.
pub(super) enum Owed {
    /// Ready (a rejection queued behind writes still in flight).
    Ready(Reply),
    /// Writes submitted to the cluster together and not answered yet:
    /// one reply per command, in order.
    Writes {
        replies: BoxFuture<Vec<Reply>>,
        meta: Vec<WriteMeta>,
    },
}

/// Most writes one connection keeps in flight before it waits for the
/// oldest (a pipeline longer than this is taken in steps).
const MAX_INFLIGHT: usize = 1024;

/// Most writes submitted as one group.
const MAX_GROUP: usize = 256;

/// A connection's copy of the hot-path options.
#[derive(Debug, Clone, Copy)]
pub(super) struct CachedConfig {
    pub gen: u64,
    pub limits: Limits,
    pub query_limit: u64,
    pub timeout: u64,
    pub slowlog_threshold: i64,
    /// `latency-monitor-threshold` in milliseconds; 0 = off.
    pub latency_threshold: u64,
}

impl CachedConfig {
    fn load(shared: &Shared) -> CachedConfig {
        let gen = shared.config_gen.load(Ordering::Acquire);
        let c = shared.config.read();
        CachedConfig {
            gen,
            limits: Limits {
                max_bulk_len: usize::try_from(c.proto_max_bulk_len).unwrap_or(usize::MAX),
                max_multibulk_len: usize::try_from(c.proto_max_multibulk_len).unwrap_or(usize::MAX),
            },
            query_limit: c.client_query_buffer_limit,
            timeout: c.timeout,
            slowlog_threshold: c.slowlog_log_slower_than,
            latency_threshold: c.latency_monitor_threshold,
        }
    }
}

/// Accepts `stream` as a client (or refuses it) and runs it on its own task.
pub(super) fn spawn(
    shared: Arc<Shared>,
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    addr: SocketAddr,
    done: mpsc::Sender<()>,
) {
    tokio::spawn(async move {
        let _done = done;
        let _ = tcp.set_nodelay(true);
        let laddr = tcp.local_addr().unwrap_or(addr);
        // The handshake comes first, so that even a refusal below reaches a
        // TLS client as a readable error.
        let mut stream = match Stream::server(tcp, tls.as_ref()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "TLS handshake failed");
                return;
            }
        };
        shared
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        let (maxclients, protected, bind) = {
            let c = shared.config.read();
            (c.maxclients, c.protected_mode, c.bind.clone())
        };
        let (default_nopass, authenticated) = {
            let acl = shared.acl.read();
            let nopass = acl.user("default").is_some_and(|u| u.nopass);
            (nopass, acl.default_needs_no_password())
        };
        let refuse = if shared.clients.lock().len() >= maxclients {
            Some("-ERR max number of clients reached\r\n")
        } else if protected
            && default_nopass
            && !is_loopback_bind(&bind)
            && !addr.ip().is_loopback()
        {
            Some(PROTECTED_MODE_ERROR)
        } else {
            None
        };
        if let Some(err) = refuse {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            let _ = stream.write_all(err.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ClientHandle::new(id, addr, laddr));
        shared.clients.lock().insert(id, handle.clone());
        let cached = CachedConfig::load(&shared);
        let mut conn = Connection {
            shutdown: shared.shutdown.subscribe(),
            shared,
            stream,
            handle,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            decoder: Decoder::new(),
            proto: Protocol::Resp2,
            db: 0,
            authenticated,
            user: "default".to_owned(),
            multi: None,
            readonly: false,
            watching: None,
            subs: None,
            push: None,
            reply_mode: ReplyMode::On,
            rng: rand::random::<u64>() | 1,
            local_stats: Vec::new(),
            net_in: 0,
            last_cmd: "NULL",
            cached,
            inflight: VecDeque::new(),
            inflight_cmds: 0,
            pending: PendingWrites::default(),
            write_clock: None,
            wall_anchor: None,
            cmd_clock: None,
        };
        conn.serve().await;
        conn.cleanup();
    });
}

const PROTECTED_MODE_ERROR: &str = "-DENIED FincasKV is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, you may: 1) Set a password with CONFIG SET requirepass <password> or the requirepass option. 2) Disable protected mode with CONFIG SET protected-mode no or the protected-mode option. 3) Bind to a loopback address only.\r\n";

fn is_loopback_bind(bind: &str) -> bool {
    bind.split_whitespace().all(|a| {
        a == "localhost"
            || a.parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    })
}

impl Connection {
    /// The connection's main loop.
    async fn serve(&mut self) {
        if *self.shutdown.borrow() {
            return;
        }
        loop {
            self.refresh_config();
            let idle_timeout = self.cached.timeout;
            let flow = tokio::select! {
                biased;
                // Shutdown kills every client too (a per-client Notify: no
                // lock shared by all connections on the hot path).
                _ = self.handle.kill.notified() => Flow::Close,
                push = recv_push(&mut self.push) => match push {
                    Some(reply) => {
                        self.write_push(reply);
                        Flow::Continue
                    }
                    None => Flow::Continue,
                },
                read = self.stream.read_some(&mut self.rbuf) => match read {
                    Ok(Some(0)) | Err(_) => Flow::Close,
                    Ok(Some(n)) => {
                        self.net_in += n as u64;
                        let flow = self.process_buffer().await;
                        self.flush_stats();
                        // BCAST tracking: the keys this batch changed, out
                        // before the replies (Redis sends them before it
                        // sleeps).
                        self.shared.notifier.tracking.flush_bcast();
                        flow
                    }
                    // Spurious readiness: nothing was read; back to waiting.
                    Ok(None) => Flow::Continue,
                },
                _ = idle_sleep(idle_timeout) => {
                    if self.is_idle_timeout_exempt() { Flow::Continue } else { Flow::Close }
                }
            };
            if self.flush().await.is_err() || flow == Flow::Close {
                break;
            }
            if self.handle.killed.load(Ordering::Acquire) {
                break;
            }
        }
    }

    fn is_idle_timeout_exempt(&self) -> bool {
        self.subs.is_some() || self.handle.monitor.load(Ordering::Relaxed)
    }

    /// Executes the complete requests in the read buffer.
    pub(super) async fn process_buffer(&mut self) -> Flow {
        loop {
            self.refresh_config();
            let limits = self.cached.limits;
            let query_limit = self.cached.query_limit;
            match self
                .decoder
                .decode(&mut self.rbuf, &limits, self.authenticated)
            {
                Ok(Decoded::Command(argv)) => {
                    if self.dispatch(argv).await == Flow::Close {
                        return Flow::Close;
                    }
                    if self.handle.killed.load(Ordering::Acquire) {
                        return Flow::Close;
                    }
                    if self.wbuf.len() >= FLUSH_THRESHOLD {
                        // Writes pending after this wait take a new clock.
                        self.write_clock = None;
                        if self.flush().await.is_err() {
                            return Flow::Close;
                        }
                    }
                }
                Ok(Decoded::Incomplete { .. }) => {
                    // The input is used up: answer what is in flight.
                    self.drain_inflight().await;
                    let pending = self.rbuf.len() as u64 + self.decoder.pending_bytes() as u64;
                    if pending > query_limit {
                        tracing::warn!(
                            client = self.handle.id,
                            addr = %self.handle.addr,
                            pending,
                            "closing client that reached the query buffer limit"
                        );
                        return Flow::Close;
                    }
                    if self.rbuf.is_empty() && self.rbuf.capacity() > 4 * READ_CHUNK {
                        // Give back the room a big request needed.
                        self.rbuf = BytesMut::new();
                    }
                    return Flow::Continue;
                }
                Err(e) => {
                    tracing::debug!(client = self.handle.id, error = %e, "protocol error");
                    self.drain_inflight().await;
                    self.reply_now(&Reply::Error(format!("ERR {e}")));
                    return Flow::Close;
                }
            }
        }
    }

    /// Whether `spec` is refused while the memory in use is over
    /// `maxmemory`, by Redis's rule: a command that may add data, any
    /// command queued inside MULTI (queuing grows memory too) but EXEC,
    /// DISCARD, QUIT and RESET, and EXEC when it would run such a command.
    fn refused_on_oom(&self, spec: &CommandSpec) -> bool {
        match &self.multi {
            Some(multi) if spec.name == "exec" => multi.queued.iter().any(|(s, _)| s.flags.denyoom),
            Some(_) => !matches!(spec.name, "discard" | "quit" | "reset"),
            None => spec.flags.denyoom,
        }
    }

    fn refresh_config(&mut self) {
        if self.shared.config_gen.load(Ordering::Acquire) != self.cached.gen {
            self.cached = CachedConfig::load(&self.shared);
        }
    }

    /// Writes the pending output.
    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let n = self.wbuf.len();
        // TLS buffers in the session: flush pushes it out (a no-op on TCP).
        let res = match self.stream.write_all(&self.wbuf).await {
            Ok(()) => self.stream.flush().await,
            Err(e) => Err(e),
        };
        self.shared
            .stats
            .net_output_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        self.wbuf.clear();
        if self.wbuf.capacity() > 4 * FLUSH_THRESHOLD {
            self.wbuf = BytesMut::new();
        }
        res
    }

    /// Encodes a reply to the command being executed (honours CLIENT REPLY).
    pub(super) fn reply(&mut self, reply: &Reply) {
        if self.wants_reply() {
            self.submit_pending();
            if self.inflight.is_empty() {
                encode(reply, self.proto, &mut self.wbuf);
            } else {
                self.inflight.push_back(Owed::Ready(reply.clone()));
            }
        }
    }

    /// Whether the current command's reply goes out (CLIENT REPLY); uses
    /// up a SKIP.
    fn wants_reply(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            ReplyMode::SkipNext => {
                self.reply_mode = ReplyMode::On;
                false
            }
        }
    }

    /// Waits for every write in flight, oldest first, and encodes the owed
    /// replies in command order. Runs before any command that is not a
    /// submitted write (a read must see the writes before it) and when the
    /// input is used up.
    pub(super) async fn drain_inflight(&mut self) {
        self.submit_pending();
        while let Some(owed) = self.inflight.pop_front() {
            match owed {
                Owed::Ready(reply) => encode(&reply, self.proto, &mut self.wbuf),
                Owed::Writes { replies, meta } => {
                    self.inflight_cmds -= meta.len();
                    let replies = replies.await;
                    debug_assert_eq!(replies.len(), meta.len());
                    let now = Instant::now();
                    for (reply, m) in replies.iter().zip(&meta) {
                        if m.send {
                            encode(reply, self.proto, &mut self.wbuf);
                        }
                        let elapsed = now - m.started;
                        self.record(m.spec, elapsed, reply.is_error());
                        if self.is_slow(elapsed) {
                            self.slowlog(&m.argv, elapsed);
                        }
                    }
                    let mut meta = meta;
                    for m in meta.drain(..) {
                        self.decoder.recycle(m.argv);
                    }
                    if self.pending.meta.capacity() == 0 {
                        // Its room serves the next group.
                        self.pending.meta = meta;
                    }
                }
            }
        }
    }

    /// Submits the pending writes as one group (one proposal: the writes
    /// of one read from the socket share a raft entry and one wake-up).
    pub(super) fn submit_pending(&mut self) {
        self.write_clock = None;
        if self.pending.cmds.is_empty() {
            return;
        }
        // The backend takes the commands and leaves the vector (and its
        // room) to the next group.
        let replies = self.shared.backend.submit_writes(&mut self.pending.cmds);
        let mut meta = std::mem::take(&mut self.pending.meta);
        for ((_, argv), m) in self.pending.cmds.drain(..).zip(&mut meta) {
            m.argv = argv;
        }
        self.inflight_cmds += meta.len();
        self.inflight.push_back(Owed::Writes { replies, meta });
    }

    /// Encodes a reply regardless of CLIENT REPLY (protocol errors).
    fn reply_now(&mut self, reply: &Reply) {
        encode(reply, self.proto, &mut self.wbuf);
    }

    fn write_push(&mut self, first: Reply) {
        encode(&first, self.proto, &mut self.wbuf);
        let mut n = 0;
        while let Some(next) = self.push.as_mut().and_then(|(_, rx)| rx.try_recv()) {
            encode(&next, self.proto, &mut self.wbuf);
            n += 1;
            if n >= 256 || self.wbuf.len() >= FLUSH_THRESHOLD {
                break;
            }
        }
    }

    /// The push sender of this connection, created on first use.
    pub(super) fn push_sender(&mut self) -> PushSender {
        if let Some((tx, _)) = &self.push {
            return tx.clone();
        }
        let limit = usize::try_from(self.shared.config.read().client_output_buffer_limit)
            .unwrap_or(usize::MAX);
        let (tx, rx) = push_channel(self.handle.clone(), limit);
        self.push = Some((tx.clone(), rx));
        *self.handle.push.lock() = Some(tx.clone());
        tx
    }

    /// A fresh context for one command (with the clock its dispatch read,
    /// the first time after it).
    pub(super) fn ctx(&mut self) -> Ctx {
        let now_ms = match self.cmd_clock.take() {
            Some(ms) => ms,
            None => self.clock().1,
        };
        self.ctx_at(now_ms)
    }

    /// The monotonic clock and milliseconds since the epoch, from one clock
    /// read (the wall clock is read again every [`WALL_ANCHOR_TTL`]).
    pub(super) fn clock(&mut self) -> (Instant, u64) {
        let now = Instant::now();
        if let Some((at, us)) = self.wall_anchor {
            let since = now.saturating_duration_since(at);
            if since < WALL_ANCHOR_TTL {
                return (now, ((us + since.as_micros()) / 1000) as u64);
            }
        }
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        self.wall_anchor = Some((now, us));
        (now, (us / 1000) as u64)
    }

    /// [`Connection::ctx`] with the clock already read.
    fn ctx_at(&mut self, now_ms: u64) -> Ctx {
        // xorshift64*: a cheap per-connection stream of seeds.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mut ctx = Ctx::new(now_ms, self.rng, self.db);
        ctx.oom = self.shared.over_maxmemory.load(Ordering::Relaxed);
        ctx
    }

    /// Looks a command up: the keyspace table, then the server commands.
    pub(super) fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut lower = [0u8; 32];
        if name.len() > lower.len() {
            return None;
        }
        let lower = &mut lower[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        // The keyspace's table first (bucketed by a few bytes of the
        // name); the server's names do not overlap with it.
        self.shared
            .backend
            .lookup(lower)
            .or_else(|| table::lookup(lower))
    }

    /// Runs one request.
    async fn dispatch(&mut self, argv: Vec<Bytes>) -> Flow {
        let Some(spec) = self.lookup(&argv[0]) else {
            let err = unknown_command(&argv);
            self.reject(None, err);
            return Flow::Continue;
        };
        // A subcommand Redis describes (`config|get`) has its own arity
        // and ACL categories; any other is checked as its container.
        let checked = subcommands::of_call(spec, &argv).unwrap_or(spec);
        // As Redis: CLIENT LIST's `cmd=` is the command being run (so a
        // client listing itself sees `client|list`), refused or queued too.
        self.set_last_cmd(checked.name);
        if !self.authenticated && !spec.flags.no_auth {
            self.reject(Some(spec), Reply::error("NOAUTH Authentication required."));
            return Flow::Continue;
        }
        if !spec.arity_ok(argv.len()) || !checked.arity_ok(argv.len()) {
            let err = Reply::Error(format!(
                "ERR wrong number of arguments for '{}' command",
                full_name(spec, &argv)
            ));
            self.reject(Some(spec), err);
            return Flow::Continue;
        }
        if !spec.flags.no_auth && self.restricted() {
            // The command, then its keys and channels (Redis's order).
            let denied = match self.shared.acl.read().user(&self.user) {
                Some(u) if u.enabled => u.check(spec, checked, &argv).map(|d| {
                    let name = full_name(spec, &argv);
                    let (reason, object) = d.logged(&name);
                    (Reply::Error(d.error(&name)), reason, object)
                }),
                _ => {
                    let name = full_name(spec, &argv);
                    Some((Reply::Error(Denied::Command.error(&name)), "command", name))
                }
            };
            if let Some((err, reason, object)) = denied {
                let user = self.user.clone();
                self.log_acl_refusal(reason, object, user);
                self.reject(Some(spec), err);
                return Flow::Continue;
            }
        }
        if self.shared.over_maxmemory.load(Ordering::Relaxed) && self.refused_on_oom(spec) {
            self.reject(Some(spec), Reply::error(crate::command::args::OOM));
            return Flow::Continue;
        }
        if self.shared.pause.borrow().is_some() {
            self.wait_out_pause(spec).await;
        }
        if let Some(multi) = self.multi.as_mut() {
            if !matches!(
                spec.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            ) {
                if spec.flags.no_multi {
                    self.reject(
                        Some(spec),
                        Reply::error("ERR Command not allowed inside a transaction"),
                    );
                    return Flow::Continue;
                }
                multi.queued.push((spec, argv));
                let n = multi.queued.len() as i64;
                self.handle.multi.store(n, Ordering::Relaxed);
                self.reply(&Reply::Simple("QUEUED".into()));
                return Flow::Continue;
            }
        }
        if self.proto == Protocol::Resp2 && self.subs.is_some() && !spec.flags.pubsub_allowed {
            let err = Reply::Error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                full_name(spec, &argv)
            ));
            self.reject(Some(spec), err);
            return Flow::Continue;
        }
        if self.shared.monitors_active.load(Ordering::Relaxed) && !spec.flags.admin {
            self.feed_monitors(&argv);
        }
        if spec.flags.write
            && !spec.flags.blocking
            && !table::is_server_command(spec)
            && self.shared.backend.submits_write(spec)
        {
            let (started, now_ms) = match self.write_clock {
                Some(clock) => clock,
                None => {
                    let clock = self.clock();
                    self.write_clock = Some(clock);
                    clock
                }
            };
            self.handle.touch_at(started);
            let ctx = self.ctx_at(now_ms);
            let send = self.wants_reply();
            if self.handle.is_tracking() {
                self.track(spec, &argv);
            }
            self.pending.cmds.push((ctx, argv));
            self.pending.meta.push(WriteMeta {
                spec,
                started,
                send,
                argv: Vec::new(),
            });
            if self.pending.cmds.len() >= MAX_GROUP {
                self.submit_pending();
            }
            if self.inflight_cmds >= MAX_INFLIGHT {
                self.drain_inflight().await;
            }
            return Flow::Continue;
        }
        self.drain_inflight().await;
        // One clock read for the start, the idle time and the context.
        let (started, now_ms) = self.clock();
        self.handle.touch_at(started);
        let (reply, flow) = if table::is_server_command(spec) {
            self.exec_server(spec, &argv).await
        } else if spec.flags.blocking {
            self.exec_blocking(spec, &argv).await
        } else {
            self.cmd_clock = Some(now_ms);
            let reply = self.exec_keyspace(spec, &argv).await;
            self.cmd_clock = None;
            (Some(reply), Flow::Continue)
        };
        let elapsed = started.elapsed();
        if let Some(reply) = &reply {
            self.reply(reply);
        }
        if self.handle.is_tracking() {
            self.track(spec, &argv);
        }
        // Under a subcommand's own name (`config|get`), as Redis counts it.
        self.record(
            checked,
            elapsed,
            reply.as_ref().is_some_and(Reply::is_error),
        );
        if self.is_slow(elapsed) {
            self.slowlog(&argv, elapsed);
        }
        flow
    }

    /// CLIENT TRACKING: the keys of a read-only command are remembered
    /// (as the mode allows); CLIENT CACHING's choice lasts until the next
    /// command but CLIENT's own, or through a MULTI.
    pub(super) fn track(&self, spec: &CommandSpec, argv: &[Bytes]) {
        let keep = spec.name == "client" || self.multi.is_some();
        // A read-only script's keys count only when it reads
        // (`exec_keyspace_as`), as in Redis 7.0.
        let keys: Vec<&Bytes> = if spec.flags.readonly && spec.group != "scripting" {
            crate::command::keys::key_positions(spec, argv)
                .into_iter()
                .filter_map(|i| argv.get(i))
                .collect()
        } else {
            Vec::new()
        };
        self.shared.notifier.tracking.after_command(
            self.handle.id,
            spec.flags.readonly,
            keep,
            &keys,
        );
    }

    /// CLIENT PAUSE: waits while a pause holds `spec` (every command under
    /// `ALL`; under `WRITE` the writes, EXEC of a transaction that writes,
    /// PUBLISH), as Redis postpones them; replies already owed go out
    /// first.
    async fn wait_out_pause(&mut self, spec: &CommandSpec) {
        let writes = spec.flags.write
            || matches!(spec.name, "publish" | "spublish")
            || (spec.name == "exec"
                && self
                    .multi
                    .as_ref()
                    .is_some_and(|m| m.queued.iter().any(|(s, _)| s.flags.write)));
        let mut changes = self.shared.pause.subscribe();
        let mut flushed = false;
        loop {
            let Some(p) = *changes.borrow_and_update() else {
                return;
            };
            let now = tokio::time::Instant::now();
            if p.until <= now {
                // Over: clear it, so that later commands skip this check.
                self.shared.pause.send_if_modified(|cur| {
                    let over = cur.is_some_and(|c| c.until <= now);
                    if over {
                        *cur = None;
                    }
                    over
                });
                return;
            }
            if !(p.all || writes) {
                return;
            }
            if !flushed {
                self.drain_inflight().await;
                let _ = self.flush().await;
                flushed = true;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(p.until) => {}
                _ = changes.changed() => {}
                _ = self.handle.kill.notified() => {
                    // Keep the kill for the loop that reads requests.
                    self.handle.kill.notify_one();
                    return;
                }
            }
        }
    }

    /// Whether this connection's user has any restriction (the per-command
    /// ACL check runs).
    pub(super) fn restricted(&self) -> bool {
        self.user != "default" || !self.shared.acl_open.load(Ordering::Acquire)
    }

    /// The permissions the commands of this connection's scripts are
    /// checked against (`None` for an unrestricted user): the same checks
    /// as `dispatch`'s, a refusal logged in ACL LOG's `lua` context.
    pub(super) fn script_acl(&self) -> Option<ScriptAcl> {
        if !self.restricted() {
            return None;
        }
        let shared = self.shared.clone();
        let user = self.user.clone();
        let handle = self.handle.clone();
        Some(Arc::new(
            move |spec: &CommandSpec, argv: &[Bytes], log: bool| {
                let checked = subcommands::of_call(spec, argv).unwrap_or(spec);
                let d = match shared.acl.read().user(&user) {
                    Some(u) => u.check(spec, checked, argv)?,
                    None => Denied::Command,
                };
                let denied = match d {
                    Denied::Command => ScriptDenied::Command,
                    Denied::Key(_) => ScriptDenied::Key,
                    Denied::Channel(_) => ScriptDenied::Channel,
                };
                if log {
                    let (reason, object) = d.logged(&full_name(spec, argv));
                    shared.log_acl_refusal(&handle, reason, "lua", object, user.clone());
                }
                Some(denied)
            },
        ))
    }

    /// Executes one data command, off the async workers when writes wait
    /// for fsync.
    pub(super) async fn exec_keyspace(&mut self, spec: &CommandSpec, argv: &[Bytes]) -> Reply {
        let scripting = spec.group == "scripting";
        let acl = if scripting { self.script_acl() } else { None };
        // A tracking client remembers a script's declared keys when the
        // script reads (Redis 7.0).
        let track_reads = scripting && self.handle.is_tracking();
        self.exec_keyspace_as(spec, argv, acl, track_reads).await
    }

    /// [`Self::exec_keyspace`] with the scripts' ACL given (`None` runs a
    /// script with every right: the server's own scripts, e.g. MIGRATE's)
    /// and, if `track_reads`, the script's keys remembered for this
    /// tracking client when it reads (not in a cluster, where scripts run
    /// at apply).
    pub(super) async fn exec_keyspace_as(
        &mut self,
        spec: &CommandSpec,
        argv: &[Bytes],
        acl: Option<ScriptAcl>,
        track_reads: bool,
    ) -> Reply {
        let ctx = self.ctx();
        let backend = &self.shared.backend;
        if let Some(routed) = backend.route(&ctx, spec, argv, self.readonly) {
            return routed.await;
        }
        let id = self.handle.id;
        let (reply, read) = if spec.flags.write && backend.sync_writes() {
            let backend = backend.clone();
            let argv = argv.to_vec();
            let notifier = self.shared.notifier.clone();
            let run = move || {
                let _shared = notifier.exec_gate.read();
                let run = || with_script_acl(acl, || backend.execute(&ctx, &argv));
                with_current_client(id, || with_script_reads(track_reads, run))
            };
            match tokio::task::spawn_blocking(run).await {
                Ok(r) => r,
                Err(_) => (Reply::error("ERR internal error"), false),
            }
        } else {
            // Writes share the gate; EXEC with WATCH takes it exclusively.
            let _shared = spec
                .flags
                .write
                .then(|| self.shared.notifier.exec_gate.read());
            let run = || with_script_acl(acl, || backend.execute(&ctx, argv));
            with_current_client(id, || with_script_reads(track_reads, run))
        };
        if read {
            // As Redis 7.0: the script's declared keys. `keep`: CLIENT
            // CACHING's choice is the command's own, spent by its `track`
            // after the reply.
            let keys: Vec<&Bytes> = crate::command::keys::key_positions(spec, argv)
                .into_iter()
                .filter_map(|i| argv.get(i))
                .collect();
            self.shared
                .notifier
                .tracking
                .after_command(id, true, true, &keys);
        }
        reply
    }

    /// Rejects a command (unknown, arity, auth ...); inside MULTI this
    /// also dooms the transaction (EXECABORT).
    fn reject(&mut self, spec: Option<&'static CommandSpec>, err: Reply) {
        if let Some(m) = self.multi.as_mut() {
            m.failed = true;
        }
        if let Some(spec) = spec {
            let stat = self.local_stat(spec.name);
            stat.rejected += 1;
            // A refused EXEC discards the transaction (Redis's execCommandAbort).
            if spec.name == "exec" {
                if let Reply::Error(e) = &err {
                    let abort = Reply::Error(format!(
                        "EXECABORT Transaction discarded because of: {}",
                        e.trim_start_matches('-')
                    ));
                    if self.multi.take().is_some() {
                        self.handle.multi.store(-1, Ordering::Relaxed);
                    }
                    self.unwatch_all();
                    self.reply(&abort);
                    return;
                }
            }
        }
        self.reply(&err);
    }

    fn local_stat(&mut self, name: &'static str) -> &mut CommandStat {
        let idx = match self.local_stats.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.local_stats.push((name, CommandStat::default()));
                self.local_stats.len() - 1
            }
        };
        &mut self.local_stats[idx].1
    }

    /// The client's last command, as CLIENT LIST's `cmd=` shows it.
    fn set_last_cmd(&mut self, name: &'static str) {
        if !std::ptr::eq(self.last_cmd, name) {
            self.last_cmd = name;
            *self.handle.last_cmd.lock() = name;
        }
    }

    fn record(&mut self, spec: &'static CommandSpec, elapsed: Duration, failed: bool) {
        let stat = self.local_stat(spec.name);
        stat.calls += 1;
        let usec = elapsed.as_micros() as u64;
        stat.usec += usec;
        stat.hist[super::metrics::bucket_of(usec)] += 1;
        stat.redis_hist[super::latency::histogram_bucket(usec)] += 1;
        if failed {
            stat.failed += 1;
        }
        let threshold = self.cached.latency_threshold;
        let ms = usec / 1000;
        if threshold > 0 && ms >= threshold && !spec.flags.blocking {
            let event = if spec.flags.fast {
                "fast-command"
            } else {
                "command"
            };
            self.shared
                .latency
                .lock()
                .add_sample(event, ms, now_ms() / 1000);
        }
    }

    /// Adds this connection's counters to the shared ones.
    pub(super) fn flush_stats(&mut self) {
        if self.net_in > 0 {
            self.shared
                .stats
                .net_input_bytes
                .fetch_add(std::mem::take(&mut self.net_in), Ordering::Relaxed);
        }
        if self.local_stats.is_empty() {
            return;
        }
        let mut calls = 0;
        {
            let mut table = self.shared.stats.commandstats.lock();
            for (name, s) in self.local_stats.drain(..) {
                let e = table.entry(name).or_default();
                e.calls += s.calls;
                e.usec += s.usec;
                e.failed += s.failed;
                e.rejected += s.rejected;
                for (t, c) in e.hist.iter_mut().zip(s.hist) {
                    *t += c;
                }
                for (t, c) in e.redis_hist.iter_mut().zip(s.redis_hist) {
                    *t += c;
                }
                calls += s.calls;
            }
        }
        self.shared
            .stats
            .commands_processed
            .fetch_add(calls, Ordering::Relaxed);
    }

    /// Whether a command that took `elapsed` goes to the slow log
    /// (`slowlog-log-slower-than`; negative: never).
    fn is_slow(&self, elapsed: Duration) -> bool {
        self.cached.slowlog_threshold >= 0
            && elapsed.as_micros() as u64 >= self.cached.slowlog_threshold as u64
    }

    fn slowlog(&mut self, argv: &[Bytes], elapsed: Duration) {
        let max_len = self.shared.config.read().slowlog_max_len;
        let micros = elapsed.as_micros() as u64;
        // Redis keeps at most 32 arguments and 128 bytes of each.
        let mut args: Vec<Bytes> = argv
            .iter()
            .take(if argv.len() > 32 { 31 } else { 32 })
            .map(|a| {
                if a.len() > 128 {
                    let mut v = a[..128].to_vec();
                    v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                    Bytes::from(v)
                } else {
                    // A copy: `a` may share a read buffer the log would
                    // keep alive.
                    Bytes::copy_from_slice(a)
                }
            })
            .collect();
        if argv.len() > 32 {
            args.push(Bytes::from(format!(
                "... ({} more arguments)",
                argv.len() - 31
            )));
        }
        let mut log = self.shared.slowlog.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(SlowlogEntry {
            id,
            time: now_ms() / 1000,
            micros,
            argv: args,
            addr: self.handle.addr.to_string(),
            name: self.handle.name_string(),
        });
        while log.entries.len() as u64 > max_len {
            log.entries.pop_back();
        }
    }

    fn feed_monitors(&self, argv: &[Bytes]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "{}.{:06} [{} {}]",
            now.as_secs(),
            now.subsec_micros(),
            self.db,
            self.handle.addr
        );
        for a in argv {
            line.push(' ');
            line.push_str(&repr(a));
        }
        let monitors = self.shared.monitors.lock();
        for m in monitors.iter() {
            m.send(Reply::Simple(line.clone().into()), line.len() + 8);
        }
    }

    /// A blocking pop: try now; if nothing is there, wait for a change of
    /// one of its keys (served first-blocked-first-served) or the timeout.
    async fn exec_blocking(
        &mut self,
        spec: &'static CommandSpec,
        argv: &[Bytes],
    ) -> (Option<Reply>, Flow) {
        let stream_read = matches!(spec.name, "xread" | "xreadgroup");
        let (timeout, keys, argv, retry) = if stream_read {
            // XREAD / XREADGROUP block only with BLOCK (milliseconds, 0 =
            // forever); `$` means the last id when the call blocks, and the
            // retries run the "retry form" (see `stream::retry_form`).
            match crate::keyspace::stream::block_args(argv) {
                Ok((Some(ms), keys)) => {
                    let resolved = self.resolve_stream_dollars(argv).await;
                    let retry = crate::keyspace::stream::retry_form(&resolved);
                    let timeout = if ms > 0 {
                        Some(Duration::from_millis(ms))
                    } else {
                        None
                    };
                    (timeout, keys, resolved, retry)
                }
                _ => return (Some(self.exec_keyspace(spec, argv).await), Flow::Continue),
            }
        } else {
            match blocking_args(spec.name, argv) {
                Ok((t, k)) => (t, k, argv.to_vec(), argv.to_vec()),
                Err(e) => return (Some(e), Flow::Continue),
            }
        };
        let argv = &argv[..];
        let notifier = self.shared.notifier.clone();
        let waiter = notifier.block(self.db, retry, keys);
        let first = self.exec_keyspace(spec, argv).await;
        if !is_null(&first) {
            notifier.unblock(&waiter);
            return (Some(first), Flow::Continue);
        }
        let (tx, mut rx) = oneshot::channel();
        notifier.park(&waiter, tx);
        // Replies of the requests before this one go out now.
        if self.flush().await.is_err() {
            notifier.unblock(&waiter);
            return (None, Flow::Close);
        }
        // Created before the client shows as blocked, so that a CLIENT
        // UNBLOCK that sees it blocked wakes this wait.
        let handle = self.handle.clone();
        let unblocked = handle.unblock.notified();
        tokio::pin!(unblocked);
        self.handle.blocked.store(true, Ordering::Relaxed);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let result = loop {
            tokio::select! {
                r = &mut rx => break (Some(Self::timed_out_reply(r)), Flow::Continue),
                _ = &mut unblocked => {
                    if !notifier.time_out(&waiter) {
                        // Being served right now: the reply is on its way.
                        break (Some(Self::timed_out_reply((&mut rx).await)), Flow::Continue);
                    }
                    let reply = if handle.unblock_error.load(Ordering::Acquire) {
                        Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                    } else {
                        Reply::NilArray
                    };
                    break (Some(reply), Flow::Continue);
                }
                _ = sleep_until(deadline) => {
                    if notifier.time_out(&waiter) {
                        break (Some(Reply::NilArray), Flow::Continue);
                    }
                    // Being served right now: the reply is on its way.
                    break (Some(Self::timed_out_reply((&mut rx).await)), Flow::Continue);
                }
                _ = self.handle.kill.notified() => {
                    notifier.unblock(&waiter);
                    break (None, Flow::Close);
                }
                read = self.stream.read_some(&mut self.rbuf) => {
                    if self.read_while_blocked(read) {
                        notifier.unblock(&waiter);
                        break (None, Flow::Close);
                    }
                }
            }
        };
        self.handle.blocked.store(false, Ordering::Relaxed);
        result
    }

    /// XREAD BLOCK's `$` ids replaced by each stream's last id now (0-0
    /// for a missing key; a key of another type is left for the command's
    /// own WRONGTYPE).
    async fn resolve_stream_dollars(&mut self, argv: &[Bytes]) -> Vec<Bytes> {
        let mut out = argv.to_vec();
        let keys = crate::keyspace::stream::read_keys(argv);
        let n = keys.len();
        let Some(info) = crate::command::lookup(b"xinfo") else {
            return out;
        };
        for p in keys {
            if out[p + n].as_ref() != b"$" {
                continue;
            }
            let call = vec![
                Bytes::from_static(b"xinfo"),
                Bytes::from_static(b"stream"),
                argv[p].clone(),
            ];
            match self.exec_keyspace(info, &call).await {
                Reply::Map(fields) => {
                    let last = fields.into_iter().find_map(|(k, v)| match (k, v) {
                        (Reply::Bulk(k), Reply::Bulk(v)) if &k[..] == b"last-generated-id" => {
                            Some(v)
                        }
                        _ => None,
                    });
                    if let Some(last) = last {
                        out[p + n] = last;
                    }
                }
                Reply::Error(e) if e.starts_with("ERR no such key") => {
                    out[p + n] = Bytes::from_static(b"0-0");
                }
                _ => {}
            }
        }
        out
    }

    /// The reply the unblocker sent; a null (served after the timeout fired)
    /// becomes Redis's timeout reply, the null array, for every blocking pop
    /// (BLMOVE and BRPOPLPUSH included, as Redis 7.0 does).
    fn timed_out_reply(r: Result<Reply, oneshot::error::RecvError>) -> Reply {
        match r {
            Ok(reply) if !is_null(&reply) => reply,
            _ => Reply::NilArray,
        }
    }

    /// Accounts for pipelined data read while blocked; true if the client
    /// went away or sent too much.
    fn read_while_blocked(&mut self, read: std::io::Result<Option<usize>>) -> bool {
        match read {
            Ok(Some(0)) | Err(_) => true,
            Ok(Some(n)) => {
                self.net_in += n as u64;
                self.rbuf.len() as u64 > self.cached.query_limit
            }
            Ok(None) => false,
        }
    }

    /// Leaves every registry.
    fn cleanup(&mut self) {
        self.flush_stats();
        if let Some(w) = self.watching.take() {
            let keys: Vec<(usize, Bytes)> =
                w.keys.iter().map(|(d, k, _)| (*d, k.clone())).collect();
            self.shared.notifier.unwatch(&keys, &w.dirty);
        }
        if let Some(subs) = self.subs.take() {
            for c in &subs.channels {
                self.shared.notifier.pubsub.unsubscribe(c, self.handle.id);
            }
            for p in &subs.patterns {
                self.shared.notifier.pubsub.punsubscribe(p, self.handle.id);
            }
            for c in &subs.shard_channels {
                self.shared.notifier.pubsub.sunsubscribe(c, self.handle.id);
            }
        }
        if self.handle.monitor.load(Ordering::Relaxed) {
            let mut m = self.shared.monitors.lock();
            m.retain(|s| s.client_id() != self.handle.id);
            self.shared
                .monitors_active
                .store(!m.is_empty(), Ordering::Relaxed);
        }
        self.shared.notifier.tracking.disable(&self.handle);
        self.shared.clients.lock().remove(&self.handle.id);
        self.handle.killed.store(true, Ordering::Release);
        // The push sender refers back to the handle: break the cycle.
        *self.handle.push.lock() = None;
    }
}

async fn recv_push(push: &mut Option<(PushSender, PushReceiver)>) -> Option<Reply> {
    match push {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn idle_sleep(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `.
pub(super) fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&argv[0][..argv[0].len().min(128)])
    );
    let mut budget = 128usize;
    for a in &argv[1..] {
        if budget == 0 {
            break;
        }
        let take = a.len().min(budget);
        msg.push_str(&format!("'{}' ", String::from_utf8_lossy(&a[..take])));
        budget -= take;
    }
    Reply::Error(msg)
}

/// The name Redis uses in errors: `get`, or `client|list` for subcommands
/// of container commands.
pub(super) fn full_name(spec: &CommandSpec, argv: &[Bytes]) -> String {
    let containers = [
        "acl", "client", "cluster", "config", "command", "debug", "slowlog", "memory", "pubsub",
        "object", "script", "xinfo", "latency", "function",
    ];
    if containers.contains(&spec.name) && argv.len() > 1 {
        format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
        )
    } else {
        spec.name.to_owned()
    }
}

/// Redis's `sdscatrepr`: a quoted, escaped argument (MONITOR).
pub(super) fn repr(a: &[u8]) -> String {
    let mut s = String::with_capacity(a.len() + 2);
    s.push('"');
    for &c in a {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Parses a blocking timeout (seconds, fractional) as Redis 7.0 does.
/// None = wait forever (0).
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let text = std::str::from_utf8(arg).map_err(|_| timeout_error())?;
    let secs: f64 = text.trim().parse().map_err(|_| timeout_error())?;
    if !secs.is_finite() || text.trim() != text {
        return Err(timeout_error());
    }
    if secs < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms > (i64::MAX / 2) as f64 {
        return Err(Reply::error("ERR timeout is out of range"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

fn timeout_error() -> Reply {
    Reply::error("ERR timeout is not a float or out of range")
}

/// The timeout and the keys of a blocking command.
type BlockingArgs = (Option<Duration>, Vec<Bytes>);

fn blocking_args(name: &str, argv: &[Bytes]) -> Result<BlockingArgs, Reply> {
    let last = argv.len() - 1;
    match name {
        "blmpop" | "bzmpop" => {
            let timeout = parse_timeout(&argv[1])?;
            let n = std::str::from_utf8(&argv[2])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            let keys = argv.iter().skip(3).take(n).cloned().collect();
            Ok((timeout, keys))
        }
        "blmove" | "brpoplpush" => Ok((parse_timeout(&argv[last])?, vec![argv[1].clone()])),
        _ => Ok((parse_timeout(&argv[last])?, argv[1..last].to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_binds() {
        assert!(is_loopback_bind("127.0.0.1"));
        assert!(is_loopback_bind("127.0.0.1 ::1"));
        assert!(is_loopback_bind("localhost"));
        assert!(!is_loopback_bind("0.0.0.0"));
        assert!(!is_loopback_bind("127.0.0.1 10.0.0.5"));
    }

    #[test]
    fn blocking_keys_and_timeouts() {
        let argv = |parts: &[&str]| -> Vec<Bytes> {
            parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect()
        };
        let (t, keys) = blocking_args("blpop", &argv(&["blpop", "a", "b", "1.5"])).unwrap();
        assert_eq!(t, Some(Duration::from_millis(1500)));
        assert_eq!(keys, argv(&["a", "b"]));
        let (t, keys) =
            blocking_args("bzmpop", &argv(&["bzmpop", "0", "2", "x", "y", "MIN"])).unwrap();
        assert_eq!(t, None);
        assert_eq!(keys, argv(&["x", "y"]));
        let (_, keys) = blocking_args(
            "blmove",
            &argv(&["blmove", "src", "dst", "LEFT", "RIGHT", "0.1"]),
        )
        .unwrap();
        assert_eq!(keys, argv(&["src"]));
        assert!(blocking_args("brpop", &argv(&["brpop", "a", "-2"])).is_err());
    }
}
