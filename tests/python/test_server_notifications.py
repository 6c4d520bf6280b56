"""Keyspace notifications (`notify-keyspace-events`), message for message
against a real redis-server 7.0.

Each scene runs the same commands on both servers with a subscriber on
every `__keyspace@*` / `__keyevent@*` channel, and compares the messages
(channel and payload, in order) the subscriber received. A scene is a list
of argument tuples, or callables taking the client (for what differs per
server, such as a DUMP payload or a pause for a deadline to pass).
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence, Union

import pytest
import redis

from conftest import spawn_redis
from server_harness import Server, start_server

Step = Union[tuple, Callable[[redis.Redis], object]]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(our port, redis-server's port): one of each for the module."""
    tmp = tmp_path_factory.mktemp("notify")
    ours: Server = start_server(tmp)
    proc, port = spawn_redis(tmp)
    try:
        yield ours.port, port
    finally:
        ours.stop()
        proc.terminate()
        proc.wait(timeout=30)


def sleep(seconds: float) -> Callable[[redis.Redis], None]:
    return lambda _c: time.sleep(seconds)


def run(c: redis.Redis, steps: Sequence[Step]) -> None:
    """Runs each step on `c`; error replies are part of a scene."""
    for step in steps:
        if callable(step):
            step(c)
            continue
        try:
            c.execute_command(*step)
        except redis.ResponseError:
            pass


def messages(port: int, classes: str, steps: Sequence[Step]) -> list[tuple[bytes, bytes]]:
    """Runs `steps` on a fresh dataset with `classes` enabled; the
    (channel, payload) of every notification, in the order received."""
    c = redis.Redis(port=port)
    sub = redis.Redis(port=port)
    ps = sub.pubsub()
    try:
        c.flushall()
        c.config_set("notify-keyspace-events", classes)
        ps.psubscribe("__key*__:*")
        ps.subscribe("scene-done")
        for _ in range(2):
            assert ps.get_message(timeout=10)["type"] in ("psubscribe", "subscribe")
        run(c, steps)
        c.publish("scene-done", "x")
        out = []
        while True:
            m = ps.get_message(timeout=10)
            assert m is not None, f"the scene's end marker never came; so far {out}"
            if m["channel"] == b"scene-done":
                return out
            out.append((m["channel"], m["data"]))
    finally:
        c.config_set("notify-keyspace-events", "")
        ps.close()
        sub.close()
        c.close()


def same(servers: tuple[int, int], steps: Sequence[Step], classes: str = "KEA") -> list:
    ours, theirs = servers
    expected = messages(theirs, classes, steps)
    got = messages(ours, classes, steps)
    assert got == expected
    return got


