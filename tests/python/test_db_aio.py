"""``fincaskv.aio``: the same API as awaitables."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import fincaskv
import fincaskv.aio


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_commands_are_awaitable(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            assert await db.set("k", "v") is True
            assert await db.get("k") == b"v"
            assert await db.incrbyfloat("f", 1.5) == 1.5
            assert await db.rpush("l", "a", "b") == 2
            assert await db.lrange("l", 0, -1) == [b"a", b"b"]
            assert await db.bf().create("bf", 0.01, 100) is True
            assert await db.bf().add("bf", "x") == 1
            assert await db.bf().exists("bf", "x") == 1
            assert sorted([k async for k in db.scan_iter()]) == [b"bf", b"f", b"k", b"l"]
            stats = await db.stats()
            assert stats["keys"] == 4
            await db.sync()
        assert db.closed

    run(main())


def test_errors_propagate(tmp_path: Path) -> None:
    async def main() -> None:
        db = await fincaskv.aio.DB.open(tmp_path / "db")
        await db.rpush("l", "x")
        with pytest.raises(fincaskv.WrongTypeError):
            await db.get("l")
        await db.aclose()
        with pytest.raises(fincaskv.ClosedError):
            await db.get("l")

    run(main())


def test_pipeline(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            async with db.pipeline() as pipe:
                pipe.set("a", 1).incr("a").get("a")
                assert await pipe.execute() == [True, 2, b"2"]

    run(main())


def test_blocking_pop_does_not_block_the_event_loop(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            waiter = asyncio.ensure_future(db.blpop("queue", timeout=30))
            await asyncio.sleep(0)  # the loop keeps running while the pop waits
            await db.rpush("queue", "job")
            assert await asyncio.wait_for(waiter, 60) == (b"queue", b"job")

    run(main())


def test_concurrent_tasks(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            await asyncio.gather(*(db.incr("n") for _ in range(200)))
            assert await db.get("n") == b"200"

    run(main())


def test_many_waiting_pops_do_not_starve_other_calls(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            waiters = [asyncio.ensure_future(db.blpop(f"q{i}", timeout=60)) for i in range(40)]
            await asyncio.sleep(0)
            for i in range(40):
                await db.rpush(f"q{i}", i)
            results = await asyncio.wait_for(asyncio.gather(*waiters), 120)
            assert sorted(results) == sorted((f"q{i}".encode(), str(i).encode()) for i in range(40))

    run(main())


def test_cancelled_pop_stops_waiting_and_takes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            waiter = asyncio.ensure_future(db.blpop("queue", timeout=0))
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            # Wait until the worker thread has noticed and ended.
            while any(t.name == "fincaskv-aio-blocking" for t in threading.enumerate()):
                await asyncio.sleep(0.01)
            await db.rpush("queue", "job")
            assert await db.lrange("queue", 0, -1) == [b"job"]

    run(main())


def test_commands_run_as_native_awaitables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain commands do not go through a worker thread: they are
    pyo3-async-runtimes futures, with redis-py's callbacks applied."""

    async def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plain command went to a worker thread")

    async def main() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            monkeypatch.setattr(fincaskv.aio, "_in_thread", no_threads)
            assert await db.set("k", "v", ex=100) is True
            assert await db.get("k") == b"v"
            assert await db.hset("h", mapping={"a": 1}) == 1
            assert await db.hgetall("h") == {b"a": b"1"}
            assert await db.zadd("z", {"m": 2.5}) == 1
            assert await db.zrange("z", 0, -1, withscores=True) == [(b"m", 2.5)]
            assert await db.execute_command("STRLEN", "k") == 1
            with pytest.raises(fincaskv.WrongTypeError):
                await db.lpush("h", "x")
            # Many at once on one loop.
            results = await asyncio.gather(*(db.incr("n") for _ in range(200)))
            assert sorted(results) == list(range(1, 201))
            monkeypatch.undo()

    run(main())
