"""CI variant of scripts/torture.py: a few SIGKILL cycles of a loaded server
(every data type, MULTI/EXEC, merges), no acknowledged write lost, no
transaction half applied. The long run is `scripts/torture.py --cycles 100`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server_harness import server_bin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import torture  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_sigkill_cycles_lose_no_acknowledged_write(tmp_path: Path, fsync: str) -> None:
    figures = torture.torture(server_bin(), cycles=6, fsync=fsync, workers=3, seed=7, base=tmp_path, quiet=True)
    assert figures["cycles"] == 6
    # The load really ran: writes were acknowledged and then verified.
    assert figures["acked"] > 100
    assert figures["verified"] > 100


def test_the_checker_catches_a_lost_write(tmp_path: Path) -> None:
    """The model is not vacuous: a server missing an acknowledged write fails."""
    import redis

    srv = torture.Server(server_bin(), tmp_path / "d", "always", tmp_path / "log")
    srv.start()
    try:
        r = redis.Redis(port=srv.port)
        w = torture.Worker(0)
        for op in torture.OPS:
            w.apply(r, op, 1)
            w.acked[op] = 1
        assert w.verify(r) == len(torture.OPS)
        r.delete("w0:list")  # a "lost" acknowledged RPUSH
        with pytest.raises(AssertionError, match="rpush"):
            w.verify(r)
        r.set("w0:tx:s", 5)  # a half-applied transaction
        with pytest.raises(AssertionError, match="half applied"):
            w.observed(r)
        r.close()
    finally:
        srv.stop()
