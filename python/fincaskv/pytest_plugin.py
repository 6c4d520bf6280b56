"""The FincasKV pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

* ``fincaskv_db`` -- a fresh embedded :class:`fincaskv.DB` in a temporary
  directory, closed after the test.
* ``fincaskv_server`` -- a fresh in-process :class:`fincaskv.Server` on a free
  port of 127.0.0.1, stopped after the test; connect with
  ``redis.Redis(port=fincaskv_server.port)``.
* ``fincaskv_cluster`` -- a fresh 3-node :class:`fincaskv.cluster.LocalCluster`
  (server processes on free loopback ports, a leader elected), stopped after
  the test; ``fincaskv_cluster.client(i)``, ``.leader()``, ``.kill(i)``...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest


@pytest.fixture
def fincaskv_db(tmp_path: Path) -> Iterator[Any]:
    """An empty embedded database, closed after the test."""
    from fincaskv import DB

    db = DB(tmp_path / "fincaskv-db")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def fincaskv_server(tmp_path: Path) -> Iterator[Any]:
    """An empty in-process RESP server on a free port, stopped after the test."""
    from fincaskv import Server

    server = Server(tmp_path / "fincaskv-server", port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fincaskv_cluster(tmp_path: Path) -> Iterator[Any]:
    """A 3-node Raft cluster of server processes, stopped after the test."""
    from fincaskv.cluster import LocalCluster

    cluster = LocalCluster(3, tmp_path / "fincaskv-cluster")
    try:
        yield cluster
    finally:
        cluster.stop()
