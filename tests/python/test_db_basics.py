"""Opening, persistence, options, closing, locking, maintenance calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fincaskv





def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with fincaskv.DB(path) as db:
        db.set("s", "v")
        db.rpush("l", "a", "b")
        db.set("ttl", "x", ex=1000)
        db.select(3).set("in-db-3", "yes")
    assert db.closed
    with fincaskv.DB(path) as db:
        assert db.get("s") == b"v"
        assert db.lrange("l", 0, -1) == [b"a", b"b"]
        assert 0 < db.ttl("ttl") <= 1000
        assert db.get("in-db-3") is None
        assert db.select(3).get("in-db-3") == b"yes"


@pytest.mark.parametrize("index", ["hash", "btree", "skiplist"])
@pytest.mark.parametrize("fsync", ["always", "everysec", "no"])
def test_options_are_accepted(tmp_path: Path, index: str, fsync: str) -> None:
    with fincaskv.DB(tmp_path / "db", index=index, fsync=fsync, cache_size=1 << 20, databases=4) as db:
        db.set("k", "v")
        assert db.get("k") == b"v"
        assert db.select(3).set("x", 1) is True
        with pytest.raises(fincaskv.DataError):
            db.select(4)


def test_bad_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unknown option"):
        fincaskv.DB(tmp_path / "a", no_such_option=1)
    with pytest.raises(fincaskv.DataError, match="fsync"):
        fincaskv.DB(tmp_path / "b", fsync="sometimes")
    with pytest.raises(fincaskv.DataError, match="index"):
        fincaskv.DB(tmp_path / "c", index="trie")
    with pytest.raises(fincaskv.DataError):
        fincaskv.DB(tmp_path / "d", db=16)


def test_closed_database_raises_and_close_is_idempotent(tmp_path: Path) -> None:
    db = fincaskv.DB(tmp_path / "db")
    db.set("k", "v")
    db.close()
    db.close()
    assert db.closed
    for call in (lambda: db.get("k"), lambda: db.set("k", "v"), lambda: db.hgetall("h"), lambda: db["k"],
                 lambda: db.pipeline().set("a", 1).execute(), db.sync, db.merge, db.stats):
        with pytest.raises(fincaskv.ClosedError):
            call()
    assert isinstance(fincaskv.ClosedError("x"), fincaskv.ConnectionError)


def test_second_open_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db"):
        with pytest.raises(fincaskv.LockedError, match="locked"):
            fincaskv.DB(tmp_path / "db")
    # Released on close: opening again works.
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.ping() is True


def test_a_path_held_by_another_process_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, fincaskv
            db = fincaskv.DB({str(path)!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(fincaskv.LockedError) as info:
            fincaskv.DB(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value, OSError)
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()
    with fincaskv.DB(path) as db:
        db.set("after", "ok")


def test_merge_sync_stats(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        for i in range(200):
            db.set("k", f"value-{i}")
        db.set("other", "x")
        db.sync()
        before = db.stats()
        assert before["keys"] == 2
        assert before["databases"][0]["keys"] == 2
        assert before["dead_bytes"] > 0
        db.merge()
        after = db.stats()
        assert after["merges"] == before["merges"] + 1
        assert after["dead_bytes"] < before["dead_bytes"]
        assert db.get("k") == b"value-199"
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.get("k") == b"value-199"
        assert db.get("other") == b"x"


def test_ping_echo_time(fincaskv_db: fincaskv.DB) -> None:
    assert fincaskv_db.ping() is True
    assert fincaskv_db.echo("hi") == b"hi"
    seconds, micros = fincaskv_db.time()
    assert seconds > 1_600_000_000 and 0 <= micros < 1_000_000


def test_expired_keys_disappear(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.set("gone", "x", px=1)
    db.set("kept", "y")
    db.set("past", "z", pxat=1)
    assert db.get("past") is None
    # px=1 has passed once a later call sees a clock 2 ms on.
    import time

    deadline = time.monotonic() + 10
    while db.get("gone") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert db.exists("gone") == 0
    assert db.get("kept") == b"y"


def test_impossible_configuration_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(fincaskv.DataError):
        fincaskv.DB(tmp_path / "db", databases=100_000)


def test_set_bound_fast_path_takes_every_form(tmp_path: Path) -> None:
    # `db.set` is the native method bound to the instance; options go
    # through redis-py's full `set` and must behave exactly as it does.
    with fincaskv.DB(tmp_path / "db") as db:
        assert db.set("k", "v") is True
        assert db.set(name="k2", value=b"v2") is True
        assert db.get("k2") == b"v2"
        assert db.set("k", "w", nx=True) is None
        assert db.set("k", "w", None, None, False, True) is True  # positional xx
        assert db.set("k", "x", get=True) == b"w"
        assert db.set("t", "v", ex=100) is True
        assert 0 < db.ttl("t") <= 100
        assert db.set("t", "v2", keepttl=True) is True
        assert 0 < db.ttl("t") <= 100
        with pytest.raises(fincaskv.DataError):
            db.set("k", "v", ex=1, px=1)
        with pytest.raises(fincaskv.DataError):
            db.set("k", None)
        with pytest.raises(TypeError):
            db.set("k")
        big = b"x" * 100_000  # a pwrite-sized append: the GIL-released path
        assert db.set("big", big) is True
        assert db.get("big") == big
        setter = db.set
    with pytest.raises(fincaskv.Error):
        setter("k", "v")


def test_set_bound_to_a_collected_db_raises(tmp_path: Path) -> None:
    db = fincaskv.DB(tmp_path / "db")
    setter = db.set
    native = db._native
    del db
    import gc

    gc.collect()
    assert setter("k", "v") is True  # plain SET needs only the engine
    with pytest.raises(fincaskv.Error, match="no longer exists"):
        setter("k", "v", ex=10)
    native.close()
