"""redis-py 8.1 against the real binary: RESP2 and RESP3, pipelines,
transactions, AUTH, CLIENT/INFO/CONFIG, bad input."""

from __future__ import annotations

import subprocess

import pytest
import redis

from server_harness import recv_until_closed, server, r, start_server  # noqa: F401


def test_strings_roundtrip(r):
    assert r.ping() is True
    assert r.set("k", b"v\x00\xff") is True
    assert r.get("k") == b"v\x00\xff"
    assert r.get("missing") is None
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.exists("k", "n", "missing") == 2
    assert r.delete("k", "missing") == 1
    assert r.dbsize() == 1


def test_pipeline_many_commands(r):
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set(f"k{i}", i)
        for i in range(500):
            p.get(f"k{i}")
        out = p.execute()
    assert out[:500] == [True] * 500
    assert out[500:] == [str(i).encode() for i in range(500)]


def test_transaction_pipeline(r):
    with r.pipeline(transaction=True) as p:
        p.set("a", 1).incr("a").get("a")
        assert p.execute() == [True, 2, b"2"]


def test_execabort_on_queue_error(r):
    with r.pipeline(transaction=True) as p:
        p.set("a", 1)
        p.execute_command("NOSUCHCOMMAND")
        with pytest.raises(redis.exceptions.ResponseError) as e:
            p.execute()
    assert "EXECABORT" in str(e.value) or "unknown command" in str(e.value)
    assert r.get("a") is None


def test_watch_conflict(server, r):
    other = server.client()
    r.set("w", 1)
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", 2)
        p.multi()
        p.set("w", 3)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"2"
    # Unchanged watch: the transaction runs.
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.set("w", 4)
        assert p.execute() == [True]
    assert r.get("w") == b"4"


def test_watch_sees_flushall(server, r):
    r.set("w", 1)
    with r.pipeline() as p:
        p.watch("w")
        server.client().flushall()
        p.multi()
        p.set("w", 3)
        with pytest.raises(redis.WatchError):
            p.execute()


def test_watch_sees_expiry(server, r):
    r.set("w", 1, px=30)
    with r.pipeline() as p:
        p.watch("w")
        # Wait (a condition) until the key is gone for the server.
        from server_harness import wait_for

        wait_for(lambda: server.client().exists("w") == 0, "expiry of w")
        p.multi()
        p.set("w", 3)
        with pytest.raises(redis.WatchError):
            p.execute()


def test_info_and_config(r):
    info = r.info()
    assert info["redis_version"] == "7.0.0"
    assert "fincaskv_version" in info
    assert r.info("keyspace") == {} or isinstance(r.info("keyspace"), dict)
    r.set("x", 1)
    assert r.info("keyspace")["db0"]["keys"] == 1
    stats = r.info("commandstats")
    assert stats["cmdstat_set"]["calls"] >= 1
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert r.config_set("maxclients", 50) is True
    assert r.config_get("maxclients") == {"maxclients": "50"}
    with pytest.raises(redis.exceptions.ResponseError):
        r.config_set("no-such-option", 1)
    assert r.config_resetstat() is True


def test_client_commands(r):
    assert r.client_setname("me") is True
    assert r.client_getname() in ("me", b"me")
    me = r.client_info()
    assert me["name"] == "me"
    ids = [c["id"] for c in r.client_list()]
    assert str(r.client_id()) in [str(i) for i in ids]


def test_select_databases(server):
    a = server.client(db=0)
    b = server.client(db=3)
    a.set("k", "zero")
    b.set("k", "three")
    assert a.get("k") == b"zero"
    assert b.get("k") == b"three"
    with pytest.raises(redis.exceptions.ResponseError, match="DB index is out of range"):
        a.execute_command("SELECT", 99)


def test_command_docs_and_count(r):
    assert r.command_count() > 20
    docs = r.execute_command("COMMAND DOCS", "get")
    flat = docs if isinstance(docs, list) else [x for kv in docs.items() for x in kv]
    assert flat[0] == b"get"
    assert r.command_getkeys("SET", "key", "value") in ([b"key"], ["key"])
    info = r.command()
    assert info["get"]["arity"] == 2


def test_time_lastsave_save(r):
    secs, micros = r.time()
    assert secs > 1_600_000_000 and 0 <= micros < 1_000_000
    assert r.save() is True
    assert r.lastsave() is not None


