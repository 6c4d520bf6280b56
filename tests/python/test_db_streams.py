"""Streams in the embedded ``fincaskv.DB``: redis-py's methods and return
shapes, compared with redis-py on a real redis-server (explicit ids; idle
and delivery times compared by shape), persistence, asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, List, Tuple

import redis

import fincaskv
import fincaskv.aio
from differential import Call, c, run_both

STREAMS: List[Call] = [
    c("xadd", "s", {"a": 1, "b": "two"}, id="1-1"),
    c("xadd", "s", {"c": 3}, id="1-*"),
    c("xadd", "s", {"d": 4}, id="5-0"),
    c("xadd", "s", {"e": 5}, id="1-0"),
    c("xadd", "s", {}, id="9-0"),
    c("xadd", "s", {"f": 6}, id="6-0", maxlen=3, approximate=False),
    c("xadd", "s", {"f": 6}, id="7-0", maxlen=-1),
    c("xadd", "s", {"f": 6}, id="7-0", maxlen=3, minid="1"),
    c("xadd", "nos", {"f": 6}, nomkstream=True),
    c("xadd", "s", {"g": 7}, id="8-0", minid="2", approximate=False),
    c("xadd", "s", {"g": 7}, id="9-0", maxlen=100, limit=10),
    c("xlen", "s"),
    c("xlen", "nos"),
    c("xrange", "s"),
    c("xrange", "s", "-", "+", count=1),
    c("xrange", "s", "(5-0", "+"),
    c("xrange", "s", count=0),
    c("xrange", "nos"),
    c("xrevrange", "s"),
    c("xrevrange", "s", "+", "-", count=2),
    c("xrevrange", "s", count=-1),
    c("xdel", "s", "6-0", "99-0"),
    c("xtrim", "s", maxlen=10),
    c("xtrim", "s", maxlen=1, approximate=False),
    c("xtrim", "s"),
    c("xtrim", "s", maxlen=1, minid="1"),
    c("xtrim", "s", minid="0", approximate=False),
    c("xtrim", "s", maxlen=1, limit=5),
    c("xrange", "s"),
    c("xadd", "s", {"h": 8}, id="10-0"),
    c("xadd", "s", {"i": 9}, id="11-0"),
    c("xread", {"s": 0}),
    c("xread", {"s": "10-0", "nos": 0}, count=5),
    c("xread", {"s": "$"}),
    c("xread", {"s": 0}, count=0),
    c("xread", {}),
    c("xread", {"s": 0}, block=-1),
    c("xgroup_create", "s", "g", id="0"),
    c("xgroup_create", "s", "g", id="0"),
    c("xgroup_create", "nos", "g"),
    c("xgroup_create", "new", "g", id="$", mkstream=True),
    c("xgroup_create", "s", "g2", id="$", entries_read=3),
    c("xgroup_createconsumer", "s", "g", "c9"),
    c("xgroup_createconsumer", "s", "g", "c9"),
    c("xreadgroup", "g", "c1", {"s": ">"}, count=1),
    c("xreadgroup", "g", "c2", {"s": ">"}),
    c("xreadgroup", "g", "c2", {"s": ">"}),
    c("xreadgroup", "g", "c1", {"s": "0"}),
    c("xreadgroup", "g", "c1", {"s": "0"}, count=0),
    c("xreadgroup", "nog", "c1", {"s": ">"}),
    c("xreadgroup", "g2", "c1", {"s": ">"}, noack=True),
    c("xpending", "s", "g"),
    c("xpending", "s", "nog"),
    c("xpending_range", "s", "g", None, None, None),
    c("xpending_range", "s", "g", "-", "+", None),
    c("xpending_range", "s", "g", None, None, None, consumername="c1"),
    c("xack", "s", "g", "9-0", "10-0"),
    c("xack", "s", "g", "9-0"),
    c("xdel", "s", "11-0"),
    c("xreadgroup", "g", "c2", {"s": "0"}),
    c("xclaim", "s", "g", "c3", 0, ["11-0"], justid=True),
    c("xclaim", "s", "g", "c3", -1, ["11-0"]),
    c("xclaim", "s", "g", "c3", 0, []),
    c("xadd", "s", {"j": 10}, id="12-0"),
    c("xreadgroup", "g", "c2", {"s": ">"}),
    c("xclaim", "s", "g", "c3", 0, ["12-0"]),
    c("xclaim", "s", "g", "c3", 0, ["12-0"], justid=True, retrycount=5),
    c("xclaim", "s", "g", "c3", 0, ["12-0"], idle="x"),
    c("xclaim", "s", "g", "c3", 0, ["12-0"], force="yes"),
    c("xautoclaim", "s", "g", "c4", 0),
    c("xautoclaim", "s", "g", "c4", 0, "0-0", count=1, justid=True),
    c("xautoclaim", "s", "g", "c4", -1),
    c("xautoclaim", "s", "g", "c4", 0, count=-1),
    c("xautoclaim", "s", "nog", "c4", 0),
    c("xinfo_groups", "s"),
    c("xinfo_groups", "nos"),
    c("xinfo_stream", "s"),
    c("xinfo_stream", "new"),
    c("xinfo_stream", "nos"),
    c("xgroup_setid", "s", "g", "5-0"),
    c("xgroup_setid", "s", "g", "$", entries_read=2),
    c("xgroup_setid", "s", "nog", "0"),
    c("xinfo_groups", "s"),
    c("xgroup_delconsumer", "s", "g", "c4"),
    c("xgroup_delconsumer", "s", "g", "nobody"),
    c("xgroup_destroy", "s", "g2"),
    c("xgroup_destroy", "s", "g2"),
    c("xpending", "s", "g"),
    c("object", "encoding", "s"),
    c("object", "encoding", "nos"),
    c("type", "s"),
    c("set", "str", "x"),
    c("xadd", "str", {"a": 1}),
    c("xrange", "str"),
    c("xinfo_stream", "str"),
]


def test_stream_methods_match_redis_py(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, STREAMS)


def _timeless(result: Any) -> Any:
    """Idle / delivery / seen times (ints > 0 after a name) zeroed."""
    if isinstance(result, dict):
        return {k: (0 if k in ("time_since_delivered", "idle", "seen-time", b"seen-time") else _timeless(v))
                for k, v in result.items()}
    if isinstance(result, list):
        if len(result) in (3, 4) and isinstance(result[0], bytes) and all(isinstance(x, int) for x in result[-2:]):
            return result[:-2] + [0, result[-1]]
        return [_timeless(x) for x in result]
    return result


def test_time_dependent_shapes_match_redis_py(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    db, r = both
    for client in (db, r):
        client.xadd("s", {"a": 1}, id="1-0")
        client.xadd("s", {"b": 2}, id="2-0")
        client.xgroup_create("s", "g", id="0")
        client.xreadgroup("g", "c", {"s": ">"})
    calls = [
        ("xpending_range", ("s", "g", "-", "+", 10), {}),
        ("xpending_range", ("s", "g", "-", "+", 10), {"consumername": "c", "idle": 0}),
        ("xpending_range", ("s", "g", "-", "+", 10), {"idle": 100000000}),
        ("xinfo_consumers", ("s", "g"), {}),
        ("xinfo_stream", ("s",), {"full": True}),
    ]
    for method, args, kwargs in calls:
        mine = _timeless(getattr(db, method)(*args, **kwargs))
        theirs = _timeless(getattr(r, method)(*args, **kwargs))
        assert mine == theirs, (method, mine, theirs)
    # Auto ids: same shape.
    assert db.xadd("a", {"f": "v"}).count(b"-") == 1
    assert isinstance(db.object("refcount", "s"), int)


def test_streams_persist(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with fincaskv.DB(path) as db:
        db.xadd("s", {"a": 1}, id="1-0")
        db.xadd("s", {"b": 2}, id="2-0")
        db.xgroup_create("s", "g", id="0")
        db.xreadgroup("g", "c", {"s": ">"}, count=1)
        before = db.xinfo_stream("s", full=True)
        db.merge()
    with fincaskv.DB(path) as db:
        assert db.xinfo_stream("s", full=True) == before
        assert db.xpending("s", "g")["pending"] == 1


def test_streams_asyncio(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "adb") as db:
            assert await db.xadd("s", {"a": 1}, id="1-0") == b"1-0"
            assert await db.xrange("s") == [(b"1-0", {b"a": b"1"})]
            assert await db.xgroup_create("s", "g", id="0") is True
            got = await db.xreadgroup("g", "c", {"s": ">"})
            assert got == [[b"s", [(b"1-0", {b"a": b"1"})]]]
            assert await db.xack("s", "g", "1-0") == 1

    asyncio.run(main())
