"""Several threads sharing one ``DB``; blocking pops woken by other threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List

import fincaskv


def test_threads_share_one_db(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    n_threads, per_thread = 8, 500

    def work(t: int) -> int:
        for i in range(per_thread):
            db.incr("counter")
            db.set(f"t{t}:{i}", i)
            db.incrby(f"per-thread:{t}", 1)
            db.rpush("l", f"{t}:{i}")
            assert db.get(f"t{t}:{i}") == str(i).encode()
        return t

    with ThreadPoolExecutor(n_threads) as pool:
        assert sorted(pool.map(work, range(n_threads))) == list(range(n_threads))
    assert db.get("counter") == str(n_threads * per_thread).encode()
    assert db.mget([f"per-thread:{t}" for t in range(n_threads)]) == [str(per_thread).encode()] * n_threads
    assert sorted(db.lrange("l", 0, -1)) == sorted(f"{t}:{i}".encode() for t in range(n_threads) for i in range(per_thread))
    assert db.dbsize() == n_threads * per_thread + n_threads + 2


def test_blpop_is_woken_by_a_push_from_another_thread(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    got: List[object] = []
    waiting = threading.Event()

    def consumer() -> None:
        waiting.set()
        got.append(db.blpop(["q1", "q2"], timeout=0))

    t = threading.Thread(target=consumer)
    t.start()
    waiting.wait()
    db.rpush("q2", "job")
    t.join(timeout=60)
    assert not t.is_alive()
    assert got == [(b"q2", b"job")]


def test_blocking_pops_time_out_with_none(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    assert db.blpop("nope", timeout=0.05) is None
    assert db.brpop(["nope"], timeout=0.05) is None
    assert db.blmove("nope", "dst", 0.05) is None
    assert db.brpoplpush("nope", "dst", 0.05) is None


def test_brpop_and_blmove_get_data_pushed_later(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    results: List[object] = []
    ready = threading.Barrier(3)

    def zpop() -> None:
        ready.wait()
        results.append(db.brpop("z", timeout=30))

    def move() -> None:
        ready.wait()
        results.append(db.blmove("src", "dst", 30, "LEFT", "RIGHT"))

    threads = [threading.Thread(target=zpop), threading.Thread(target=move)]
    for t in threads:
        t.start()
    ready.wait()
    db.rpush("z", "a", "b")
    db.rpush("src", "item")
    for t in threads:
        t.join(timeout=60)
    assert sorted(results, key=repr) == sorted([(b"z", b"b"), b"item"], key=repr)
    assert db.lrange("dst", 0, -1) == [b"item"]


def test_close_while_other_threads_work_does_not_crash(tmp_path: object) -> None:
    db = fincaskv.DB(tmp_path / "db")  # type: ignore[operator]
    errors: List[BaseException] = []
    start = threading.Barrier(5)

    def hammer(t: int) -> None:
        start.wait()
        try:
            for i in range(100_000):
                db.set(f"{t}:{i}", "v")
        except fincaskv.ClosedError:
            return
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    start.wait()
    db.close()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert db.closed
