"""MIGRATE, side by side with redis-server 7.0: keys of every type (a stream
with its groups, pending entries and consumers among them) move
between FincasKV and Redis in both directions (TTLs kept), and every reply
(COPY, REPLACE, KEYS, NOKEY, BUSYKEY, AUTH / AUTH2, a bad database, an
unreachable or silent target, syntax and ACL errors) is Redis's, byte for
byte. A cluster node's MIGRATE deletes the key on every member."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest
import redis

from conftest import spawn_redis
from server_harness import Server, server, start_server  # noqa: F401
from test_server_differential import cmd, exchange

from fincaskv.cluster import LocalCluster

KEYS = ["s", "l", "h", "st", "z", "ttl", "counter", "xs"]


@pytest.fixture(scope="module")
def redis_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A second redis-server: the target of the reference's MIGRATEs."""
    proc, port = spawn_redis(tmp_path_factory.mktemp("redis-target"))
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def our_target(tmp_path) -> Iterator[Server]:
    (tmp_path / "target").mkdir()
    srv = start_server(tmp_path / "target")
    yield srv
    srv.stop()


def populate(c: redis.Redis) -> None:
    c.set("s", b"bytes\x00\r\n\xff")
    c.rpush("l", "a", "b", "c")
    c.hset("h", mapping={"f1": "v1", "f2": "v2"})
    c.sadd("st", "x", "y", "z")
    c.zadd("z", {"m1": 1.5, "m2": -2})
    c.set("ttl", "expiring", px=60_000)
    c.incrby("counter", 42)
    for i in range(1, 131):
        c.xadd("xs", {"f": i, "v": "x" * (i % 40)}, id=f"{i}-0")
    c.xdel("xs", "3-0")
    c.xgroup_create("xs", "g", id="0")
    c.xreadgroup("g", "alice", {"xs": ">"}, count=4)
    c.xreadgroup("g", "bob", {"xs": ">"}, count=2)
    c.xack("xs", "g", "1-0")


def contents(c: redis.Redis) -> dict:
    out = {}
    for k in KEYS:
        t = c.type(k)
        if t == b"string":
            out[k] = c.get(k)
        elif t == b"list":
            out[k] = c.lrange(k, 0, -1)
        elif t == b"hash":
            out[k] = c.hgetall(k)
        elif t == b"set":
            out[k] = sorted(c.smembers(k))
        elif t == b"zset":
            out[k] = c.zrange(k, 0, -1, withscores=True)
        elif t == b"stream":
            info = c.xinfo_stream(k, full=True)
            info.pop("radix-tree-nodes", None)
            out[k] = (c.xrange(k), info, c.xpending(k, "g"))
        else:
            out[k] = t
    return out


@pytest.mark.parametrize("source_kind", ["ours", "redis"])
@pytest.mark.parametrize("target_kind", ["ours", "redis"])
def test_every_type_moves_with_its_ttl(
    source_kind: str, target_kind: str, server: Server, our_target: Server, redis_server: int, redis_target: int
) -> None:
    src = redis.Redis(port=server.port if source_kind == "ours" else redis_server)
    tgt_port = our_target.port if target_kind == "ours" else redis_target
    tgt = redis.Redis(port=tgt_port)
    src.flushall()
    tgt.flushall()
    populate(src)
    before = contents(src)
    assert src.execute_command("MIGRATE", "127.0.0.1", tgt_port, "", 0, 5000, "KEYS", *KEYS) == b"OK"
    assert src.exists(*KEYS) == 0, "MIGRATE without COPY deletes the keys"
    assert contents(tgt) == before
    assert 0 < tgt.pttl("ttl") <= 60_000
    assert tgt.pttl("s") == -1
    # Back again, one key, into another database, with COPY: both have it.
    assert tgt.execute_command("MIGRATE", "127.0.0.1", src.connection_pool.connection_kwargs["port"],
                               "l", 3, 5000, "COPY") == b"OK"
    assert tgt.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    src3 = redis.Redis(port=src.connection_pool.connection_kwargs["port"], db=3)
    assert src3.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    for c in (src, tgt, src3):
        c.close()


def script(target_port: int) -> list[bytes]:
    t = ("127.0.0.1", str(target_port))
    return [
        cmd("SET", "k", "v"),
        cmd("PEXPIRE", "k", "100000"),
        cmd("MIGRATE", *t, "k", "0", "1000", "COPY"),
        cmd("MIGRATE", *t, "k", "0", "1000", "COPY"),  # BUSYKEY
        cmd("MIGRATE", *t, "k", "0", "1000", "COPY", "REPLACE"),
        cmd("MIGRATE", *t, "nokey", "0", "1000"),
        cmd("MIGRATE", *t, "", "0", "1000", "KEYS", "nokey", "other"),
        cmd("MIGRATE", *t, "k", "0", "1000", "KEYS", "k"),
        cmd("MIGRATE", *t, "k", "0", "1000", "AUTH"),
        cmd("MIGRATE", *t, "k", "0", "1000", "AUTH2", "u"),
        cmd("MIGRATE", *t, "k", "0", "1000", "NOPE"),
        cmd("MIGRATE", *t, "k", "x", "1000"),
        cmd("MIGRATE", *t, "k", "0", "x"),
        cmd("MIGRATE", *t, "k", "0"),
        cmd("MIGRATE", *t, "k", "99", "1000", "REPLACE"),
        cmd("MIGRATE", *t, "k", "0", "1000", "REPLACE", "AUTH", "wrong"),
        cmd("MIGRATE", *t, "k", "0", "1000", "REPLACE", "AUTH2", "mover", "wrong"),
        cmd("MIGRATE", *t, "k", "0", "1000", "REPLACE", "AUTH2", "mover", "pw"),
        cmd("EXISTS", "k"),
        cmd("SET", "a", "1"),
        cmd("SET", "b", "2"),
        cmd("MIGRATE", *t, "", "0", "0", "KEYS", "a", "nokey", "b"),
        cmd("EXISTS", "a", "b"),
        cmd("MIGRATE", "127.0.0.1", "1", "k", "0", "1000"),
        cmd("COMMAND", "GETKEYS", "MIGRATE", *t, "", "0", "5", "AUTH2", "KEYS", "b", "KEYS", "x", "y"),
        cmd("COMMAND", "GETKEYS", "MIGRATE", *t, "k", "0", "5"),
    ]


