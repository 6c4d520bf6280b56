"""Bootstraps a 3-node FincasKV cluster on loopback, writes through one node
and reads from another, then kills the leader and keeps going.

    pip install '.[redis]'        # or: maturin develop
    python examples/cluster.py

Set FINCASKV_SERVER_BIN to use a particular fincaskv-server binary; by
default the wheel's own ``fincaskv-server`` runs the nodes.
"""

from __future__ import annotations

from fincaskv.cluster import LocalCluster


def main() -> None:
    with LocalCluster(3) as cluster:
        leader = cluster.wait_for_leader()
        print(f"leader: {leader.name} on port {leader.port}")
        for node in cluster.nodes:
            print(f"  {node}")

        writer, reader = cluster.client(0), cluster.client(2)
        assert writer.set("greeting", "hello from n1") is True
        # Reads are linearizable by default: n3 sees the write at once.
        print("n3 reads:", reader.get("greeting").decode())
        assert reader.get("greeting") == b"hello from n1"

        # Kill the leader: the others elect a new one and keep every write.
        cluster.kill(leader.index)
        new_leader = cluster.wait_for_leader()
        print(f"after kill -9 of {leader.name}: new leader {new_leader.name}")
        survivor = cluster.client(new_leader.index)
        assert survivor.get("greeting") == b"hello from n1"
        assert survivor.incr("visits") == 1

        # The killed node restarts from its own data dir and catches up.
        cluster.restart(leader.index)
        applied = int(new_leader.info()["raft_last_applied"])
        cluster.wait_for_applied(applied)
        assert cluster.client(leader.index).get("visits") == b"1"
        print(f"{leader.name} is back: {cluster.info()[leader.name]['raft_role']}")
    writer.close()
    reader.close()
    survivor.close()
    print("ok")


if __name__ == "__main__":
    main()
