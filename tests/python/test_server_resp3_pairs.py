"""RESP3 shapes of WITHSCORES / WITHVALUES replies and of geo coordinates
(RESP3 doubles), byte for byte against a
real redis-server 7.0, and through redis-py's default protocol (RESP3 since
redis-py 5.1)."""

from __future__ import annotations

import socket
from typing import List

import pytest
import redis

from server_harness import server  # noqa: F401 - fixture

SCRIPT = [
    "ZADD z 1 a 2 b 3 c",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZRANGE z 0 -1",
    "ZRANGEBYSCORE z -inf +inf WITHSCORES",
    "ZREVRANGE z 0 1 WITHSCORES",
    "ZUNION 1 z WITHSCORES",
    "ZINTER 1 z WITHSCORES",
    "ZDIFF 1 z WITHSCORES",
    "ZPOPMIN z",
    "ZPOPMIN z 1",
    "ZPOPMAX z 5",
    "ZPOPMAX z",
    "ZADD z 7 only",
    "ZRANDMEMBER z 1 WITHSCORES",
    "ZRANDMEMBER z -2 WITHSCORES",
    "ZMPOP 1 z MIN",
    "ZADD z 1.5 x",
    "BZPOPMIN z 1",
    "HSET h f v",
    "HRANDFIELD h 1 WITHVALUES",
    "HRANDFIELD h -2 WITHVALUES",
    "HRANDFIELD h 1",
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOPOS g Palermo nobody Catania",
    "GEODIST g Palermo Catania km",
    "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
    "GEORADIUS g 15 37 200 km WITHCOORD COUNT 1",
    "GEORADIUSBYMEMBER g Palermo 300 km WITHCOORD DESC",
]


def transcript(port: int) -> List[bytes]:
    out: List[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, s.makefile("rb") as f:

        def read_reply() -> bytes:
            line = f.readline()
            kind, body = line[:1], line[1:-2]
            if kind in b"$=" and body != b"-1":
                return line + f.read(int(body) + 2)
            if kind in b"*%~>" and body != b"-1":
                n = int(body) * (2 if kind == b"%" else 1)
                return line + b"".join(read_reply() for _ in range(n))
            return line

        def send(cmd: str) -> bytes:
            parts = [p.encode() for p in cmd.split()]
            s.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            return read_reply()

        send("HELLO 3")
        send("FLUSHALL")
        for cmd in SCRIPT:
            out.append(cmd.encode() + b" -> " + send(cmd))
    return out


def test_resp3_pair_replies_match_redis(server, redis_server: int) -> None:  # type: ignore[no-untyped-def]
    assert transcript(server.port) == transcript(redis_server)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_parses_scores_as_with_redis(server, redis_server: int, protocol: int) -> None:  # type: ignore[no-untyped-def]
    """redis-py gives the same Python values for our replies as for Redis's."""

    def calls(r: redis.Redis) -> list:  # type: ignore[type-arg]
        r.flushall()
        r.zadd("z", {"a": 1, "b": 2.5})
        r.hset("h", "f", "v")
        out = [
            r.zrange("z", 0, -1, withscores=True),
            r.zrangebyscore("z", "-inf", "+inf", withscores=True),
            r.zrevrange("z", 0, -1, withscores=True),
            r.zunion(["z"], withscores=True),
            r.zrandmember("z", -1, withscores=True)[0][:0],  # shape only (random pick)
            r.hrandfield("h", 1, withvalues=True),
            r.zpopmin("z", 1),
            r.zpopmax("z"),
        ]
        r.close()
        return out

    ours = calls(redis.Redis(port=server.port, protocol=protocol))
    theirs = calls(redis.Redis(port=redis_server, protocol=protocol))
    assert ours == theirs
    assert ours[0] and ours[-1]
