//! What other tasks can see and do to a connection: its [`ClientHandle`]
//! (CLIENT LIST / KILL) and its [`PushSender`] (pub/sub and MONITOR).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::command::Reply;

/// The shared face of one connection, owned by the client registry and by
/// the connection task (`Arc`): the connection updates it, CLIENT LIST reads
/// it, CLIENT KILL and the output limit flip `killed` and wake the task.
#[derive(Debug)]
pub(crate) struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    /// Milliseconds since `created` of the last command (for `idle=`).
    pub last_active_ms: AtomicU64,
    pub db: AtomicUsize,
    /// CLIENT SETNAME; a mutex because it is rarely touched and variable-size.
    pub name: Mutex<Option<Bytes>>,
    /// CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib: Mutex<(String, String)>,
    /// The user the connection is authenticated as (for `user=`, CLIENT
    /// KILL USER, and closing the clients of a deleted user).
    pub user: Mutex<String>,
    /// Last command name (for `cmd=`).
    pub last_cmd: Mutex<&'static str>,
    pub subscriptions: AtomicUsize,
    pub psubscriptions: AtomicUsize,
    /// Shard channel subscriptions (SSUBSCRIBE), for `ssub=`.
    pub ssubscriptions: AtomicUsize,
    /// -1 outside MULTI, else the number of queued commands.
    pub multi: AtomicI64,
    pub resp: AtomicU64,
    pub blocked: AtomicBool,
    pub monitor: AtomicBool,
    pub killed: AtomicBool,
    /// CLIENT TRACKING state for CLIENT LIST: [`TRACKING_ON`] and friends.
    pub tracking: AtomicU8,
    /// CLIENT TRACKING's redirect (`redir=`): -1 when not tracking.
    pub redir: AtomicI64,
    /// The connection's push queue once it has one (pub/sub, MONITOR,
    /// tracking): where another client's tracking messages are
    /// redirected. Cleared when the connection ends (it refers back to
    /// this handle).
    pub push: Mutex<Option<PushSender>>,
    /// CLIENT UNBLOCK: wakes the connection's blocked command (waiters only:
    /// a wake-up with nobody blocked is not kept for later).
    pub unblock: Notify,
    /// CLIENT UNBLOCK ... ERROR (else TIMEOUT).
    pub unblock_error: AtomicBool,
    /// Wakes the connection task when `killed` is set (stores a permit, so a
    /// kill that arrives while the task is busy is not lost).
    pub kill: Notify,
}

impl ClientHandle {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib: Mutex::new((String::new(), String::new())),
            user: Mutex::new("default".to_owned()),
            last_cmd: Mutex::new("NULL"),
            subscriptions: AtomicUsize::new(0),
            psubscriptions: AtomicUsize::new(0),
            ssubscriptions: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            resp: AtomicU64::new(2),
            blocked: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            tracking: AtomicU8::new(0),
            redir: AtomicI64::new(-1),
            push: Mutex::new(None),
            unblock: Notify::new(),
            unblock_error: AtomicBool::new(false),
            kill: Notify::new(),
        }
    }

    /// Asks the connection to close as soon as it can.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Notes activity at `now` (CLIENT LIST's idle time), with a clock the
    /// caller already read.
    pub fn touch_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether CLIENT TRACKING is on for this client.
    pub fn is_tracking(&self) -> bool {
        self.tracking.load(Ordering::Relaxed) & TRACKING_ON != 0
    }

    /// Whether the client subscribes to anything (channels, patterns or
    /// shard channels): the `P` flag, `pubsub_clients`, CLIENT LIST TYPE
    /// pubsub.
    pub fn is_subscriber(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed)
            + self.psubscriptions.load(Ordering::Relaxed)
            + self.ssubscriptions.load(Ordering::Relaxed)
            > 0
    }

    pub fn name_string(&self) -> String {
        self.name
            .lock()
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default()
    }

    /// One CLIENT LIST / CLIENT INFO line (Redis's field order, a subset of
    /// its fields with real values).
    pub fn info_line(&self) -> String {
        let age = self.created.elapsed().as_secs();
        let idle = self
            .created
            .elapsed()
            .as_millis()
            .saturating_sub(u128::from(self.last_active_ms.load(Ordering::Relaxed)))
            / 1000;
        let mut flags = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if self.is_subscriber() {
            flags.push('P');
        }
        if self.multi.load(Ordering::Relaxed) >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let tracking = self.tracking.load(Ordering::Relaxed);
        if tracking & TRACKING_ON != 0 {
            flags.push('t');
        }
        if tracking & TRACKING_BROKEN != 0 {
            flags.push('R');
        }
        if tracking & TRACKING_BCAST != 0 {
            flags.push('B');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let lib = self.lib.lock().clone();
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name_string(),
            age,
            idle,
            flags,
            self.db.load(Ordering::Relaxed),
            self.subscriptions.load(Ordering::Relaxed),
            self.psubscriptions.load(Ordering::Relaxed),
            self.ssubscriptions.load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            self.last_cmd.lock(),
            self.user.lock(),
            self.redir.load(Ordering::Relaxed),
            self.resp.load(Ordering::Relaxed),
            lib.0,
            lib.1,
        )
    }
}

