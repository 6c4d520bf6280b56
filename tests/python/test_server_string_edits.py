"""Big strings edited in place (APPEND, SETRANGE, SETBIT, BITFIELD), side by
side with redis-server 7.0: every reply and the final values match, and
they survive a restart (log replay), a merge (BGREWRITEAOF) and a restart
from its hint files. A string of 1 KiB or more gets patch records of the
changed bytes instead of a whole rewrite (docs/storage-format.md, "String
patches"); the log grows by about what the edits wrote."""

from __future__ import annotations

import hashlib
import random
import re
import time

import redis

from server_harness import start_server, wait_for

KEYS = ["big", "bm", "ttl", "small"]


def _digest(c: redis.Redis) -> dict:
    return {k: (hashlib.sha1(c.get(k) or b"").hexdigest(), c.type(k)) for k in KEYS}


def _disk_bytes(c: redis.Redis) -> int:
    return int(c.info("persistence")["disk_bytes"])


def _random_edits(ours: redis.Redis, ref: redis.Redis, seed: int, steps: int) -> None:
    rnd = random.Random(seed)
    for step in range(steps):
        c = rnd.random()
        piece = rnd.randbytes(rnd.randint(0, 24))
        if c < 0.3:
            cmd = ("APPEND", rnd.choice(["big", "small", "ttl"]), piece)
        elif c < 0.5:
            cmd = ("SETRANGE", rnd.choice(["big", "ttl"]), rnd.randint(0, 40_000), piece)
        elif c < 0.75:
            cmd = ("SETBIT", "bm", rnd.randint(0, 300_000), rnd.randint(0, 1))
        elif c < 0.85:
            cmd = ("BITFIELD", "bm", "INCRBY", "u8", rnd.randint(0, 300_000), rnd.randint(-9, 9),
                   "GET", "i16", rnd.randint(0, 1000), "SET", "u4", "#%d" % rnd.randint(0, 9000), 7)
        elif c < 0.9:
            cmd = ("GETRANGE", "big", rnd.randint(0, 5000), rnd.randint(0, 9000))
        elif c < 0.95:
            cmd = ("BITCOUNT", "bm", rnd.randint(0, 100), rnd.randint(100, 40_000))
        else:
            cmd = ("STRLEN", rnd.choice(KEYS))
        assert ours.execute_command(*cmd) == ref.execute_command(*cmd), (step, cmd)


def test_big_string_edits_match_redis_and_survive_restart_and_merge(tmp_path, redis_client):
    ref = redis_client
    ref.flushall()
    srv = start_server(tmp_path)
    try:
        ours = srv.client(protocol=2)
        for c in (ours, ref):
            c.set("big", b"\x00\r\n" * 1500)
            c.set("ttl", b"t" * 3000, ex=1000)
            c.set("small", b"s")
        _random_edits(ours, ref, seed=1, steps=6000)
        want = _digest(ref)
        assert _digest(ours) == want
        assert ours.object("encoding", "big") == ref.object("encoding", "big") == b"raw"
        assert 990 < ours.ttl("ttl") <= 1000
        srv.stop()

        srv = start_server_on(tmp_path, srv)
        ours = srv.client(protocol=2)
        assert _digest(ours) == want, "restart changed the data"
        assert 0 < ours.ttl("ttl") <= 1000
        assert ours.bgrewriteaof()
        wait_for(lambda: ours.info("persistence")["aof_rewrite_in_progress"] == 0, "merge")
        _random_edits(ours, ref, seed=2, steps=3000)
        want = _digest(ref)
        assert _digest(ours) == want
        srv.stop()

        srv = start_server_on(tmp_path, srv)
        ours = srv.client(protocol=2)
        assert _digest(ours) == want, "restart after the merge changed the data"
    finally:
        srv.stop()


def test_small_edits_of_a_big_string_grow_the_log_by_little(tmp_path):
    srv = start_server(tmp_path)
    try:
        c = srv.client()
        c.set("big", b"v" * 100_000)
        before = _disk_bytes(c)
        pipe = c.pipeline(transaction=False)
        for i in range(5000):
            pipe.append("big", b"0123456789")
            pipe.setbit("big", 8 * (i * 13 % 100_000), 1)
        pipe.execute()
        grown = _disk_bytes(c) - before
        # 10,000 edits; whole rewrites would write 10,000 x ~100 KB = 1 GB.
        assert grown < 10_000 * 200 + 3 * c.strlen("big"), grown
    finally:
        srv.stop()


def start_server_on(tmp_path, old):
    """A server on `old`'s data directory (a restart)."""
    return start_server(tmp_path, data=old.dir)


def test_big_string_edits_replicate_and_survive_a_follower_restart(tmp_path):
    """In a 3-node cluster, edits sent to a follower (forwarded) and to the
    leader give every node the same data; a follower restarted from its
    own log (base and patch records) still agrees."""
    from test_cluster import leader_of, node, start_cluster, stop_all, wait_same_data

    nodes, rports = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is not None
        i = next(i for i, n in enumerate(nodes) if n is not leader)
        f = nodes[i].client()
        lc = leader.client()
        f.set("big", b"b" * 5000)
        pipe = f.pipeline(transaction=False)
        for j in range(300):
            pipe.append("big", b"%04d" % j)
            pipe.setbit("bm", 7 * j, 1)
            pipe.setrange("big", 11 * j, b"xy")
        pipe.execute()
        lc.bitfield("bm").incrby("u8", 100, 5).execute()
        want = lc.get("big")
        assert len(want) == 5000 + 300 * 4
        wait_same_data(nodes)
        data = nodes[i].dir
        nodes[i].stop()
        nodes[i] = node(tmp_path, f"n{i + 1}", rports[i], data=data)
        wait_same_data(nodes)
        assert nodes[i].client().get("big") == want
    finally:
        stop_all(nodes)
