//! Server tests on port 0 with a tiny in-memory test backend: protocol,
//! pipelining, errors, AUTH, HELLO 3, MULTI/WATCH, pub/sub, blocking pops,
//! limits and shutdown. Replies are compared byte for byte.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use fincaskv::command::{CommandFlags, CommandSpec, Ctx, KeySpec, Reply};
use fincaskv::server::{self, Backend, Notifier, ServerConfig};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

// ---------------------------------------------------------------- test backend

enum Value {
    Str(Bytes),
    List(VecDeque<Bytes>),
}

/// A test-only stand-in for the keyspace: strings and lists in a map.
#[derive(Default)]
struct FakeKeyspace {
    data: Mutex<HashMap<(usize, Bytes), Value>>,
    observer: Mutex<Option<Arc<Notifier>>>,
}

const fn spec(name: &'static str, arity: i32, write: bool, blocking: bool) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: CommandFlags {
            write,
            readonly: !write,
            admin: false,
            blocking,
            pubsub: false,
            no_auth: false,
            random: false,
            fast: true,
            denyoom: false,
            no_multi: false,
            pubsub_allowed: false,
        },
        keys: KeySpec {
            first: 1,
            last: 1,
            step: 1,
        },
        group: "generic",
        summary: "test",
        since: "1.0.0",
        complexity: "O(1)",
    }
}

static TABLE: &[CommandSpec] = &[
    spec("get", 2, false, false),
    spec("set", 3, true, false),
    spec("del", -2, true, false),
    spec("exists", -2, false, false),
    spec("incr", 2, true, false),
    spec("lpush", -3, true, false),
    spec("rpush", -3, true, false),
    spec("lpop", 2, true, false),
    spec("blpop", -3, true, true),
];

impl FakeKeyspace {
    fn run(&self, data: &mut HashMap<(usize, Bytes), Value>, db: usize, argv: &[Bytes]) -> Reply {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let key = (db, argv.get(1).cloned().unwrap_or_default());
        let touched = |this: &Self| {
            if let Some(o) = this.observer.lock().as_ref() {
                o.key_modified(db, &argv[1]);
            }
        };
        match name.as_str() {
            "get" => match data.get(&key) {
                None => Reply::Nil,
                Some(Value::Str(s)) => Reply::Bulk(s.clone()),
                Some(_) => Reply::error(
                    "WRONGTYPE Operation against a key holding the wrong kind of value",
                ),
            },
            "set" => {
                data.insert(key, Value::Str(argv[2].clone()));
                touched(self);
                Reply::ok()
            }
            "del" => {
                let mut n = 0;
                for k in &argv[1..] {
                    if data.remove(&(db, k.clone())).is_some() {
                        n += 1;
                        if let Some(o) = self.observer.lock().as_ref() {
                            o.key_modified(db, k);
                        }
                    }
                }
                Reply::Integer(n)
            }
            "exists" => Reply::Integer(
                argv[1..]
                    .iter()
                    .filter(|k| data.contains_key(&(db, (*k).clone())))
                    .count() as i64,
            ),
            "incr" => {
                let cur = match data.get(&key) {
                    None => 0,
                    Some(Value::Str(s)) => match std::str::from_utf8(s)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        Some(n) => n,
                        None => return Reply::error("ERR value is not an integer or out of range"),
                    },
                    Some(_) => {
                        return Reply::error(
                            "WRONGTYPE Operation against a key holding the wrong kind of value",
                        )
                    }
                };
                data.insert(key, Value::Str(Bytes::from((cur + 1).to_string())));
                touched(self);
                Reply::Integer(cur + 1)
            }
            "lpush" | "rpush" => {
                let entry = data
                    .entry(key)
                    .or_insert_with(|| Value::List(VecDeque::new()));
                let Value::List(l) = entry else {
                    return Reply::error(
                        "WRONGTYPE Operation against a key holding the wrong kind of value",
                    );
                };
                for v in &argv[2..] {
                    if name == "lpush" {
                        l.push_front(v.clone());
                    } else {
                        l.push_back(v.clone());
                    }
                }
                let n = l.len() as i64;
                touched(self);
                Reply::Integer(n)
            }
            "lpop" | "blpop" => {
                let keys: Vec<Bytes> = if name == "lpop" {
                    vec![argv[1].clone()]
                } else {
                    argv[1..argv.len() - 1].to_vec()
                };
                for k in keys {
                    let kk = (db, k.clone());
                    if let Some(Value::List(l)) = data.get_mut(&kk) {
                        if let Some(v) = l.pop_front() {
                            if l.is_empty() {
                                data.remove(&kk);
                            }
                            if let Some(o) = self.observer.lock().as_ref() {
                                o.key_modified(db, &k);
                            }
                            return if name == "lpop" {
                                Reply::Bulk(v)
                            } else {
                                Reply::Array(vec![Reply::Bulk(k), Reply::Bulk(v)])
                            };
                        }
                    }
                }
                if name == "lpop" {
                    Reply::Nil
                } else {
                    Reply::NilArray
                }
            }
            _ => Reply::error("ERR unknown command"),
        }
    }
}

