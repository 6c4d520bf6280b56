//! Linearizability under faults. A 3-node cluster of real `fincaskv-server`
//! processes on loopback; client threads run SET/GET on registers, INCR/GET
//! on counters and RPUSH/LRANGE on lists against random nodes (followers
//! forward), while a nemesis SIGKILLs nodes (any node, the leader, the leader
//! right after it started a merge or a raft snapshot), restarts them,
//! SIGSTOPs / SIGCONTs them, and cuts one node (often the leader) off the
//! others through a proxy in front of every raft port (clients can still
//! reach it). Every operation is recorded (invoke, return, in
//! real-time order); an error or a timeout is an unknown outcome (the
//! operation may or may not have happened, as in Jepsen). Afterwards each
//! key's history is checked for linearizability:
//! an acknowledged write that is lost, a stale read or a double-applied INCR
//! makes the history non-linearizable and fails the test. The checker is
//! todc-utils' `WGLChecker` (Wing & Gong's search with Lowe's memoisation);
//! an unknown outcome gets its response at the end of the key's history, so
//! it may be linearized anywhere after its call, including after everything
//! else (= never happened).
//!
//! Short by default (CI: two epochs of 12 s). `FINCASKV_LIN_EPOCHS=50` gives
//! a long run; `FINCASKV_LIN_SERVER_ARGS` adds server flags (raft timing).
//! Each epoch uses fresh keys, which keeps every history small enough for
//! the checker's search.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use todc_utils::linearizability::history::{Action, History as TodcHistory};
use todc_utils::{Specification, WGLChecker};

const BIN: &str = env!("CARGO_BIN_EXE_fincaskv-server");
const SECRET: &str = "lin-secret";

// ---------------------------------------------------------------- RESP ----

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16, timeout: Duration) -> std::io::Result<Conn> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Resp> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out)?;
        self.read()
    }

    fn read(&mut self) -> std::io::Result<Resp> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            return Err(bad("connection closed"));
        }
        line.truncate(line.len() - 2);
        let (kind, rest) = line.split_first().ok_or_else(|| bad("empty line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let num = || text.parse::<i64>().map_err(|_| bad("bad number"));
        Ok(match kind {
            b'+' => Resp::Simple(text.clone()),
            b'-' => Resp::Error(text.clone()),
            b':' => Resp::Int(num()?),
            b'$' => {
                let n = num()?;
                if n < 0 {
                    Resp::Bulk(None)
                } else {
                    let mut buf = vec![0u8; n as usize + 2];
                    std::io::Read::read_exact(&mut self.r, &mut buf)?;
                    buf.truncate(n as usize);
                    Resp::Bulk(Some(buf))
                }
            }
            b'*' => {
                let n = num()?;
                if n < 0 {
                    Resp::Array(None)
                } else {
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(self.read()?);
                    }
                    Resp::Array(Some(items))
                }
            }
            _ => return Err(bad("unknown reply type")),
        })
    }
}

/// One command on a fresh connection.
fn command(port: u16, args: &[&str]) -> std::io::Result<Resp> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    Conn::open(port, Duration::from_secs(10))?.call(&args)
}

fn info_field(port: u16, field: &str) -> Option<String> {
    match command(port, &["INFO", "raft"]).ok()? {
        Resp::Bulk(Some(text)) => String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned)),
        _ => None,
    }
}

// ---------------------------------------------------------- processes ----

/// A free port below the kernel's ephemeral range (32768 and up on Linux):
/// a killed node's ports must still be free when it restarts, and an
/// outgoing connection's ephemeral port could otherwise take one meanwhile.
fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = 20_000 + (std::process::id() as u64 * 97) % 10_000;
    loop {
        let port = (start + NEXT.fetch_add(1, Ordering::Relaxed) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.10", port)).is_ok()
        {
            return port;
        }
    }
}

