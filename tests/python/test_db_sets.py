"""Sets: differential against redis-server, random members, persistence, asyncio scans."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Tuple

import redis

import fincaskv
import fincaskv.aio
from differential import Call, c, run_both

SETS: List[Call] = [
    c("sadd", "s1", "a", "b", "c", "d"),
    c("sadd", "s1", "a", "e"),
    c("sadd", "s2", "c", "d", "x"),
    c("smembers", "s1"),
    c("smembers", "nope"),
    c("scard", "s1"),
    c("sismember", "s1", "a"),
    c("sismember", "s1", "z"),
    c("smismember", "s1", ["a", "z", "c"]),
    c("srem", "s1", "e", "zz"),
    c("sinter", ["s1", "s2"]),
    c("sunion", "s1", "s2"),
    c("sdiff", ["s1", "s2"]),
    c("sinterstore", "si", ["s1", "s2"]),
    c("sunionstore", "su", ["s1", "s2"]),
    c("sdiffstore", "sd", ["s1", "s2"]),
    c("smembers", "sd"),
    c("sintercard", 2, ["s1", "s2"]),
    c("sintercard", 2, ["s1", "s2"], limit=1),
    c("smove", "s1", "s2", "a"),
    c("smove", "s1", "s2", "nope"),
    c("smembers", "s2"),
    c("spop", "nope"),
    c("srandmember", "nope"),
    c("sadd", "one", "only"),
    c("spop", "one"),
    c("exists", "one"),
    c("set", "str", "v"),
    c("sadd", "str", "x"),
    c("sinter", ["s1", "str"]),
]


def test_sets(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, SETS)
    db, r = both
    assert set(db.sscan_iter("s2")) == set(r.sscan_iter("s2"))




def test_random_members(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.sadd("s", "a", "b", "c")
    assert db.srandmember("s") in {b"a", b"b", b"c"}
    assert len(db.srandmember("s", 2)) == 2
    assert len(db.srandmember("s", -5)) == 5
    popped = db.spop("s", 2)
    assert len(popped) == 2 and set(popped) <= {b"a", b"b", b"c"}
    assert db.scard("s") == 1


def test_set_members_survive_reopen(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        db.sadd("s", "a", "b", "c")
        db.srem("s", "b")
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.smembers("s") == {b"a", b"c"}


def test_set_async_scan(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            await db.sadd("s", "x")
            assert [m async for m in db.sscan_iter("s")] == [b"x"]

    asyncio.run(main())