impl Backend for FakeKeyspace {
    fn execute(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        let mut data = self.data.lock();
        self.run(&mut data, ctx.db, argv)
    }
    fn execute_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Vec<Reply> {
        let mut data = self.data.lock();
        cmds.iter()
            .map(|c| self.run(&mut data, ctx.db, c))
            .collect()
    }
    fn set_observer(&self, notifier: Arc<Notifier>) {
        *self.observer.lock() = Some(notifier);
    }
    fn databases(&self) -> usize {
        16
    }
    fn active_expire_cycle(&self, _now_ms: u64) {}
    fn needs_merge(&self) -> bool {
        false
    }
    fn merge(&self) -> Result<(), String> {
        Ok(())
    }
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
    fn key_counts(&self) -> Vec<(u64, u64)> {
        let data = self.data.lock();
        (0..16)
            .map(|db| (data.keys().filter(|(d, _)| *d == db).count() as u64, 0))
            .collect()
    }
    fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        TABLE.iter().find(|s| s.name.as_bytes() == name)
    }
    fn table(&self) -> &'static [CommandSpec] {
        TABLE
    }
}

// ---------------------------------------------------------------- harness

struct TestServer {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let backend: Arc<dyn Backend> = Arc::new(FakeKeyspace::default());
    let handle = tokio::spawn(server::run(config, backend, listener, async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        handle,
    }
}

impl TestServer {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.handle.await.unwrap().unwrap();
    }
}

/// Sends raw bytes.
async fn send(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).await.unwrap();
}

/// Reads exactly `expected.len()` bytes and compares.
async fn expect(s: &mut TcpStream, expected: &[u8]) {
    let mut buf = vec![0u8; expected.len()];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf),
        String::from_utf8_lossy(expected)
    );
}

/// Reads one line (through `\r\n`).
async fn read_line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") {
        s.read_exact(&mut b).await.unwrap();
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts the peer closed the connection.
async fn expect_eof(s: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
}

