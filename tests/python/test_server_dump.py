"""DUMP / RESTORE with redis-py between the real binary and a real
redis-server 7.0: each restores the other's payloads to the same value."""

from __future__ import annotations

import pytest
import redis

from server_harness import server, r  # noqa: F401


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
