"""Pipelines (MULTI/EXEC), transactions and write batches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import fincaskv


def test_transaction_pipeline_returns_shaped_results(fincaskv_db: fincaskv.DB) -> None:
    pipe = fincaskv_db.pipeline()
    assert pipe.set("a", 1) is pipe
    pipe.incr("a").get("a").rpush("l", "x").lrange("l", 0, -1).incrbyfloat("f", 1.5)
    pipe.expire("a", 100).ttl("a").set("a", 5, nx=True)
    assert len(pipe) == 9
    assert pipe.execute() == [True, 2, b"2", 1, [b"x"], 1.5, True, 100, None]
    assert len(pipe) == 0
    assert pipe.execute() == []


def test_errors_in_a_transaction(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.rpush("list", "x")
    pipe = db.pipeline()
    pipe.set("a", "1").incr("list").get("a")
    with pytest.raises(fincaskv.WrongTypeError, match="Command # 2"):
        pipe.execute()
    # The other commands ran (Redis does not roll back at run-time errors).
    assert db.get("a") == b"1"
    pipe.set("b", "2").incr("list")
    results = pipe.execute(raise_on_error=False)
    assert results[0] is True
    assert isinstance(results[1], fincaskv.ResponseError)


def test_non_transaction_pipeline(fincaskv_db: fincaskv.DB) -> None:
    with fincaskv_db.pipeline(transaction=False) as pipe:
        pipe.set("a", 1).incr("a").ping()
        assert pipe.execute() == [True, 2, True]


def test_transaction_is_atomic_for_other_threads(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.mset({"x": 0, "y": 0})
    stop = threading.Event()
    torn = []

    def reader() -> None:
        while not stop.is_set():
            x, y = db.mget("x", "y")
            if x != y:
                torn.append((x, y))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(300):
            db.pipeline().incr("x").incr("y").execute()
    finally:
        stop.set()
        t.join()
    assert torn == []
    assert db.mget("x", "y") == [b"300", b"300"]


def test_transaction_helper(fincaskv_db: fincaskv.DB) -> None:
    def fill(pipe: fincaskv.Pipeline) -> str:
        pipe.set("k", "v").get("k")
        return "done"

    assert fincaskv_db.transaction(fill) == [True, b"v"]
    assert fincaskv_db.transaction(fill, value_from_callable=True) == "done"


def test_write_batch_commits_on_exit(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    with db.write_batch() as batch:
        batch.put("a", "1").put("b", "2")
        batch.set("c", "3").rpush("l", "v").delete("a")
        assert db.get("b") is None  # nothing applied yet
    assert db.mget("a", "b", "c") == [None, b"2", b"3"]
    assert db.lrange("l", 0, -1) == [b"v"]


def test_write_batch_discarded_on_exception(fincaskv_db: fincaskv.DB) -> None:
    with pytest.raises(RuntimeError):
        with fincaskv_db.write_batch() as batch:
            batch.put("a", "1")
            raise RuntimeError("boom")
    assert fincaskv_db.get("a") is None


def test_write_batch_reports_errors(fincaskv_db: fincaskv.DB) -> None:
    fincaskv_db.rpush("l", "x")
    batch = fincaskv_db.write_batch()
    batch.put("a", "1").incr("l")
    with pytest.raises(fincaskv.WrongTypeError):
        batch.commit()


def test_big_batch_survives_reopen(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        with db.write_batch() as batch:
            for i in range(20_000):
                batch.put(f"key:{i:08}", f"value:{i}")
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.dbsize() == 20_000
        assert db.get("key:00012345") == b"value:12345"


def test_watch_is_refused_clearly(fincaskv_db: fincaskv.DB) -> None:
    with pytest.raises(fincaskv.Error, match="WATCH"):
        fincaskv_db.pipeline().watch("k")
    with pytest.raises(fincaskv.Error, match="WATCH"):
        fincaskv_db.transaction(lambda pipe: None, "k")


def test_write_batch_keeps_the_order_of_puts_and_other_commands(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    with db.write_batch() as batch:
        batch.put("a", "1").delete("a").put("a", "2")
        batch.set("b", 1).incr("b").set("c", "x").expire("c", 100).put("c", "y")
        assert len(batch) == 8
    assert db.mget("a", "b", "c") == [b"2", b"2", b"y"]
    assert db.ttl("c") == -1  # the last put cleared the TTL, as SET does
