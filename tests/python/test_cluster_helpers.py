"""fincaskv.cluster: LocalCluster, bootstrap, cluster_info, the
fincaskv_cluster fixture and examples/cluster.py, with real server processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from fincaskv.cluster import ClusterError, LocalCluster, bootstrap, cluster_info
from server_harness import free_port, start_server

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]


def test_fixture_gives_a_formed_three_node_cluster(fincaskv_cluster: LocalCluster) -> None:
    leader = fincaskv_cluster.leader()
    assert leader is not None
    infos = fincaskv_cluster.info()
    assert sorted(infos) == ["n1", "n2", "n3"]
    assert {i["cluster_size"] for i in infos.values()} == {"3"}
    assert {i["raft_leader"] for i in infos.values()} == {leader.name}
    assert [i["raft_role"] for i in infos.values()].count("leader") == 1
    # Write through one node, read from every other.
    clients = [fincaskv_cluster.client(i) for i in range(3)]
    try:
        assert clients[1].set("k", "v") is True
        for c in clients:
            assert c.get("k") == b"v"
    finally:
        for c in clients:
            c.close()


def test_kill_restart_pause_resume(tmp_path: Path) -> None:
    with LocalCluster(3, tmp_path / "c", fsync="always") as cluster:
        assert all(n.running for n in cluster.nodes)
        assert len({n.port for n in cluster.nodes} | {n.raft_port for n in cluster.nodes}) == 6
        leader = cluster.wait_for_leader()
        c = cluster.client(leader.index)
        for i in range(20):
            assert c.set(f"k{i}", i) is True
        c.close()

        cluster.kill(leader.index)
        assert not cluster.nodes[leader.index].running
        new = cluster.wait_for_leader()
        assert new is not leader
        cn = cluster.client(new.index)
        assert cn.mget([f"k{i}" for i in range(20)]) == [str(i).encode() for i in range(20)]
        assert cn.set("after", "kill") is True

        cluster.restart(leader.index)
        cluster.wait_for_applied(int(new.info()["raft_last_applied"]))
        back = cluster.client(leader.index)
        assert back.get("after") == b"kill"
        back.close()

        # A paused follower does not stop the majority; it catches up on resume.
        follower = next(n for n in cluster.nodes if n is not new)
        cluster.pause(follower.index)
        assert follower.paused and follower.running
        assert cn.set("while", "paused") is True
        cluster.resume(follower.index)
        cluster.wait_for_applied(int(new.info()["raft_last_applied"]))
        f = cluster.client(follower.index)
        assert f.get("while") == b"paused"
        f.close()
        cn.close()
    assert all(not n.running for n in cluster.nodes)


def test_cluster_client_follows_the_leader(tmp_path: Path) -> None:
    """cluster_redirect=True is a bare flag; cluster_client() is a
    RedisCluster that reaches the leader, before and after a kill."""
    with LocalCluster(3, tmp_path / "c", cluster_redirect=True, raft_election_timeout_ms=150) as cluster:
        leader = cluster.wait_for_leader()
        cluster.wait_for_agreement()
        assert {i["raft_redirect"] for i in cluster.info().values()} == {"on"}
        rc = cluster.cluster_client(decode_responses=True)
        try:
            assert rc.set("a", "1") is True
            assert rc.get_primaries()[0].port == leader.port
            cluster.kill(leader.index)
            new = cluster.wait_for_leader()
            cluster.wait_for_agreement()
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert rc.set("b", "2") is True
                    break
                except (redis.RedisError, redis.exceptions.RedisClusterException):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert rc.mget_nonatomic(["a", "b"]) == ["1", "2"]
            assert rc.get_primaries()[0].port == new.port
        finally:
            rc.close()


def test_bootstrap_turns_running_servers_into_a_cluster(tmp_path: Path) -> None:
    servers = [start_server(tmp_path) for _ in range(3)]
    try:
        addrs = [f"127.0.0.1:{s.port}" for s in servers]
        assert cluster_info(addrs[0])["cluster_state"] == "standalone"
        with pytest.raises(ClusterError, match="raft_addresses"):
            bootstrap(addrs)
        rafts = [f"127.0.0.1:{free_port()}" for _ in servers]
        info = bootstrap(addrs, rafts, names=["a", "b", "c"])
        assert info["cluster_size"] == "3"
        assert info["raft_leader"] in {"a", "b", "c"}
        r0 = redis.Redis(port=servers[0].port)
        r2 = redis.Redis(port=servers[2].port)
        assert r0.set("x", "1") is True
        assert r2.get("x") == b"1"
        r0.close()
        r2.close()
        # Bad arguments are errors, not hangs.
        with pytest.raises(ValueError):
            bootstrap(addrs, rafts[:1])
        with pytest.raises(ValueError):
            cluster_info("no-port")
    finally:
        for s in servers:
            s.stop()


def test_cluster_info_of_an_unreachable_node_is_a_connection_error() -> None:
    import fincaskv

    with pytest.raises(fincaskv.ConnectionError):
        cluster_info(("127.0.0.1", free_port()))


def test_a_node_that_cannot_start_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="exited"):
        LocalCluster(1, tmp_path / "bad", no_such_flag="1", timeout=20)


def test_example_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cluster.py")],
        capture_output=True,
        text=True,
        timeout=150,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "n3 reads: hello from n1" in proc.stdout
    assert proc.stdout.strip().endswith("ok")