fn cmd(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n{}\r\n", p.len(), p).as_bytes());
    }
    out
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn ping_echo_inline_and_pipeline() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(&mut c, b"PING\r\n").await;
    expect(&mut c, b"+PONG\r\n").await;
    let mut pipeline = Vec::new();
    for i in 0..100 {
        pipeline.extend(cmd(&["SET", &format!("k{i}"), &format!("v{i}")]));
    }
    pipeline.extend(cmd(&["GET", "k42"]));
    pipeline.extend(cmd(&["ECHO", "hi"]));
    send(&mut c, &pipeline).await;
    expect(&mut c, &b"+OK\r\n".repeat(100)).await;
    expect(&mut c, b"$3\r\nv42\r\n$2\r\nhi\r\n").await;
    send(&mut c, &cmd(&["DBSIZE"])).await;
    expect(&mut c, b":100\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn command_errors_keep_the_connection() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(&mut c, &cmd(&["NOPE", "a", "b"])).await;
    expect(
        &mut c,
        b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n",
    )
    .await;
    send(&mut c, &cmd(&["GET"])).await;
    expect(
        &mut c,
        b"-ERR wrong number of arguments for 'get' command\r\n",
    )
    .await;
    send(&mut c, &cmd(&["SELECT", "99"])).await;
    expect(&mut c, b"-ERR DB index is out of range\r\n").await;
    send(&mut c, &cmd(&["CLIENT", "FOO"])).await;
    expect(
        &mut c,
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
    )
    .await;
    send(&mut c, b"PING\r\n").await;
    expect(&mut c, b"+PONG\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn protocol_error_closes_only_that_connection() {
    let srv = start(ServerConfig::default()).await;
    let mut other = srv.connect().await;
    let mut bad = srv.connect().await;
    send(&mut bad, b"*1\r\n$-5\r\n").await;
    expect(&mut bad, b"-ERR Protocol error: invalid bulk length\r\n").await;
    expect_eof(&mut bad).await;
    let mut bad2 = srv.connect().await;
    send(&mut bad2, b"*3000000000\r\n").await;
    expect(
        &mut bad2,
        b"-ERR Protocol error: invalid multibulk length\r\n",
    )
    .await;
    expect_eof(&mut bad2).await;
    let mut bad3 = srv.connect().await;
    send(&mut bad3, b"SET k \"unbalanced\r\n").await;
    expect(
        &mut bad3,
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    )
    .await;
    expect_eof(&mut bad3).await;
    send(&mut other, b"PING\r\n").await;
    expect(&mut other, b"+PONG\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn bulk_limit_is_configurable_at_runtime() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(
        &mut c,
        &cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
    )
    .await;
    expect(&mut c, b"+OK\r\n").await;
    send(&mut c, b"*2\r\n$3\r\nGET\r\n$2000000\r\n").await;
    expect(&mut c, b"-ERR Protocol error: invalid bulk length\r\n").await;
    expect_eof(&mut c).await;
    srv.stop().await;
}

#[tokio::test]
async fn hello_3_switches_to_resp3() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(&mut c, &cmd(&["HELLO", "3"])).await;
    assert_eq!(read_line(&mut c).await, "%7\r\n");
    // Skip the 7 pairs (14 lines of values; bulk values take 2 lines).
    let mut fields = Vec::new();
    for _ in 0..7 {
        let _klen = read_line(&mut c).await;
        let key = read_line(&mut c).await;
        let v = read_line(&mut c).await;
        if v.starts_with('$') {
            let _ = read_line(&mut c).await;
        } else if v.starts_with('*') {
            // modules: empty array
        }
        fields.push(key.trim_end().to_owned());
    }
    assert_eq!(
        fields,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
    );
    send(&mut c, &cmd(&["GET", "missing"])).await;
    expect(&mut c, b"_\r\n").await;
    send(&mut c, &cmd(&["HELLO", "4"])).await;
    expect(&mut c, b"-NOPROTO unsupported protocol version\r\n").await;
    srv.stop().await;
}

#[test]
fn a_bad_user_rule_fails_the_start_before_the_port_is_bound() {
    // Reserve a port, free it, and ask for it: a failed start must leave it
    // unbound (a client must not even complete a TCP handshake with it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let cfg = ServerConfig {
        bind: "127.0.0.1".into(),
        port,
        user: vec!["carl on +nosuch".into()],
        ..ServerConfig::default()
    };
    let err = server::bind_all(&cfg, &fincaskv::command::lookup)
        .err()
        .expect("a rule naming an unknown command must stop the start");
    assert!(
        err.to_string()
            .contains("Error in applying operation '+nosuch'"),
        "{err}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // The same settings with a good rule bind the port.
    let good = ServerConfig {
        user: vec!["carl on +get".into()],
        ..cfg
    };
    let listeners = server::bind_all(&good, &fincaskv::command::lookup).unwrap();
    assert_eq!(listeners.resp.local_addr().unwrap().port(), port);
}

