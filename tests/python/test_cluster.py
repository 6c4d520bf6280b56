"""Raft cluster tests with real `fincaskv-server` processes on 127.0.0.1.

Each test starts its own nodes (free ports, fresh data dirs) and waits on
conditions (INFO raft fields), never on fixed sleeps.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from server_harness import Server, free_port, start_server, wait_for

pytestmark = pytest.mark.timeout(120)


def raft_info(srv: Server) -> dict[str, str]:
    return {k: str(v) for k, v in srv.client(decode_responses=True).info("raft").items()}


def try_raft_info(srv: Server) -> dict[str, str]:
    try:
        return raft_info(srv)
    except (redis.ConnectionError, redis.TimeoutError):
        return {}


def node(tmp: Path, name: str, raft_port: int, *extra: str, data: Path | None = None, port: int | None = None) -> Server:
    args = ["--node-id", name, "--raft-addr", f"127.0.0.1:{raft_port}", "--cluster-secret", "s3cret", *extra]
    if data is None:
        return start_server(tmp, *args)
    return restart(tmp, data, port, *args)


def restart(tmp: Path, data: Path, port: int | None, *args: str) -> Server:
    """Starts a server on an existing data dir (the harness makes a fresh one)."""
    from server_harness import server_bin

    port = port or free_port()
    log = open(tmp / f"server-{port}-restart.log", "wb")
    proc = subprocess.Popen(
        [server_bin(), "--port", str(port), "--dir", str(data), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = Server(port=port, dir=data, proc=proc, log=log, clients=[])

    def up() -> bool:
        try:
            return bool(srv.client().ping())
        except redis.ConnectionError:
            return False

    wait_for(up, "restarted server to listen", timeout=30)
    return srv


def leader_of(nodes: list[Server]) -> Server | None:
    for n in nodes:
        if n.proc.poll() is None and try_raft_info(n).get("raft_role") == "leader":
            return n
    return None


def kill9(srv: Server) -> None:
    for c in srv.clients:
        c.close()
    srv.clients.clear()
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    if srv.log is not None:
        srv.log.close()
        srv.log = None


def test_readme_flow(tmp_path):
    """CLUSTER INIT on both, CLUSTER JOIN on the first, write there, read on the second."""
    a = start_server(tmp_path)
    b = start_server(tmp_path)
    try:
        ra, rb = free_port(), free_port()
        ca, cb = a.client(decode_responses=True), b.client(decode_responses=True)
        assert ca.execute_command("CLUSTER", "INIT", "node1", f"127.0.0.1:{ra}") == "OK"
        assert cb.execute_command("CLUSTER", "INIT", "node2", f"127.0.0.1:{rb}") == "OK"
        # Before any JOIN there is no cluster: writes are refused, never +OK.
        # (redis-py maps a "-CLUSTERDOWN ..." reply to ClusterDownError.)
        with pytest.raises(redis.exceptions.ClusterDownError, match="not formed"):
            ca.set("early", "1")
        assert ca.execute_command("CLUSTER", "JOIN", "node2", f"127.0.0.1:{rb}") == "OK"
        assert ca.set("a", "bc") is True
        assert cb.get("a") == "bc"
        info = cb.execute_command("CLUSTER", "INFO")
        text = info if isinstance(info, str) else info.decode()
        assert "cluster_state:ok" in text
        assert "cluster_size:2" in text
        members = cb.execute_command("CLUSTER", "MEMBERS")
        assert len(members) == 2
        assert any("node1" in m and "leader" in m for m in members)
        # A write at the follower is forwarded to the leader.
        assert cb.set("b", "from-follower") is True
        assert ca.get("b") == "from-follower"
        assert cb.incr("n") == 1
        assert ca.incr("n") == 2
        # MULTI/EXEC is one entry.
        p = cb.pipeline(transaction=True)
        p.set("t1", "x").incr("n").get("t1")
        assert p.execute() == [True, 3, "x"]
        # Relative TTLs are replicated as deadlines.
        assert ca.set("ttl", "v", ex=100) is True
        assert 0 < cb.ttl("ttl") <= 100
        # Re-INIT with another identity is refused.
        with pytest.raises(redis.ResponseError, match="already"):
            ca.execute_command("CLUSTER", "INIT", "other", "127.0.0.1:1")
        assert raft_info(a)["raft_role"] == "leader"
        assert raft_info(b)["raft_leader"] == "node1"
        # LEAVE at the follower: the leader removes it; one voter remains.
        assert cb.execute_command("CLUSTER", "LEAVE") == "OK"
        wait_for(lambda: raft_info(a).get("cluster_size") == "1", "node2 to leave")
        assert ca.set("alone", "1") is True
        with pytest.raises(redis.ResponseError, match="no such member"):
            ca.execute_command("CLUSTER", "REMOVE", "ghost")
    finally:
        a.stop()
        b.stop()


def test_join_with_wrong_secret_is_refused(tmp_path):
    ra, rb = free_port(), free_port()
    a = node(tmp_path, "n1", ra)
    b = start_server(tmp_path, "--node-id", "n2", "--raft-addr", f"127.0.0.1:{rb}", "--cluster-secret", "other")
    try:
        with pytest.raises(redis.ResponseError, match="cannot reach"):
            a.client().execute_command("CLUSTER", "JOIN", "n2", f"127.0.0.1:{rb}")
        assert raft_info(a)["cluster_known_nodes"] == "0"
    finally:
        a.stop()
        b.stop()


def test_three_nodes_failover_and_restart(tmp_path):
    """--join at startup, kill -9 of the leader, a new leader serving,
    the old leader restarting from its persisted state and catching up."""
    rports = [free_port() for _ in range(3)]
    n1 = node(tmp_path, "n1", rports[0])
    n2 = node(tmp_path, "n2", rports[1], "--join", f"127.0.0.1:{rports[0]}")
    wait_for(lambda: raft_info(n1).get("cluster_size") == "2", "n2 to join", timeout=30)
    n3 = node(tmp_path, "n3", rports[2], "--join", f"127.0.0.1:{rports[0]}")
    nodes = [n1, n2, n3]
    try:
        wait_for(lambda: raft_info(n1).get("cluster_size") == "3", "n3 to join", timeout=30)
        c1 = n1.client(decode_responses=True)
        for i in range(50):
            assert c1.set(f"k{i}", str(i)) is True
        assert n3.client(decode_responses=True).get("k49") == "49"

        old_leader = leader_of(nodes)
        assert old_leader is n1
        seen = [int(raft_info(n)["raft_leader_changes_seen"]) for n in (n2, n3)]
        assert min(seen) >= 1
        data, port = n1.dir, n1.port
        kill9(n1)
        survivors = [n2, n3]
        wait_for(lambda: leader_of(survivors) is not None, "a new leader", timeout=30)
        new_leader = leader_of(survivors)
        # Both survivors counted the change (INFO raft -> Prometheus gauge).
        wait_for(
            lambda: all(int(raft_info(n)["raft_leader_changes_seen"]) > seen[i] for i, n in enumerate(survivors)),
            "the leader change to be counted",
        )
        other = n3 if new_leader is n2 else n2
        cl, co = new_leader.client(decode_responses=True), other.client(decode_responses=True)
        # Every write acknowledged before the crash is there.
        assert [cl.get(f"k{i}") for i in range(50)] == [str(i) for i in range(50)]
        assert cl.set("after", "failover") is True
        assert co.set("via-follower", "yes") is True
        assert co.get("after") == "failover"

        # n1 comes back on its old data dir: it rejoins from its log + state.
        n1 = node(tmp_path, "n1", rports[0], data=data, port=port)
        nodes = [n1, n2, n3]
        target = int(raft_info(new_leader)["raft_last_applied"])
        wait_for(
            lambda: int(try_raft_info(n1).get("raft_last_applied", "0")) >= target,
            "n1 to catch up",
            timeout=30,
        )
        c1 = n1.client(decode_responses=True)
        assert c1.get("after") == "failover"
        assert c1.get("via-follower") == "yes"
        assert c1.get("k0") == "0"
        assert c1.dbsize() == 52
        assert raft_info(n1)["cluster_size"] == "3"
    finally:
        for n in nodes:
            if n.proc.poll() is None:
                n.stop()


def test_no_quorum_is_a_timeout_not_ok(tmp_path):
    ra, rb = free_port(), free_port()
    a = node(tmp_path, "n1", ra)
    b = node(tmp_path, "n2", rb, "--join", f"127.0.0.1:{ra}")
    try:
        wait_for(lambda: raft_info(a).get("cluster_size") == "2", "n2 to join", timeout=30)
        ca = a.client(decode_responses=True)
        assert ca.set("x", "1") is True
        data, port = b.dir, b.port
        kill9(b)
        # Two voters, one left: no quorum. The write must not be acknowledged.
        with pytest.raises(redis.ResponseError) as err:
            ca.set("x", "2")
        assert isinstance(err.value, redis.exceptions.ClusterDownError) or str(err.value).startswith("TIMEOUT")
        b = node(tmp_path, "n2", rb, data=data, port=port)
        wait_for(lambda: leader_of([a, b]) is not None, "a leader again", timeout=30)
        leader = leader_of([a, b])
        assert leader is not None
        cl = leader.client(decode_responses=True)
        assert cl.set("x", "3") is True
        assert b.client(decode_responses=True).get("x") == "3"
    finally:
        a.stop()
        b.stop()


def test_cluster_commands_validate_names_and_addresses(tmp_path):
    srv = start_server(tmp_path)
    try:
        c = srv.client()
        for args in [("../../etc", "127.0.0.1:7000"), ("a b", "127.0.0.1:7000"), ("n1", "no-port"),
                     ("n1", "127.0.0.1:0")]:
            with pytest.raises(redis.ResponseError, match="invalid"):
                c.execute_command("CLUSTER", "INIT", *args)
        # Nothing was created for the refused names.
        assert not (srv.dir / "cluster" / "identity.json").exists()
    finally:
        srv.stop()
