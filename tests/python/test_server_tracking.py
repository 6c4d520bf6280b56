"""CLIENT TRACKING (server-assisted client-side caching): the same scenes
played against our server and a real redis-server 7.0, every connection's
bytes compared (client ids, which differ, replaced by a placeholder).
redis-py's own client-side cache is not tested: redis-py 8 enables it only
for servers that say they are 7.4 or later."""

from __future__ import annotations

import re
import socket
import time

import redis

from server_harness import Server, server  # noqa: F401
from test_server_differential import cmd, read_reply


class Scene:
    """Named connections to one server; `say` sends a command and returns
    what came back (replies and pushes), with client ids masked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conns: dict[str, socket.socket] = {}
        self.ids: dict[str, int] = {}
        self.out: list[bytes] = []

    def conn(self, name: str) -> socket.socket:
        if name not in self.conns:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.conns[name] = s
            s.sendall(cmd("CLIENT", "ID"))
            self.ids[name] = int(read_reply(s)[1:-2])
        return self.conns[name]

    def mask(self, data: bytes, getredir: bool = False) -> bytes:
        """Client ids where they appear: a redirect, a broken-redirect
        push, GETREDIR's answer."""
        names = {str(i).encode(): f"<{n}>".encode() for n, i in self.ids.items()}
        fix = lambda m: m.group(1) + names.get(m.group(2), m.group(2))  # noqa: E731
        data = re.sub(rb"((?:redirect|tracking-redir-broken)\r\n:)(\d+)", fix, data)
        if getredir:
            data = re.sub(rb"^(:)(\d+)", fix, data)
        return data

    def say(self, name: str, *parts: str, record: bool = True) -> None:
        ids = {p: str(self.ids[p[1:]]) for p in parts if p.startswith("@")}
        wire = tuple(ids.get(p, p) for p in parts)
        s = self.conn(name)
        s.sendall(cmd(*wire))
        reply = read_reply(s)
        if record:
            self.out.append(f"{name}: {' '.join(parts)}".encode())
            self.out.append(self.mask(reply, getredir="GETREDIR" in parts))

    def hear(self, name: str) -> None:
        """What `name` received without asking (pushes) within a second."""
        s = self.conn(name)
        data = b""
        s.settimeout(1)
        try:
            while chunk := s.recv(65536):
                data += chunk
                s.settimeout(0.1)
        except socket.timeout:
            pass
        self.out.append(f"{name} hears".encode())
        self.out.append(self.mask(data))

    def close(self, name: str) -> None:
        self.conns.pop(name).close()

    def done(self) -> list[bytes]:
        for s in self.conns.values():
            s.close()
        return self.out


def same(port: int, redis_port: int, play) -> list[bytes]:
    ours, theirs = Scene(port), Scene(redis_port)
    play(ours)
    play(theirs)
    a, b = ours.done(), theirs.done()
    for i in range(0, max(len(a), len(b)), 2):
        assert a[i:i + 2] == b[i:i + 2], f"ours {a[i:i + 2]!r}, redis {b[i:i + 2]!r}"
    return a