def test_bad_input_closes_only_that_connection(server):
    good = server.client()
    good.set("alive", 1)
    for payload, err in [
        (b"*1\r\n$-7\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*2\r\n$3\r\nGET\r\n$999999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*9999999999\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b'SET a "x\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"*1\r\n:12\r\n", b"-ERR Protocol error: expected '$', got something else\r\n"),
    ]:
        s = server.raw()
        s.sendall(payload)
        assert recv_until_closed(s) == err
        s.close()
    # Inline commands work for humans with nc.
    s = server.raw()
    s.sendall(b"PING\r\nECHO hello\r\nQUIT\r\n")
    assert recv_until_closed(s) == b"+PONG\r\n$5\r\nhello\r\n+OK\r\n"
    assert good.get("alive") == b"1"


def test_auth(tmp_path):
    srv = start_server(tmp_path, password="pw")
    try:
        anon = srv.client(protocol=2, password=None)
        with pytest.raises(redis.exceptions.AuthenticationError):
            anon.get("x")
        with pytest.raises(redis.exceptions.AuthenticationError):
            srv.client(password="bad").ping()
        assert srv.client().ping() is True
        assert srv.client(protocol=2).set("k", 1) is True
        s = srv.raw()
        s.sendall(b"GET k\r\nAUTH wrong\r\nAUTH pw\r\nGET k\r\n")
        want = b"-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n$1\r\n1\r\n"
        got = b""
        while len(got) < len(want):
            got += s.recv(4096)
        assert got == want
    finally:
        srv.stop()


def test_resp3_types(server):
    r3 = server.client()  # redis-py 8 default: HELLO 3
    r3.set("a", 1)
    hello = r3.execute_command("HELLO", "3")
    assert hello[b"proto"] == 3
    assert r3.get("nothing") is None


