"""DUMP / RESTORE with redis-py between the real binary and a real
redis-server 7.0: each restores the other's payloads to the same value.
Streams are built the same way on both servers: a stream built by XADD
(and XGROUP / XREADGROUP / XACK) dumps to Redis's payload byte for byte;
one with entries deleted inside a node (XDEL, an exact trim) dumps without
them (Redis keeps them flagged) and restores to the same stream."""

from __future__ import annotations

import random

import pytest
import redis

from server_harness import Server, server, r, start_server, wait_for  # noqa: F401


def _fill(c: redis.Redis) -> None:
    c.set("str", b"bin\r\n\x00" * 1000)
    c.set("int", 12345)
    c.rpush("list", *[f"e{i}" for i in range(300)], b"\x00\xff")
    c.hset("hash", mapping={f"f{i}": "v" * (i % 80) for i in range(200)})
    c.sadd("set", *range(600))
    c.zadd("zset", {f"m{i}": i / 7 for i in range(150)})


def _contents(c: redis.Redis, key: str) -> object:
    t = c.type(key)
    if t == b"string":
        return c.get(key)
    if t == b"list":
        return c.lrange(key, 0, -1)
    if t == b"hash":
        return sorted(c.hgetall(key).items())
    if t == b"set":
        return sorted(c.smembers(key))
    return c.zrange(key, 0, -1, withscores=True)


KEYS = ["str", "int", "list", "hash", "set", "zset"]


@pytest.mark.parametrize("direction", ["redis-to-fincaskv", "fincaskv-to-redis"])
def test_payloads_cross_both_ways(r, redis_client, direction):
    src, dst = (redis_client, r) if direction == "redis-to-fincaskv" else (r, redis_client)
    src.flushall()
    dst.flushall()
    _fill(src)
    for key in KEYS:
        assert dst.restore(key, 60_000, src.dump(key)) == b"OK"
        assert _contents(dst, key) == _contents(src, key), key
        assert 0 < dst.pttl(key) <= 60_000
        assert dst.object("encoding", key) == src.object("encoding", key), key


def test_restore_options_and_errors(r):
    r.set("k", "v")
    payload = r.dump("k")
    assert r.dump("missing") is None
    with pytest.raises(redis.exceptions.ResponseError, match="^BUSYKEY Target key name already exists.$"):
        r.restore("k", 0, payload)
    assert r.restore("k", 0, payload, replace=True, idletime=10) == b"OK"
    assert r.restore("f", 0, payload, frequency=5) == b"OK"
    with pytest.raises(redis.exceptions.ResponseError, match="^DUMP payload version or checksum are wrong$"):
        r.restore("x", 0, payload[:-1] + bytes([payload[-1] ^ 1]))
    with pytest.raises(redis.exceptions.ResponseError, match="^Invalid TTL value, must be >= 0$"):
        r.restore("x", -1, payload)
    # An absolute deadline in the past: OK, and no key.
    assert r.restore("x", 1, payload, absttl=True) == b"OK"
    assert r.exists("x") == 0
    r.execute_command("BF.ADD", "bf", "item")
    with pytest.raises(redis.exceptions.ResponseError, match="DUMP is not supported"):
        r.dump("bf")


