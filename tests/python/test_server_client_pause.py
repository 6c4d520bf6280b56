"""CLIENT PAUSE / UNPAUSE: commands wait (writes only with WRITE, every
command with ALL) until the pause ends or is lifted; the same timings
classes and the same error bytes as redis-server 7.0."""

from __future__ import annotations

import threading
import time

import redis

from server_harness import Server, server  # noqa: F401
from test_server_differential import cmd, exchange


def _timings(port: int) -> dict[str, float]:
    admin = redis.Redis(port=port)
    client = redis.Redis(port=port)
    client.ping()
    out = {}

    def timed(name: str, f) -> None:
        started = time.monotonic()
        f()
        out[name] = time.monotonic() - started

    admin.execute_command("CLIENT", "PAUSE", "1000", "WRITE")
    timed("get under write pause", lambda: client.get("k"))
    timed("set under write pause", lambda: client.set("k", "1"))
    admin.execute_command("CLIENT", "PAUSE", "800")
    timed("ping under all pause", lambda: client.ping())
    admin.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
    threading.Timer(0.3, lambda: redis.Redis(port=port).execute_command("CLIENT", "UNPAUSE")).start()
    timed("set until unpause", lambda: client.set("k", "2"))
    # A shorter pause does not cut a longer one short.
    admin.execute_command("CLIENT", "PAUSE", "800", "WRITE")
    admin.execute_command("CLIENT", "PAUSE", "10", "WRITE")
    timed("set under the longer pause", lambda: client.set("k", "3"))
    assert client.get("k") == b"3"
    return out


def test_client_pause_same_as_redis(server: Server, redis_server: int) -> None:
    script = [cmd("CLIENT", "PAUSE"), cmd("CLIENT", "PAUSE", "x"), cmd("CLIENT", "PAUSE", "-1"),
              cmd("CLIENT", "PAUSE", "10", "foo"), cmd("CLIENT", "PAUSE", "10", "write", "extra"),
              cmd("CLIENT", "UNPAUSE", "x"), cmd("CLIENT", "PAUSE", "0"), cmd("CLIENT", "UNPAUSE")]
    assert exchange(server.port, script) == exchange(redis_server, script)
    for port in (server.port, redis_server):
        t = _timings(port)
        assert t["get under write pause"] < 0.5, (port, t)
        assert 0.7 < t["set under write pause"] < 3, (port, t)
        assert 0.5 < t["ping under all pause"] < 3, (port, t)
        assert 0.2 < t["set until unpause"] < 2, (port, t)
        assert 0.5 < t["set under the longer pause"] < 3, (port, t)