def test_shutdown_command_exits_zero(tmp_path):
    srv = start_server(tmp_path)
    c = srv.client()
    c.set("persist", "yes")
    # redis-py treats the closed connection as success (as with Redis).
    c.shutdown()
    assert srv.proc.wait(timeout=30) == 0
    srv.stop()
    # Restart on the same dir: the data is there (and the lock was released).
    again = subprocess.Popen(
        [srv.proc.args[0], "--port", str(srv.port), "--dir", str(srv.dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from server_harness import wait_for
        import socket

        def up():
            try:
                socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(up, "restart")
        with redis.Redis(port=srv.port) as c2:
            assert c2.get("persist") == b"yes"
    finally:
        again.terminate()
        assert again.wait(timeout=30) == 0


def test_sigterm_exits_zero(server):
    server.client().set("k", "v")
    assert server.stop() == 0


def test_watch_optimistic_increments_never_lose_updates(server):
    import threading

    def worker():
        c = server.client(protocol=2)

        def incr(pipe):
            value = int(pipe.get("counter") or 0)
            pipe.multi()
            pipe.set("counter", value + 1)

        for _ in range(50):
            c.transaction(incr, "counter")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Every successful EXEC saw an unchanged counter: no increment is lost.
    assert server.client().get("counter") == b"200"


def test_memory_stats_purge_and_malloc_stats_as_redis(server, redis_server):
    """MEMORY STATS has Redis 7.0's fields in its order, integers where it
    has integers, a per-database entry for each database with keys, and
    totals that move with the data; PURGE and MALLOC-STATS answer as a
    Redis built with libc malloc; HELP is Redis's."""
    from test_server_differential import cmd, exchange

    ours = redis.Redis(port=server.port, protocol=2)
    theirs = redis.Redis(port=redis_server, protocol=2)
    theirs.flushall()
    for c in (ours, theirs):
        c.set("a", "1")
        c.execute_command("SELECT", 0)

    def fields(c):
        reply = c.execute_command("MEMORY", "STATS")
        return [(k.decode(), type(v).__name__) for k, v in zip(reply[::2], reply[1::2])]

    assert fields(ours) == fields(theirs)
    stats = dict(zip(*[iter(ours.execute_command("MEMORY", "STATS"))] * 2))
    assert stats[b"keys.count"] == 1
    assert stats[b"total.allocated"] > 0 and stats[b"peak.allocated"] >= stats[b"total.allocated"]
    # A megabyte-sized value shows in the totals.
    ours.set("big", b"x" * (8 << 20))
    after = dict(zip(*[iter(ours.execute_command("MEMORY", "STATS"))] * 2))
    assert after[b"total.allocated"] >= stats[b"total.allocated"] + (4 << 20)
    assert after[b"keys.count"] == 2
    script = [cmd("MEMORY", "PURGE"), cmd("MEMORY", "PURGE", "x"), cmd("MEMORY", "STATS", "x"),
              cmd("MEMORY", "MALLOC-STATS", "x"), cmd("MEMORY", "HELP")]
    assert exchange(server.port, script) == exchange(redis_server, script)
    assert ours.execute_command("MEMORY", "MALLOC-STATS") == b"Stats not supported for the current allocator"
    theirs.flushall()


def test_info_memory_reports_heap_bytes_as_redis(server, redis_server):
    """INFO memory's fields carry Redis 7.0's names; ``used_memory`` is heap
    bytes in use (as Redis's allocator bytes), below the resident set, up by
    a big value's size while it is stored and down again once it is
    deleted; the peak keeps the high point; the fragmentation ratio is
    RSS / used."""
    import time

    ours = redis.Redis(port=server.port)
    theirs = redis.Redis(port=redis_server)
    mine = ours.info("memory")
    assert set(mine) <= set(theirs.info("memory")), set(mine) - set(theirs.info("memory"))
    assert 0 < mine["used_memory"] < mine["used_memory_rss"]
    ours.set("big", b"x" * (16 << 20))
    grown = ours.info("memory")
    assert grown["used_memory"] >= mine["used_memory"] + (16 << 20)
    assert grown["used_memory_peak"] >= grown["used_memory"]
    ratio = grown["used_memory_rss"] / grown["used_memory"]
    assert abs(grown["mem_fragmentation_ratio"] - ratio) < 0.02
    ours.delete("big")
    deadline = time.monotonic() + 10
    while True:
        now = ours.info("memory")
        if now["used_memory"] <= grown["used_memory"] - (12 << 20) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert now["used_memory"] <= grown["used_memory"] - (12 << 20)
    assert now["used_memory_peak"] >= grown["used_memory"]


def test_client_list_cmd_is_the_command_being_run(server, redis_server):
    """CLIENT LIST's ``cmd=`` as redis-server 7.0 shows it: the command being
    run (a client listing itself sees ``client|list``), a subcommand under its
    own name, a refused or queued command too; seen from another client after
    a pipeline, its last command."""

    def scene(port: int) -> list:
        a = redis.Redis(port=port)
        b = redis.Redis(port=port)
        a.client_setname("A")
        seen = []

        def of_a() -> str:
            return {c["name"]: c for c in b.client_list()}["A"]["cmd"]

        a.set("k", "v")
        seen.append([c["cmd"] for c in a.client_list() if c["name"] == "A"])
        seen.append(of_a())
        a.config_get("port")
        seen.append(of_a())
        p = a.pipeline(transaction=False)
        p.set("x", 1).incr("n").get("x")
        p.execute()
        seen.append(of_a())
        with pytest.raises(redis.exceptions.ResponseError):
            a.execute_command("GET")  # wrong arity: refused, still the last
        seen.append(of_a())
        a.execute_command("MULTI")
        a.execute_command("LPUSH", "l", "v")  # queued
        seen.append(of_a())
        a.execute_command("EXEC")
        seen.append(of_a())
        # The reference server is shared by the session: leave nothing.
        a.delete("k", "x", "n", "l")
        a.close()
        b.close()
        return seen

    ours = scene(server.port)
    theirs = scene(redis_server)
    assert ours == theirs
    assert ours[0] == ["client|list"]


def test_maxmemory_refuses_growing_commands_as_redis_noeviction(server, redis_server):
    """With `maxmemory` under the memory in use, the commands that may add
    data (`denyoom`: SET, LPUSH, HSET, ...) get Redis's OOM error, also
    inside MULTI (EXEC then aborts); reads and deletes still run; raising
    the limit (0 = none) lets writes through again. CONFIG GET / INFO show
    the setting; a policy that evicts is refused (FincasKV evicts
    nothing) and a bad one gets Redis's error."""
    from test_server_differential import cmd, exchange

    redis.Redis(port=redis_server).flushall()
    script = [
        cmd("SET", "a", "1"),
        cmd("CONFIG", "SET", "maxmemory", "1"),
        cmd("CONFIG", "GET", "maxmemory"),
        cmd("SET", "b", "2"),
        cmd("LPUSH", "l", "x"),
        cmd("GET", "a"),
        cmd("INCR", "a"),
        cmd("MULTI"),
        cmd("SET", "c", "3"),
        cmd("GET", "a"),
        cmd("EXEC"),
        cmd("DEL", "a"),
        cmd("EXISTS", "b", "c"),
        cmd("CONFIG", "SET", "maxmemory-policy", "bogus"),
        cmd("CONFIG", "SET", "maxmemory", "0"),
        cmd("SET", "b", "2"),
        cmd("CONFIG", "GET", "maxmemory-policy"),
    ]
    ours = exchange(server.port, script)
    theirs = exchange(redis_server, script)
    assert ours == theirs
    assert b"OOM command not allowed" in ours[3]
    c = redis.Redis(port=server.port)
    c.config_set("maxmemory", "100mb")
    info = c.info("memory")
    assert info["maxmemory"] == 100 << 20 and info["maxmemory_policy"] == "noeviction"
    with pytest.raises(redis.ResponseError, match="not supported"):
        c.config_set("maxmemory-policy", "allkeys-lru")
    c.config_set("maxmemory", "0")

    def exec_after_the_limit(port):
        """A transaction queued under the limit, EXEC'd over it."""
        import socket

        from test_server_differential import read_reply

        seen = []
        with socket.create_connection(("127.0.0.1", port), timeout=10) as a, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as b:
            for s, parts in [(a, ["MULTI"]), (a, ["SET", "x", "1"]), (b, ["CONFIG", "SET", "maxmemory", "1"]),
                             (a, ["EXEC"]), (a, ["DISCARD"]), (a, ["GET", "x"]),
                             (b, ["CONFIG", "SET", "maxmemory", "0"])]:
                s.sendall(cmd(*parts))
                seen.append(read_reply(s))
        return seen

    ours = exec_after_the_limit(server.port)
    assert ours == exec_after_the_limit(redis_server)
    assert ours[3].startswith(b"-EXECABORT")
    redis.Redis(port=redis_server).flushall()


def test_maxmemory_stops_scripts_as_redis(server, redis_server):
    """Over `maxmemory`, scripts follow Redis's rules: a script without a
    shebang fails on its first `denyoom` call (redis.call raises, pcall
    returns the error) unless it already wrote; EVAL of a script with a
    shebang and FCALL of a function are refused outright unless they
    declare `no-writes` or `allow-oom`. Replies compared with redis-server."""
    import hashlib

    from test_server_differential import cmd, exchange

    shebanged = "#!lua\nreturn redis.call('get','a')"
    lib = (
        "#!lua name=oomlib\n"
        "redis.register_function('w', function(k) return redis.call('set', k[1], 'v') end)\n"
        "redis.register_function{function_name='oomok', callback=function(k) "
        "return redis.call('set', k[1], 'v') end, flags={'allow-oom'}}\n"
        "redis.register_function{function_name='ro', callback=function(k) "
        "return redis.call('get', k[1]) end, flags={'no-writes'}}\n"
    )
    for port in (server.port, redis_server):
        c = redis.Redis(port=port)
        c.flushall()
        c.function_flush()
    script = [
        cmd("SET", "a", "1"),
        cmd("FUNCTION", "LOAD", lib),
        cmd("SCRIPT", "LOAD", shebanged),
        cmd("CONFIG", "SET", "maxmemory", "1"),
        cmd("EVAL", "return redis.call('set','b','1')", "0"),
        cmd("EVAL", "return redis.pcall('set','b','1')", "0"),
        cmd("EVAL", "return redis.call('get','a')", "0"),
        cmd("EVAL", "redis.call('del','a'); return redis.call('set','b','1')", "0"),
        cmd("EVAL", "#!lua\nreturn redis.call('get','b')", "0"),
        cmd("EVALSHA", hashlib.sha1(shebanged.encode()).hexdigest(), "0"),
        cmd("EVALSHA", "a5e5a9e0cd8d3a2c2c2f9f0b4b4f7e1c3f0e1d2b", "x"),
        cmd("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','b','2')", "0"),
        cmd("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','b')", "0"),
        cmd("EVAL", "#!lua flags=bogus\nreturn 1", "0"),
        cmd("FCALL", "w", "1", "c"),
        cmd("FCALL", "oomok", "1", "c"),
        cmd("FCALL", "ro", "1", "c"),
        cmd("FCALL", "nosuch", "0"),
        cmd("CONFIG", "SET", "maxmemory", "0"),
        cmd("EVAL", "return redis.call('set','d','1')", "0"),
        cmd("FCALL", "w", "1", "e"),
        cmd("MGET", "a", "b", "c", "d", "e"),
    ]
    ours = exchange(server.port, script)
    theirs = exchange(redis_server, script)
    assert ours == theirs
    assert ours[4].startswith(b"-OOM command not allowed") and b"script:" in ours[4]
    assert ours[14].startswith(b"-OOM command not allowed")
    for port in (server.port, redis_server):
        c = redis.Redis(port=port)
        c.function_flush()
        c.flushall()
