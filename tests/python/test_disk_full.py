"""A full disk under the server and under the embedded DB.

A small tmpfs is mounted for each test (the suite runs as root, as CI does):
writes fail with a clear error and change nothing, reads keep working, and
once the file system is grown writes work again without a restart; after a
restart everything acknowledged is there and nothing refused is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, Iterator

import pytest
import redis

import fincaskv
from server_harness import start_server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def grow(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=32m", str(mnt)], check=True)


def fill(write, limit: int = 100_000) -> tuple[Dict[bytes, bytes], int, str]:
    """Writes k0, k1, ... until one is refused; returns what was acknowledged,
    the refused index and the error text."""
    acked: Dict[bytes, bytes] = {}
    for i in range(limit):
        key, value = b"k%d" % i, b"%06d" % i + b"v" * 500
        try:
            write(key, value)
        except (redis.ResponseError, fincaskv.ResponseError) as e:
            return acked, i, str(e)
        acked[key] = value
    raise AssertionError("the disk never filled")


def test_server_on_a_full_disk(small_disk: Path) -> None:
    srv = start_server(small_disk, "--fsync", "always")
    try:
        r = srv.client()
        acked, refused, err = fill(lambda k, v: r.set(k, v))
        assert err.startswith("persistence failed") and "space" in err.lower(), err
        # Reads work, the refused key is absent, an INCR on a refused write does not build on it.
        assert r.get(b"k%d" % refused) is None
        assert r.get(b"k0") == acked[b"k0"]
        assert r.dbsize() == len(acked)
        with pytest.raises(redis.ResponseError, match="space"):
            r.rpush("l", "x")
        assert r.exists("l") == 0
        assert r.ping() is True
        grow(small_disk)
        assert r.set("after", "space") is True
        assert r.rpush("l", "x") == 1
    finally:
        srv.stop()
    # Reopened (here by the embedded DB): everything acknowledged is there.
    with fincaskv.DB(srv.dir) as db:
        assert db.dbsize() == len(acked) + 2
        for key, value in acked.items():
            assert db.get(key) == value
        assert db.get(b"k%d" % refused) is None
        assert db.lrange("l", 0, -1) == [b"x"]


def test_embedded_db_on_a_full_disk(small_disk: Path) -> None:
    path = small_disk / "db"
    with fincaskv.DB(path, fsync="always") as db:
        acked, refused, err = fill(lambda k, v: db.set(k, v))
        assert "space" in err.lower(), err
        assert db.get(b"k%d" % refused) is None
        assert db.dbsize() == len(acked)
        grow(small_disk)
        assert db.set("after", "space") is True
    with fincaskv.DB(path) as db:
        assert db.dbsize() == len(acked) + 1
        for key, value in acked.items():
            assert db.get(key) == value
        assert db.get(b"k%d" % refused) is None