def test_default_mode_optin_optout_noloop_bcast_same_bytes(server: Server, redis_server: int) -> None:
    def play(s: Scene) -> None:
        s.say("b", "FLUSHALL")
        s.say("a", "HELLO", "3", record=False)
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("a", "CLIENT", "GETREDIR")
        s.say("a", "CLIENT", "CACHING", "yes")
        for args in [("on", "prefix", "a"), ("on", "optin", "optout"), ("on", "bcast", "optin"),
                     ("on", "redirect", "99999"), ("on", "redirect", "x"), ("on", "foo"), ("maybe",),
                     ("on", "bcast", "prefix", "ab", "prefix", "a"), ("on", "bcast", "prefix", "a", "prefix", "a")]:
            s.say("a", "CLIENT", "TRACKING", *args)
        s.say("a", "CLIENT", "TRACKING", "on")
        s.say("a", "CLIENT", "TRACKING", "on", "bcast")
        s.say("a", "CLIENT", "TRACKING", "on", "optin")
        s.say("a", "CLIENT", "CACHING", "yes")
        s.say("a", "CLIENT", "CACHING", "maybe")
        s.say("a", "CLIENT", "GETREDIR")
        s.say("a", "GET", "k")
        s.say("a", "MGET", "k2", "k3")
        s.say("a", "HGET", "h", "f")
        s.say("b", "SET", "k", "1")
        s.hear("a")
        s.say("b", "MSET", "k2", "1", "k3", "2")
        s.hear("a")
        s.say("b", "HSET", "h", "f", "v")
        s.hear("a")
        # Once told, a key is forgotten until read again.
        s.say("b", "SET", "k", "2")
        s.hear("a")
        s.say("a", "GET", "k")
        s.say("a", "SET", "k", "3")
        s.say("a", "GET", "k")
        s.say("b", "FLUSHALL")
        s.hear("a")
        s.say("a", "CLIENT", "TRACKING", "off")
        s.say("a", "CLIENT", "TRACKING", "on", "optin", "noloop")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("a", "CLIENT", "CACHING", "no")
        s.say("a", "CLIENT", "CACHING", "yes")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("a", "GET", "x")
        s.say("a", "GET", "y")
        s.say("b", "SET", "x", "1")
        s.say("b", "SET", "y", "1")
        s.hear("a")
        s.say("a", "CLIENT", "CACHING", "yes")
        s.say("a", "GET", "x")
        s.say("a", "SET", "x", "2")
        s.hear("a")
        s.say("a", "CLIENT", "TRACKING", "on", "optout")
        s.say("a", "CLIENT", "TRACKING", "off")
        s.say("a", "CLIENT", "TRACKING", "on", "optout")
        s.say("a", "CLIENT", "CACHING", "no")
        s.say("a", "GET", "x")
        s.say("a", "GET", "y")
        s.say("b", "MSET", "x", "3", "y", "3")
        s.hear("a")
        s.say("a", "CLIENT", "TRACKING", "off")
        s.say("a", "CLIENT", "TRACKING", "on", "bcast", "prefix", "p:", "prefix", "q")
        s.say("a", "CLIENT", "TRACKING", "on", "bcast", "prefix", "p:x")
        s.say("a", "CLIENT", "TRACKING", "on", "bcast", "prefix", "r")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("b", "MSET", "p:1", "x", "q2", "y", "z", "1")
        s.hear("a")
        s.say("b", "SET", "r1", "x")
        s.hear("a")
        s.say("a", "RESET")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("a", "HELLO", "3", record=False)
        s.say("a", "CLIENT", "TRACKING", "on", "bcast")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("b", "DEL", "r1", "nosuch")
        s.hear("a")

    same(server.port, redis_server, play)


def test_redirect_multi_expiry_and_broken_redirect_same_bytes(server: Server, redis_server: int) -> None:
    def play(s: Scene) -> None:
        s.say("b", "FLUSHALL")
        # RESP2: messages go to a subscriber of __redis__:invalidate.
        s.conn("r")
        s.say("r", "SUBSCRIBE", "__redis__:invalidate")
        s.say("a", "CLIENT", "TRACKING", "on", "redirect", "@r")
        s.say("a", "CLIENT", "GETREDIR")
        s.say("a", "CLIENT", "TRACKINGINFO")
        s.say("a", "GET", "k")
        s.say("b", "SET", "k", "1")
        s.hear("r")
        s.say("b", "FLUSHDB")
        s.hear("r")
        # A RESP2 client without a redirect is told nothing.
        s.say("n", "CLIENT", "TRACKING", "on")
        s.say("n", "GET", "k")
        s.say("b", "SET", "k", "2")
        s.hear("n")
        # Reads inside MULTI are tracked; expiry invalidates.
        s.say("m", "HELLO", "3", record=False)
        s.say("m", "CLIENT", "TRACKING", "on")
        s.say("m", "MULTI")
        s.say("m", "GET", "t")
        s.say("m", "EXEC")
        s.say("b", "SET", "t", "1", "PX", "300")
        s.hear("m")
        s.say("m", "GET", "t")
        # Expired by the active cycle (or on access): told either way.
        time.sleep(0.5)
        s.say("b", "EXISTS", "t")
        s.hear("m")
        # The redirect target goes away: reported once, then nothing.
        s.conn("gone")
        s.say("c", "HELLO", "3", record=False)
        s.say("c", "CLIENT", "TRACKING", "on", "redirect", "@gone")
        s.say("c", "GET", "k")
        s.close("gone")
        time.sleep(0.2)
        s.say("b", "SET", "k", "3")
        s.hear("c")
        s.say("c", "CLIENT", "TRACKINGINFO")
        s.say("c", "GET", "k")
        s.say("b", "SET", "k", "4")
        s.hear("c")

    same(server.port, redis_server, play)


