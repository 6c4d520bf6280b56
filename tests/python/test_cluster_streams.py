"""Streams on a 3-node cluster: every stream write (XADD, XREADGROUP, XACK,
XCLAIM, XAUTOCLAIM, XGROUP, XTRIM, XDEL, XSETID) is a raft entry applied
with the leader's clock, so every node holds the same streams (DEBUG
DIGEST, XINFO STREAM FULL); a blocked XREADGROUP at a follower is served
through raft; a node that joins late gets the streams through a snapshot."""

from __future__ import annotations

import threading

import pytest

from server_harness import free_port, wait_for
from test_cluster import (
    info,
    leader_of,
    node,
    raft_info,
    start_cluster,
    stop_all,
    try_raft_info,
    wait_same_data,
)

pytestmark = pytest.mark.timeout(300)


def test_streams_with_groups_replicate_and_survive_a_snapshot(tmp_path):
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is not None
        follower = next(n for n in nodes if n is not leader)
        cl = leader.client(decode_responses=True)
        fl = follower.client(decode_responses=True)
        # Writes through both the leader and a follower (forwarded).
        for i in range(300):
            (cl if i % 2 else fl).xadd("s", {"f": str(i), "g": "v"}, maxlen=250 if i % 50 == 49 else None)
        cl.xadd("s2", {"a": "1"}, id="5-1")
        assert cl.xgroup_create("s", "g1", id="0") is True
        assert fl.xgroup_create("s", "g2", id="$") is True
        assert fl.xgroup_create("new", "g", id="$", mkstream=True) is True
        got = fl.xreadgroup("g1", "c1", {"s": ">"}, count=20)
        assert len(got[0][1]) == 20
        got = cl.xreadgroup("g1", "c2", {"s": ">"}, count=10, noack=True)
        assert len(got[0][1]) == 10
        ids = [e[0] for e in fl.xreadgroup("g1", "c1", {"s": "0"})[0][1]]
        assert fl.xack("s", "g1", *ids[:5]) == 5
        assert len(cl.xclaim("s", "g1", "c3", 0, ids[5:8])) == 3
        assert cl.xautoclaim("s", "g1", "c4", 0, "0-0", count=2)[1]
        assert fl.xdel("s", ids[10]) == 1
        assert fl.xtrim("s", maxlen=200, approximate=True) >= 0
        assert cl.xgroup_createconsumer("s", "g2", "cx") == 1
        assert cl.xgroup_delconsumer("s", "g1", "c4") >= 0
        assert cl.execute_command("XSETID", "s2", "9-9", "ENTRIESADDED", "10") == "OK"
        # A blocked XREADGROUP at a follower, served by an XADD at the leader.
        results: dict[str, object] = {}
        waiter = nodes[2].client(decode_responses=True) if nodes[2] is not leader else fl
        t = threading.Thread(
            target=lambda: results.__setitem__(
                "r", waiter.xreadgroup("g2", "w", {"s": ">"}, block=20000)
            )
        )
        t.start()
        wait_for(lambda: sum(int(info(n, "clients")["blocked_clients"]) for n in nodes) == 1, "a blocked client")
        new_id = cl.xadd("s", {"late": "1"})
        t.join(timeout=30)
        assert not t.is_alive()
        assert results["r"][0][1][0][0] == new_id  # type: ignore[index]
        wait_same_data(nodes)
        full = [n.client(decode_responses=True).xinfo_stream("s", full=True) for n in nodes]
        assert all(f == full[0] for f in full), full
        pend = [n.client(decode_responses=True).xpending("s", "g1") for n in nodes]
        assert all(p == pend[0] for p in pend)
        # A late joiner catches up through a snapshot.
        assert cl.execute_command("CLUSTER", "SNAPSHOT") == "OK"
        applied = int(raft_info(leader)["raft_last_applied"])
        wait_for(
            lambda: int(raft_info(leader)["raft_snapshot_index"]) >= applied
            and int(raft_info(leader)["raft_purged_index"]) >= applied,
            "the leader's snapshot and purge",
            timeout=120,
        )
        late = node(tmp_path, "late", free_port(), "--join", raft_info(leader)["raft_addr"])
        nodes.append(late)
        wait_for(lambda: try_raft_info(late).get("cluster_size") == "4", "the late node to join", timeout=120)
        cl.xadd("s", {"after": "join"})
        wait_same_data(nodes, timeout=120)
        lc = late.client(decode_responses=True)
        assert lc.xinfo_stream("s", full=True)["groups"] == cl.xinfo_stream("s", full=True)["groups"]
        assert lc.xrange("s2") == cl.xrange("s2")
    finally:
        stop_all(nodes)
