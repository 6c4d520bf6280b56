#!/usr/bin/env python3
"""Leader failover time of a 3-node cluster: SIGKILL the leader, then time
until the first write acknowledged by the survivors (a client retries a SET
against every surviving node in turn, as a client library would).

    FINCASKV_SERVER_BIN=target/release/fincaskv-server \\
        .venv/bin/python scripts/bench-failover.py [TRIALS] [ELECTION_MS [ELECTION_MAX_MS [HEARTBEAT_MS]]]

Prints each trial and the median / max (issue 5's target: median < 1 s,
max < 2 s; etcd 3.4 on this machine type: median 1.3 s, max 2.4 s).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import redis

from fincaskv.cluster import LocalCluster


def first_write_after_kill(cluster: LocalCluster, trial: int) -> float:
    leader = cluster.wait_for_leader()
    survivors = [n for n in cluster.nodes if n is not leader]
    clients = [redis.Redis(host=n.host, port=n.port, socket_timeout=1.0) for n in survivors]
    try:
        for c in clients:
            c.ping()
        cluster.kill(leader.index)
        start = time.monotonic()
        i = 0
        while True:
            try:
                if clients[i % len(clients)].set(f"failover-{trial}", trial) is True:
                    return time.monotonic() - start
            except redis.RedisError:
                pass
            i += 1
            time.sleep(0.01)
    finally:
        for c in clients:
            c.close()
        cluster.restart(leader.index)
        cluster.wait_for_agreement()


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    options = {}
    if len(sys.argv) > 2:
        ms = int(sys.argv[2])
        options = {"raft_election_timeout_ms": ms, "raft_heartbeat_ms": max(ms // 5, 1)}
    if len(sys.argv) > 3:
        options["raft_election_timeout_max_ms"] = int(sys.argv[3])
    if len(sys.argv) > 4:
        options["raft_heartbeat_ms"] = int(sys.argv[4])
    with tempfile.TemporaryDirectory() as base:
        with LocalCluster(3, base, fsync="always", **options) as cluster:
            times = []
            for t in range(trials):
                took = first_write_after_kill(cluster, t)
                times.append(took)
                print(f"trial {t + 1}: first acknowledged write {took * 1000:.0f} ms after kill -9 of the leader")
    print(
        f"failover over {trials} trials ({options or 'default timing'}): median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