def _prepare_target(port: int) -> None:
    c = redis.Redis(port=port)
    c.flushall()
    c.acl_setuser("mover", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all"])
    c.close()


def test_replies_are_redis_replies(server: Server, redis_server: int, redis_target: int) -> None:
    redis.Redis(port=redis_server).flushall()
    _prepare_target(redis_target)
    ours = exchange(server.port, script(redis_target))
    target_after_ours = contents(redis.Redis(port=redis_target))
    _prepare_target(redis_target)
    theirs = exchange(redis_server, script(redis_target))
    assert ours == theirs
    assert contents(redis.Redis(port=redis_target)) == target_after_ours
    assert b"BUSYKEY" in ours[3] and ours[5] == b"+NOKEY\r\n" and ours[21] == b"+OK\r\n"
    redis.Redis(port=redis_target).acl_deluser("mover")


def _silent_target() -> tuple[socket.socket, threading.Event]:
    """A listener that accepts connections and never answers."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    stop = threading.Event()
    held = []

    def run() -> None:
        lst.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(lst.accept()[0])
            except OSError:
                continue
        for s in held:
            s.close()

    threading.Thread(target=run, daemon=True).start()
    return lst, stop


def test_a_silent_target_times_out_and_keeps_the_key(server: Server, redis_server: int) -> None:
    lst, stop = _silent_target()
    port = str(lst.getsockname()[1])
    try:
        replies = []
        for p in (server.port, redis_server):
            c = redis.Redis(port=p)
            c.flushall()
            c.set("k", "v")
            started = time.monotonic()
            replies.append(exchange(p, [cmd("MIGRATE", "127.0.0.1", port, "k", "0", "300"), cmd("EXISTS", "k")]))
            assert time.monotonic() - started < 5
            c.close()
        assert replies[0] == replies[1]
        assert replies[0][0] == b"-IOERR error or timeout reading to target instance\r\n"
        assert replies[0][1] == b":1\r\n"
    finally:
        stop.set()
        lst.close()


def test_acl_key_patterns_apply(server: Server, redis_server: int, redis_target: int) -> None:
    setup = [cmd("ACL", "SETUSER", "mig", "on", ">p", "~a*", "+@all"), cmd("SET", "a1", "x"), cmd("SET", "b1", "y")]
    as_user = [
        cmd("AUTH", "mig", "p"),
        cmd("MIGRATE", "127.0.0.1", str(redis_target), "b1", "0", "1000", "COPY"),
        cmd("MIGRATE", "127.0.0.1", str(redis_target), "", "0", "1000", "COPY", "KEYS", "a1", "b1"),
        cmd("MIGRATE", "127.0.0.1", str(redis_target), "a1", "0", "1000", "COPY", "REPLACE"),
    ]
    out = []
    for p in (server.port, redis_server):
        redis.Redis(port=p).flushall()
        exchange(p, setup)
        out.append(exchange(p, as_user))
        exchange(p, [cmd("ACL", "DELUSER", "mig")])
    assert out[0] == out[1]
    assert out[0][1].startswith(b"-NOPERM") and out[0][3] == b"+OK\r\n"


def test_a_cluster_node_migrates_and_every_member_deletes(tmp_path, redis_target: int) -> None:
    tgt = redis.Redis(port=redis_target)
    tgt.flushall()
    with LocalCluster(3, tmp_path / "c") as cluster:
        leader = cluster.wait_for_leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        lc = redis.Redis(host=leader.host, port=leader.port)
        lc.rpush("moving", "a", "b")
        lc.set("staying", "1")
        fc = redis.Redis(host=follower.host, port=follower.port)
        # From a follower: the reads and the delete go through the leader.
        assert fc.execute_command("MIGRATE", "127.0.0.1", redis_target, "moving", 0, 5000) == b"OK"
        assert tgt.lrange("moving", 0, -1) == [b"a", b"b"]
        assert lc.exists("moving") == 0 and lc.get("staying") == b"1"
        # Every member applied the delete: same log index applied, same data.
        last = int(leader.info()["raft_last_log_index"])
        cluster.wait_for_applied(last)
        digests = {n.execute("DEBUG", "DIGEST") for n in cluster.nodes}
        assert len(digests) == 1, digests
        lc.close()
        fc.close()
    tgt.close()