STRINGS: list[Step] = [
    ("SET", "a", "1"), ("SET", "a", "2", "EX", "100"), ("SET", "a", "3", "KEEPTTL"),
    ("SET", "a", "4", "NX"), ("SET", "b", "1", "XX"), ("SET", "a", "5", "GET"),
    ("SETNX", "a", "3"), ("SETNX", "b", "1"), ("SETEX", "c", "10", "v"), ("PSETEX", "d", "1000", "v"),
    ("GETSET", "a", "x"), ("GETDEL", "a"), ("GETDEL", "nokey"), ("GETEX", "b", "EX", "100"),
    ("GETEX", "b", "PERSIST"), ("GETEX", "b", "PERSIST"), ("GETEX", "b", "PXAT", "1"),
    ("MSET", "k1", "v", "k2", "v"), ("MSETNX", "k3", "v", "k4", "v"), ("MSETNX", "k3", "v", "k5", "v"),
    ("APPEND", "ap", "x"), ("APPEND", "ap", "y"), ("INCR", "n"), ("DECR", "n"), ("INCRBY", "n", "5"),
    ("DECRBY", "n", "2"), ("INCR", "ap"), ("INCRBYFLOAT", "f", "1.5"), ("INCRBYFLOAT", "n", "1"),
    ("SETRANGE", "sr", "0", ""), ("SETRANGE", "sr", "2", "ab"), ("SETRANGE", "sr", "0", "zz"),
    ("SETBIT", "bt", "3", "1"), ("SETBIT", "bt", "3", "1"), ("BITOP", "AND", "bo", "bt", "nokey"),
    ("BITOP", "OR", "bo", "nokey1", "nokey2"), ("BITOP", "OR", "bo", "nokey1", "nokey2"),
    ("BITFIELD", "bf", "SET", "u8", "0", "200"), ("BITFIELD", "bf", "GET", "u8", "0"),
    ("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "100"),
    ("PFADD", "h", "a", "b"), ("PFADD", "h", "a"), ("PFMERGE", "h2", "h"),
    ("SET", "past", "1", "PXAT", "1"), ("GET", "past"),
    ("SET", "soon", "1", "PX", "30"), sleep(0.25), ("GET", "soon"),
]


def test_string_commands_notify_as_redis(servers) -> None:
    got = same(servers, STRINGS)
    assert (b"__keyevent@0__:incrbyfloat", b"f") in got


GENERIC: list[Step] = [
    ("SET", "x", "1"), ("EXPIRE", "x", "100"), ("PEXPIRE", "x", "100000"), ("EXPIRE", "x", "100", "NX"),
    ("PERSIST", "x"), ("PERSIST", "x"), ("EXPIRE", "x", "-1"), ("SET", "y", "1"), ("EXPIREAT", "y", "1"),
    ("SET", "z", "1"), ("PEXPIREAT", "z", str(int(time.time() * 1000) + 100000)), ("EXPIRE", "nokey", "10"),
    ("SET", "r1", "1"), ("RENAME", "r1", "r2"), ("SET", "r3", "1"), ("RENAME", "r2", "r3"),
    ("RENAME", "r3", "r3"), ("RENAMENX", "r3", "r4"), ("SET", "r5", "1"), ("RENAMENX", "r4", "r5"),
    ("RENAME", "nokey", "r6"), ("SET", "m", "1"), ("MOVE", "m", "1"), ("SET", "m", "2"), ("MOVE", "m", "1"),
    ("COPY", "r4", "c1"), ("COPY", "r4", "c1"), ("COPY", "r4", "c1", "REPLACE"), ("COPY", "r4", "c2", "DB", "2"),
    ("DEL", "r4", "c1", "nokey"), ("UNLINK", "r5"), ("SWAPDB", "0", "1"), ("FLUSHDB",),
    ("SET", "tmp", "1", "PX", "20"), sleep(0.2), ("SET", "tmp", "2"), ("RENAME", "tmp", "tmp2"),
    ("SET", "tmp3", "1", "PX", "20"), sleep(0.2), ("RENAME", "tmp2", "tmp3"),
]


def test_generic_commands_notify_as_redis(servers) -> None:
    got = same(servers, GENERIC)
    assert (b"__keyspace@1__:m", b"move_to") in got


LISTS: list[Step] = [
    ("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "nol", "a"), ("RPUSHX", "l", "d"),
    ("LPOP", "l"), ("RPOP", "l", "2"), ("LPOP", "l", "0"), ("LSET", "l", "0", "z"), ("LSET", "l", "9", "z"),
    ("LINSERT", "l", "BEFORE", "z", "y"), ("LINSERT", "l", "BEFORE", "nope", "y"), ("LREM", "l", "0", "y"),
    ("LREM", "l", "0", "nope"), ("LTRIM", "l", "0", "0"), ("LTRIM", "l", "1", "0"),
    ("RPUSH", "s1", "a", "b", "c"), ("LMOVE", "s1", "d1", "LEFT", "RIGHT"), ("RPOPLPUSH", "s1", "d1"),
    ("LMOVE", "s1", "s1", "LEFT", "RIGHT"), ("RPUSH", "s1", "q"), ("LMOVE", "s1", "s1", "RIGHT", "LEFT"),
    ("LMOVE", "s1", "d1", "LEFT", "LEFT"), ("LMOVE", "s1", "d1", "LEFT", "LEFT"),
    ("LMPOP", "2", "nol", "d1", "LEFT", "COUNT", "2"), ("LMPOP", "1", "d1", "RIGHT", "COUNT", "10"),
    ("RPUSH", "b1", "x"), ("BLPOP", "nol", "b1", "0"), ("RPUSH", "b2", "x", "y"), ("BRPOP", "b2", "0"),
    ("BRPOPLPUSH", "b2", "b3", "0"), ("BLMOVE", "b3", "b4", "LEFT", "RIGHT", "0"),
    ("BLMPOP", "0", "1", "b4", "LEFT"), ("RPUSH", "srt", "3", "1", "2"), ("SORT", "srt", "STORE", "dst"),
    ("SORT", "srt", "STORE", "dst"), ("SORT", "nokey", "STORE", "dst"), ("SORT", "nokey", "STORE", "dst"),
]


def test_list_commands_notify_as_redis(servers) -> None:
    got = same(servers, LISTS)
    assert (b"__keyevent@0__:sortstore", b"dst") in got


HASHES_SETS: list[Step] = [
    ("HSET", "h", "f", "v"), ("HSET", "h", "f", "v2", "g", "v"), ("HSET", "h", "f", "v2"),
    ("HSETNX", "h", "f", "x"), ("HSETNX", "h", "z", "1"), ("HMSET", "h", "a", "1"), ("HINCRBY", "h", "n", "1"),
    ("HINCRBYFLOAT", "h", "fl", "0.5"), ("HDEL", "h", "nope"), ("HDEL", "h", "f", "g"),
    ("HDEL", "h", "z", "a", "n", "fl"), ("HINCRBY", "h2", "n", "x"),
    ("SADD", "s", "a", "b"), ("SADD", "s", "a"), ("SREM", "s", "nope"), ("SREM", "s", "a"), ("SPOP", "s"),
    ("SADD", "s", "x", "y", "z"), ("SPOP", "s", "0"), ("SPOP", "s", "1"), ("SPOP", "s", "10"), ("SPOP", "s"),
    ("SADD", "s1", "a", "b"), ("SADD", "s2", "b", "c"), ("SMOVE", "s1", "s2", "a"), ("SMOVE", "s1", "s2", "nope"),
    ("SMOVE", "s2", "s2", "a"), ("SMOVE", "s1", "s2", "b"), ("SMOVE", "s2", "s3", "c"),
    ("SINTERSTORE", "d", "s2", "s3"), ("SUNIONSTORE", "d", "s2", "nokey"), ("SUNIONSTORE", "d", "s2", "s3"),
    ("SDIFFSTORE", "d", "s2", "s2"), ("SINTERSTORE", "d", "nokey"), ("SINTERSTORE", "d2", "s2", "nokey"),
]


def test_hash_and_set_commands_notify_as_redis(servers) -> None:
    got = same(servers, HASHES_SETS)
    assert (b"__keyspace@0__:h", b"hdel") in got


ZSETS: list[Step] = [
    ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "XX", "5", "a"),
    ("ZADD", "z", "NX", "5", "a"), ("ZADD", "z", "INCR", "1", "a"), ("ZADD", "z", "INCR", "0", "a"),
    ("ZINCRBY", "z", "0", "a"), ("ZINCRBY", "z", "1", "c"), ("ZREM", "z", "nope"), ("ZREM", "z", "c"),
    ("ZREMRANGEBYSCORE", "z", "100", "200"), ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZPOPMIN", "z"),
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZPOPMAX", "z", "2"), ("ZPOPMIN", "z", "0"),
    ("ZMPOP", "1", "z", "MIN", "COUNT", "5"), ("ZADD", "z1", "1", "a", "2", "b"), ("ZADD", "z2", "2", "b"),
    ("ZUNIONSTORE", "zu", "2", "z1", "z2"), ("ZINTERSTORE", "zi", "2", "z1", "z2"),
    ("ZDIFFSTORE", "zd", "2", "z2", "z1"), ("ZDIFFSTORE", "zi", "2", "z2", "z1"),
    ("ZRANGESTORE", "zr", "z1", "0", "-1"), ("ZRANGESTORE", "zr", "z1", "5", "10"),
    ("ZREMRANGEBYLEX", "z1", "-", "+"), ("BZPOPMIN", "z2", "0"), ("ZADD", "z3", "1", "a"),
    ("BZMPOP", "0", "1", "z3", "MAX"),
    ("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gr"),
    ("GEORADIUSBYMEMBER", "g", "Palermo", "10", "km", "STOREDIST", "gr"),
    ("GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km"),
    ("GEOSEARCHSTORE", "gs2", "nokey", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km"),
]


def test_sorted_set_and_geo_commands_notify_as_redis(servers) -> None:
    got = same(servers, ZSETS)
    assert (b"__keyevent@0__:zincr", b"z") in got


STREAMS: list[Step] = [
    ("XADD", "st", "1-0", "f", "v"), ("XADD", "st", "MAXLEN", "1", "2-0", "f", "v"),
    ("XADD", "st", "MAXLEN", "5", "3-0", "f", "v"), ("XADD", "nost", "NOMKSTREAM", "*", "f", "v"),
    ("XDEL", "st", "1-0"), ("XDEL", "st", "2-0"), ("XTRIM", "st", "MAXLEN", "5"), ("XTRIM", "st", "MAXLEN", "0"),
    ("XGROUP", "CREATE", "st2", "g", "$", "MKSTREAM"), ("XGROUP", "CREATE", "st2", "g", "$"),
    ("XGROUP", "CREATECONSUMER", "st2", "g", "c1"), ("XGROUP", "CREATECONSUMER", "st2", "g", "c1"),
    ("XADD", "st2", "1-0", "a", "b"), ("XADD", "st2", "2-0", "a", "b"),
    ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "st2", ">"),
    ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "st2", "0"),
    ("XCLAIM", "st2", "g", "c3", "0", "1-0"), ("XAUTOCLAIM", "st2", "g", "c4", "0", "0-0"),
    ("XAUTOCLAIM", "st2", "g", "c4", "0", "0-0"), ("XACK", "st2", "g", "1-0"),
    ("XGROUP", "SETID", "st2", "g", "0"), ("XGROUP", "DELCONSUMER", "st2", "g", "c1"),
    ("XGROUP", "DELCONSUMER", "st2", "g", "c1"), ("XGROUP", "DESTROY", "st2", "g"),
    ("XGROUP", "DESTROY", "st2", "g"), ("XSETID", "st2", "5-0"),
]