struct Node {
    index: usize,
    name: String,
    port: u16,
    /// Where the node's raft listener binds (`--raft-bind`).
    raft_port: u16,
    /// Where peers dial it: the partition proxy (`--raft-addr`).
    proxy_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

impl Node {
    fn new(i: usize, base: &Path) -> Node {
        Node {
            index: i,
            name: format!("n{i}"),
            port: free_port(),
            raft_port: free_port(),
            proxy_port: free_port(),
            dir: base.join(format!("n{i}")),
            child: None,
            stopped: false,
        }
    }

    /// The advertised raft address: the proxy on this node's own loopback
    /// IP (its outgoing peer connections come from that IP too).
    fn raft_addr(&self) -> String {
        format!("{}:{}", node_ip(self.index), self.proxy_port)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .expect("log file");
        let child = Command::new(BIN)
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--node-id", &self.name, "--raft-addr", &self.raft_addr()])
            .args(["--raft-bind", &format!("127.0.0.1:{}", self.raft_port)])
            .args(["--cluster-secret", SECRET, "--loglevel", "warn"])
            // e.g. "--raft-election-timeout-ms 150 --raft-heartbeat-ms 30"
            .args(
                std::env::var("FINCASKV_LIN_SERVER_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn fincaskv-server");
        self.child = Some(child);
        self.stopped = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        while command(self.port, &["PING"]).is_err() {
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stopped = false;
    }

    fn signal(&mut self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
            self.stopped = sig == libc::SIGSTOP;
        }
    }

    fn running(&self) -> bool {
        self.child.is_some() && !self.stopped
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.stopped {
            self.signal(libc::SIGCONT);
        }
        self.kill9();
    }
}

/// A tiny xorshift generator (the test needs no crate for this).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn leader_index(nodes: &[Node]) -> Option<usize> {
    nodes
        .iter()
        .position(|n| n.running() && info_field(n.port, "raft_role").as_deref() == Some("leader"))
}

fn wait_for_leader(nodes: &[Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(i) = leader_index(nodes) {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------- partitions ----

/// Node `i`'s own loopback address (127.0.0.1x).
fn node_ip(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 0, 10 + i as u8)
}

/// One proxied connection: (id, from, to, client side, server side).
type Proxied = (u64, usize, usize, TcpStream, TcpStream);

/// A TCP proxy in front of every node's raft port. Peers dial the proxy of
/// node `i` (its advertised raft address); the caller is known by its source
/// IP. A partition black-holes the traffic between the two sides: bytes are
/// read and dropped, as a network that loses packets does, until the
/// partition heals and those connections are closed.
#[derive(Default)]
struct Net {
    /// Pairs (from, to) that cannot talk.
    cut: Mutex<std::collections::HashSet<(usize, usize)>>,
    /// Live proxied connections: (id, from, to, client side, server side).
    /// A connection leaves the list when it ends (its descriptors close).
    conns: Mutex<Vec<Proxied>>,
    next_id: AtomicU64,
}

impl Net {
    fn blocked(&self, from: usize, to: usize) -> bool {
        let cut = self.cut.lock().unwrap();
        cut.contains(&(from, to)) || cut.contains(&(to, from))
    }

    /// Starts the proxy of node `to`: `listen` (its advertised address)
    /// forwards to `target` (where it binds).
    fn serve(self: &Arc<Self>, to: usize, listen: std::net::SocketAddr, target: u16) {
        let listener = TcpListener::bind(listen).expect("proxy bind");
        let net = self.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let from = match client.peer_addr().map(|a| a.ip()) {
                    Ok(std::net::IpAddr::V4(ip)) if ip.octets()[3] >= 10 => {
                        ip.octets()[3] as usize - 10
                    }
                    _ => usize::MAX,
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue; // the node is down: the caller sees the close
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let id = net.next_id.fetch_add(1, Ordering::Relaxed);
                net.conns.lock().unwrap().push((id, from, to, c2, s2));
                for (mut a, mut b) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    let net = net.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 64 * 1024];
                        loop {
                            let n = match std::io::Read::read(&mut a, &mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if net.blocked(from, to) {
                                continue; // lost in the partition
                            }
                            if b.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = a.shutdown(std::net::Shutdown::Both);
                        let _ = b.shutdown(std::net::Shutdown::Both);
                        net.conns.lock().unwrap().retain(|c| c.0 != id);
                    });
                }
            }
        });
    }

    /// Cuts `side` off from every other node.
    fn isolate(&self, side: usize, nodes: usize) {
        let mut cut = self.cut.lock().unwrap();
        for other in 0..nodes {
            if other != side {
                cut.insert((side, other));
            }
        }
    }

    /// Heals every partition; connections that crossed one are closed (their
    /// streams lost bytes) and the nodes reconnect.
    fn heal(&self) {
        let mut cut = self.cut.lock().unwrap();
        let mut conns = self.conns.lock().unwrap();
        conns.retain(|(_, from, to, c, s)| {
            let crossed = cut.contains(&(*from, *to)) || cut.contains(&(*to, *from));
            if crossed {
                let _ = c.shutdown(std::net::Shutdown::Both);
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            !crossed
        });
        cut.clear();
    }
}

