"""Redis 7.0 Functions through the embedded database: ``function_load`` /
``function_delete`` / ``function_flush`` / ``function_list`` /
``function_dump`` / ``function_restore`` / ``function_stats`` /
``function_kill`` and ``fcall`` / ``fcall_ro``, with redis-py's names,
arguments and return shapes, compared with redis-py on a real
redis-server; sync, pipeline and asyncio; libraries survive a reopen."""

from __future__ import annotations

import asyncio

import pytest

import fincaskv
import fincaskv.aio
from differential import c, outcome

LIB = """#!lua name=mylib
redis.register_function{function_name='getk', callback=function(keys) return redis.call('get', keys[1]) end,
  flags={'no-writes'}, description='reads a key'}
redis.register_function('setk', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('echo', function(keys, args) return {keys, args} end)
"""
OTHER = "#!lua name=other\nredis.register_function('o', function() return 'o' end)"


def normalized(result):
    """A FUNCTION LIST outcome with its libraries and each one's functions
    sorted (Redis lists them in its dicts' order, FincasKV by name)."""
    if result[0] != "ok":
        return result
    for lib in result[1]:
        lib[lib.index(b"functions") + 1].sort(key=repr)
    return ("ok", sorted(result[1], key=repr))


@pytest.fixture()
def db(tmp_path):
    with fincaskv.DB(str(tmp_path / "db")) as d:
        yield d


def test_functions_match_redis(both):
    db, r = both
    r.function_flush()  # the session's reference server: libraries outlive FLUSHALL
    calls = [
        c("function_load", LIB),
        c("function_load", LIB),
        c("function_load", LIB, replace=True),
        c("function_load", "return 1"),
        c("function_load", "#!lua name=bad\nredis.register_function('x', 1)"),
        c("function_load", "#!lua name=dup\nredis.register_function('GETK', function() end)"),
        c("function_load", OTHER),
        c("fcall", "setk", 1, "k", "v"),
        c("fcall", "getk", 1, "k"),
        c("fcall_ro", "getk", 1, "k"),
        c("fcall_ro", "setk", 1, "k", "w"),
        c("fcall", "echo", 2, "a", "b", "c", 4),
        c("fcall", "nosuch", 0),
        c("fcall", "getk", 5, "k"),
        c("function_list"),
        c("function_list", "my*"),
        c("function_list", library="other", withcode=True),
        c("function_stats"),
        c("function_kill"),
        c("function_delete", "other"),
        c("function_delete", "other"),
        c("fcall", "o", 0),
        c("function_flush", "ASYNC"),
        c("function_list"),
        c("function_flush"),
        c("function_restore", b"bad payload"),
        c("function_restore", b"x", "NOPE"),
    ]
    for i, call in enumerate(calls):
        mine, theirs = outcome(db, call), outcome(r, call)
        if call[0] == "function_list":
            mine, theirs = normalized(mine), normalized(theirs)
        assert mine == theirs, f"call #{i} {call}: fincaskv={mine!r} redis={theirs!r}"


def test_payloads_cross_between_redis_and_the_db(both):
    db, r = both
    r.function_flush()
    r.function_load(LIB)
    theirs = r.function_dump()
    assert db.function_restore(theirs) is True
    assert db.fcall("setk", 1, "k", "v") == b"OK"
    assert db.fcall_ro("getk", 1, "k") == b"v"
    db.function_load(OTHER)
    ours = db.function_dump()
    assert isinstance(ours, bytes)
    assert r.function_restore(ours, "REPLACE") is True
    assert r.fcall("o", 0) == b"o"
    with pytest.raises(fincaskv.ResponseError, match="Library mylib already exists"):
        db.function_restore(theirs)
    assert db.function_restore(theirs, "FLUSH") is True
    assert [lib[1] for lib in db.function_list()] == [b"mylib"]
    r.function_flush()


def test_libraries_survive_reopen_and_flushall(tmp_path):
    path = str(tmp_path / "db")
    with fincaskv.DB(path, decode_responses=True) as db:
        assert db.function_load(LIB) == "mylib"
        assert db.fcall("setk", 1, "k", "v") == "OK"
        assert db.flushall() is True
        assert db.fcall("setk", 1, "k", "w") == "OK"
    with fincaskv.DB(path, decode_responses=True) as db:
        assert db.fcall_ro("getk", 1, "k") == "w"
        (lib,) = db.function_list(withcode=True)
        assert lib[:4] == ["library_name", "mylib", "engine", "LUA"]
        assert lib[-2:] == ["library_code", LIB]
        assert db.function_stats() == {
            "running_script": None,
            "engines": {"LUA": {"libraries_count": 1, "functions_count": 3}},
        }
        # The payload stays bytes with decode_responses (redis-py's NEVER_DECODE).
        payload = db.function_dump()
        assert isinstance(payload, bytes) and payload[0] == 0xF5
        assert isinstance(db.dump("k"), bytes)
        assert db.function_delete("mylib") is True
        assert db.function_restore(payload) is True
        assert db.function_delete("mylib") is True
    with fincaskv.DB(path) as db:
        assert db.function_list() == []
        with pytest.raises(fincaskv.ResponseError, match="Function not found"):
            db.fcall("getk", 1, "k")


def test_functions_in_a_pipeline(db):
    p = db.pipeline(transaction=True)
    p.function_load(LIB).fcall("setk", 1, "k", "v").fcall_ro("getk", 1, "k").function_delete("mylib")
    assert p.execute() == [b"mylib", b"OK", b"v", True]
    with pytest.raises(fincaskv.ResponseError, match="NOTBUSY"):
        db.function_kill()


def test_async_functions(tmp_path):
    async def main() -> None:
        db = await fincaskv.aio.DB.open(str(tmp_path / "db"))
        try:
            assert await db.function_load(LIB) == b"mylib"
            assert await db.fcall("setk", 1, "k", "v") == b"OK"
            assert await db.fcall_ro("getk", 1, "k") == b"v"
            payload = await db.function_dump()
            assert await db.function_flush() is True
            assert await db.function_list() == []
            assert await db.function_restore(payload) is True
            assert [lib[1] for lib in await db.function_list()] == [b"mylib"]
        finally:
            await db.close()

    asyncio.run(main())
