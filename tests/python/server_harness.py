"""Starts the real `fincaskv-server` binary for the test_server_* suites.

The binary comes from the env var FINCASKV_SERVER_BIN (scripts/test.sh sets
it). Each server gets a free port on 127.0.0.1 and a fresh temp data dir; the
fixture waits for the port to accept connections (a condition, no fixed sleep).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis


def server_bin() -> str:
    path = os.environ.get("FINCASKV_SERVER_BIN")
    if not path:
        raise RuntimeError(
            "FINCASKV_SERVER_BIN is not set: run ./scripts/test.sh, or point it at target/*/fincaskv-server"
        )
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"FINCASKV_SERVER_BIN={path} is not an executable")
    return path


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (the package's
    helper): an outgoing connection's local port cannot take it while a
    killed server is down, so its restart finds it free."""
    from fincaskv.cluster import _free_port

    return _free_port("127.0.0.1")


@dataclass
class Server:
    port: int
    dir: Path
    proc: subprocess.Popen
    log: object = None
    password: str | None = None
    clients: list = None  # type: ignore[assignment]

    def client(self, **kw) -> redis.Redis:
        if self.password is not None:
            kw.setdefault("password", self.password)
        c = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kw)
        self.clients.append(c)
        return c

    def raw(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.clients.append(s)
        return s

    def stop(self) -> int:
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=30)
        if self.log is not None:
            self.log.close()
            self.log = None
        return code


def start_server(tmp: Path, *args: str, password: str | None = None, data: Path | None = None) -> Server:
    """A server on a free port; `data` is its directory (default: a new one
    under `tmp`; an old server's `dir` restarts it on that data)."""
    port = free_port()
    data = data if data is not None else tmp / f"data-{port}"
    cmd = [server_bin(), "--port", str(port), "--dir", str(data), *args]
    if password is not None:
        cmd += ["--requirepass", password]
    log = open(tmp / f"server-{port}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"server exited with {proc.returncode}: {(tmp / f'server-{port}.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.close()
                raise RuntimeError("server did not start listening within 30 s")
            time.sleep(0.01)
    return Server(port=port, dir=data, proc=proc, log=log, password=password, clients=[])


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(server, request):
    """A redis-py client in RESP2 (protocol=2) and in RESP3 (the default)."""
    kw = {"protocol": 2} if request.param == 2 else {}
    yield server.client(**kw)


def recv_until_closed(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def wait_for(cond, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
