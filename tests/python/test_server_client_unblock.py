"""CLIENT UNBLOCK: a blocked BLPOP / XREAD-style command ends with its
timeout reply or Redis's UNBLOCKED error; compared with redis-server 7.0."""

from __future__ import annotations

import socket
import time

from server_harness import Server, server  # noqa: F401
from test_server_differential import cmd, exchange, read_reply


def _is_blocked(client_list: bytes, wid: str) -> bool:
    """Whether CLIENT LIST shows client `wid` blocked (`flags=b`): `cmd=`
    names a command from the moment it is looked up, before it blocks."""
    for line in client_list.split(b"\n"):
        fields = dict(f.split(b"=", 1) for f in line.split() if b"=" in f)
        if fields.get(b"id") == wid.encode():
            return b"b" in fields.get(b"flags", b"")
    return False


def _blocked_then_unblocked(port: int, reason: tuple[str, ...]) -> list[bytes]:
    admin = socket.create_connection(("127.0.0.1", port), timeout=10)
    waiter = socket.create_connection(("127.0.0.1", port), timeout=10)
    waiter.sendall(cmd("CLIENT", "ID"))
    wid = read_reply(waiter)[1:-2].decode()
    out = []
    for _ in range(2):  # twice: nothing of the first unblock is left over
        waiter.sendall(cmd("BLPOP", "nolist", "10"))
        deadline = time.monotonic() + 5
        while True:
            admin.sendall(cmd("CLIENT", "LIST"))
            if _is_blocked(read_reply(admin), wid) or time.monotonic() > deadline:
                break
        admin.sendall(cmd("CLIENT", "UNBLOCK", wid, *reason))
        out.append(read_reply(admin))
        started = time.monotonic()
        out.append(read_reply(waiter))
        assert time.monotonic() - started < 3, "the blocked command did not end at once"
    admin.sendall(cmd("CLIENT", "UNBLOCK", wid))
    out.append(read_reply(admin))
    waiter.sendall(cmd("RPUSH", "l", "x"))
    out.append(read_reply(waiter))
    waiter.sendall(cmd("BLPOP", "l", "1"))
    out.append(read_reply(waiter))
    admin.close()
    waiter.close()
    return out


def test_client_unblock_same_as_redis(server: Server, redis_server: int) -> None:
    script = [cmd("CLIENT", "UNBLOCK"), cmd("CLIENT", "UNBLOCK", "x"), cmd("CLIENT", "UNBLOCK", "5", "foo"),
              cmd("CLIENT", "UNBLOCK", "999999"), cmd("CLIENT", "UNBLOCK", "5", "timeout", "extra"),
              cmd("CLIENT", "UNBLOCK", "-1")]
    assert exchange(server.port, script) == exchange(redis_server, script)
    for reason in ((), ("TIMEOUT",), ("error",)):
        ours = _blocked_then_unblocked(server.port, reason)
        assert ours == _blocked_then_unblocked(redis_server, reason), reason
        assert ours[0] == b":1\r\n"