def test_info_and_client_list_show_tracking(server: Server) -> None:
    a = server.client(protocol=3)
    assert a.execute_command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:") == b"OK"
    admin = server.client()
    assert admin.info("clients")["tracking_clients"] == 1
    mine = [c for c in admin.client_list() if c["id"] == str(a.client_id())]
    assert mine and "t" in mine[0]["flags"] and "B" in mine[0]["flags"] and mine[0]["redir"] == "0"
    b = server.client(protocol=3)
    assert b.execute_command("CLIENT", "TRACKING", "on") == b"OK"
    b.get("some-key")
    assert admin.info("stats")["tracking_total_keys"] == 1
    b.close()
    a.close()
    deadline = time.monotonic() + 5
    while admin.info("clients")["tracking_clients"] != 0:
        assert time.monotonic() < deadline, "closed clients still tracking"
        time.sleep(0.05)


def test_keys_read_by_scripts_are_tracked_for_the_caller(server: Server, redis_server: int) -> None:
    """Redis 7.0's rule for scripts: when a script of a tracking client
    runs a read-only command, the script's declared KEYS are remembered
    (not the key the inner command read: h1 and k3 below are not); a
    script that only writes remembers nothing; OPTIN's CLIENT CACHING yes
    covers the next script."""

    def play(s: Scene) -> None:
        s.say("b", "FLUSHALL")
        s.say("b", "SCRIPT", "FLUSH")
        s.say("a", "HELLO", "3", record=False)
        s.say("a", "CLIENT", "TRACKING", "on")
        s.say("a", "EVAL", "return redis.call('get', KEYS[1])", "1", "k1")
        s.say("a", "EVAL", "return redis.call('hget', 'h1', 'f')", "0")
        s.say("a", "EVAL_RO", "return redis.call('exists', KEYS[1], 'k3')", "1", "k2")
        s.say("a", "EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "w1")
        s.say("a", "SCRIPT", "LOAD", "return redis.call('strlen', KEYS[1])")
        s.say("a", "EVALSHA", "4bda0a00e5541c8717dca29525d5e02f297b52da", "1", "k4")
        s.say("b", "SET", "k1", "x")
        s.hear("a")
        s.say("b", "HSET", "h1", "f", "v")
        s.hear("a")
        s.say("b", "MSET", "k2", "1", "k3", "1")
        s.hear("a")
        s.say("b", "SET", "w1", "other")
        s.hear("a")
        s.say("a", "CLIENT", "TRACKING", "off")
        s.say("a", "CLIENT", "TRACKING", "on", "optin")
        s.say("a", "EVAL", "return redis.call('get', 'o1')", "0")
        s.say("a", "CLIENT", "CACHING", "yes")
        s.say("a", "EVAL", "return redis.call('get', 'o2')", "0")
        s.say("a", "EVAL", "return redis.call('get', 'o3')", "0")
        s.say("b", "MSET", "o1", "1", "o2", "2", "o3", "3")
        s.hear("a")

    out = same(server.port, redis_server, play)
    assert any(b"k1" in o and b"invalidate" in o for o in out), out


def test_bcast_gathers_the_keys_of_a_batch_per_prefix_same_bytes(server: Server, redis_server: int) -> None:
    """BCAST sends one message per prefix with the keys a command (or a
    transaction) changed, in byte order, without a NOLOOP client's own."""

    def play(s: Scene) -> None:
        s.say("b", "FLUSHALL")
        s.say("a", "HELLO", "3", record=False)
        s.say("a", "CLIENT", "TRACKING", "on", "bcast", "prefix", "a", "prefix", "b", "noloop")
        s.say("c", "HELLO", "3", record=False)
        s.say("c", "CLIENT", "TRACKING", "on", "bcast", "prefix", "a")
        s.say("b", "MSET", "a2", "x", "a1", "y", "b1", "z", "c1", "w", "a10", "v")
        s.hear("a")
        s.hear("c")
        s.say("b", "DEL", "a1", "a2", "a9", "b1")
        s.hear("a")
        s.hear("c")
        s.say("b", "MULTI")
        s.say("b", "SET", "a8", "1")
        s.say("b", "SET", "a7", "1")
        s.say("b", "INCR", "b2")
        s.say("b", "EXEC")
        s.hear("a")
        s.hear("c")
        # A NOLOOP client does not hear its own changes; others do.
        s.say("a", "MSET", "a5", "1", "a6", "2")
        s.hear("a")
        s.hear("c")
        s.say("b", "SET", "a5", "2")
        s.hear("a")
        s.hear("c")

    same(server.port, redis_server, play)