// --------------------------------------------------------------- model ----

/// What a client did to one key.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Set(i64),
    Get,
    Incr,
    Push(i64),
    Range,
}

/// What it answered.
#[derive(Debug, Clone, PartialEq)]
enum Ret {
    Ok,
    Value(Option<i64>),
    Int(i64),
    List(Vec<i64>),
}

/// The state of one key: a string (register or counter) or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct KeyState {
    value: Option<i64>,
    list: Vec<i64>,
}

impl KeyState {
    fn apply(&mut self, op: &Op) -> Ret {
        match op {
            Op::Set(v) => {
                self.value = Some(*v);
                Ret::Ok
            }
            Op::Get => Ret::Value(self.value),
            Op::Incr => {
                let v = self.value.unwrap_or(0) + 1;
                self.value = Some(v);
                Ret::Int(v)
            }
            Op::Push(v) => {
                self.list.push(*v);
                Ret::Int(self.list.len() as i64)
            }
            Op::Range => Ret::List(self.list.clone()),
        }
    }
}

/// The sequential specification: an operation with its observed return
/// value (`None`: unknown outcome, any return is fine).
struct KeySpec;

impl Specification for KeySpec {
    type State = KeyState;
    type Operation = (Op, Option<Ret>);

    fn init() -> KeyState {
        KeyState::default()
    }

    fn apply((op, ret): &(Op, Option<Ret>), state: &KeyState) -> (bool, KeyState) {
        let mut next = state.clone();
        let got = next.apply(op);
        match ret {
            Some(r) if *r != got => (false, state.clone()),
            _ => (true, next),
        }
    }
}

/// One entry of the history, in real-time order.
#[derive(Debug, Clone)]
enum Event {
    Invoke {
        thread: u64,
        key: String,
        op: Op,
    },
    Return {
        thread: u64,
        key: String,
        ret: Ret,
    },
    /// The server said the command was certainly not executed.
    Fail {
        thread: u64,
        key: String,
    },
}

#[derive(Default)]
struct History {
    events: Mutex<Vec<Event>>,
    next_thread: AtomicU64,
}

impl History {
    fn thread(&self) -> u64 {
        self.next_thread.fetch_add(1, Ordering::Relaxed)
    }

    fn push(&self, e: Event) {
        self.events.lock().unwrap().push(e);
    }
}

