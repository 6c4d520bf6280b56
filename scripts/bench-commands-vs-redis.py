#!/usr/bin/env python3
"""Cost of one command inside the engine, FincasKV against Redis 7.0, side
by side in one run.

FincasKV: `examples/command_loop SHAPE N` (Keyspace::execute in a loop,
fsync=no, see that file for the shapes). Redis: the same commands sent with
`redis-cli --pipe` to a redis-server without persistence, timed by Redis
itself (`INFO commandstats` usec_per_call: the command's own run, no
network or parsing, like command_loop). Each shape runs `--repeat` times
interleaved; medians are printed with the ratio ours / Redis (below 1:
FincasKV is faster).

Usage: scripts/bench-commands-vs-redis.py [--n N] [--repeat R]
(builds the example first: cargo build --release --example command_loop)
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOP = os.path.join(ROOT, "target", "release", "examples", "command_loop")
KEYS = 10_000  # command_loop cycles through this many commands


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def zmove(i, mult):
    return resp("ZADD", "bigz", i * 100 * mult % 999_983, "m:%08d" % (i * 100))


# The shapes of examples/command_loop.rs, command i of KEYS.
SHAPES = {
    "GET": lambda i: resp("GET", "key:%08d" % i),
    "SET": lambda i: resp("SET", "key:%08d" % i, "v" * 16),
    "INCR": lambda i: resp("INCR", "counter"),
    "LPUSH": lambda i: resp("LPUSH", "list", "v" * 16),
    "HSET": lambda i: resp("HSET", "hash", "field:%08d" % i, "v" * 16),
    "SADD": lambda i: resp("SADD", "set:%d" % (i % 64), "member:%08d" % i),
    "ZMOVE": lambda i: zmove(i, 13),
    # On a 1M-member set (command_loop's SSCAN follows the cursor; here
    # every call starts at 0, which costs Redis the same: a few buckets).
    "SRANDMEMBER": lambda i: resp("SRANDMEMBER", "bigs"),
    "SPOP": lambda i: resp("SPOP", "bigs"),
    "SSCAN": lambda i: resp("SSCAN", "bigs", 0),
    # Over 1M keys (same remark).
    "SCAN": lambda i: resp("SCAN", 0),
    # A 1M-field hash renamed back and forth (ours: O(1), and a rewrite
    # after every 1M renames of the same value; see renamed.rs).
    "RENAME": lambda i: resp("RENAME", "bigh", "bigh2") if i % 2 == 0
    else resp("RENAME", "bigh2", "bigh"),
}
BIG_SET = ("SRANDMEMBER", "SPOP", "SSCAN")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(port, *args, stdin=None):
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        check=True,
    ).stdout.decode()


def redis_usec(port, shape, n):
    """Redis's own time per call (microseconds) for n commands of shape."""
    cmds = SHAPES[shape]
    if shape == "ZMOVE" and cli(port, "EXISTS", "bigz").strip() == "0":
        load = b"".join(
            resp("ZADD", "bigz", *[x for i in range(c * 1000, (c + 1) * 1000)
                                   for x in (i * 7 % 1_000_003, "m:%08d" % i)])
            for c in range(1000)
        )
        cli(port, "--pipe", stdin=load)
    if shape in BIG_SET and (shape == "SPOP" or cli(port, "EXISTS", "bigs").strip() == "0"):
        # SPOP drains the set: every run starts from the whole of it.
        cli(port, "DEL", "bigs")
        load = b"".join(
            resp("SADD", "bigs", *["member:%08d" % i for i in range(c * 1000, (c + 1) * 1000)])
            for c in range(1000)
        )
        cli(port, "--pipe", stdin=load)
    if shape == "SCAN" and cli(port, "EXISTS", "k:00000000").strip() == "0":
        load = b"".join(
            resp("MSET", *[x for i in range(c * 1000, (c + 1) * 1000) for x in ("k:%08d" % i, "v")])
            for c in range(1000)
        )
        cli(port, "--pipe", stdin=load)
    if shape == "RENAME":
        cli(port, "DEL", "bigh", "bigh2")
        load = b"".join(
            resp("HSET", "bigh", *[x for i in range(c * 1000, (c + 1) * 1000)
                                   for x in ("field:%08d" % i, "v")])
            for c in range(1000)
        )
        cli(port, "--pipe", stdin=load)
    if shape in ("GET",):
        cli(port, "--pipe", stdin=b"".join(SHAPES["SET"](i) for i in range(KEYS)))
    if shape == "ZMOVE":
        # Two score tables in turn, as command_loop: every ZADD moves.
        batch = b"".join(
            zmove(i % KEYS, 13 if (i // KEYS) % 2 == 0 else 17) for i in range(n)
        )
    else:
        batch = b"".join(cmds(i % KEYS) for i in range(n))
    cli(port, "CONFIG", "RESETSTAT")
    cli(port, "--pipe", stdin=batch)
    name = "zadd" if shape == "ZMOVE" else shape.lower()
    stats = cli(port, "INFO", "commandstats")
    m = re.search(r"cmdstat_%s:calls=\d+,usec=\d+,usec_per_call=([0-9.]+)" % name, stats)
    if not m:
        sys.exit("no commandstats for %s:\n%s" % (name, stats))
    return float(m.group(1))


def ours_usec(shape, n):
    out = subprocess.run([LOOP, shape, str(n)], capture_output=True, check=True).stdout.decode()
    m = re.search(r", ([0-9.]+)(ns|µs|ms|s) per command", out)
    if not m:
        sys.exit("cannot read command_loop output: " + out)
    value, unit = m.group(1), m.group(2)
    scale = {"ns": 1e-3, "µs": 1.0, "ms": 1e3, "s": 1e6}[unit]
    return float(value) * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300_000, help="commands per shape and run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default=",".join(SHAPES))
    a = ap.parse_args()
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--example", "command_loop"],
        cwd=ROOT,
        check=True,
    )
    port = free_port()
    tmp = tempfile.mkdtemp()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                cli(port, "PING")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        version = re.search(r"redis_version:(\S+)", cli(port, "INFO", "server")).group(1)
        print("per command, ns (median of %d interleaved runs of %d commands); Redis %s"
              % (a.repeat, a.n, version))
        print("%-11s %10s %10s %8s" % ("shape", "FincasKV", "Redis", "ratio"))
        for shape in a.shapes.split(","):
            ours, theirs = [], []
            for _ in range(a.repeat):
                ours.append(ours_usec(shape, a.n))
                theirs.append(redis_usec(port, shape, a.n))
            o, t = statistics.median(ours), statistics.median(theirs)
            print("%-11s %10.0f %10.0f %8.2f" % (shape, o * 1000, t * 1000, o / t), flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
