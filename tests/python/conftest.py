"""Shared pytest configuration for the FincasKV Python suite.

The ``fincaskv_db`` and ``fincaskv_server`` fixtures come from the package's
own pytest plugin (``fincaskv.pytest_plugin``, loaded through its ``pytest11``
entry point). This file adds a real ``redis-server`` (the reference for the
differential tests), started once per session on a free port.
"""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import redis
from hypothesis import settings

import fincaskv

# No example database on disk: runs are reproducible from the seed alone and
# leave no .hypothesis directory behind.
settings.register_profile("fincaskv", database=None, print_blob=True)
settings.load_profile("fincaskv")


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A client a test forgets to close is reported in that test.

    A redis-py client in a reference cycle is freed only by the cycle
    collector; without this its ResourceWarning surfaces at the end of the
    session, where it fails the run without naming the test that leaked it.
    """
    yield
    gc.collect()


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_redis(workdir: Path, *args: str) -> Tuple[subprocess.Popen, int]:
    """Starts a real redis-server (7.x) on a free port in `workdir`, extra
    `args` appended; returns the process and the port once it answers."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed (scripts/test.sh installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
    client.close()
    return proc, port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real redis-server (7.x) on a free port; yields the port."""
    proc, port = spawn_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def redis_client(redis_server: int) -> Iterator[redis.Redis]:
    """A redis-py client on the reference server, database flushed."""
    client = redis.Redis(port=redis_server)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def both(fincaskv_db: fincaskv.DB, redis_client: redis.Redis) -> Tuple[fincaskv.DB, redis.Redis]:
    """An empty ``fincaskv.DB`` and a client of an empty reference redis-server."""
    return fincaskv_db, redis_client