/// [`ClientHandle::tracking`]: tracking is on (`t`).
pub(crate) const TRACKING_ON: u8 = 1;
/// Tracking in BCAST mode (`B`).
pub(crate) const TRACKING_BCAST: u8 = 2;
/// The tracking redirect target is gone (`R`).
pub(crate) const TRACKING_BROKEN: u8 = 4;

/// Sends out-of-band replies (pub/sub messages, MONITOR lines) to one
/// connection, enforcing its output buffer limit: a client whose unwritten
/// pushes exceed the limit is killed instead of growing memory.
#[derive(Debug, Clone)]
pub(crate) struct PushSender {
    tx: mpsc::UnboundedSender<(Reply, usize)>,
    state: Arc<PushState>,
}

#[derive(Debug)]
struct PushState {
    client: Arc<ClientHandle>,
    /// Bytes queued but not yet written by the connection task.
    pending: AtomicUsize,
    /// The limit in bytes (0 = none), copied from the config at creation.
    limit: AtomicUsize,
}

/// The connection's end of its push queue.
pub(crate) struct PushReceiver {
    rx: mpsc::UnboundedReceiver<(Reply, usize)>,
    state: Arc<PushState>,
}

pub(crate) fn push_channel(client: Arc<ClientHandle>, limit: usize) -> (PushSender, PushReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(PushState {
        client,
        pending: AtomicUsize::new(0),
        limit: AtomicUsize::new(limit),
    });
    (
        PushSender {
            tx,
            state: state.clone(),
        },
        PushReceiver { rx, state },
    )
}

impl PushSender {
    pub fn client_id(&self) -> u64 {
        self.state.client.id
    }

    /// Queues a push of about `size` bytes; false if the client is gone or
    /// went over its limit (and is being disconnected).
    pub fn send(&self, reply: Reply, size: usize) -> bool {
        if self.state.client.killed.load(Ordering::Relaxed) {
            return false;
        }
        let pending = self.state.pending.fetch_add(size, Ordering::Relaxed) + size;
        let limit = self.state.limit.load(Ordering::Relaxed);
        if limit > 0 && pending > limit {
            tracing::warn!(
                client = self.state.client.id,
                pending,
                limit,
                "client output buffer limit reached, closing the client"
            );
            self.state.client.kill();
            return false;
        }
        self.tx.send((reply, size)).is_ok()
    }
}

impl PushReceiver {
    /// Waits for the next push.
    pub async fn recv(&mut self) -> Option<Reply> {
        let (reply, size) = self.rx.recv().await?;
        self.state.pending.fetch_sub(size, Ordering::Relaxed);
        Some(reply)
    }

    /// A push that is ready now, if any.
    pub fn try_recv(&mut self) -> Option<Reply> {
        let (reply, size) = self.rx.try_recv().ok()?;
        self.state.pending.fetch_sub(size, Ordering::Relaxed);
        Some(reply)
    }
}
