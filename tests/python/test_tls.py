"""TLS (rustls) on the client port and on the raft transport, with Redis's
option names: redis-py ``ssl=True`` and ``redis-cli --tls`` talk to the
server; clients and peers without a certificate signed by the CA are refused.

The certificates come from scripts/gen-test-certs.sh (openssl), fresh per run.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import redis

import fincaskv
from fincaskv.cluster import LocalCluster
from fincaskv.exceptions import ResponseError as ClusterResponseError
from server_harness import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    out = tmp_path_factory.mktemp("tls")
    subprocess.run(["bash", str(ROOT / "scripts" / "gen-test-certs.sh"), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    names = ["ca.crt", "server.crt", "server.key", "client.crt", "client.key", "rogue-ca.crt",
             "rogue.crt", "rogue.key"]
    files = {n: str(out / n) for n in names}
    for f in files.values():
        assert Path(f).stat().st_size > 0
    return files


def tls_flags(certs: Dict[str, str], auth: str = "yes") -> List[str]:
    return ["--tls-cert-file", certs["server.crt"], "--tls-key-file", certs["server.key"],
            "--tls-ca-cert-file", certs["ca.crt"], "--tls-auth-clients", auth]


def tls_client(port: int, certs: Dict[str, str], cert: str = "client", **kw) -> redis.Redis:
    if cert:
        kw.update(ssl_certfile=certs[f"{cert}.crt"], ssl_keyfile=certs[f"{cert}.key"])
    return redis.Redis(port=port, ssl=True, ssl_ca_certs=certs["ca.crt"], socket_timeout=10, **kw)


@pytest.fixture
def tls_server(tmp_path: Path, certs: Dict[str, str]) -> Iterator:
    tls_port = free_port()
    srv = start_server(tmp_path, "--tls-port", str(tls_port), *tls_flags(certs))
    srv.tls_port = tls_port
    yield srv
    srv.stop()


def refused(port: int, certs: Dict[str, str], cert: str) -> bool:
    c = tls_client(port, certs, cert)
    try:
        c.ping()
        return False
    except (redis.ConnectionError, ssl.SSLError, OSError):
        return True
    finally:
        c.close()


def test_redis_py_over_tls(tls_server, certs: Dict[str, str]) -> None:
    c = tls_client(tls_server.tls_port, certs)
    plain = tls_server.client()
    try:
        assert c.set(b"k\x00\xff", b"v" * 10) is True
        assert plain.get(b"k\x00\xff") == b"v" * 10  # one keyspace behind both ports
        big = bytes(range(256)) * 8192  # 2 MiB: many TLS records each way
        assert c.set("big", big) is True
        assert c.get("big") == big
        pipe = c.pipeline(transaction=False)
        for i in range(2000):
            pipe.incr("n")
        assert pipe.execute() == list(range(1, 2001))
        with c.pipeline() as tx:  # MULTI/EXEC
            tx.rpush("l", "a", "b").lrange("l", 0, -1)
            assert tx.execute() == [2, [b"a", b"b"]]
        info = c.info("server")
        assert "redis_version" in info
    finally:
        c.close()
        plain.close()


def test_blocking_pop_and_pubsub_over_tls(tls_server, certs: Dict[str, str]) -> None:
    waiter = tls_client(tls_server.tls_port, certs)
    pusher = tls_client(tls_server.tls_port, certs)
    sub = tls_client(tls_server.tls_port, certs)
    try:
        got: list = []
        t = threading.Thread(target=lambda: got.append(waiter.blpop(["q"], timeout=10)))
        t.start()
        deadline = time.monotonic() + 10
        while int(pusher.info("clients")["blocked_clients"]) < 1:
            assert time.monotonic() < deadline, "BLPOP never blocked"
            time.sleep(0.01)
        pusher.rpush("q", "x")
        t.join(10)
        assert got == [(b"q", b"x")]

        ps = sub.pubsub()
        ps.subscribe("ch")
        assert ps.get_message(timeout=5)["type"] == "subscribe"
        assert pusher.publish("ch", "hello") == 1
        msg = ps.get_message(timeout=5)
        assert msg is not None and msg["data"] == b"hello"
        ps.close()
    finally:
        for c in (waiter, pusher, sub):
            c.close()


def test_redis_cli_tls(tls_server, certs: Dict[str, str]) -> None:
    cli = shutil.which("redis-cli")
    assert cli is not None, "redis-cli is not installed (scripts/test.sh installs redis-tools)"
    base = [cli, "-p", str(tls_server.tls_port), "--tls", "--cacert", certs["ca.crt"], "--cert",
            certs["client.crt"], "--key", certs["client.key"]]
    out = subprocess.run(base + ["set", "cli", "tls"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "OK", out
    out = subprocess.run(base + ["get", "cli"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "tls", out
    # Without a client certificate the server refuses the session.
    out = subprocess.run([cli, "-p", str(tls_server.tls_port), "--tls", "--cacert", certs["ca.crt"], "ping"],
                         capture_output=True, text=True, timeout=30)
    assert "PONG" not in out.stdout


def test_clients_without_a_good_certificate_are_refused(tls_server, certs: Dict[str, str]) -> None:
    assert refused(tls_server.tls_port, certs, "")  # no certificate
    assert refused(tls_server.tls_port, certs, "rogue")  # signed by another CA
    # A client that does not trust the server's CA refuses the server.
    c = redis.Redis(port=tls_server.tls_port, ssl=True, ssl_ca_certs=certs["rogue-ca.crt"],
                    ssl_certfile=certs["client.crt"], ssl_keyfile=certs["client.key"], socket_timeout=10)
    with pytest.raises(redis.ConnectionError):
        c.ping()
    c.close()
    # The server is fine and still serves good clients.
    good = tls_client(tls_server.tls_port, certs)
    assert good.ping() is True
    good.close()


@pytest.mark.parametrize("auth", ["no", "optional"])
def test_tls_auth_clients_no_and_optional(tmp_path: Path, certs: Dict[str, str], auth: str) -> None:
    tls_port = free_port()
    srv = start_server(tmp_path, "--tls-port", str(tls_port), *tls_flags(certs, auth))
    try:
        assert not refused(tls_port, certs, "")  # no certificate: fine
        assert not refused(tls_port, certs, "client")
        # A certificate that is presented must still be valid.
        assert refused(tls_port, certs, "rogue") == (auth == "optional")
    finally:
        srv.stop()


def test_plaintext_and_silent_clients_on_the_tls_port(tls_server, certs: Dict[str, str]) -> None:
    # A plaintext RESP client gets no RESP answer and the connection ends.
    s = socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert b"PONG" not in data
    # Connections that never start a handshake do not hold up others.
    idle = [socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) for _ in range(50)]
    try:
        c = tls_client(tls_server.tls_port, certs)
        assert c.set("x", "1") is True
        c.close()
    finally:
        for s in idle:
            s.close()


def test_bad_certificate_files_fail_the_start(tmp_path: Path, certs: Dict[str, str]) -> None:
    missing = str(tmp_path / "nope.key")
    with pytest.raises(RuntimeError, match="nope.key"):
        start_server(tmp_path, "--tls-port", str(free_port()), "--tls-cert-file", certs["server.crt"],
                     "--tls-key-file", missing, "--tls-auth-clients", "no")
    # tls-auth-clients yes (the default) without a CA is refused, as Redis does.
    with pytest.raises(RuntimeError, match="tls-ca-cert-file"):
        start_server(tmp_path, "--tls-port", str(free_port()), "--tls-cert-file", certs["server.crt"],
                     "--tls-key-file", certs["server.key"])
    # A key that does not belong to the certificate.
    with pytest.raises(RuntimeError, match="usable certificate"):
        start_server(tmp_path, "--tls-port", str(free_port()), "--tls-cert-file", certs["server.crt"],
                     "--tls-key-file", certs["client.key"], "--tls-auth-clients", "no")


def test_in_process_server_tls(tmp_path: Path, certs: Dict[str, str]) -> None:
    tls_port = free_port()
    with fincaskv.Server(tmp_path / "d", tls_port=tls_port, tls_cert_file=certs["server.crt"],
                         tls_key_file=certs["server.key"], tls_ca_cert_file=certs["ca.crt"]) as server:
        c = tls_client(tls_port, certs)
        assert c.set("a", "b") is True
        assert c.config_get("tls-port") == {"tls-port": str(tls_port)}
        c.close()
        p = server.client()
        assert p.get("a") == b"b"
    with pytest.raises(fincaskv.DataError, match="nope.crt"):
        fincaskv.Server(tmp_path / "e", tls_port=free_port(), tls_cert_file=str(tmp_path / "nope.crt"),
                        tls_key_file=certs["server.key"], tls_auth_clients="no")


def test_cluster_over_tls_refuses_outsiders(tmp_path: Path, certs: Dict[str, str]) -> None:
    opts = dict(tls_cluster="yes", tls_cert_file=certs["server.crt"], tls_key_file=certs["server.key"],
                tls_ca_cert_file=certs["ca.crt"])
    with LocalCluster(3, tmp_path / "c", **opts) as cluster:
        leader = cluster.wait_for_leader()
        c = cluster.client(leader.index)
        for i in range(100):
            c.set(f"k{i}", i)
        c.close()
        cluster.wait_for_agreement()
        cluster.wait_for_applied(int(cluster.nodes[leader.index].info()["raft_last_applied"]))
        for node in cluster.nodes:
            f = node.client()
            assert f.get("k99") == b"99"  # followers forward the read over TLS
            f.close()
            assert node.execute("DBSIZE") == 100  # and every node holds the data

        # A node whose certificate another CA signed cannot join, nor can a
        # node speaking plain TCP; the cluster keeps its three members.
        for name, extra in [
            ("rogue", ["--tls-cluster", "yes", "--tls-cert-file", certs["rogue.crt"], "--tls-key-file",
                       certs["rogue.key"], "--tls-ca-cert-file", certs["rogue-ca.crt"]]),
            ("plain", []),
        ]:
            raft_port = free_port()
            srv = start_server(tmp_path, "--node-id", name, "--raft-addr", f"127.0.0.1:{raft_port}",
                               "--cluster-secret", cluster.secret, *extra)
            try:
                with pytest.raises(ClusterResponseError, match="cannot reach"):
                    cluster.nodes[leader.index].execute("CLUSTER", "JOIN", name, f"127.0.0.1:{raft_port}")
            finally:
                srv.stop()
        members = cluster.nodes[leader.index].execute("CLUSTER", "MEMBERS")
        assert len(members) == 3, members