/// Checks every key's history; returns (keys checked, acknowledged ops,
/// unknown outcomes) or the first key that is not linearizable.
fn check(events: &[Event]) -> Result<(usize, usize, usize), String> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let mut per_key: BTreeMap<&str, Vec<&Event>> = Default::default();
    for e in events {
        let key = match e {
            Event::Invoke { key, .. } | Event::Return { key, .. } | Event::Fail { key, .. } => {
                key.as_str()
            }
        };
        per_key.entry(key).or_default().push(e);
    }
    let (mut acked, mut unknown, mut skipped) = (0, 0, 0);
    for (key, evs) in &per_key {
        // Values some read saw (writes are unique).
        let mut observed: HashSet<i64> = HashSet::new();
        for e in evs {
            match e {
                Event::Return {
                    ret: Ret::Value(Some(v)),
                    ..
                } => {
                    observed.insert(*v);
                }
                Event::Return {
                    ret: Ret::List(l), ..
                } => observed.extend(l.iter().copied()),
                _ => {}
            }
        }
        // Dense process ids per key; the pending call of each process and
        // where it is in `actions`.
        let mut pid: HashMap<u64, usize> = Default::default();
        let mut pending: BTreeMap<usize, (Op, usize)> = Default::default();
        let mut actions = Vec::with_capacity(evs.len() + 8);
        let mut dropped: HashSet<usize> = HashSet::new();
        for e in evs {
            match e {
                Event::Invoke { thread, op, .. } => {
                    let next = pid.len();
                    let p = *pid.entry(*thread).or_insert(next);
                    if pending.insert(p, (op.clone(), actions.len())).is_some() {
                        return Err(format!("thread {thread} invoked twice on {key}"));
                    }
                    actions.push((p, Action::Call((op.clone(), None))));
                }
                Event::Return { thread, ret, .. } => {
                    let p = pid[thread];
                    let (op, _) = pending
                        .remove(&p)
                        .ok_or_else(|| format!("return without a call on {key}"))?;
                    acked += 1;
                    actions.push((p, Action::Response((op, Some(ret.clone())))));
                }
                Event::Fail { thread, .. } => {
                    // Certainly not executed: as if never called.
                    let p = pid[thread];
                    let (_, at) = pending
                        .remove(&p)
                        .ok_or_else(|| format!("failure without a call on {key}"))?;
                    dropped.insert(at);
                }
            }
        }
        // Unknown outcomes answer "anything" after everything else. Dropped
        // instead (= they did not happen, always a valid choice) when that
        // cannot change the verdict, to keep the search small: a read whose
        // answer was lost changed nothing; a SET or RPUSH whose unique value
        // no read ever saw (the epoch ends with a read of every key) either
        // did not happen or was overwritten unseen.
        for (p, (op, at)) in pending {
            unknown += 1;
            let unseen = match op {
                Op::Get | Op::Range => true,
                Op::Set(v) | Op::Push(v) => !observed.contains(&v),
                Op::Incr => false,
            };
            if unseen {
                dropped.insert(at);
            } else {
                actions.push((p, Action::Response((op, None))));
            }
        }
        let actions: Vec<_> = actions
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, a)| a)
            .collect();
        if std::env::var_os("FINCASKV_LIN_VERBOSE").is_some() {
            eprintln!("checking {key}: {} actions", actions.len());
        }
        // Each kept unknown outcome may or may not have happened: the search
        // grows like 2^n in them. Past the bound the key is reported as not
        // checked (a long leaderless period makes many).
        let maybes = actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Response((_, None))))
            .count();
        if maybes > MAX_MAYBES {
            eprintln!("{key}: not checked, {maybes} unknown writes that some read saw or counts");
            skipped += 1;
            continue;
        }
        if !WGLChecker::<KeySpec>::is_linearizable(TodcHistory::from_actions(actions)) {
            let dump: Vec<String> = evs.iter().map(|e| format!("{e:?}")).collect();
            return Err(format!(
                "key {key} is not linearizable; its history:\n{}",
                dump.join("\n")
            ));
        }
    }
    if skipped * 2 > per_key.len() {
        return Err(format!(
            "{skipped} of {} keys had too many unknown outcomes to be checked",
            per_key.len()
        ));
    }
    Ok((per_key.len() - skipped, acked, unknown))
}

