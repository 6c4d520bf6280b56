#!/usr/bin/env python3
"""A late joiner installing a big snapshot: a 2-node cluster is loaded with
SIZE_MB of string values (VALUE_BYTES each), snapshots and purges its log
(CLUSTER SNAPSHOT), then a third node joins and must catch up through the
snapshot. Prints the load, snapshot and install times, the joiner's peak
and final RSS, and checks that every node ends with the same DEBUG DIGEST.

    FINCASKV_SERVER_BIN=target/release/fincaskv-server \\
        .venv/bin/python scripts/bench-snapshot-install.py [SIZE_MB [VALUE_BYTES]]

1200 MB of 256 KiB values (the default) tests the size; 40 MB of 64-byte
values (~650k keys) tests the per-key work.

Until session 23 an install was ONE storage batch, capped at 1 GiB: with
SIZE_MB above ~1024 the joiner's raft stopped with a fatal storage error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from fincaskv.cluster import LocalCluster, _free_port, _server_command, cluster_info
from fincaskv.exceptions import Error as FincasError


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def wait(cond, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (redis.RedisError, OSError, FincasError):
            pass  # not listening yet
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
    value_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 256 * 1024
    count = size_mb * 2**20 // value_bytes
    per_round = max(16, min(1000, 2**20 // value_bytes))
    with tempfile.TemporaryDirectory(prefix="fincaskv-snapbench-") as tmp:
        # KEEP_DIR=path keeps the nodes' directories there for a look after.
        base = os.environ.get("KEEP_DIR") or tmp
        Path(base).mkdir(parents=True, exist_ok=True)
        with LocalCluster(2, base) as cluster:
            leader = cluster.wait_for_leader()
            c = leader.client(socket_timeout=600)
            t0 = time.monotonic()
            pipe = c.pipeline(transaction=False)
            for i in range(count):
                # Distinct bytes per key, so the digest covers every value.
                pipe.set(f"big:{i:08d}", (f"{i:08d}" * (value_bytes // 8 + 1))[:value_bytes])
                if i % per_round == per_round - 1:
                    pipe.execute()
            pipe.execute()
            load_s = time.monotonic() - t0
            # A writer on its own connection, timing each SET while the
            # snapshot is built: the worst one is the write stall.
            stop = threading.Event()
            worst = [0.0, 0, 0.0]

            def writer() -> None:
                w = leader.client(socket_timeout=600)
                while not stop.is_set():
                    t, at = time.monotonic(), time.time()
                    w.set("probe", worst[1])
                    if time.monotonic() - t > worst[0]:
                        worst[0], worst[2] = time.monotonic() - t, at
                    worst[1] += 1

            probe = threading.Thread(target=writer)
            probe.start()
            time.sleep(1.0)
            idle_worst, worst[0] = worst[0], 0.0
            t0 = time.monotonic()
            assert c.execute_command("CLUSTER", "SNAPSHOT") in (b"OK", "OK")
            applied = int(cluster_info(leader.address)["raft_last_applied"])

            def purged() -> bool:
                i = cluster_info(leader.address)
                return int(i["raft_snapshot_index"]) >= applied and int(i["raft_purged_index"]) >= applied

            wait(purged, "the leader's snapshot and purge", 1800)
            snap_s = time.monotonic() - t0
            stop.set()
            probe.join()

            port, raft_port = _free_port("127.0.0.1"), _free_port("127.0.0.1")
            data = Path(base) / "late"
            data.mkdir()
            log_path = Path(base) / "late.log"
            args = [
                *_server_command(None),
                "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
                "--node-id", "late", "--raft-addr", f"127.0.0.1:{raft_port}",
                "--cluster-secret", cluster.secret,
                "--join", leader.raft_addr,
            ]  # fmt: skip
            t0 = time.monotonic()
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                late = ("127.0.0.1", port)
                wait(lambda: cluster_info(late).get("cluster_size") == "3", "the joiner to be a voter", 3600)
                install_s = time.monotonic() - t0
                peak_mb = status_kb(proc.pid, "VmHWM") / 1024
                rss_mb = status_kb(proc.pid, "VmRSS") / 1024
                want = leader.execute("DEBUG", "DIGEST")
                lc = redis.Redis(host="127.0.0.1", port=port, socket_timeout=600)
                wait(lambda: lc.execute_command("DEBUG", "DIGEST") == want.encode(), "the joiner's data", 600)
                assert lc.dbsize() == count + 1  # and the probe key
                for n in cluster.nodes:
                    assert n.execute("DEBUG", "DIGEST") == want
                text = log_path.read_text(errors="replace")
                assert "snapshot installed" in text, text[-3000:]
                disk: dict[str, float] = {}
                for f in data.rglob("*"):
                    if f.is_file():
                        part = str(f.parent.relative_to(data)) or "."
                        disk[part] = disk.get(part, 0) + f.stat().st_blocks * 512 / 2**20
                print(f"data {size_mb} MB in {count} values of {value_bytes} bytes")
                print(f"load {load_s:.1f} s ({size_mb / load_s:.0f} MB/s), snapshot+purge {snap_s:.1f} s")
                print(
                    f"worst SET during the build {worst[0] * 1000:.0f} ms "
                    f"(in the second before: {idle_worst * 1000:.1f} ms), "
                    f"it started at {time.strftime('%H:%M:%S', time.gmtime(worst[2]))}.{int(worst[2] % 1 * 1000):03d}Z"
                )
                print(f"joiner: voter after {install_s:.1f} s, peak RSS {peak_mb:.0f} MB, RSS {rss_mb:.0f} MB, ")
                print("        disk: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(disk.items())))
                print("        digests equal on all 3 nodes")
            finally:
                proc.terminate()
                proc.wait(timeout=60)
                if os.environ.get("KEEP_LOG"):
                    print(log_path.read_text(errors="replace")[-5000:])


if __name__ == "__main__":
    main()
