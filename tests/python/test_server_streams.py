"""XREAD / XREADGROUP BLOCK in the server: woken by XADD, by the key's
deletion and by XGROUP DESTROY, timeouts, BLOCK 0, CLIENT UNBLOCK, MULTI;
every raw reply compared with redis-server 7.0."""

from __future__ import annotations

import socket
import time

from server_harness import Server, server  # noqa: F401
from test_server_differential import cmd, read_reply


def _wait_blocked(admin: socket.socket, name: bytes) -> None:
    """Waits until a client shows as blocked (``flags=b``) in CLIENT LIST."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        admin.sendall(cmd("CLIENT", "LIST"))
        if b"flags=b " in read_reply(admin):
            return
        time.sleep(0.01)
    raise AssertionError(f"no client blocked in {name!r}")


def _scenario(port: int) -> list[bytes]:
    admin = socket.create_connection(("127.0.0.1", port), timeout=10)
    waiter = socket.create_connection(("127.0.0.1", port), timeout=10)
    out: list[bytes] = []

    def call(s: socket.socket, *parts: str) -> bytes:
        s.sendall(cmd(*parts))
        return read_reply(s)

    call(admin, "FLUSHALL")
    waiter.sendall(cmd("CLIENT", "ID"))
    wid = read_reply(waiter)[1:-2].decode()

    # XREAD BLOCK 0 with $ on a missing key, woken by XADD.
    waiter.sendall(cmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$"))
    _wait_blocked(admin, b"xread")
    out.append(call(admin, "XADD", "s", "1-1", "f", "v"))
    out.append(read_reply(waiter))
    # $ means the last id when the call blocks: an XADD after it is served.
    waiter.sendall(cmd("XREAD", "COUNT", "5", "BLOCK", "5000", "STREAMS", "s", "$"))
    _wait_blocked(admin, b"xread")
    out.append(call(admin, "XADD", "s", "2-1", "g", "w"))
    out.append(read_reply(waiter))
    # Data already there: no block.
    out.append(call(waiter, "XREAD", "BLOCK", "0", "STREAMS", "s", "0"))
    # Timeout.
    started = time.monotonic()
    out.append(call(waiter, "XREAD", "BLOCK", "200", "STREAMS", "s", "$"))
    assert time.monotonic() - started >= 0.15
    # A deleted key leaves XREAD waiting (until its timeout).
    waiter.sendall(cmd("XREAD", "BLOCK", "400", "STREAMS", "s", "$"))
    _wait_blocked(admin, b"xread")
    out.append(call(admin, "DEL", "s"))
    out.append(read_reply(waiter))
    # CLIENT UNBLOCK, plain and with ERROR.
    for reason in ((), ("ERROR",)):
        waiter.sendall(cmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$"))
        _wait_blocked(admin, b"xread")
        out.append(call(admin, "CLIENT", "UNBLOCK", wid, *reason))
        out.append(read_reply(waiter))
    # XREADGROUP BLOCK woken by XADD, then by the key's deletion, then by
    # XGROUP DESTROY.
    out.append(call(admin, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
    waiter.sendall(cmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"))
    _wait_blocked(admin, b"xreadgroup")
    out.append(call(admin, "XADD", "s", "3-1", "h", "x"))
    out.append(read_reply(waiter))
    out.append(call(admin, "XPENDING", "s", "g"))
    waiter.sendall(cmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"))
    _wait_blocked(admin, b"xreadgroup")
    out.append(call(admin, "DEL", "s"))
    out.append(read_reply(waiter))
    out.append(call(admin, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
    waiter.sendall(cmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"))
    _wait_blocked(admin, b"xreadgroup")
    out.append(call(admin, "XGROUP", "DESTROY", "s", "g"))
    out.append(read_reply(waiter))
    # XREADGROUP BLOCK timeout.
    out.append(call(admin, "XGROUP", "CREATE", "s", "g", "$"))
    out.append(call(waiter, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "s", ">"))
    # Inside MULTI, BLOCK does not block.
    out.append(call(waiter, "MULTI"))
    out.append(call(waiter, "XREAD", "BLOCK", "0", "STREAMS", "s", "$"))
    out.append(call(waiter, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"))
    out.append(call(waiter, "EXEC"))
    # Errors of the blocking forms.
    out.append(call(waiter, "XREAD", "BLOCK", "-1", "STREAMS", "s", "$"))
    out.append(call(waiter, "XREAD", "BLOCK", "x", "STREAMS", "s", "$"))
    out.append(call(waiter, "XREAD", "BLOCK", "0", "STREAMS", "s"))
    out.append(call(waiter, "EVAL", "return redis.call('xread','block','0','streams','s','0')", "0"))
    out.append(call(waiter, "EVAL", "return #redis.call('xread','streams','s','0')", "0"))
    admin.close()
    waiter.close()
    return out


def test_blocking_stream_reads_same_as_redis(server: Server, redis_server: int) -> None:
    ours = _scenario(server.port)
    theirs = _scenario(redis_server)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a.startswith(b"-ERR xread command is not allowed"):
            # Redis names the script in the error.
            a, b = a.split(b"script:")[0], b.split(b"script:")[0]
        assert a == b, f"reply #{i}: ours={a!r} redis={b!r}"
    assert len(ours) == len(theirs)
