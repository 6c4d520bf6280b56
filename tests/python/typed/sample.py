"""A program using the public API, type-checked with `mypy --strict` by
test_db_api.py: the stubs and inline types must be enough for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Dict, List, Optional

import fincaskv
import fincaskv.aio
from fincaskv.cluster import LocalCluster, Node, bootstrap, cluster_info


def embedded(path: Path) -> Optional[bytes]:
    with fincaskv.DB(path) as db:
        db.set("k", "v", ex=10)
        db.hset("h", mapping={"f": "1"})
        db["plain"] = b"x"
        n: int = len(db)
        assert n >= 3
        with db.pipeline(transaction=True) as p:
            p.incr("n").get("n")
            results: List[object] = p.execute()
        assert results
        value: Optional[bytes] = db.get("k")
        return value


async def asynchronous(path: Path) -> None:
    db = fincaskv.aio.DB(path)
    await db.set("k", "v")
    await db.aclose()


def served(path: Path) -> int:
    with fincaskv.Server(path, port=0) as server:
        port: int = server.port
        return port


def clustered(base: Path) -> Dict[str, str]:
    with LocalCluster(3, base) as cluster:
        leader: Optional[Node] = cluster.leader()
        assert leader is not None
        cluster.pause(0)
        cluster.resume(0)
        info: Dict[str, Dict[str, str]] = cluster.info()
        assert info
        return cluster_info(leader.address)


def bootstrapped(addresses: List[str], rafts: List[str]) -> str:
    return bootstrap(addresses, rafts)["cluster_size"]


if __name__ == "__main__":
    embedded(Path("/tmp/fincaskv-sample"))
    asyncio.run(asynchronous(Path("/tmp/fincaskv-sample-aio")))