def test_stream_commands_notify_as_redis(servers) -> None:
    got = same(servers, STREAMS)
    assert (b"__keyevent@0__:xgroup-createconsumer", b"st2") in got


def restore_pair(c: redis.Redis) -> None:
    c.rpush("src", "a", "b")
    payload = c.dump("src")
    c.restore("rk", 0, payload)
    c.restore("rk", 0, payload, replace=True)
    c.restore("rk", 1, payload, replace=True, absttl=True)
    c.restore("rk2", 1, payload, absttl=True)
    c.xadd("sx", {"f": "v"}, id="1-0")
    c.restore("rx", 0, c.dump("sx"))


OTHERS: list[Step] = [
    restore_pair,
    ("EVAL", "redis.call('set', KEYS[1], 'x'); return redis.call('incr', KEYS[2])", "2", "sk", "sn"),
    lambda c: c.pipeline(transaction=True).set("t1", "1").lpush("t2", "a").delete("t1").execute(),
]


def test_restore_scripts_and_transactions_notify_as_redis(servers) -> None:
    got = same(servers, OTHERS, "KEAn")
    assert (b"__keyevent@0__:restore", b"rk") in got


@pytest.mark.parametrize("classes", ["Kl", "E$g", "Kx", "En", "KEn", "Elz", "Kt", "Ag", "g", "K", ""])
def test_only_the_configured_classes_and_channels_are_published(servers, classes: str) -> None:
    steps = LISTS[:8] + STRINGS[:12] + ZSETS[:6] + STREAMS[:4] + [
        ("SET", "gone", "1", "PX", "20"), sleep(0.2), ("GET", "gone"),
    ]
    got = same(servers, steps, classes)
    if "K" not in classes and "E" not in classes:
        assert got == []