#[tokio::test]
async fn requirepass_and_auth() {
    let cfg = ServerConfig {
        requirepass: "s3cret".into(),
        ..ServerConfig::default()
    };
    let srv = start(cfg).await;
    let mut c = srv.connect().await;
    send(&mut c, &cmd(&["GET", "k"])).await;
    expect(&mut c, b"-NOAUTH Authentication required.\r\n").await;
    send(&mut c, &cmd(&["AUTH", "wrong"])).await;
    expect(
        &mut c,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    )
    .await;
    send(&mut c, &cmd(&["AUTH", "s3cret"])).await;
    expect(&mut c, b"+OK\r\n").await;
    send(&mut c, &cmd(&["GET", "k"])).await;
    expect(&mut c, b"$-1\r\n").await;
    // Unauthenticated clients may not announce big requests.
    let mut c2 = srv.connect().await;
    send(&mut c2, b"*20\r\n").await;
    expect(
        &mut c2,
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    )
    .await;
    expect_eof(&mut c2).await;
    srv.stop().await;
}

#[tokio::test]
async fn multi_exec_and_execabort() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(
        &mut c,
        &[
            cmd(&["MULTI"]),
            cmd(&["SET", "a", "1"]),
            cmd(&["INCR", "a"]),
            cmd(&["PING"]),
            cmd(&["EXEC"]),
        ]
        .concat(),
    )
    .await;
    expect(
        &mut c,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:2\r\n+PONG\r\n",
    )
    .await;
    send(
        &mut c,
        &[
            cmd(&["MULTI"]),
            cmd(&["SET", "a"]),
            cmd(&["INCR", "a"]),
            cmd(&["EXEC"]),
        ]
        .concat(),
    )
    .await;
    expect(
        &mut c,
        b"+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
    )
    .await;
    send(&mut c, &cmd(&["GET", "a"])).await;
    expect(&mut c, b"$1\r\n2\r\n").await;
    send(&mut c, &cmd(&["EXEC"])).await;
    expect(&mut c, b"-ERR EXEC without MULTI\r\n").await;
    send(
        &mut c,
        &[cmd(&["MULTI"]), cmd(&["MULTI"]), cmd(&["DISCARD"])].concat(),
    )
    .await;
    expect(
        &mut c,
        b"+OK\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn watch_sees_other_clients() {
    let srv = start(ServerConfig::default()).await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    send(&mut a, &cmd(&["WATCH", "w"])).await;
    expect(&mut a, b"+OK\r\n").await;
    send(&mut b, &cmd(&["SET", "w", "x"])).await;
    expect(&mut b, b"+OK\r\n").await;
    send(
        &mut a,
        &[cmd(&["MULTI"]), cmd(&["SET", "w", "mine"]), cmd(&["EXEC"])].concat(),
    )
    .await;
    expect(&mut a, b"+OK\r\n+QUEUED\r\n*-1\r\n").await;
    // Untouched watch: EXEC runs.
    send(
        &mut a,
        &[
            cmd(&["WATCH", "w"]),
            cmd(&["MULTI"]),
            cmd(&["SET", "w", "mine"]),
            cmd(&["EXEC"]),
        ]
        .concat(),
    )
    .await;
    expect(&mut a, b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n").await;
    // A delete by another client also breaks it.
    send(&mut a, &cmd(&["WATCH", "w"])).await;
    expect(&mut a, b"+OK\r\n").await;
    send(&mut b, &cmd(&["DEL", "w"])).await;
    expect(&mut b, b":1\r\n").await;
    send(
        &mut a,
        &[cmd(&["MULTI"]), cmd(&["GET", "w"]), cmd(&["EXEC"])].concat(),
    )
    .await;
    expect(&mut a, b"+OK\r\n+QUEUED\r\n*-1\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn pubsub_resp2() {
    let srv = start(ServerConfig::default()).await;
    let mut sub = srv.connect().await;
    let mut publ = srv.connect().await;
    send(&mut sub, &cmd(&["SUBSCRIBE", "news", "other"])).await;
    expect(
        &mut sub,
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:2\r\n",
    )
    .await;
    send(&mut sub, &cmd(&["PSUBSCRIBE", "n*"])).await;
    expect(&mut sub, b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n").await;
    send(&mut sub, &cmd(&["GET", "x"])).await;
    expect(
        &mut sub,
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    )
    .await;
    send(&mut sub, &cmd(&["PING"])).await;
    expect(&mut sub, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
    send(&mut publ, &cmd(&["PUBLISH", "news", "hello"])).await;
    expect(&mut publ, b":2\r\n").await;
    expect(
        &mut sub,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    )
    .await;
    expect(
        &mut sub,
        b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    )
    .await;
    send(&mut publ, &cmd(&["PUBSUB", "NUMSUB", "news", "none"])).await;
    expect(&mut publ, b"*4\r\n$4\r\nnews\r\n:1\r\n$4\r\nnone\r\n:0\r\n").await;
    send(&mut publ, &cmd(&["PUBSUB", "NUMPAT"])).await;
    expect(&mut publ, b":1\r\n").await;
    send(&mut sub, &cmd(&["UNSUBSCRIBE", "news"])).await;
    expect(
        &mut sub,
        b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn pubsub_resp3_pushes() {
    let srv = start(ServerConfig::default()).await;
    let mut sub = srv.connect().await;
    let mut publ = srv.connect().await;
    send(&mut sub, &cmd(&["HELLO", "3"])).await;
    // Consume the HELLO map: read until the empty modules array.
    while read_line(&mut sub).await != "*0\r\n" {}
    send(&mut sub, &cmd(&["SUBSCRIBE", "ch"])).await;
    expect(&mut sub, b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n").await;
    // RESP3 clients may run other commands while subscribed.
    send(&mut sub, &cmd(&["GET", "nothing"])).await;
    expect(&mut sub, b"_\r\n").await;
    send(&mut publ, &cmd(&["PUBLISH", "ch", "m"])).await;
    expect(&mut publ, b":1\r\n").await;
    expect(&mut sub, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn blpop_is_woken_by_another_client_in_order() {
    let srv = start(ServerConfig::default()).await;
    let mut first = srv.connect().await;
    let mut second = srv.connect().await;
    let mut pusher = srv.connect().await;
    send(&mut first, &cmd(&["BLPOP", "q", "0"])).await;
    // Wait until the server sees `first` blocked before blocking `second`.
    wait_blocked(&mut pusher, 1).await;
    send(&mut second, &cmd(&["BLPOP", "q", "0"])).await;
    wait_blocked(&mut pusher, 2).await;
    send(&mut pusher, &cmd(&["RPUSH", "q", "a", "b"])).await;
    expect(&mut pusher, b":2\r\n").await;
    expect(&mut first, b"*2\r\n$1\r\nq\r\n$1\r\na\r\n").await;
    expect(&mut second, b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n").await;
    // Timeout: a null array.
    send(&mut first, &cmd(&["BLPOP", "q", "0.05"])).await;
    expect(&mut first, b"*-1\r\n").await;
    send(&mut first, &cmd(&["BLPOP", "q", "-1"])).await;
    expect(&mut first, b"-ERR timeout is negative\r\n").await;
    send(&mut first, &cmd(&["BLPOP", "q", "x"])).await;
    expect(
        &mut first,
        b"-ERR timeout is not a float or out of range\r\n",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn blpop_is_woken_by_exec() {
    let srv = start(ServerConfig::default()).await;
    let mut blocked = srv.connect().await;
    let mut writer = srv.connect().await;
    send(&mut blocked, &cmd(&["BLPOP", "a", "b", "0"])).await;
    wait_blocked(&mut writer, 1).await;
    send(
        &mut writer,
        &[
            cmd(&["MULTI"]),
            cmd(&["SET", "x", "1"]),
            cmd(&["LPUSH", "b", "v"]),
            cmd(&["EXEC"]),
        ]
        .concat(),
    )
    .await;
    expect(
        &mut writer,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:1\r\n",
    )
    .await;
    expect(&mut blocked, b"*2\r\n$1\r\nb\r\n$1\r\nv\r\n").await;
    srv.stop().await;
}

/// Polls INFO clients until `n` clients are blocked (a condition, not a sleep).
async fn wait_blocked(c: &mut TcpStream, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    for _ in 0..2000 {
        send(c, &cmd(&["INFO", "clients"])).await;
        let header = read_line(c).await;
        let len: usize = header[1..header.len() - 2].parse().unwrap();
        let mut body = vec![0u8; len + 2];
        c.read_exact(&mut body).await.unwrap();
        if String::from_utf8_lossy(&body).contains(&want) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never saw {n} blocked clients");
}

#[tokio::test]
async fn max_clients_is_enforced() {
    let cfg = ServerConfig {
        maxclients: 1,
        ..ServerConfig::default()
    };
    let srv = start(cfg).await;
    let mut a = srv.connect().await;
    send(&mut a, b"PING\r\n").await;
    expect(&mut a, b"+PONG\r\n").await;
    let mut b = srv.connect().await;
    expect(&mut b, b"-ERR max number of clients reached\r\n").await;
    expect_eof(&mut b).await;
    srv.stop().await;
}

#[tokio::test]
async fn client_kill_and_names() {
    let srv = start(ServerConfig::default()).await;
    let mut a = srv.connect().await;
    let mut b = srv.connect().await;
    send(&mut a, &cmd(&["CLIENT", "SETNAME", "alpha"])).await;
    expect(&mut a, b"+OK\r\n").await;
    send(&mut a, &cmd(&["CLIENT", "GETNAME"])).await;
    expect(&mut a, b"$5\r\nalpha\r\n").await;
    send(&mut a, &cmd(&["CLIENT", "SETNAME", "bad name"])).await;
    expect(
        &mut a,
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    )
    .await;
    send(&mut a, &cmd(&["CLIENT", "ID"])).await;
    let id_line = read_line(&mut a).await;
    let id = id_line[1..id_line.len() - 2].to_owned();
    send(&mut b, &cmd(&["CLIENT", "KILL", "ID", &id])).await;
    expect(&mut b, b":1\r\n").await;
    expect_eof(&mut a).await;
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_command_stops_run() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(&mut c, &cmd(&["SHUTDOWN", "NOSAVE"])).await;
    expect_eof(&mut c).await;
    // run() returns on its own; the stop channel is not needed.
    srv.handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn client_reply_off_and_skip() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(
        &mut c,
        &[
            cmd(&["CLIENT", "REPLY", "OFF"]),
            cmd(&["SET", "a", "1"]),
            cmd(&["CLIENT", "REPLY", "ON"]),
        ]
        .concat(),
    )
    .await;
    expect(&mut c, b"+OK\r\n").await;
    send(
        &mut c,
        &[
            cmd(&["CLIENT", "REPLY", "SKIP"]),
            cmd(&["GET", "a"]),
            cmd(&["ECHO", "x"]),
        ]
        .concat(),
    )
    .await;
    expect(&mut c, b"$1\r\nx\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn slow_subscriber_is_disconnected_not_buffered() {
    let srv = start(ServerConfig::default()).await;
    let mut sub = srv.connect().await;
    let mut publ = srv.connect().await;
    send(
        &mut publ,
        &cmd(&["CONFIG", "SET", "client-output-buffer-limit", "64kb"]),
    )
    .await;
    expect(&mut publ, b"+OK\r\n").await;
    send(&mut sub, &cmd(&["SUBSCRIBE", "flood"])).await;
    expect(&mut sub, b"*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n").await;
    // The subscriber stops reading; publish far more than the limit plus
    // what the socket buffers can hold.
    let payload = "x".repeat(64 * 1024);
    let mut delivered_to_none = false;
    for _ in 0..2000 {
        send(&mut publ, &cmd(&["PUBLISH", "flood", &payload])).await;
        let line = read_line(&mut publ).await;
        if line == ":0\r\n" {
            delivered_to_none = true;
            break;
        }
    }
    assert!(delivered_to_none, "the slow subscriber was never dropped");
    // Its connection is closed: reading drains what was sent, then EOF.
    let mut sink = Vec::new();
    let n = sub.read_to_end(&mut sink).await.unwrap_or(0);
    assert!(n < 2000 * 64 * 1024);
    srv.stop().await;
}

#[tokio::test]
async fn query_buffer_limit_closes_the_client() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(
        &mut c,
        &cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
    )
    .await;
    expect(&mut c, b"+OK\r\n").await;
    // A 3 MB bulk passes the bulk limit but not the query buffer limit.
    send(&mut c, b"*2\r\n$3\r\nGET\r\n$3000000\r\n").await;
    let chunk = vec![b'a'; 64 * 1024];
    let mut closed = false;
    for _ in 0..(3_000_000 / chunk.len() + 1) {
        if c.write_all(&chunk).await.is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        expect_eof(&mut c).await;
    }
    let mut other = srv.connect().await;
    send(&mut other, b"PING\r\n").await;
    expect(&mut other, b"+PONG\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn monitor_and_slowlog() {
    let srv = start(ServerConfig::default()).await;
    let mut mon = srv.connect().await;
    let mut c = srv.connect().await;
    send(&mut mon, &cmd(&["MONITOR"])).await;
    expect(&mut mon, b"+OK\r\n").await;
    send(&mut c, &cmd(&["SET", "a b", "1"])).await;
    expect(&mut c, b"+OK\r\n").await;
    let line = read_line(&mut mon).await;
    assert!(line.starts_with('+'), "{line}");
    assert!(line.ends_with(" \"SET\" \"a b\" \"1\"\r\n"), "{line}");
    assert!(line.contains("[0 127.0.0.1:"), "{line}");

    send(
        &mut c,
        &cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
    )
    .await;
    expect(&mut c, b"+OK\r\n").await;
    send(&mut c, &cmd(&["SLOWLOG", "RESET"])).await;
    expect(&mut c, b"+OK\r\n").await;
    send(&mut c, &cmd(&["ECHO", "slow"])).await;
    expect(&mut c, b"$4\r\nslow\r\n").await;
    send(&mut c, &cmd(&["SLOWLOG", "LEN"])).await;
    // SLOWLOG RESET itself and ECHO are logged.
    expect(&mut c, b":2\r\n").await;
    send(&mut c, &cmd(&["SLOWLOG", "GET", "1"])).await;
    assert_eq!(read_line(&mut c).await, "*1\r\n");
    assert_eq!(read_line(&mut c).await, "*6\r\n");
    srv.stop().await;
}

#[tokio::test]
async fn config_get_set_and_errors() {
    let srv = start(ServerConfig::default()).await;
    let mut c = srv.connect().await;
    send(&mut c, &cmd(&["CONFIG", "GET", "maxclients"])).await;
    expect(&mut c, b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n").await;
    send(&mut c, &cmd(&["CONFIG", "SET", "nope", "1"])).await;
    expect(
        &mut c,
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nope'\r\n",
    )
    .await;
    send(&mut c, &cmd(&["CONFIG", "SET", "maxclients", "x"])).await;
    expect(
        &mut c,
        b"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n",
    )
    .await;
    send(&mut c, &cmd(&["CONFIG", "REWRITE"])).await;
    expect(
        &mut c,
        b"-ERR The server is running without a config file\r\n",
    )
    .await;
    // redis-benchmark asks for these two.
    send(&mut c, &cmd(&["CONFIG", "GET", "save"])).await;
    expect(&mut c, b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n").await;
    send(&mut c, &cmd(&["CONFIG", "GET", "appendonly"])).await;
    expect(&mut c, b"*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n").await;
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_and_blocked_clients() {
    let srv = start(ServerConfig::default()).await;
    let mut idle = srv.connect().await;
    let mut blocked = srv.connect().await;
    let mut probe = srv.connect().await;
    send(&mut idle, b"PING\r\n").await;
    expect(&mut idle, b"+PONG\r\n").await;
    send(&mut blocked, &cmd(&["BLPOP", "never", "0"])).await;
    wait_blocked(&mut probe, 1).await;
    srv.stop().await;
    expect_eof(&mut idle).await;
    expect_eof(&mut blocked).await;
}