def _build_streams(c: redis.Redis) -> None:
    """The same streams on either server (explicit ids: no clock)."""
    # Emptied by XDEL of every entry, and by XADD + XTRIM.
    c.xadd("x-emptied", {"a": "1"}, id="1-1")
    c.xadd("x-emptied", {"a": "2"}, id="1-2")
    c.xdel("x-emptied", "1-1", "1-2")
    c.xadd("x-trimmed", {"f": "v"}, id="5-0")
    c.xtrim("x-trimmed", maxlen=0)
    # Several nodes (100 entries / 4096 bytes a node), field sets other
    # than the master entry's, integer-looking fields and values, values
    # of every listpack string size, ids with sequence numbers.
    for i in range(1, 351):
        if i % 7 == 0:
            fields = {"other": i, "x": "y" * (i % 70)}
        elif i % 53 == 0:
            fields = {"big": "v" * (5000 + i)}
        elif i % 11 == 0:
            fields = {"field": "w" * (100 + i), "n": -i * 100_000_000_000}
        else:
            fields = {"field": f"value-{i}", "n": i * 1000 - 50_000}
        c.xadd("x-many", fields, id=f"{1000 + i // 3}-{i % 3}")
    # Consumer groups: pending entries of several consumers, an idle
    # consumer, acknowledged entries, an integer-looking group name, a
    # group made with ENTRIESREAD, names long enough to be compressed.
    for i in range(1, 41):
        c.xadd("x-groups", {"f": i, "payload": "p" * (i * 3)}, id=f"{i}-0")
    c.xgroup_create("x-groups", "grp", id="0")
    c.xgroup_create("x-groups", "77", id="$")
    c.execute_command("XGROUP", "CREATE", "x-groups", "late-readers-with-a-long-name", "10-0", "ENTRIESREAD", "10")
    c.xreadgroup("grp", "alice", {"x-groups": ">"}, count=5)
    c.xreadgroup("grp", "bob", {"x-groups": ">"}, count=3)
    c.xreadgroup("grp", "consumer-with-a-name-over-twenty-bytes", {"x-groups": ">"}, count=2)
    c.xreadgroup("late-readers-with-a-long-name", "12345", {"x-groups": ">"}, count=4)
    c.xack("x-groups", "grp", "2-0", "7-0")
    c.xgroup_createconsumer("x-groups", "grp", "idle")
    c.xclaim("x-groups", "grp", "bob", 0, ["1-0"])
    # Groups without consumers (no clock in the payload).
    for i in range(1, 6):
        c.xadd("x-groups-unread", {"f": i}, id=f"{i}-{i}")
    c.xgroup_create("x-groups-unread", "g1", id="0")
    c.xgroup_create("x-groups-unread", "-5", id="$")
    c.execute_command("XGROUP", "CREATE", "x-groups-unread", "g3", "3-3", "ENTRIESREAD", "3")
    # Deleted entries inside nodes (the master entry among them), an
    # exact trim of a partial node.
    for i in range(1, 131):
        c.xadd("x-deleted", {"a": i, "b": "x"}, id=f"{i}-0")
    c.xdel("x-deleted", "1-0", "50-0", "51-0", "130-0")
    c.xtrim("x-deleted", maxlen=110, approximate=False)
    c.xgroup_create("x-deleted", "g", id="0")
    c.xreadgroup("g", "c", {"x-deleted": ">"}, count=3)


STREAMS = ["x-emptied", "x-trimmed", "x-many", "x-groups", "x-groups-unread", "x-deleted"]
# Built by XADD, XGROUP, XREADGROUP, XACK, XCLAIM only: Redis's bytes (for
# x-groups once both hold the same delivery and seen times, i.e. after a
# RESTORE of one's payload on the other).
BYTE_IDENTICAL = ["x-emptied", "x-trimmed", "x-many", "x-groups", "x-groups-unread"]


def _stream_state(c: redis.Redis, key: str) -> object:
    """What a stream shows, without clock-dependent idle times and without
    radix-tree-nodes (rax inner nodes are not modelled)."""
    full = c.execute_command("XINFO", "STREAM", key, "FULL")
    full = {k: v for k, v in full.items() if k != b"radix-tree-nodes"}
    groups = [{k: v for k, v in g.items()} for g in c.xinfo_groups(key)]
    consumers = {}
    pending = {}
    for g in groups:
        name = g["name"]
        consumers[name] = [
            {k: v for k, v in cons.items() if k not in ("idle", "inactive")}
            for cons in c.xinfo_consumers(key, name)
        ]
        summary = c.xpending(key, name)
        detail = c.xpending_range(key, name, "-", "+", 1000)
        pending[name] = (summary, [(d["message_id"], d["consumer"], d["times_delivered"]) for d in detail])
    return full, groups, consumers, pending, c.xrange(key), c.xlen(key)


