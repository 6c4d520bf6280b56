"""Hashes: differential against redis-server, persistence, random fields, asyncio scans."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Tuple

import redis

import fincaskv
import fincaskv.aio
from differential import Call, c, run_both

HASHES: List[Call] = [
    c("hset", "h", "f1", "v1"),
    c("hset", "h", mapping={"f2": "v2", "f3": 3}),
    c("hset", "h", items=["f4", "v4", "f1", "new"]),
    c("hget", "h", "f1"),
    c("hget", "h", "nope"),
    c("hgetall", "h"),
    c("hgetall", "nope"),
    c("hmget", "h", ["f1", "nope", "f2"]),
    c("hkeys", "h"),
    c("hvals", "h"),
    c("hlen", "h"),
    c("hexists", "h", "f1"),
    c("hexists", "h", "zz"),
    c("hsetnx", "h", "f1", "x"),
    c("hsetnx", "h", "f9", "x"),
    c("hincrby", "h", "f3", 10),
    c("hincrby", "h", "f1", 1),
    c("hincrbyfloat", "h", "fl", 2.5),
    c("hincrbyfloat", "h", "fl", "1e3"),
    c("hstrlen", "h", "f2"),
    c("hdel", "h", "f1", "f2", "nope"),
    c("hscan", "h", 0, count=100),
    c("hrandfield", "nope"),
    c("set", "s", "v"),
    c("hget", "s", "f"),
    c("hset", "s", "f", "v"),
]


def test_hashes(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, HASHES, unordered={"hkeys", "hvals"})
    db, r = both
    assert dict(db.hscan_iter("h")) == dict(r.hscan_iter("h"))




def test_hash_fields_survive_reopen(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        db.hset("h", mapping={"f": "1", "g": "2"})
        db.hdel("h", "g")
        db.hincrby("h", "n", 5)
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.hgetall("h") == {b"f": b"1", b"n": b"5"}


def test_hrandfield_shapes(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.hset("h", mapping={"f1": "v1", "f2": "v2"})
    assert db.hrandfield("h") in {b"f1", b"f2"}
    pairs = db.hrandfield("h", 2, withvalues=True)
    assert sorted(zip(pairs[::2], pairs[1::2])) == [(b"f1", b"v1"), (b"f2", b"v2")]
    assert len(db.hrandfield("h", -5)) == 5


def test_hash_async_scan(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            assert await db.hset("h", mapping={"a": 1}) == 1
            assert await db.hgetall("h") == {b"a": b"1"}
            assert [kv async for kv in db.hscan_iter("h")] == [(b"a", b"1")]

    asyncio.run(main())


def test_hash_decoded(tmp_path: Path, redis_server: int) -> None:
    r = redis.Redis(port=redis_server, decode_responses=True)
    r.flushall()
    with fincaskv.DB(tmp_path / "d", decode_responses=True) as db:
        run_both(
            db, r, [c("hset", "h", mapping={"f": "välue", "g": 1}), c("hgetall", "h"), c("hkeys", "h")], {"hkeys"}
        )
    r.close()
