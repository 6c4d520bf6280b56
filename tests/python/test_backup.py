"""Online backups: `DB.backup(dest)` and the server's `BACKUP <dest>`, taken
while writers run, restored by opening the copy / starting a server on it."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
import redis

import fincaskv
import fincaskv.aio
from server_harness import server_bin, start_server
from test_cluster import restart

pytestmark = pytest.mark.timeout(120)


def _fill(db: fincaskv.DB) -> None:
    db.set("s", "v")
    db.rpush("l", *range(100))
    db.hset("h", mapping={f"f{i}": i for i in range(100)})
    db.sadd("set", *range(100))
    db.zadd("z", {f"m{i}": i for i in range(100)})
    db.set("ttl", "x", ex=1000)
    for i in range(3000):
        db.set(f"k{i}", i)


def test_db_backup_under_concurrent_transactions(tmp_path: Path) -> None:
    db = fincaskv.DB(tmp_path / "db", max_file_size=64 * 1024)
    _fill(db)
    db.merge()  # sealed files with hints: they are hard-linked
    acked = [0]
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            p = db.pipeline(transaction=True)
            p.set("t:a", n).hset("t:h", "n", n).rpush("t:l", n).zadd("t:z", {"n": n})
            p.execute()
            acked[0] = n

    t = threading.Thread(target=writer)
    t.start()
    try:
        while acked[0] < 200:
            pass
        before = acked[0]
        report = db.backup(tmp_path / "copy")
    finally:
        stop.set()
        t.join()
    assert report["files_linked"] > 0 and report["files_copied"] >= 1 and report["bytes"] > 0
    db.close()

    with fincaskv.DB(tmp_path / "copy") as copy:
        n = int(copy.get("t:a"))
        assert n >= before, "a transaction acknowledged before the backup is missing"
        # MULTI/EXEC is all or nothing in the copy.
        assert int(copy.hget("t:h", "n")) == n
        assert copy.llen("t:l") == n and int(copy.lindex("t:l", -1)) == n
        assert copy.zscore("t:z", "n") == n
        assert copy.lrange("l", 0, -1) == [str(i).encode() for i in range(100)]
        assert copy.hlen("h") == 100 and copy.scard("set") == 100 and copy.zcard("z") == 100
        assert copy.get("k2999") == b"2999" and 0 < copy.ttl("ttl") <= 1000


def test_db_backup_errors(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "db") as db:
        db.set("k", "v")
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "x").write_text("x")
        with pytest.raises(fincaskv.DataError, match="not empty"):
            db.backup(busy)
        assert (busy / "x").read_text() == "x"
        db.backup(tmp_path / "ok")
    db2 = fincaskv.DB(tmp_path / "db2")
    db2.close()
    with pytest.raises(fincaskv.ClosedError):
        db2.backup(tmp_path / "closed")


def test_aio_backup(tmp_path: Path) -> None:
    import asyncio

    async def run() -> None:
        async with fincaskv.aio.DB(tmp_path / "db") as db:
            await db.set("k", "v")
            report = await db.backup(tmp_path / "copy")
            assert report["bytes"] > 0

    asyncio.run(run())
    with fincaskv.DB(tmp_path / "copy") as copy:
        assert copy.get("k") == b"v"


def test_server_backup_command_and_restore(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        r = srv.client()
        for i in range(1000):
            r.set(f"k{i}", i)
        r.rpush("l", "a", "b")
        before = r.lastsave()
        dest = tmp_path / "bk"
        assert r.execute_command("BACKUP", str(dest)) == b"OK"
        assert r.lastsave() >= before
        with pytest.raises(redis.ResponseError, match="not empty"):
            r.execute_command("BACKUP", str(dest))
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            r.execute_command("BACKUP")
        r.set("after", "backup")
    finally:
        srv.stop()
    # Restore: a server started on the backup serves the data as of BACKUP.
    out = subprocess.run([server_bin(), "check", str(dest)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK (1001 keys)" in out.stdout, out.stdout + out.stderr
    restored = restart(tmp_path, dest, None)
    try:
        c = restored.client()
        assert c.dbsize() == 1001
        assert c.get("k999") == b"999"
        assert c.lrange("l", 0, -1) == [b"a", b"b"]
        assert c.get("after") is None
    finally:
        restored.stop()