def test_config_get_set_and_errors_as_redis(servers) -> None:
    for port in servers:
        c = redis.Redis(port=port)
        try:
            shown = []
            for given in ["KEA", "Ex", "", "gK", "AKEmn", "nK", "g$lshzxetdKE"]:
                c.config_set("notify-keyspace-events", given)
                shown.append(c.config_get("notify-keyspace-events")["notify-keyspace-events"])
            with pytest.raises(redis.ResponseError) as e:
                c.config_set("notify-keyspace-events", "KEZ")
            shown.append(str(e.value))
            shown.append(c.config_get("notify-keyspace-events")["notify-keyspace-events"])
        finally:
            c.config_set("notify-keyspace-events", "")
            c.close()
        if port == servers[0]:
            ours = shown
        else:
            assert ours == shown
    assert ours[:7] == ["AKE", "xE", "", "gK", "AKEm", "nK", "AKE"]


def test_the_setting_is_read_from_the_command_line_and_kept_by_config_rewrite(tmp_path) -> None:
    conf = tmp_path / "fincaskv.toml"
    conf.write_text('notify-keyspace-events = "Elg"\n')
    srv = start_server(tmp_path, "--conf", str(conf), "--notify-keyspace-events", "KEA")
    try:
        c = srv.client()
        assert c.config_get("notify-keyspace-events")["notify-keyspace-events"] == "AKE"
        ps = c.pubsub()
        ps.subscribe("__keyevent@0__:lpush")
        assert ps.get_message(timeout=10)["type"] == "subscribe"
        srv.client().lpush("k", "v")
        assert ps.get_message(timeout=10)["data"] == b"k"
        ps.close()
        assert c.config_rewrite()
        assert 'notify-keyspace-events = "AKE"' in conf.read_text()
    finally:
        srv.stop()
    conf.write_text('notify-keyspace-events = "KEZ"\n')
    with pytest.raises(RuntimeError, match="Invalid event class character"):
        start_server(tmp_path, "--conf", str(conf))


