#!/usr/bin/env python3
"""Memory per stored item: FincasKV against redis-server, side by side.

For every shape and item size, a fresh FincasKV server and a fresh
redis-server (no persistence) are started on free loopback ports, filled
with N items through redis-py pipelines of 16 commands, and the growth of
INFO memory's `used_memory` is divided by N: heap bytes in use on both
sides (ours counted by the server's allocator, Redis's by jemalloc), as
users compare them. The growth of `used_memory_rss` per item is printed
too (it adds what the allocators keep and, for us, the data file's mapped
window; it is noisier).

Usage: .venv/bin/python scripts/bench-memory-vs-redis.py [--bin BIN]
           [--n 40000] [--sizes 16,504,600] [--shapes string,list,...]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

KEYS = 100  # collections are spread over this many keys


def _item(i: int, size: int) -> bytes:
    """`size` bytes, distinct per `i` (the index ends the string)."""
    tail = b"%08d" % i
    return b"v" * max(size - len(tail), 0) + tail[-size:]


SHAPES = {
    "string": lambda i, v: ("SET", b"k%d" % i, v),
    "list": lambda i, v: ("RPUSH", b"l%d" % (i % KEYS), v),
    # Many short lists: 4 elements each.
    "list-small": lambda i, v: ("RPUSH", b"m%d" % (i // 4), v),
    "hash-value": lambda i, v: ("HSET", b"h%d" % (i % KEYS), b"f%d" % i, v),
    "hash-field": lambda i, v: ("HSET", b"g%d" % (i % KEYS), v, b"x"),
    # Many small hashes (an object per key): 8 fields each.
    "hash-object": lambda i, v: ("HSET", b"o%d" % (i // 8), b"f%d" % (i % 8), v),
    "set": lambda i, v: ("SADD", b"s%d" % (i % KEYS), v),
    "zset": lambda i, v: ("ZADD", b"z%d" % (i % KEYS), i, v),
    # Many small sorted sets: 16 members each.
    "zset-small": lambda i, v: ("ZADD", b"y%d" % (i // 16), i, v),
    "stream": lambda i, v: ("XADD", b"x%d" % (i % KEYS), "*", "f", v),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if redis.Redis(port=port).ping():
                return proc
        except redis.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{cmd[0]} did not start")
        time.sleep(0.05)


def _per_item(port: int, shape: str, size: int, n: int) -> tuple[float, float]:
    c = redis.Redis(port=port)
    c.set("warm", "up")
    m = c.info("memory")
    before, rss_before = int(m["used_memory"]), int(m["used_memory_rss"])
    make = SHAPES[shape]
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.execute_command(*make(i, _item(i, size)))
        if i % 16 == 15:
            p.execute()
    p.execute()
    m = c.info("memory")
    return (int(m["used_memory"]) - before) / n, (int(m["used_memory_rss"]) - rss_before) / n


def measure(binary: str, shape: str, size: int, n: int) -> list[tuple[float, float]]:
    out = []
    for ours in (True, False):
        port = _free_port()
        tmp = Path(tempfile.mkdtemp(prefix="fkv-mem-"))
        if ours:
            cmd = [binary, "--port", str(port), "--dir", str(tmp / "data")]
        else:
            cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp)]
        proc = _start(cmd, port)
        try:
            out.append(_per_item(port, shape, size, n))
        finally:
            proc.kill()
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/fincaskv-server")
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--sizes", default="16,504,600")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    a = ap.parse_args()
    print(
        f"{'shape':<11} {'size':>5} {'fincaskv B/item':>16} {'redis B/item':>13} {'ratio':>6}"
        f"   {'rss: fincaskv':>13} {'redis':>6} {'ratio':>6}"
    )
    for shape in a.shapes.split(","):
        for size in (int(s) for s in a.sizes.split(",")):
            (ours, ours_rss), (theirs, theirs_rss) = measure(a.bin, shape, size, a.n)
            print(
                f"{shape:<11} {size:>5} {ours:>16.0f} {theirs:>13.0f} {ours / theirs:>6.2f}"
                f"   {ours_rss:>13.0f} {theirs_rss:>6.0f} {ours_rss / theirs_rss:>6.2f}"
            )


if __name__ == "__main__":
    main()
