"""Sorted sets: differential against redis-server, random members, blocking pops, persistence, asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Tuple

import redis

import fincaskv
import fincaskv.aio
from differential import Call, c, run_both

ZSETS: List[Call] = [
    c("zadd", "z", {"a": 1, "b": 2, "c": 3.5, "d": -1}),
    c("zadd", "z", {"a": 5}, nx=True),
    c("zadd", "z", {"a": 5}, xx=True, ch=True),
    c("zadd", "z", {"b": 1}, gt=True, ch=True),
    c("zadd", "z", {"b": 10}, incr=True),
    c("zadd", "z", {"new": 1}, xx=True, incr=True),
    c("zscore", "z", "b"),
    c("zscore", "z", "nope"),
    c("zmscore", "z", ["a", "nope", "c"]),
    c("zcard", "z"),
    c("zcount", "z", 0, 5),
    c("zcount", "z", "(1", "+inf"),
    c("zincrby", "z", 0.25, "c"),
    c("zrange", "z", 0, -1),
    c("zrange", "z", 0, -1, withscores=True),
    c("zrange", "z", 0, 1, desc=True, withscores=True),
    c("zrange", "z", "-inf", 4, byscore=True, withscores=True),
    c("zrange", "z", 0, 10, byscore=True, offset=1, num=2),
    c("zrange", "z", 0, -1, withscores=True, score_cast_func=int),
    c("zrevrange", "z", 0, -1, withscores=True),
    c("zrangebyscore", "z", 0, "+inf", withscores=True),
    c("zrangebyscore", "z", 0, "+inf", start=1, num=1),
    c("zrevrangebyscore", "z", "+inf", "-inf"),
    c("zrank", "z", "c"),
    c("zrank", "z", "nope"),
    c("zrevrank", "z", "c"),
    c("zadd", "lex", {"a": 0, "b": 0, "c": 0, "d": 0}),
    c("zrangebylex", "lex", "[b", "+"),
    c("zrevrangebylex", "lex", "+", "(b"),
    c("zrangebylex", "lex", "-", "+", start=1, num=2),
    c("zlexcount", "lex", "[a", "[c"),
    c("zremrangebylex", "lex", "[a", "[b"),
    c("zremrangebyrank", "lex", 0, 0),
    c("zrange", "lex", 0, -1),
    c("zadd", "z2", {"a": 10, "x": 1}),
    c("zunionstore", "zu", ["z", "z2"]),
    c("zrange", "zu", 0, -1, withscores=True),
    c("zinterstore", "zi", {"z": 2, "z2": 3}, aggregate="MAX"),
    c("zrange", "zi", 0, -1, withscores=True),
    c("zunion", ["z", "z2"], withscores=True),
    c("zinter", ["z", "z2"], aggregate="min", withscores=True),
    c("zintercard", 2, ["z", "z2"]),
    c("zintercard", 2, ["z", "z2"], limit=1),
    c("zdiff", ["z", "z2"]),
    c("zdiff", ["z", "z2"], withscores=True),
    c("zdiffstore", "zd", ["z", "z2"]),
    c("zrangestore", "zr", "z", 0, 1),
    c("zrange", "zr", 0, -1, withscores=True),
    c("zpopmin", "z"),
    c("zpopmax", "z", 2),
    c("zpopmin", "nope"),
    c("zmpop", 2, ["nope", "z"], min=True),
    c("zmpop", 2, ["nope", "z2"], max=True, count=5),
    c("bzpopmin", ["nope", "zu"], 1),
    c("bzpopmax", ["zu"], 1),
    c("zrem", "zu", "a", "nope"),
    c("zremrangebyscore", "zu", "-inf", "+inf"),
    c("zadd", "prec", {"m": 0.1}),
    c("zincrby", "prec", 0.2, "m"),
    c("zscore", "prec", "m"),
    c("zrange", "prec", 0, -1, withscores=True),
    c("zadd", "z", {"a": "notanumber"}),
    c("set", "str", "v"),
    c("zadd", "str", {"a": 1}),
    c("zrange", "nope", 0, -1, withscores=True),
]


def test_sorted_sets(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, ZSETS)




def test_zrandmember_shapes(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.zadd("z", {"m1": 1, "m2": 2})
    flat = db.zrandmember("z", 2, withscores=True)
    assert sorted(zip(flat[::2], flat[1::2])) == [(b"m1", b"1"), (b"m2", b"2")]
    assert db.zrandmember("z") in {b"m1", b"m2"}


def test_scores_survive_reopen(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        db.zadd("z", {"a": 1, "b": 2.5})
        db.zincrby("z", 1, "a")
        db.zrem("z", "b")
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.zrange("z", 0, -1, withscores=True) == [(b"a", 2.0)]


def test_bzpopmax_waits_for_a_zadd(fincaskv_db: fincaskv.DB) -> None:
    import threading

    db = fincaskv_db
    results: List[object] = []
    ready = threading.Event()

    def waiter() -> None:
        ready.set()
        results.append(db.bzpopmax("z", timeout=30))

    t = threading.Thread(target=waiter)
    t.start()
    ready.wait()
    db.zadd("z", {"a": 1, "b": 2})
    t.join(timeout=60)
    assert results == [(b"z", b"b", 2.0)]
    assert db.bzpopmin("nope", timeout=0.05) is None


def test_zset_async(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            assert await db.zadd("z", {"m": 2}) == 1
            assert await db.zrange("z", 0, -1, withscores=True) == [(b"m", 2.0)]
            assert [m async for m in db.zscan_iter("z")] == [(b"m", 2.0)]

    asyncio.run(main())


def test_zset_pipeline_matches_redis(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    results = []
    for client in both:
        pipe = client.pipeline(transaction=True)
        pipe.zadd("z", {"m": 2, "n": 1}).zrange("z", 0, -1, withscores=True).zpopmin("z").zscore("z", "m")
        results.append(pipe.execute())
    assert results[0] == results[1]