def test_every_cluster_node_publishes_the_events_of_what_it_applies(tmp_path) -> None:
    """Each node reports the entries it applies (as a Redis replica does):
    a write through the leader or a follower, and the leader's expiry of a
    key, reach the subscribers of every node, in the same order."""
    from test_cluster import leader_of, start_cluster, stop_all

    nodes, _ = start_cluster(tmp_path, 3, "--notify-keyspace-events", "KEA")
    subs = []
    try:
        leader = leader_of(nodes)
        assert leader is not None
        follower = next(n for n in nodes if n is not leader)
        for n in nodes:
            ps = n.client().pubsub()
            ps.psubscribe("__keyevent@*__:*")
            assert ps.get_message(timeout=10)["type"] == "psubscribe"
            subs.append(ps)
        leader.client().set("a", "1", ex=100)
        follower.client().rpush("l", "x", "y")
        leader.client().lpop("l", 2)
        follower.client().set("soon", "1", px=50)
        expected = [
            (b"__keyevent@0__:set", b"a"), (b"__keyevent@0__:expire", b"a"),
            (b"__keyevent@0__:rpush", b"l"), (b"__keyevent@0__:lpop", b"l"), (b"__keyevent@0__:del", b"l"),
            (b"__keyevent@0__:set", b"soon"), (b"__keyevent@0__:expire", b"soon"),
            (b"__keyevent@0__:expired", b"soon"),
        ]
        for ps in subs:
            got = []
            while len(got) < len(expected):
                m = ps.get_message(timeout=15)
                assert m is not None, f"only {got}"
                got.append((m["channel"], m["data"]))
            assert got == expected
    finally:
        for ps in subs:
            ps.close()
        stop_all(nodes)


