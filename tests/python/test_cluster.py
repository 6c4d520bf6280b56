"""Raft cluster tests with real `fincaskv-server` processes on 127.0.0.1.

Each test starts its own nodes (free ports, fresh data dirs) and waits on
conditions (INFO raft fields), never on fixed sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from server_harness import Server, free_port, start_server, wait_for

pytestmark = pytest.mark.timeout(120)


def info(srv: Server, section: str) -> dict[str, str]:
    # A connection per call, closed at once: wait_for polls this every few
    # milliseconds, and kept connections would reach maxclients.
    c = redis.Redis(host="127.0.0.1", port=srv.port, socket_timeout=10, decode_responses=True)
    try:
        return {k: str(v) for k, v in c.info(section).items()}
    finally:
        c.close()


def raft_info(srv: Server) -> dict[str, str]:
    return info(srv, "raft")


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


def agreed_leader(nodes: list[Server]) -> Server | None:
    """The leader, once every node in `nodes` names it (a follower that
    still names a dead leader would forward to it and fail)."""
    leader = leader_of(nodes)
    if leader is None:
        return None
    name = try_raft_info(leader).get("raft_node_name")
    if all(try_raft_info(n).get("raft_leader") == name for n in nodes):
        return leader
    return None


def wait_for_agreed_leader(nodes: list[Server], what: str, timeout: float = 30) -> Server:
    """Waits until every node in `nodes` names the same live leader and
    returns it (a lone INFO that times out on a busy host reads as "no
    leader", so a leader seen once must not be looked up again)."""
    found: list[Server | None] = [None]

    def agreed() -> bool:
        found[0] = agreed_leader(nodes)
        return found[0] is not None

    wait_for(agreed, what, timeout=timeout)
    assert found[0] is not None
    return found[0]


def leader_and_follower(nodes: list[Server]) -> list[tuple[Server, str]]:
    """The leader and one follower, each with a tag for its keys."""
    leader = leader_of(nodes)
    assert leader is not None
    follower = next(n for n in nodes if n is not leader)
    return [(leader, "l"), (follower, "f")]


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
        wait_for_agreed_leader(survivors, "a new leader")
        # Both survivors counted the change (INFO raft -> Prometheus gauge).
        wait_for(
            lambda: all(int(raft_info(n)["raft_leader_changes_seen"]) > seen[i] for i, n in enumerate(survivors)),
            "the leader change to be counted",
        )
        new_leader = wait_for_agreed_leader(survivors, "the survivors to agree on the leader")
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
        # Pipelined writes go as one group: each still gets the error, in
        # its place, and the command after them runs.
        p = ca.pipeline(transaction=False)
        p.set("x", "2").incr("n").rpush("l", "a").ping()
        out = p.execute(raise_on_error=False)
        assert len(out) == 4 and out[3] is True
        for r in out[:3]:
            assert isinstance(r, redis.ResponseError), out
            assert isinstance(r, redis.exceptions.ClusterDownError) or str(r).startswith("TIMEOUT"), out
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


def start_cluster(tmp: Path, n: int, *extra: str) -> tuple[list[Server], list[int]]:
    """n nodes joined one by one through --join (node 0 forms the cluster)."""
    rports = [free_port() for _ in range(n)]
    nodes = [node(tmp, "n1", rports[0], *extra)]
    try:
        for i in range(1, n):
            nodes.append(node(tmp, f"n{i + 1}", rports[i], "--join", f"127.0.0.1:{rports[0]}", *extra))
            wait_for(lambda: raft_info(nodes[0]).get("cluster_size") == str(i + 1), f"n{i + 1} to join", timeout=30)
    except BaseException:
        # The caller never gets the nodes: stop them here, or they outlive
        # the test and hold their ports.
        stop_all(nodes)
        raise
    return nodes, rports


def stop_all(nodes: list[Server]) -> None:
    for n in nodes:
        if n.proc.poll() is None:
            n.stop()


def digest(srv: Server) -> str:
    c = redis.Redis(host="127.0.0.1", port=srv.port, socket_timeout=60, decode_responses=True)
    try:
        d = c.execute_command("DEBUG", "DIGEST")
    finally:
        c.close()
    assert isinstance(d, str) and len(d) == 40
    return d


def wait_same_data(nodes: list[Server], timeout: float = 30) -> str:
    """Waits until every node applied the leader's last entry and holds the
    same dataset; returns the digest."""
    leader = leader_of(nodes)
    assert leader is not None
    target = int(raft_info(leader)["raft_last_log_index"])
    for n in nodes:
        wait_for(
            lambda n=n: int(try_raft_info(n).get("raft_last_applied", "0")) >= target,
            "every node to apply the log",
            timeout=timeout,
        )
    digests = {digest(n) for n in nodes}
    assert len(digests) == 1, digests
    return digests.pop()


def test_role_and_wait(tmp_path):
    """ROLE and INFO replication show the leader as a master listing its
    followers and a follower as a slave of the leader; WAIT on the leader counts the
    followers holding every write acknowledged before it; WAIT on a
    follower is refused as on a Redis replica."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is nodes[0]
        c = leader.client(decode_responses=True)
        for i in range(50):
            c.set(f"k{i}", i)
        assert c.execute_command("WAIT", 2, 10000) == 2
        assert c.execute_command("WAIT", 0, 0) in (0, 1, 2)
        kind, offset, replicas = c.execute_command("ROLE")
        assert kind == "master" and offset >= 50
        assert sorted(int(port) for _host, port, _matched in replicas) == sorted(n.port for n in nodes[1:])
        for _host, _port, matched in replicas:
            assert int(matched) >= 50
        f = nodes[1].client(decode_responses=True)
        wait_for(lambda: f.execute_command("ROLE")[3] == "connected", "follower to know the leader's address")
        kind, host, port, state, applied = f.execute_command("ROLE")
        assert (kind, host, port, state) == ("slave", "127.0.0.1", leader.port, "connected")
        assert applied >= 50
        info = c.info("replication")
        assert info["role"] == "master" and info["connected_slaves"] == 2
        wait_for(
            lambda: sorted(c.info("replication")[f"slave{i}"]["port"] for i in range(2))
            == sorted(n.port for n in nodes[1:]),
            "the leader's INFO to list its followers' client ports",
        )
        assert all(c.info("replication")[f"slave{i}"]["offset"] >= 50 for i in range(2))
        wait_for(lambda: f.info("replication")["master_link_status"] == "up", "the follower's INFO to name the leader")
        info = f.info("replication")
        assert (info["role"], info["master_host"], info["master_port"]) == ("slave", "127.0.0.1", leader.port)
        assert info["slave_repl_offset"] >= 50
        with pytest.raises(redis.ResponseError, match="replica"):
            f.execute_command("WAIT", 1, 100)
        with pytest.raises(redis.ResponseError, match="timeout is negative"):
            c.execute_command("WAIT", 1, -1)
    finally:
        stop_all(nodes)


def test_blocking_pops_are_replicated(tmp_path):
    """BLPOP / BRPOPLPUSH / BLMOVE block on any node; the push that serves
    them and the pop itself are raft entries, so every node ends with the
    same lists and no element is served twice."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is nodes[0]
        follower = nodes[1]
        results: dict[str, object] = {}

        def block(name: str, srv: Server, *cmd: str) -> threading.Thread:
            c = srv.client(decode_responses=True)
            t = threading.Thread(target=lambda: results.__setitem__(name, c.execute_command(*cmd)))
            t.start()
            return t

        waiters = [
            block("at-follower", follower, "BLPOP", "q", "20"),
            block("at-leader", leader, "BLPOP", "q", "20"),
            block("move", nodes[2], "BLMOVE", "src", "dst", "LEFT", "RIGHT", "20"),
        ]
        wait_for(
            lambda: sum(int(info(n, "clients")["blocked_clients"]) for n in nodes) == 3,
            "three blocked clients",
        )
        cl = leader.client(decode_responses=True)
        assert cl.rpush("q", "a", "b", "c") == 3
        assert follower.client(decode_responses=True).rpush("src", "e1") == 1
        for t in waiters:
            t.join(timeout=30)
            assert not t.is_alive()
        popped = sorted([results["at-follower"][1], results["at-leader"][1]])  # type: ignore[index]
        assert [results["at-follower"][0], results["at-leader"][0]] == ["q", "q"]  # type: ignore[index]
        assert len(set(popped)) == 2 and set(popped) <= {"a", "b"}
        assert results["move"] == "e1"
        wait_same_data(nodes)
        for n in nodes:
            c = n.client(decode_responses=True)
            assert c.lrange("q", 0, -1) == ["c"]
            assert c.lrange("dst", 0, -1) == ["e1"]
            assert c.exists("src") == 0
        # Nothing to pop: the timeout's null reply, after the timeout.
        started = time.monotonic()
        assert follower.client(decode_responses=True).blpop(["empty"], timeout=1) is None
        assert time.monotonic() - started >= 0.9
    finally:
        stop_all(nodes)


def test_restore_replicates_with_one_deadline(tmp_path):
    """RESTORE at a follower is forwarded; its relative ttl becomes one
    deadline (normalised at the leader), so every node holds the same value
    and the same PEXPIRETIME (DEBUG DIGEST covers contents and deadlines)."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader, follower = nodes[0], nodes[1]
        cl, cf = leader.client(), follower.client()
        cl.rpush("l", *[f"e{i}" for i in range(300)])
        cl.zadd("z", {f"m{i}": i / 3 for i in range(200)})
        assert cf.restore("l2", 500_000, cl.dump("l")) == b"OK"
        assert cf.restore("z2", 0, cl.dump("z")) == b"OK"
        with pytest.raises(redis.ResponseError, match="^BUSYKEY"):
            cf.restore("l2", 0, cl.dump("l"))
        wait_same_data(nodes)
        deadlines = {n.client().pexpiretime("l2") for n in nodes}
        assert len(deadlines) == 1 and deadlines.pop() > 0
        for n in nodes:
            c = n.client()
            assert c.lrange("l2", 0, -1) == [f"e{i}".encode() for i in range(300)]
            assert c.zrange("z2", 0, -1, withscores=True) == cl.zrange("z", 0, -1, withscores=True)
            assert c.pexpiretime("z2") == -1
    finally:
        stop_all(nodes)


def test_local_read_mode_serves_stale_reads_without_a_quorum(tmp_path):
    """--cluster-read-mode local answers from the node's own state, even cut
    off from the cluster; CLUSTER READMODE switches back to linearizable,
    which then refuses to answer without a quorum."""
    nodes, _ = start_cluster(tmp_path, 3)
    local = node(tmp_path, "n4", free_port(), "--join", raft_info(nodes[0])["raft_addr"], "--cluster-read-mode", "local")
    nodes.append(local)
    try:
        wait_for(lambda: raft_info(nodes[0]).get("cluster_size") == "4", "n4 to join", timeout=30)
        cl = nodes[0].client(decode_responses=True)
        assert cl.set("k", "v1") is True
        wait_same_data(nodes)
        c4 = local.client(decode_responses=True)
        assert raft_info(local)["raft_read_mode"] == "local"
        assert c4.execute_command("CLUSTER", "READMODE") == "local"
        assert c4.get("k") == "v1"
        # Three of four voters gone: no quorum anywhere.
        for n in nodes[:3]:
            kill9(n)
        assert c4.get("k") == "v1"  # stale-capable, still served
        assert c4.dbsize() == 1
        with pytest.raises(redis.ResponseError):
            c4.set("k", "v2")  # writes still need the quorum
        assert c4.execute_command("CLUSTER", "READMODE", "linearizable") == "OK"
        with pytest.raises(redis.ResponseError):
            c4.get("k")
        with pytest.raises(redis.ResponseError, match="local or linearizable"):
            c4.execute_command("CLUSTER", "READMODE", "sometimes")
    finally:
        stop_all(nodes)


def test_pipelined_writes_keep_order_with_errors_and_reads(tmp_path):
    """A connection submits the writes of one read from its socket as one
    group; errors, reads and other commands in between keep their place,
    and a read sees the writes before it, on the leader and on a follower
    (which forwards the group)."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        for srv, tag in leader_and_follower(nodes):
            c = srv.client(decode_responses=True)
            p = c.pipeline(transaction=False)
            p.set(f"{tag}:a", "1")
            p.incr(f"{tag}:a")
            p.execute_command("SET", f"{tag}:b")  # wrong arity: rejected before submit
            p.get(f"{tag}:a")  # a read: waits for the writes before it
            p.rpush(f"{tag}:l", "x", "y")
            p.incr(f"{tag}:l")  # runs, fails at apply: WRONGTYPE
            p.execute_command("NOSUCHCOMMAND", "z")
            p.append(f"{tag}:a", "0")
            p.ping()
            p.lrange(f"{tag}:l", 0, -1)
            out = p.execute(raise_on_error=False)
            assert out[0] is True
            assert out[1] == 2
            assert isinstance(out[2], redis.ResponseError) and "wrong number of arguments" in str(out[2])
            assert out[3] == "2"
            assert out[4] == 2
            assert isinstance(out[5], redis.ResponseError) and str(out[5]).startswith("WRONGTYPE")
            assert isinstance(out[6], redis.ResponseError) and "unknown command" in str(out[6])
            assert out[7] == 2
            assert out[8] is True
            assert out[9] == ["x", "y"]
            assert c.get(f"{tag}:a") == "20"
            # A pipeline longer than one group (256 writes) and than the
            # in-flight limit (1024) still answers every write, in order.
            p = c.pipeline(transaction=False)
            for i in range(3000):
                p.rpush(f"{tag}:big", i)
            assert p.execute() == list(range(1, 3001))
            c.close()
        wait_same_data(nodes)
    finally:
        stop_all(nodes)


def test_pipelined_writes_take_the_clock_of_their_own_read(tmp_path):
    """The writes of one read share one clock reading: a later read from
    the same connection takes a new one (a TTL counts from it, not from an
    earlier pipeline's), and each write is still counted in
    commandstats."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is not None
        c = leader.client(decode_responses=True)
        calls = lambda: int(c.info("commandstats").get("cmdstat_set", {}).get("calls", 0))  # noqa: E731
        before = calls()
        p = c.pipeline(transaction=False)
        for i in range(10):
            p.set(f"t:{i}", i, ex=100)
        assert p.execute() == [True] * 10
        time.sleep(1.5)
        p = c.pipeline(transaction=False)
        p.set("t:late", "v", ex=100)
        p.pexpire("t:0", 100_000)
        p.pttl("t:late")
        p.pttl("t:0")
        p.pttl("t:9")
        out = p.execute()
        assert out[:2] == [True, True]
        # Both deadlines were set 100 s after the second pipeline's read.
        assert 99_000 <= out[2] <= 100_000, out
        assert 99_000 <= out[3] <= 100_000, out
        # The first pipeline's keys kept their own deadline.
        assert out[4] <= 98_700, out
        assert calls() - before == 11
        c.close()
    finally:
        stop_all(nodes)


def test_replicated_writes_reach_the_slow_log(tmp_path):
    """A write that goes through raft (at the leader, or forwarded by a
    follower) is logged by SLOWLOG like any other command, with its
    arguments, once its reply is back."""
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        for srv, tag in leader_and_follower(nodes):
            c = srv.client(decode_responses=True)
            c.config_set("slowlog-log-slower-than", 0)
            c.slowlog_reset()
            p = c.pipeline(transaction=False)
            p.set(f"{tag}:k", "v")
            p.incr(f"{tag}:n")
            p.rpush(f"{tag}:l", "x" * 200)
            p.execute()
            # redis-py leaves the joined arguments as bytes.
            logged = [bytes(e["command"]).decode().split(" ") for e in c.slowlog_get(128)]
            assert ["SET", f"{tag}:k", "v"] in logged, logged
            assert ["INCRBY", f"{tag}:n", "1"] in logged, logged
            # Redis keeps 128 bytes of an argument and says how many more.
            assert ["RPUSH", f"{tag}:l", "x" * 128 + "...", "(72", "more", "bytes)"] in logged, logged
            c.config_set("slowlog-log-slower-than", -1)
            c.slowlog_reset()
            c.set(f"{tag}:k", "w")
            assert c.slowlog_len() == 0
            c.close()
    finally:
        stop_all(nodes)


def test_five_nodes_survive_two_failures_and_converge(tmp_path):
    """5 voters: kill -9 of the leader and one follower leaves a quorum of 3
    that keeps serving; the two restart from their data and every node ends
    with the same dataset (DEBUG DIGEST)."""
    nodes, rports = start_cluster(tmp_path, 5)
    try:
        cl = nodes[0].client(decode_responses=True)
        p = cl.pipeline(transaction=False)
        for i in range(500):
            p.set(f"k{i}", i).rpush("log", i).hincrby("h", f"f{i % 7}", 1)
        # Pipelined writes are in flight together; replies keep their order.
        replies = p.execute()
        assert replies[0::3] == [True] * 500
        assert replies[1::3] == list(range(1, 501))
        assert replies[2::3] == [i // 7 + 1 for i in range(500)]
        first = wait_same_data(nodes)
        assert first != "0" * 40
        victims = [0, 3]
        saved = {i: (nodes[i].dir, nodes[i].port) for i in victims}
        for i in victims:
            kill9(nodes[i])
        alive = [n for i, n in enumerate(nodes) if i not in victims]
        wait_for(lambda: agreed_leader(alive) is not None, "a leader all 3 left know", timeout=30)
        c = alive[1].client(decode_responses=True)  # maybe a follower: forwards
        for i in range(500, 600):
            assert c.set(f"k{i}", i) is True
        assert c.rpush("log", "after") == 501
        for i in victims:
            data, port = saved[i]
            nodes[i] = node(tmp_path, f"n{i + 1}", rports[i], data=data, port=port)
        final = wait_same_data(nodes, timeout=60)
        assert final != first
        for n in nodes:
            cn = n.client(decode_responses=True)
            assert cn.get("k599") == "599"
            assert cn.llen("log") == 501
        assert all(raft_info(n)["cluster_size"] == "5" for n in nodes)
    finally:
        stop_all(nodes)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("default_keys", [20_000, 100_000])
def test_late_joiner_catches_up_through_a_snapshot(tmp_path, default_keys):
    """A node joining a cluster whose log was purged (CLUSTER SNAPSHOT)
    installs the leader's snapshot and then holds the same data. The key
    count is FINCASKV_LATE_JOINER_KEYS when set (1,000,000 in the benchmark
    run of the closing note), else 20,000 (one snapshot chunk, a short log:
    JOIN used to promote the learner before its transfer even began, which
    restarted the transfer) and 100,000 (several chunks)."""
    keys = int(os.environ.get("FINCASKV_LATE_JOINER_KEYS", default_keys))
    nodes, _ = start_cluster(tmp_path, 2)
    try:
        cl = nodes[0].client(decode_responses=True)
        batch = 2000
        for start in range(0, keys, batch):
            kv = {f"key:{i:08d}": f"value-{i}" for i in range(start, min(keys, start + batch))}
            assert cl.mset(kv) is True
        cl.sadd("set", *range(100))
        cl.zadd("z", {f"m{i}": i for i in range(100)})
        cl.set("ttl", "v", ex=3600)
        # Collections that grew and shrank: the joiner builds them from the
        # snapshot at another table capacity, and must still make the same
        # random picks as the others (SPOP is replicated as the command).
        members = [f"m{i}" for i in range(3000)]
        cl.sadd("bigs", *members)
        cl.hset("bigh", mapping={m: "v" for m in members})
        cl.zadd("bigz", {m: i for i, m in enumerate(members)})
        for key, rem in (("bigs", cl.srem), ("bigh", cl.hdel), ("bigz", cl.zrem)):
            assert rem(key, *members[500:]) == 2500
        assert cl.execute_command("CLUSTER", "SNAPSHOT") == "OK"
        applied = int(raft_info(nodes[0])["raft_last_applied"])

        def purged() -> bool:
            i = raft_info(nodes[0])
            return int(i["raft_snapshot_index"]) >= applied and int(i["raft_purged_index"]) >= applied

        wait_for(purged, "the leader's snapshot and purge", timeout=120)
        snap_index = int(raft_info(nodes[0])["raft_snapshot_index"])
        late = node(tmp_path, "late", free_port(), "--join", raft_info(nodes[0])["raft_addr"])
        nodes.append(late)
        wait_for(lambda: try_raft_info(late).get("cluster_size") == "3", "the late node to be a voter", timeout=300)
        assert int(raft_info(late)["raft_snapshot_index"]) >= snap_index
        assert cl.set("after-join", "1") is True
        wait_same_data(nodes, timeout=120)
        for _ in range(20):
            assert cl.spop("bigs") is not None
            assert len(cl.spop("bigs", 7)) == 7
        wait_same_data(nodes, timeout=120)
        c = late.client(decode_responses=True)
        assert c.scard("bigs") == 500 - 20 * 8
        assert c.dbsize() == keys + 7
        assert c.get(f"key:{keys - 1:08d}") == f"value-{keys - 1}"
        assert c.get("after-join") == "1"
        assert 0 < c.ttl("ttl") <= 3600
        log = (tmp_path / f"server-{late.port}.log").read_text(errors="replace")
        assert "snapshot installed" in log
        # One transfer: the leader waits for the install instead of timing
        # out and sending the whole snapshot again (which left the second
        # copy behind as a receive-*.tmp file).
        assert log.count("receiving a snapshot from the leader") == 1, log[-3000:]
        assert not list(late.dir.rglob("receive-*.tmp"))
    finally:
        stop_all(nodes)


def test_redirect_mode_sends_cluster_clients_to_the_leader(tmp_path):
    """--cluster-redirect: a follower answers a keyed command with -MOVED
    <slot> <leader> instead of forwarding it, CLUSTER SLOTS names the
    leader as the primary of every slot, and redis-cli -c and redis-py's
    RedisCluster follow both, across a failover too."""
    from redis.cluster import LoadBalancingStrategy, RedisCluster
    from redis.crc import key_slot

    nodes, _ = start_cluster(tmp_path, 3, "--cluster-redirect", "--raft-election-timeout-ms", "150")
    rc = None
    try:
        wait_for(
            lambda: agreed_leader(nodes) is not None and all(raft_info(n)["cluster_size"] == "3" for n in nodes),
            "every node to know the leader and the three voters",
            timeout=30,
        )
        leader = agreed_leader(nodes)
        assert leader is not None
        followers = [n for n in nodes if n is not leader]
        f = followers[0].client(decode_responses=True)
        assert raft_info(followers[0])["raft_redirect"] == "on"
        for cmd in (("SET", "foo", "bar"), ("GET", "foo"), ("HSET", "{tag}h", "f", "v"), ("BLPOP", "q", "0")):
            with pytest.raises(redis.exceptions.MovedError) as moved:
                f.execute_command(*cmd)
            assert moved.value.slot_id == key_slot(cmd[1].encode()), cmd
            assert (moved.value.host, moved.value.port) == ("127.0.0.1", leader.port), cmd
        # The leader runs them; keyless commands are forwarded as before.
        assert leader.client().set("foo", "bar") is True
        assert f.dbsize() == 1
        assert f.execute_command("CLUSTER", "KEYSLOT", "{tag}h") == key_slot(b"tag")
        assert f.execute_command("CLUSTER", "MYID") == raft_info(followers[0])["raft_node_name"]

        # Every node shows the same single shard: the leader, then the
        # other voters.
        def shard(srv: Server) -> list:
            c = redis.Redis(host="127.0.0.1", port=srv.port, decode_responses=True)
            try:
                return c.execute_command("CLUSTER", "SLOTS")
            finally:
                c.close()

        slots = shard(leader)
        assert [shard(n) for n in followers] == [slots, slots]
        assert len(slots) == 1 and slots[0][:2] == [0, 16383]
        members = [(m[0], int(m[1]), m[2]) for m in slots[0][2:]]
        names = {n.port: raft_info(n)["raft_node_name"] for n in nodes}
        assert members[0] == ("127.0.0.1", leader.port, names[leader.port])
        assert sorted(members[1:]) == sorted(("127.0.0.1", n.port, names[n.port]) for n in followers)

        # CLUSTER NODES in Redis's format: the leader masters every slot.
        lines = sorted(str(f.execute_command("CLUSTER", "NODES")).splitlines())
        term = raft_info(followers[0])["raft_term"]
        expected = []
        for n in sorted(nodes, key=lambda n: names[n.port]):
            me = "myself," if n is followers[0] else ""
            raft_port = raft_info(n)["raft_addr"].rsplit(":", 1)[1]
            if n is leader:
                tail = f"{me}master - 0 0 {term} connected 0-16383"
            else:
                tail = f"{me}slave {names[leader.port]} 0 0 {term} connected"
            expected.append(f"{names[n.port]} 127.0.0.1:{n.port}@{raft_port} {tail}")
        assert lines == expected
        # Redis's own cluster checker accepts it.
        check = subprocess.run(
            ["redis-cli", "--cluster", "check", f"127.0.0.1:{followers[1].port}"], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "All 16384 slots covered" in check.stdout
        assert info(followers[1], "cluster")["cluster_enabled"] == "1"

        # READONLY: this connection's reads run on the follower's own
        # state (possibly stale, as from a Redis Cluster replica); writes
        # still move; READWRITE (or RESET) ends it.
        ro = redis.Redis(host="127.0.0.1", port=followers[0].port, single_connection_client=True, decode_responses=True)
        try:
            assert ro.execute_command("READONLY") in (True, "OK")
            wait_for(lambda: ro.get("foo") == "bar", "the follower to apply foo")
            with pytest.raises(redis.exceptions.MovedError):
                ro.set("foo", "baz")
            assert ro.execute_command("READWRITE") in (True, "OK")
            with pytest.raises(redis.exceptions.MovedError):
                ro.get("foo")
        finally:
            ro.close()
        standalone = start_server(tmp_path)
        try:
            with pytest.raises(redis.ResponseError, match="cluster support disabled"):
                standalone.client().execute_command("READONLY")
        finally:
            standalone.stop()

        # redis-cli -c follows the redirect.
        def cli(srv: Server, *args: str) -> str:
            out = subprocess.run(["redis-cli", "-c", "-p", str(srv.port), *args], capture_output=True, text=True, timeout=30)
            return out.stdout.strip()

        assert cli(followers[1], "SET", "via-cli", "yes") == "OK"
        assert cli(followers[0], "GET", "via-cli") == "yes"

        # A cluster client started from a follower sends every keyed
        # command to the leader, and finds the next leader after a kill -9.
        rc = RedisCluster(host="127.0.0.1", port=followers[0].port, decode_responses=True)
        for i in range(100):
            assert rc.set(f"k{i}", str(i)) is True
        assert rc.get("k99") == "99"
        assert leader.client(decode_responses=True).get("k0") == "0"
        kill9(leader)
        deadline = time.monotonic() + 30
        while True:
            try:
                assert rc.set("after", "failover") is True
                break
            except (redis.RedisError, redis.exceptions.RedisClusterException) as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no write through RedisCluster after the failover: {e!r}") from e
                time.sleep(0.1)
        new_leader = leader_of(followers)
        assert new_leader is not None
        assert new_leader.client(decode_responses=True).get("after") == "failover"
        assert [rc.get(f"k{i}") for i in range(100)] == [str(i) for i in range(100)]

        # Once its cached address expires (5 s), the dead node shows as
        # failed, and asking for it costs one short timeout.
        time.sleep(5.2)
        started = time.monotonic()
        lines = str(new_leader.client(decode_responses=True).execute_command("CLUSTER", "NODES")).splitlines()
        assert time.monotonic() - started < 3
        dead = [line for line in lines if line.startswith(names[leader.port] + " ")]
        assert len(dead) == 1 and " :0@0 " in dead[0] and "fail?" in dead[0], lines

        # Reads from the replica (the other survivor): RedisCluster sends
        # it READONLY.
        rr = RedisCluster(
            host="127.0.0.1",
            port=new_leader.port,
            decode_responses=True,
            load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
        )
        replica = followers[1] if new_leader is followers[0] else followers[0]

        def gets(srv: Server) -> tuple[int, int]:
            c = redis.Redis(host="127.0.0.1", port=srv.port)
            try:
                stat = c.info("commandstats").get("cmdstat_get", {})
            finally:
                c.close()
            return int(stat.get("calls", 0)), int(stat.get("failed_calls", 0))

        before = gets(replica)
        try:
            wait_for(lambda: all(rr.get(f"k{i}") == str(i) for i in range(100)), "reads through the replicas")
        finally:
            rr.close()
        after = gets(replica)
        # Served there, not moved to the leader.
        assert after[0] - before[0] >= 100 and after[1] == before[1], (before, after)

        # Switched off, the follower forwards again.
        other = followers[1] if new_leader is followers[0] else followers[0]
        o = other.client(decode_responses=True)
        assert o.execute_command("CLUSTER", "REDIRECT", "off") == "OK"
        assert o.set("forwarded", "1") is True
        assert raft_info(other)["raft_redirect"] == "off"
        with pytest.raises(redis.ResponseError, match="takes on or off"):
            o.execute_command("CLUSTER", "REDIRECT", "sometimes")
    finally:
        if rc is not None:
            rc.close()
        stop_all(nodes)


def test_announced_client_address(tmp_path):
    """--cluster-announce-addr is the address CLUSTER SLOTS and -MOVED give
    for a node; a malformed one stops the server at startup."""
    rports = [free_port() for _ in range(2)]
    a = node(tmp_path, "n1", rports[0], "--cluster-announce-addr", "localhost:7777")
    b = node(tmp_path, "n2", rports[1], "--join", f"127.0.0.1:{rports[0]}", "--cluster-redirect")
    try:
        wait_for(lambda: raft_info(a).get("cluster_size") == "2", "n2 to join", timeout=30)
        wait_for(
            lambda: (raft_info(b).get("raft_leader"), raft_info(b).get("cluster_size")) == ("n1", "2"),
            "n2 to see itself voter and n1 leader",
            timeout=30,
        )
        cb = b.client(decode_responses=True)
        slots = cb.execute_command("CLUSTER", "SLOTS")
        assert [(m[0], int(m[1]), m[2]) for m in slots[0][2:]] == [("localhost", 7777, "n1"), ("127.0.0.1", b.port, "n2")]
        with pytest.raises(redis.exceptions.MovedError, match="localhost:7777"):
            cb.set("k", "v")
    finally:
        stop_all([a, b])
    from server_harness import server_bin

    for bad in ("7777", ":7777", "host:port"):
        out = subprocess.run(
            [server_bin(), "--port", str(free_port()), "--dir", str(tmp_path / "bad"), "--cluster-announce-addr", bad],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode != 0
        assert "--cluster-announce-addr takes HOST:PORT" in out.stderr + out.stdout


class StallingProxy:
    """A TCP proxy in front of a node's raft port (its `--raft-addr`; the
    node listens on `--raft-bind`). Every connection passes the peer
    handshake (the caller's first message, the node's answer); after it,
    what the caller sends waits until `stall_until` (time.monotonic()). So
    a connection check (handshake only) passes, and raft traffic to the
    node is held: it cannot catch up before then."""

    def __init__(self, listen_port: int, target_port: int):
        self.target_port = target_port
        self.stall_until = 0.0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                down.close()
                continue
            answered = threading.Event()
            threading.Thread(target=self._pipe, args=(down, up, answered, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, down, answered, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, answered: threading.Event, to_node: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not to_node:
                    # Before the answer goes out: the caller's next message
                    # can only follow it.
                    answered.set()
                elif answered.is_set():
                    while time.monotonic() < self.stall_until:
                        time.sleep(0.01)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()


def test_join_through_a_follower_outlasts_the_write_timeout(tmp_path):
    """CLUSTER JOIN sent to a follower is forwarded to the leader, which adds
    the node as a learner, waits until it caught up, then promotes it. Here
    the learner cannot catch up for 8 s (a proxy holds the raft traffic to
    it), longer than the write timeout (5 s): the follower must wait for
    the leader's answer and reply +OK. It used to give up after the write
    timeout and answer -TIMEOUT while the leader went on and promoted the
    node."""
    nodes, _ = start_cluster(tmp_path, 2)
    proxy_port, bind_port = free_port(), free_port()
    proxy = StallingProxy(proxy_port, bind_port)
    try:
        late = node(tmp_path, "late", proxy_port, "--raft-bind", f"127.0.0.1:{bind_port}")
        nodes.append(late)
        wait_for(lambda: agreed_leader(nodes[:2]) is not None, "the two voters to agree on a leader")
        leader = agreed_leader(nodes[:2])
        follower = next(n for n in nodes[:2] if n is not leader)
        c = redis.Redis(host="127.0.0.1", port=follower.port, socket_timeout=120, decode_responses=True)
        proxy.stall_until = time.monotonic() + 8
        started = time.monotonic()
        reply = c.execute_command("CLUSTER", "JOIN", "late", f"127.0.0.1:{proxy_port}")
        took = time.monotonic() - started
        c.close()
        assert reply == "OK"
        assert took > 6.5, f"the learner was not held back ({took:.1f} s): the test shows nothing"
        wait_for(lambda: try_raft_info(late).get("cluster_size") == "3", "the late node to see itself a voter")
        assert late.client().get("k") is None
        assert follower.client().set("k", "v") is True
        wait_same_data(nodes)
    finally:
        stop_all(nodes)
        proxy.close()


def test_join_of_a_peer_that_never_answers_is_an_error_not_a_hang(tmp_path):
    """JOIN first checks that the new member answers the peer handshake.
    A peer whose port accepts but that never answers (a stopped process)
    gets a clear error within the connect timeout (5 s), instead of a JOIN
    that hangs until the peer wakes; once it runs again, JOIN works."""
    nodes, _ = start_cluster(tmp_path, 1)
    rb = free_port()
    b = node(tmp_path, "b", rb)
    nodes.append(b)
    try:
        c = redis.Redis(host="127.0.0.1", port=nodes[0].port, socket_timeout=60, decode_responses=True)
        b.proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(redis.ResponseError, match="cannot reach.*handshake"):
                c.execute_command("CLUSTER", "JOIN", "b", f"127.0.0.1:{rb}")
            assert time.monotonic() - started < 30
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert c.execute_command("CLUSTER", "JOIN", "b", f"127.0.0.1:{rb}") == "OK"
        wait_for(lambda: try_raft_info(b).get("cluster_size") == "2", "b to see itself a voter")
        c.close()
    finally:
        stop_all(nodes)
