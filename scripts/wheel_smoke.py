"""Smoke test of an installed wheel, run by scripts/test.sh in a fresh venv
that holds only the wheel: the embedded DB, `python -m fincaskv`, and a
one-node LocalCluster whose node is the wheel's own console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fincaskv
from fincaskv.cluster import LocalCluster


def main(work: Path) -> None:
    with fincaskv.DB(work / "db") as db:
        db.set("k", "v")
        db.rpush("l", 1, 2, 3)
        assert db.get("k") == b"v"
        assert db.lrange("l", 0, -1) == [b"1", b"2", b"3"]
    with fincaskv.DB(work / "db") as db:
        assert db.get("k") == b"v", "value lost across reopen"
    out = subprocess.run([sys.executable, "-m", "fincaskv", "--version"], capture_output=True, text=True, check=True)
    assert fincaskv.__version__ in out.stdout, out.stdout
    with LocalCluster(1, work / "cluster") as cluster:
        node = cluster.wait_for_leader(voters=1)
        assert node.execute("SET", "a", "bc") == "OK"
        assert node.execute("GET", "a") == "bc"
    print(f"wheel smoke test ok (fincaskv {fincaskv.__version__})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