READS: list[Step] = [
    ("SET", "a", "1"), ("HSET", "h", "f", "v"), ("SADD", "s1", "a"), ("ZADD", "z1", "1", "a"),
    ("RPUSH", "l", "b", "a"), ("XADD", "st", "1-0", "f", "v"), ("XGROUP", "CREATE", "st", "g", "0"),
    ("GET", "a"), ("GET", "nokey"), ("MGET", "a", "b", "c"), ("EXISTS", "a", "b"), ("TYPE", "a"),
    ("TYPE", "zz"), ("TTL", "a"), ("PTTL", "zz"), ("STRLEN", "a"), ("HGET", "h", "f"), ("HGETALL", "noh"),
    ("LRANGE", "l", "0", "-1"), ("SMEMBERS", "nos"), ("ZRANGE", "z1", "0", "-1"), ("ZSCORE", "z", "m"),
    ("DUMP", "a"), ("GETRANGE", "a", "0", "1"), ("LCS", "a", "b"), ("SINTER", "s1", "s2"),
    ("XRANGE", "st", "-", "+"), ("BITCOUNT", "a"), ("PFCOUNT", "p"), ("PFCOUNT", "p", "q"),
    ("GETSET", "a", "2"), ("GETDEL", "nokey"), ("GETEX", "a"), ("SET", "a", "3", "GET"),
    ("SUNIONSTORE", "d", "s1", "s2"), ("SDIFFSTORE", "d", "s1", "s2"), ("ZUNIONSTORE", "d", "2", "z1", "z2"),
    ("ZRANGESTORE", "d", "z1", "0", "-1"), ("ZUNION", "2", "z1", "z2"), ("SORT", "l", "ALPHA"),
    ("SORT_RO", "nol"), ("BITOP", "AND", "d", "a", "b"), ("PFMERGE", "p", "q", "r"), ("COPY", "a", "b"),
    ("COPY", "nokey", "b"), ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
    ("GEORADIUS", "g", "1", "1", "1", "km", "STORE", "d"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "st", ">"), ("HEXISTS", "h", "f"), ("SISMEMBER", "s", "m"),
    ("LLEN", "l"), ("ZCARD", "z"), ("ZRANK", "z1", "a"), ("XLEN", "st"), ("GETBIT", "a", "1"),
    ("GEOPOS", "g", "m"), ("LPOS", "l", "a"), ("LINDEX", "l", "0"), ("SINTERCARD", "1", "s1"),
    ("ZCOUNT", "z", "0", "1"), ("HLEN", "h"), ("SMISMEMBER", "s1", "a"), ("ZMSCORE", "z1", "a"),
    ("HSTRLEN", "h", "f"), ("HKEYS", "h"), ("XREAD", "STREAMS", "st", "nost", "0", "0"),
    ("EVAL", "return redis.call('get', KEYS[1])", "1", "noval"),
    ("SET", "gone", "1", "PX", "20"), sleep(0.2), ("GET", "gone"),
]


def test_keymiss_events_and_the_hit_miss_counters_as_redis(servers) -> None:
    """`m` reports the keys a read found missing, as Redis's lookupKeyRead
    does; INFO's keyspace_hits / keyspace_misses / expired_keys count the
    same lookups (read commands, and the keys write commands read: GETSET,
    the sources of SUNIONSTORE, ...)."""
    got = same(servers, READS, "Em")
    assert (b"__keyevent@0__:keymiss", b"nokey") in got
    counters = []
    for port in servers:
        c = redis.Redis(port=port)
        try:
            c.flushall()
            c.config_resetstat()
            run(c, READS)
            stats = c.info("stats")
            counters.append({k: stats[k] for k in ("keyspace_hits", "keyspace_misses", "expired_keys")})
            c.config_resetstat()
            assert c.info("stats")["keyspace_hits"] == 0
        finally:
            c.close()
    assert counters[0] == counters[1]
    assert counters[0]["keyspace_misses"] > 10 and counters[0]["expired_keys"] == 1