@pytest.fixture
def ours(server: Server) -> redis.Redis:
    return server.client()


def test_stream_payloads_are_redis_payloads(ours, redis_client):
    _build_streams(ours)
    _build_streams(redis_client)
    for key in BYTE_IDENTICAL:
        if key != "x-groups":
            assert ours.dump(key) == redis_client.dump(key), key
    # The deleted entries make the bytes differ; the stream is the same.
    assert ours.dump("x-deleted") != redis_client.dump("x-deleted")


def test_random_streams_dump_as_redis(ours, redis_client):
    """Random field counts, names and value sizes (so nodes close on the
    4096-byte limit at every possible size, and LZF sees every kind of
    listpack): the payloads are Redis's."""
    rnd = random.Random(11)
    for k in range(25):
        key = f"rand-{k}"
        for i in range(rnd.randint(1, 400)):
            fields = {}
            for _ in range(rnd.choice([1, 1, 2, 3])):
                name = rnd.choice(["a", "b", "c", "12", "field"])
                fields[name] = rnd.choice(["x" * rnd.randint(0, 200), str(rnd.randint(-10**12, 10**12)), "v"])
            entry_id = f"{i + 1}-{rnd.randint(0, 3)}"
            assert ours.xadd(key, fields, id=entry_id) == redis_client.xadd(key, fields, id=entry_id)
        assert ours.dump(key) == redis_client.dump(key), key
        # Then entries deleted inside nodes: each side restores the other's
        # payload to the same stream, and both go on alike.
        ids = [e[0] for e in redis_client.xrange(key)]
        gone = rnd.sample(ids, len(ids) // 3)
        assert ours.xdel(key, *gone) == redis_client.xdel(key, *gone)
        for src, dst in ((ours, redis_client), (redis_client, ours)):
            assert dst.restore(f"{key}-copy", 0, src.dump(key)) == b"OK"
            assert _stream_state(dst, f"{key}-copy") == _stream_state(src, key), key
            dst.xadd(f"{key}-copy", {"more": "x"}, id="9999-0")
        assert _stream_state(ours, f"{key}-copy") == _stream_state(redis_client, f"{key}-copy"), key


@pytest.mark.parametrize("direction", ["redis-to-fincaskv", "fincaskv-to-redis"])
def test_stream_payloads_restore_on_the_other_side(ours, redis_client, direction):
    src, dst = (redis_client, ours) if direction == "redis-to-fincaskv" else (ours, redis_client)
    _build_streams(src)
    # Redis checks our payloads deeply too (every listpack entry, every
    # PEL entry owned by a consumer).
    redis_client.config_set("sanitize-dump-payload", "yes")
    try:
        for key in STREAMS:
            assert dst.restore(key, 0, src.dump(key)) == b"OK", key
    finally:
        redis_client.config_set("sanitize-dump-payload", "no")
    dst.delete(*STREAMS)
    for key in STREAMS:
        payload = src.dump(key)
        assert dst.restore(key, 0, payload) == b"OK", key
        assert _stream_state(dst, key) == _stream_state(src, key), key
        if key in BYTE_IDENTICAL:
            assert dst.dump(key) == payload, key
    # Both go on alike: new entries land in the same nodes (the restored
    # tail node's size and counts are Redis's), groups read on.
    for c in (src, dst):
        for i in range(60):
            c.xadd("x-many", {"field": f"more-{i}", "n": i}, id=f"9000-{i}")
            c.xadd("x-deleted", {"a": i, "b": "x"}, id=f"9000-{i}")
        c.xreadgroup("grp", "alice", {"x-groups": ">"}, count=2)
        c.xack("x-groups", "grp", "3-0")
        c.xtrim("x-many", maxlen=150, approximate=True)
    for key in STREAMS:
        assert _stream_state(dst, key)[1:] == _stream_state(src, key)[1:], key
        assert ours.execute_command("XINFO", "STREAM", key)[b"radix-tree-keys"] == redis_client.execute_command(
            "XINFO", "STREAM", key)[b"radix-tree-keys"], key
    assert ours.dump("x-many") == redis_client.dump("x-many")


def test_restored_streams_survive_restart_and_merge(tmp_path, redis_client):
    _build_streams(redis_client)
    srv = start_server(tmp_path)
    try:
        c = srv.client()
        for key in STREAMS:
            assert c.restore(key, 0, redis_client.dump(key)) == b"OK"
        want = {key: (_stream_state(c, key), c.dump(key)) for key in STREAMS}
        srv.stop()
        srv = start_server(tmp_path, data=srv.dir)
        c = srv.client()
        assert {key: (_stream_state(c, key), c.dump(key)) for key in STREAMS} == want, "restart"
        assert c.bgrewriteaof()
        wait_for(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0, "merge")
        srv.stop()
        srv = start_server(tmp_path, data=srv.dir)
        c = srv.client()
        assert {key: (_stream_state(c, key), c.dump(key)) for key in STREAMS} == want, "merge + restart"
    finally:
        srv.stop()


def test_stream_restore_options(ours, redis_client):
    _build_streams(redis_client)
    payload = redis_client.dump("x-groups")
    ours.set("x", "occupied")
    with pytest.raises(redis.exceptions.ResponseError, match="^BUSYKEY Target key name already exists.$"):
        ours.restore("x", 0, payload)
    assert ours.restore("x", 0, payload, replace=True, idletime=5) == b"OK"
    assert ours.type("x") == b"stream"
    assert ours.restore("y", 0, payload, frequency=7) == b"OK"
    assert ours.restore("t", 50_000, payload) == b"OK"
    assert 0 < ours.pttl("t") <= 50_000
    assert ours.restore("past", 1, payload, absttl=True) == b"OK"
    assert ours.exists("past") == 0
    assert ours.restore("x", 0, redis_client.dump("x-many"), replace=True) == b"OK"
    assert ours.xinfo_groups("x") == []
    assert ours.xlen("x") == 350


def _crc64(data: bytes) -> int:
    """Redis's CRC64 (Jones polynomial, reflected, no final xor)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc


def _seal(body: bytes) -> bytes:
    """A DUMP payload of `body` (type byte and object): version 10, CRC64."""
    body += (10).to_bytes(2, "little")
    return body + _crc64(body).to_bytes(8, "little")


def test_corrupt_stream_payloads_are_bad_data_format(ours, redis_client):
    _build_streams(redis_client)
    rnd = random.Random(7)
    payload = redis_client.dump("x-groups")
    body = payload[:-10]
    checked = 0
    for _ in range(300):
        b = bytearray(body)
        if rnd.random() < 0.5:
            b = b[: rnd.randrange(1, len(b))]
        else:
            for _ in range(rnd.randint(1, 3)):
                b[rnd.randrange(1, len(b))] = rnd.randrange(256)
        mangled = _seal(bytes(b))
        ours_err = redis_err = None
        try:
            ours.restore("m", 0, mangled, replace=True)
        except redis.exceptions.ResponseError as e:
            ours_err = str(e)
        assert ours_err in (None, "Bad data format"), ours_err
        try:
            redis_client.restore("m", 0, mangled, replace=True)
        except redis.exceptions.ResponseError as e:
            redis_err = str(e)
        if redis_err == "Bad data format":
            # What Redis refuses, we refuse too (we may refuse more: a
            # pending entry without its consumer, inconsistent counts).
            assert ours_err == "Bad data format"
            checked += 1
    assert checked > 50
    assert ours.ping()
