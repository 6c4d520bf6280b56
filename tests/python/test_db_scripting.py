"""Lua scripting and DUMP / RESTORE through the embedded database, with
redis-py's method names, argument shapes and return types."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

import fincaskv
import fincaskv.aio

COUNTER = "return redis.call('incrby', KEYS[1], ARGV[1])"

# DUMP of `RPUSH l a b 1` from redis-server 7.0.15 (a quicklist of one
# listpack node): a payload made by Redis, not by us.
REDIS_LIST_PAYLOAD = (
    b"\x12\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x01\x01\xff"
    b"\n\x00\xe0\x1b\xabJG\xceY\""
)


@pytest.fixture()
def db(tmp_path):
    with fincaskv.DB(str(tmp_path / "db")) as d:
        yield d


def test_eval_runs_with_keys_and_args(db):
    assert db.eval(COUNTER, 1, "n", 5) == 5
    assert db.eval(COUNTER, 1, "n", 2) == 7
    assert db.get("n") == b"7"
    assert db.eval("return {KEYS[1], ARGV[1], ARGV[2]}", 1, "k", "a", b"\x00b") == [b"k", b"a", b"\x00b"]
    assert db.eval_ro("return redis.call('get', KEYS[1])", 1, "n") == b"7"


def test_a_read_only_script_cannot_write(db):
    with pytest.raises(fincaskv.ResponseError, match="Write commands are not allowed from read-only scripts"):
        db.eval_ro("return redis.call('set', KEYS[1], 'x')", 1, "k")
    assert db.get("k") is None


def test_script_load_exists_flush_and_evalsha(db):
    sha = db.script_load(COUNTER)
    assert sha == hashlib.sha1(COUNTER.encode()).hexdigest()
    assert isinstance(sha, str)
    assert db.script_exists(sha, "0" * 40) == [True, False]
    assert db.evalsha(sha, 1, "c", 3) == 3
    assert db.evalsha_ro(db.script_load("return 42"), 0) == 42
    assert db.script_flush() is True
    assert db.script_exists(sha) == [False]
    with pytest.raises(fincaskv.NoScriptError) as caught:
        db.evalsha(sha, 1, "c", 1)
    assert isinstance(caught.value, fincaskv.ResponseError)
    assert str(caught.value) == "No matching script. Please use EVAL."
    with pytest.raises(fincaskv.DataError):
        db.script_flush("LATER")


def test_register_script_loads_the_script_when_missing(db):
    counter = db.register_script(COUNTER)
    assert counter(keys=["hits"], args=[10]) == 10
    db.script_flush()
    assert counter(keys=["hits"], args=[1]) == 11
    assert db.script_exists(counter.sha) == [True]


def test_script_errors_are_response_errors(db):
    with pytest.raises(fincaskv.ResponseError, match="Error compiling script"):
        db.eval("return (", 0)
    db.set("s", "text")
    with pytest.raises(fincaskv.WrongTypeError):
        db.eval("return redis.call('lpush', KEYS[1], 'x')", 1, "s")


def test_script_commands_in_a_pipeline(db):
    sha = hashlib.sha1(COUNTER.encode()).hexdigest()
    pipe = db.pipeline()
    pipe.script_load(COUNTER)
    pipe.script_exists(sha)
    pipe.evalsha(sha, 1, "p", 4)
    pipe.eval(COUNTER, 1, "p", 1)
    assert pipe.execute() == [sha, [True], 4, 5]


def test_dump_and_restore_every_type(db):
    db.set("str", b"bytes\r\n\x00")
    db.rpush("list", "a", "b", "c")
    db.hset("hash", mapping={"f": "v", "g": "w"})
    db.sadd("set", "x", "y")
    db.zadd("zset", {"m": 1.5, "n": -2})
    for key in ["str", "list", "hash", "set", "zset"]:
        payload = db.dump(key)
        assert isinstance(payload, bytes)
        assert db.restore(key + ":copy", 0, payload) is not None
        assert db.type(key + ":copy") == db.type(key)
    assert db.get("str:copy") == b"bytes\r\n\x00"
    assert db.lrange("list:copy", 0, -1) == [b"a", b"b", b"c"]
    assert db.hgetall("hash:copy") == {b"f": b"v", b"g": b"w"}
    assert db.smembers("set:copy") == {b"x", b"y"}
    assert db.zrange("zset:copy", 0, -1, withscores=True) == [(b"n", -2.0), (b"m", 1.5)]
    assert db.dump("absent") is None


def test_restore_options_and_errors(db):
    db.set("k", "v")
    payload = db.dump("k")
    with pytest.raises(fincaskv.ResponseError, match="BUSYKEY Target key name already exists."):
        db.restore("k", 0, payload)
    db.restore("k", 0, db.dump("k"), replace=True)
    db.restore("t", 60_000, payload)
    assert 0 < db.pttl("t") <= 60_000
    db.restore("gone", 1, payload, absttl=True)
    assert db.exists("gone") == 0
    with pytest.raises(fincaskv.ResponseError, match="DUMP payload version or checksum are wrong"):
        db.restore("bad", 0, payload[:-1] + bytes([payload[-1] ^ 1]))
    with pytest.raises(fincaskv.ResponseError, match="Invalid TTL value, must be >= 0"):
        db.restore("neg", -1, payload)
    with pytest.raises(fincaskv.DataError):
        db.restore("idle", 0, payload, idletime="soon")
    db.restore("opts", 0, payload, idletime=10)
    assert db.get("opts") == b"v"


def test_restore_reads_a_payload_made_by_redis(db):
    db.restore("from-redis", 0, REDIS_LIST_PAYLOAD)
    assert db.lrange("from-redis", 0, -1) == [b"a", b"b", b"1"]


def test_async_register_script(tmp_path):
    async def run():
        adb = fincaskv.aio.DB(str(tmp_path / "adb"))
        try:
            counter = adb.register_script(COUNTER)
            first = await counter(keys=["a"], args=[2])
            await adb.script_flush()
            second = await counter(keys=["a"], args=[3])
            return first, second, await adb.eval("return ARGV[1]", 0, "x")
        finally:
            await adb.aclose()

    assert asyncio.run(run()) == (2, 5, b"x")