/// Most unknown writes kept in one key's history (see `check`).
const MAX_MAYBES: usize = 12;

// -------------------------------------------------------------- clients ----

fn parse_int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The reply as the model's return value; `None` = unknown outcome.
fn to_ret(op: &Op, reply: &Resp) -> Option<Ret> {
    match (op, reply) {
        (Op::Set(_), Resp::Simple(s)) if s == "OK" => Some(Ret::Ok),
        (Op::Get, Resp::Bulk(None)) => Some(Ret::Value(None)),
        (Op::Get, Resp::Bulk(Some(v))) => Some(Ret::Value(Some(parse_int(v)?))),
        (Op::Incr | Op::Push(_), Resp::Int(n)) => Some(Ret::Int(*n)),
        (Op::Range, Resp::Array(Some(items))) => items
            .iter()
            .map(|i| match i {
                Resp::Bulk(Some(v)) => parse_int(v),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
            .map(Ret::List),
        _ => None,
    }
}

fn args_of(key: &str, op: &Op) -> Vec<Vec<u8>> {
    let v = |s: &str| s.as_bytes().to_vec();
    match op {
        Op::Set(x) => vec![v("SET"), v(key), v(&x.to_string())],
        Op::Get => vec![v("GET"), v(key)],
        Op::Incr => vec![v("INCR"), v(key)],
        Op::Push(x) => vec![v("RPUSH"), v(key), v(&x.to_string())],
        Op::Range => vec![v("LRANGE"), v(key), v("0"), v("-1")],
    }
}

/// Runs one operation as `thread`, recording it. False: unknown outcome
/// (the caller then continues as a new thread: this one stays in flight).
fn run_op(
    hist: &History,
    conn: &mut Option<Conn>,
    port: u16,
    thread: u64,
    key: &str,
    op: Op,
) -> bool {
    if conn.is_none() {
        match Conn::open(port, Duration::from_secs(8)) {
            Ok(c) => *conn = Some(c),
            // Nothing was sent: nothing to record.
            Err(_) => return true,
        }
    }
    let Some(c) = conn.as_mut() else { return true };
    hist.push(Event::Invoke {
        thread,
        key: key.to_owned(),
        op: op.clone(),
    });
    let args = args_of(key, &op);
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let reply = c.call(&argv);
    if std::env::var_os("FINCASKV_LIN_VERBOSE").is_some() {
        match &reply {
            Ok(Resp::Error(e)) => eprintln!("{key} {op:?}: -{e}"),
            Err(e) => eprintln!("{key} {op:?}: io error {e}"),
            _ => {}
        }
    }
    if let Ok(Resp::Error(e)) = &reply {
        if e.ends_with("(not executed)") {
            hist.push(Event::Fail {
                thread,
                key: key.to_owned(),
            });
            return true;
        }
    }
    match reply.ok().and_then(|r| to_ret(&op, &r)) {
        Some(ret) => {
            hist.push(Event::Return {
                thread,
                key: key.to_owned(),
                ret,
            });
            true
        }
        None => {
            *conn = None;
            false
        }
    }
}

/// Makes an operation (values come from a shared counter: every write is unique).
type OpMaker = fn(&mut Rng, &AtomicU64) -> Op;

/// The keys of an epoch and what may be done to each.
fn keys(epoch: u64) -> Vec<(String, &'static [OpMaker])> {
    fn set(_: &mut Rng, uniq: &AtomicU64) -> Op {
        Op::Set(uniq.fetch_add(1, Ordering::Relaxed) as i64)
    }
    fn get(_: &mut Rng, _: &AtomicU64) -> Op {
        Op::Get
    }
    fn incr(_: &mut Rng, _: &AtomicU64) -> Op {
        Op::Incr
    }
    fn push(_: &mut Rng, uniq: &AtomicU64) -> Op {
        Op::Push(uniq.fetch_add(1, Ordering::Relaxed) as i64)
    }
    fn range(_: &mut Rng, _: &AtomicU64) -> Op {
        Op::Range
    }
    let mut out: Vec<(String, &'static [OpMaker])> = Vec::new();
    for i in 0..6 {
        out.push((format!("e{epoch}:reg{i}"), &[set, get]));
    }
    for i in 0..3 {
        out.push((format!("e{epoch}:ctr{i}"), &[incr, get]));
    }
    for i in 0..3 {
        out.push((format!("e{epoch}:list{i}"), &[push, range]));
    }
    out
}

/// Nemesis actions taken in one epoch.
#[derive(Debug, Default)]
struct Faults {
    kills: u32,
    leader_kills: u32,
    mid_merge: u32,
    mid_snapshot: u32,
    pauses: u32,
    partitions: u32,
}

/// Three nodes in `base`, each behind its partition proxy, joined into one
/// cluster that has a leader.
fn start_cluster(base: &Path) -> (Vec<Node>, Arc<Net>) {
    let mut list: Vec<Node> = (0..3).map(|i| Node::new(i, base)).collect();
    let net = Arc::new(Net::default());
    for n in &list {
        net.serve(
            n.index,
            std::net::SocketAddr::from((node_ip(n.index), n.proxy_port)),
            n.raft_port,
        );
    }
    for n in &mut list {
        n.start();
    }
    for n in &list[1..] {
        let reply =
            command(list[0].port, &["CLUSTER", "JOIN", &n.name, &n.raft_addr()]).expect("join");
        assert_eq!(reply, Resp::Simple("OK".into()), "join {}", n.name);
    }
    wait_for_leader(&list);
    (list, net)
}

fn term(node: &Node) -> u64 {
    info_field(node.port, "raft_term")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{} reports no raft_term", node.name))
}

/// A follower cut off from the others for several election timeouts,
/// then healed: the leader, which kept its quorum, must stay the leader
/// in the same term (writes keep being acknowledged), and the follower
/// must come back to it. Without pre-vote (`prevote.rs`) the cut-off
/// follower campaigns again and again, raising its term, and when the
/// partition heals that higher term deposes the leader (this test failed
/// so: CLUSTERDOWN for a while after the heal).
#[test]
fn a_healed_follower_does_not_depose_the_leader() {
    let base = tempfile_dir();
    let (nodes, net) = start_cluster(&base);
    let l = wait_for_leader(&nodes);
    let f = (l + 1) % nodes.len();
    let t0 = term(&nodes[l]);
    net.isolate(f, nodes.len());
    // The majority side keeps serving; the follower does not get the write.
    let set = command(nodes[l].port, &["SET", "during", "cut"]).expect("set during the cut");
    assert_eq!(set, Resp::Simple("OK".into()));
    // Several election timeouts (defaults 200..400 ms).
    std::thread::sleep(Duration::from_secs(4));
    let index = |n: &Node| info_field(n.port, "raft_last_log_index").unwrap_or_default();
    assert_ne!(
        index(&nodes[f]),
        index(&nodes[l]),
        "the follower was not cut off"
    );
    // Pre-vote: its questions reached no one, so it never campaigned.
    let campaigned = term(&nodes[f]);
    assert_eq!(
        campaigned, t0,
        "the cut-off follower raised its term without a pre-vote majority"
    );
    net.heal();
    // Over several election timeouts: the same leader, the same term, and
    // every write acknowledged.
    let until = Instant::now() + Duration::from_secs(4);
    let mut n = 0;
    while Instant::now() < until {
        let reply = command(nodes[l].port, &["SET", "after", &n.to_string()]).expect("set");
        assert_eq!(reply, Resp::Simple("OK".into()), "write {n} after the heal");
        assert_eq!(
            info_field(nodes[l].port, "raft_role").as_deref(),
            Some("leader"),
            "the leader lost its role after the heal (follower term {campaigned})"
        );
        assert_eq!(
            term(&nodes[l]),
            t0,
            "the leader's term moved after the heal (follower term {campaigned})"
        );
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // The follower rejoined the leader and holds the writes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leader_of_f = info_field(nodes[f].port, "raft_leader");
        let got = command(nodes[f].port, &["GET", "during"]);
        if leader_of_f.as_deref() == Some(nodes[l].name.as_str())
            && got.as_ref().ok() == Some(&Resp::Bulk(Some(b"cut".to_vec())))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the healed follower did not rejoin: leader {leader_of_f:?}, GET {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn linearizable_under_kills_pauses_merges_and_snapshots() {
    let epochs: u64 = std::env::var("FINCASKV_LIN_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let epoch_secs: u64 = std::env::var("FINCASKV_LIN_EPOCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let base = tempfile_dir();
    let (list, net) = start_cluster(&base);
    let nodes = Arc::new(Mutex::new(list));
    let ports: Vec<u16> = nodes.lock().unwrap().iter().map(|n| n.port).collect();
    let mut total = (0, 0, 0);
    let mut all_faults = Vec::new();
    for epoch in 0..epochs {
        let hist = Arc::new(History::default());
        let stop = Arc::new(AtomicBool::new(false));
        let uniq = Arc::new(AtomicU64::new(1));
        let keyset = Arc::new(keys(epoch));
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let (hist, stop, uniq, keyset, ports) = (
                    hist.clone(),
                    stop.clone(),
                    uniq.clone(),
                    keyset.clone(),
                    ports.clone(),
                );
                std::thread::spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (epoch << 8 | w) | 1);
                    let mut thread = hist.thread();
                    let mut conn: Option<Conn> = None;
                    let mut port = ports[rng.below(ports.len() as u64) as usize];
                    while !stop.load(Ordering::Relaxed) {
                        // Now and then move to another node.
                        if rng.below(20) == 0 {
                            conn = None;
                            port = ports[rng.below(ports.len() as u64) as usize];
                        }
                        let (key, ops) = &keyset[rng.below(keyset.len() as u64) as usize];
                        let op = ops[rng.below(ops.len() as u64) as usize](&mut rng, &uniq);
                        if !run_op(&hist, &mut conn, port, thread, key, op) {
                            thread = hist.thread();
                            port = ports[rng.below(ports.len() as u64) as usize];
                            // Back off, as a client does after an error: a
                            // leaderless cluster answers fast, and every
                            // unknown outcome widens the checker's search.
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        if conn.is_none() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ epoch);
        let mut faults = Faults::default();
        let deadline = Instant::now() + Duration::from_secs(epoch_secs);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500 + rng.below(1000)));
            let action = rng.below(7);
            let mut guard = nodes.lock().unwrap();
            let n = guard.len() as u64;
            match action {
                0 => {
                    let i = rng.below(n) as usize;
                    guard[i].kill9();
                    faults.kills += 1;
                    std::thread::sleep(Duration::from_millis(300 + rng.below(1200)));
                    guard[i].start();
                }
                1..=3 => {
                    let Some(i) = leader_index(&guard) else {
                        continue;
                    };
                    match action {
                        2 => {
                            let _ = command(guard[i].port, &["BGREWRITEAOF"]);
                            faults.mid_merge += 1;
                        }
                        3 => {
                            let _ = command(guard[i].port, &["CLUSTER", "SNAPSHOT"]);
                            faults.mid_snapshot += 1;
                        }
                        _ => faults.leader_kills += 1,
                    }
                    std::thread::sleep(Duration::from_millis(rng.below(30)));
                    guard[i].kill9();
                    std::thread::sleep(Duration::from_millis(300 + rng.below(1200)));
                    guard[i].start();
                }
                5 | 6 => {
                    // Cut one node (the leader half of the time) off the
                    // others; clients can still reach it.
                    let i = match leader_index(&guard) {
                        Some(l) if action == 5 => l,
                        _ => rng.below(n) as usize,
                    };
                    net.isolate(i, n as usize);
                    faults.partitions += 1;
                    std::thread::sleep(Duration::from_millis(1000 + rng.below(3000)));
                    net.heal();
                }
                _ => {
                    let i = rng.below(n) as usize;
                    guard[i].signal(libc::SIGSTOP);
                    faults.pauses += 1;
                    std::thread::sleep(Duration::from_millis(500 + rng.below(2500)));
                    guard[i].signal(libc::SIGCONT);
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().expect("worker");
        }
        // Final reads, once the cluster has a leader again: every
        // acknowledged write must be visible.
        wait_for_leader(&nodes.lock().unwrap());
        let mut conn = None;
        for (key, _) in keyset.iter() {
            let op = if key.contains("list") {
                Op::Range
            } else {
                Op::Get
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let thread = hist.thread();
                if run_op(&hist, &mut conn, ports[0], thread, key, op.clone()) && conn.is_some() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "final read of {key} kept failing"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let events = hist.events.lock().unwrap().clone();
        // Kept for a post-mortem if the check fails (or never ends).
        let dump: String = events.iter().map(|e| format!("{e:?}\n")).collect();
        std::fs::write(base.join(format!("epoch{epoch}.history")), dump).expect("history file");
        let checked = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || check(&events))
            .expect("checker thread")
            .join()
            .expect("checker");
        let (keys_checked, acked, unknown) = match checked {
            Ok(x) => x,
            Err(e) => panic!("epoch {epoch}: {e}"),
        };
        eprintln!(
            "epoch {epoch}: {keys_checked} keys linearizable; {acked} operations acknowledged, {unknown} unknown outcomes; faults {faults:?}"
        );
        assert!(
            acked > 100,
            "the cluster hardly served anything: {acked} operations"
        );
        total.0 += keys_checked;
        total.1 += acked;
        total.2 += unknown;
        all_faults.push(faults);
    }
    eprintln!(
        "total: {} key histories linearizable, {} operations acknowledged, {} unknown outcomes",
        total.0, total.1, total.2
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&base);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fincaskv-lin-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn the_checker_finds_a_stale_read_and_a_lost_write() {
    // Events of key "k": thread t invokes op / gets ret.
    let inv = |thread: u64, op: Op| Event::Invoke {
        thread,
        key: "k".to_owned(),
        op,
    };
    let ret = |thread: u64, ret: Ret| Event::Return {
        thread,
        key: "k".to_owned(),
        ret,
    };
    // Thread 1 sets 1 and is acknowledged; later thread 2 reads nothing.
    let stale = vec![
        inv(1, Op::Set(1)),
        ret(1, Ret::Ok),
        inv(2, Op::Get),
        ret(2, Ret::Value(None)),
    ];
    assert!(check(&stale).is_err());
    // A double-applied INCR: two increments, a later read of 3.
    let double = vec![
        inv(1, Op::Incr),
        ret(1, Ret::Int(1)),
        inv(1, Op::Incr),
        ret(1, Ret::Int(2)),
        inv(2, Op::Get),
        ret(2, Ret::Value(Some(3))),
    ];
    assert!(check(&double).is_err());
    // An unknown outcome may or may not have happened: both reads are fine.
    for seen in [None, Some(7)] {
        let maybe = vec![
            inv(1, Op::Set(7)),
            inv(2, Op::Get),
            ret(2, Ret::Value(seen)),
        ];
        assert_eq!(check(&maybe), Ok((1, 1, 1)));
    }
    // Concurrent writes may be ordered either way.
    let concurrent = vec![
        inv(1, Op::Push(1)),
        inv(2, Op::Push(2)),
        ret(2, Ret::Int(1)),
        ret(1, Ret::Int(2)),
        inv(3, Op::Range),
        ret(3, Ret::List(vec![2, 1])),
    ];
    assert!(check(&concurrent).is_ok());
}
