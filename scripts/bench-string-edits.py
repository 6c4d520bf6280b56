#!/usr/bin/env python3
"""In-place edits of big strings (APPEND, SETRANGE, SETBIT), FincasKV
against Redis 7.0 side by side in one run, over the network with
redis-benchmark.

Each server gets a 64 KiB string `big` and a 1 MiB bitmap `bm`, then
`redis-benchmark -n N -c 10 -P 1` runs each command (fixed offsets:
redis-benchmark's `__rand_int__` is zero-padded, which Redis refuses as an
offset); the rounds alternate
between the servers. Prints ops/s per round, the median ratio ours /
Redis (above 1: FincasKV is faster) and, for FincasKV, the bytes its log
grew by per command (INFO persistence `disk_bytes`): an edit that rewrote
the whole value would write ~64 KiB / ~1 MiB per command.

Usage: scripts/bench-string-edits.py [--bin target/release/fincaskv-server]
       [--n N] [--repeat R]
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = {
    "APPEND": ["APPEND", "big", "0123456789"],
    "SETRANGE": ["SETRANGE", "big", "30000", "abcdefgh"],
    "SETBIT": ["SETBIT", "bm", "4000000", "1"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True
    ).stdout


def wait(port):
    for _ in range(200):
        try:
            if cli(port, "PING").strip() == "PONG":
                return
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no server on port {port}")


def disk_bytes(port):
    m = re.search(r"^disk_bytes:(\d+)", cli(port, "INFO", "persistence"), re.M)
    return int(m.group(1))


def setup(port):
    cli(port, "SET", "big", "v" * 65536)
    cli(port, "SETBIT", "bm", str(8 * 1024 * 1024 - 1), "0")


def bench(port, name, n):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "10", "-q",
         *COMMANDS[name]],
        capture_output=True, text=True, check=True,
    ).stdout
    m = re.findall(r"([\d.]+) requests per second", out)
    return float(m[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/fincaskv-server"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-edits-")
    ours, theirs = free_port(), free_port()
    procs = [
        subprocess.Popen([a.bin, "--port", str(ours), "--dir", os.path.join(tmp, "f")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["redis-server", "--port", str(theirs), "--save", "",
                          "--appendonly", "no", "--dir", tmp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        for p in (ours, theirs):
            wait(p)
            setup(p)
        for name in COMMANDS:
            rates = {ours: [], theirs: []}
            grown = []
            for _ in range(a.repeat):
                for p in (ours, theirs):
                    before = disk_bytes(p) if p == ours else 0
                    rates[p].append(bench(p, name, a.n))
                    if p == ours:
                        grown.append((disk_bytes(p) - before) / a.n)
            ratio = statistics.median(rates[ours]) / statistics.median(rates[theirs])
            print(f"{name:9s} fincaskv {' / '.join(f'{r / 1000:.1f}k' for r in rates[ours])}"
                  f"  redis {' / '.join(f'{r / 1000:.1f}k' for r in rates[theirs])}"
                  f"  ratio {ratio:.2f}  log bytes per command {statistics.median(grown):.0f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
