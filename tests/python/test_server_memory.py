"""Memory the server keeps for what it stores, against the bytes stored.

A value kept by the keyspace must not keep alive the buffer it arrived in:
each pipeline below sends one value to keep and many to overwrite, so a
kept value that shared its connection's read buffer (16 KiB or more) would
hold that whole buffer, about 25 times its own size."""

from __future__ import annotations

import redis

from server_harness import start_server

KEPT = 3000
VALUE_LEN = 600
SCRATCH_PER_KEPT = 24


def _used(c: redis.Redis) -> int:
    return int(c.info("memory")["used_memory"])


def _fill(c: redis.Redis) -> None:
    for i in range(KEPT):
        p = c.pipeline(transaction=False)
        p.set(f"keep:{i}", bytes([65 + i % 26]) * VALUE_LEN)
        for j in range(SCRATCH_PER_KEPT):
            p.set("scratch", bytes([97 + j % 26]) * VALUE_LEN)
        p.execute()


def test_kept_values_do_not_pin_their_read_buffers(tmp_path):
    srv = start_server(tmp_path)
    try:
        c = srv.client()
        c.set("warm", "up")
        before = _used(c)
        _fill(c)
        grown = _used(c) - before
        assert c.dbsize() == KEPT + 2
        assert c.get(f"keep:{KEPT - 1}") == bytes([65 + (KEPT - 1) % 26]) * VALUE_LEN
        data = KEPT * VALUE_LEN
        # Stored once with its bookkeeping this is ~1.5x the data; pinned
        # read buffers would make it ~25x.
        assert grown < 4 * data, f"grew {grown} bytes for {data} bytes of values"
    finally:
        srv.stop()


def test_tracked_keys_do_not_pin_their_read_buffers(tmp_path):
    # Each pipeline reads one new key among ~16 KiB of other requests: a
    # tracking table that kept the key's argument slice would keep the
    # whole read buffer alive until the key changes.
    srv = start_server(tmp_path)
    try:
        c = srv.client(protocol=3)
        assert c.execute_command("CLIENT", "TRACKING", "ON") in (b"OK", "OK", True)
        c.get("warm")
        before = _used(c)
        filler = b"x" * 400
        batches = 3000
        for i in range(batches):
            p = c.pipeline(transaction=False)
            p.get(f"tracked:{i}")
            for _ in range(40):
                p.echo(filler)
            p.execute()
        assert int(c.info("stats")["tracking_total_keys"]) == batches + 1
        grown = _used(c) - before
        # 3000 keys of ~12 bytes with their table entries: well under 4 MB;
        # pinned 16 KiB buffers would be ~50 MB.
        assert grown < 8 << 20, f"grew {grown} bytes tracking {batches} keys"
    finally:
        srv.stop()
