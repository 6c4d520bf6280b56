"""Differential test: the same raw requests to FincasKV and to a real
redis-server 7.0, replies compared byte for byte (connection, transaction,
pub/sub and protocol-error paths that the server room owns)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from server_harness import free_port, server, wait_for  # noqa: F401


@pytest.fixture
def redis_port(tmp_path):
    exe = shutil.which("redis-server")
    assert exe, "redis-server must be installed (scripts/test.sh installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(up, "redis-server to listen")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def exchange(port: int, requests: list[bytes]) -> list[bytes]:
    """Sends each request and reads its whole reply (until the peer is quiet)."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for req in requests:
            s.sendall(req)
            out.append(read_reply(s))
    return out


def read_reply(s: socket.socket) -> bytes:
    data = b""
    s.settimeout(5)
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data
        if not chunk:
            return data + b"<EOF>"
        data += chunk
        # Replies here are short: wait briefly for more, then stop.
        s.settimeout(0.05)


def cmd(*parts: str) -> bytes:
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        b = p.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


SCRIPTS = {
    "connection": [
        b"PING\r\n", cmd("PING", "hi"), cmd("ECHO", "x"), cmd("ECHO"),
        cmd("SELECT", "x"), cmd("SELECT", "1000"), cmd("SELECT", "1"),
        cmd("NOSUCH", "a", "b"), cmd("GET"), cmd("AUTH", "pw"), cmd("HELLO", "4"),
        cmd("HELLO", "x"), cmd("CLIENT", "SETNAME", "a b"), cmd("CLIENT", "SETNAME", "ok"),
        cmd("CLIENT", "GETNAME"), cmd("CLIENT", "NOPE"), cmd("CLIENT", "NO-EVICT", "on"),
        cmd("CONFIG", "SET", "nosuchoption", "1"), cmd("CONFIG", "GET", "maxclients"),
        cmd("SLOWLOG", "NOPE"),
    ],
    "transactions": [
        cmd("EXEC"), cmd("DISCARD"), cmd("MULTI"), cmd("MULTI"), cmd("WATCH", "k"),
        cmd("SET", "k", "1"), cmd("INCR", "k"), cmd("EXEC"),
        cmd("MULTI"), cmd("SET", "k"), cmd("GET", "k"), cmd("EXEC"),
        cmd("WATCH", "k"), cmd("UNWATCH"), cmd("MULTI"), cmd("GET", "k"), cmd("DISCARD"),
    ],
    "pubsub": [
        cmd("SUBSCRIBE", "a", "b"), cmd("PSUBSCRIBE", "x*"), cmd("PING"), cmd("GET", "k"),
        cmd("UNSUBSCRIBE", "a"), cmd("PUNSUBSCRIBE"), cmd("UNSUBSCRIBE"), cmd("UNSUBSCRIBE"),
        cmd("PUBSUB", "NUMPAT"), cmd("PUBSUB", "NUMSUB", "a"), cmd("PUBLISH", "a", "m"),
    ],
    "blocking": [
        cmd("BLPOP", "nolist", "0.01"), cmd("BLPOP", "nolist", "-1"), cmd("BLPOP", "nolist", "abc"),
        cmd("BRPOPLPUSH", "nolist", "dst", "0.01"), cmd("BLMOVE", "nolist", "dst", "LEFT", "LEFT", "0.01"),
        cmd("RPUSH", "l", "a"), cmd("BLPOP", "l", "0"), cmd("MULTI"), cmd("BLPOP", "l", "0"), cmd("EXEC"),
    ],
    "getkeys": [
        cmd("COMMAND", "GETKEYS", *c.split(" "))
        for c in [
            "PING", "PING x", "nosuch a", "GET", "GET a b", "SET k v", "MSET a 1 b",
            "ZUNIONSTORE dest 2 a b", "ZUNIONSTORE dest 3 a b", "ZUNIONSTORE dest 0 a",
            "ZUNIONSTORE dest x a", "ZUNIONSTORE d 1x a", "ZUNIONSTORE d 1 a WEIGHTS",
            "ZDIFFSTORE d 2 a b", "ZUNION 2 a b WITHSCORES", "ZINTERCARD 2 a b LIMIT 1",
            "SINTERCARD 02 a b", "SINTERCARD 1", "LMPOP 2 a b LEFT", "LMPOP 1x a LEFT",
            "LMPOP 0 a LEFT", "LMPOP -1 a LEFT", "LMPOP 1 a", "BLMPOP 0 2 a b LEFT",
            "BZMPOP 0 2 a b MIN", "ZMPOP 1", "SORT k STORE d", "SORT k BY w STORE d GET x",
            "SORT k STORE", "SORT k STORE d LIMIT", "SORT k LIMIT 0 1 STORE d STORE e",
            "SORT_RO k", "GEORADIUS k 0 0 1 km STORE d", "GEORADIUS k 0 0 1 km STORE",
            "GEORADIUS k 0 0 1 store d", "GEORADIUS k 0 0 1 km STOREDIST e STORE d",
            "GEORADIUS k 0 0 1 km STORE d STORE e", "GEORADIUSBYMEMBER k m 1 store d",
            "GEORADIUSBYMEMBER k m 1 km store d", "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
        ]
    ],
    "resp3": [
        cmd("HELLO", "3", "SETNAME", "x y"), cmd("GET", "nokey"), cmd("SUBSCRIBE", "c"),
        cmd("GET", "nokey"), cmd("UNSUBSCRIBE", "c"), cmd("PING"),
    ],
}

PROTOCOL_ERRORS = [
    b"*1\r\n$-5\r\n",
    b"*3000000000\r\n",
    b"*x\r\n",
    b"*1\r\n$abc\r\n",
    b"SET k \"abc\r\n",
    b"*2\r\n$3\r\nGET\r\n$999999999999\r\n",
]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_replies_as_redis(server, redis_port, name):
    ours = exchange(server.port, SCRIPTS[name])
    theirs = exchange(redis_port, SCRIPTS[name])
    for req, a, b in zip(SCRIPTS[name], ours, theirs):
        assert a == b, f"request {req!r}: fincaskv {a!r} != redis {b!r}"


@pytest.mark.parametrize("payload", PROTOCOL_ERRORS)
def test_same_protocol_errors_as_redis(server, redis_port, payload):
    assert exchange(server.port, [payload]) == exchange(redis_port, [payload])
