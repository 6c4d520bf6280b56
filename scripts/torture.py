#!/usr/bin/env python3
"""Crash torture: SIGKILL a loaded fincaskv-server at random moments, restart
it, and check that no acknowledged write was lost and no MULTI/EXEC was half
applied.

    FINCASKV_SERVER_BIN=target/release/fincaskv-server \\
        .venv/bin/python scripts/torture.py --cycles 100 --fsync always

Load: W worker connections, each owning its keys, each running rounds of
INCR, RPUSH, HSET, SADD, ZADD, APPEND and a MULTI/EXEC that writes the same
token into a string, a hash and a list; a merger connection asks for merges
(BGREWRITEAOF) all the time. After each kill the harness restarts the server
on the same directory and checks every worker's keys against a client-side
model: an operation whose reply arrived must be there; the one operation per
worker that was in flight when the process died may be there or not; the
three keys of a transaction always agree. The model then adopts what the
server holds and the next cycle starts.

With `--fsync everysec` the same checks hold for a process kill: every write
reaches the kernel (pwrite) before its reply, so only an OS crash or power
loss can lose the last second, which a SIGKILL does not simulate.

Exit status 0 when every cycle verified; the last line sums it up.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

OPS = ("incr", "rpush", "hset", "sadd", "zadd", "append", "tx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """One client's model: per operation, the last value the server
    acknowledged and the value in flight when the server died (if any)."""

    wid: int
    acked: Dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPS})
    inflight: Dict[str, Optional[int]] = field(default_factory=lambda: {op: None for op in OPS})
    ops_acked: int = 0
    error: Optional[str] = None

    def key(self, name: str) -> str:
        return f"w{self.wid}:{name}"

    def run(self, port: int, stop: threading.Event) -> None:
        # No client-side retries: a resent command could apply twice.
        r = redis.Redis(port=port, socket_timeout=30, retry=Retry(NoBackoff(), 0))
        try:
            while not stop.is_set():
                for op in OPS:
                    n = self.acked[op] + 1
                    self.inflight[op] = n
                    self.apply(r, op, n)
                    self.acked[op] = n
                    self.inflight[op] = None
                    self.ops_acked += 1
        except (redis.ConnectionError, redis.TimeoutError, ConnectionResetError):
            pass  # the kill; the in-flight op stays marked
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = f"worker {self.wid}: {type(e).__name__}: {e}"
        finally:
            r.close()

    def apply(self, r: redis.Redis, op: str, n: int) -> None:
        k = self.key
        if op == "incr":
            assert r.incr(k("cnt")) == n
        elif op == "rpush":
            assert r.rpush(k("list"), n) == n
        elif op == "hset":
            assert r.hset(k("hash"), f"f{n}", n) == 1
        elif op == "sadd":
            assert r.sadd(k("set"), n) == 1
        elif op == "zadd":
            assert r.zadd(k("zset"), {f"m{n}": n}) == 1
        elif op == "append":
            assert r.append(k("str"), "x") == n
        elif op == "tx":
            p = r.pipeline(transaction=True)
            p.set(k("tx:s"), n).hset(k("tx:h"), "v", n).rpush(k("tx:l"), n)
            p.execute()

    def observed(self, r: redis.Redis) -> Dict[str, int]:
        """What the server holds, per operation, checking each structure's
        shape on the way (an AssertionError names the broken invariant)."""
        k = self.key
        cnt = int(r.get(k("cnt")) or 0)
        lst = [int(x) for x in r.lrange(k("list"), 0, -1)]
        assert lst == list(range(1, len(lst) + 1)), f"{k('list')} holes or order: {lst[-5:]}"
        hlen = r.hlen(k("hash"))
        if hlen:
            assert r.hget(k("hash"), f"f{hlen}") == str(hlen).encode(), f"{k('hash')} missing f{hlen}"
        scard = r.scard(k("set"))
        if scard:
            assert r.sismember(k("set"), scard), f"{k('set')} missing {scard}"
        zcard = r.zcard(k("zset"))
        if zcard:
            assert r.zscore(k("zset"), f"m{zcard}") == zcard, f"{k('zset')} wrong score"
        strlen = r.strlen(k("str"))
        tx_s = int(r.get(k("tx:s")) or 0)
        tx_h = int(r.hget(k("tx:h"), "v") or 0)
        tx_l = r.llen(k("tx:l"))
        assert tx_s == tx_h == tx_l, f"transaction half applied: string {tx_s}, hash {tx_h}, list {tx_l}"
        return {
            "incr": cnt,
            "rpush": len(lst),
            "hset": hlen,
            "sadd": scard,
            "zadd": zcard,
            "append": strlen,
            "tx": tx_s,
        }

    def verify(self, r: redis.Redis) -> int:
        """Checks the server against the model; returns the number of
        acknowledged operations verified; then adopts the server's state."""
        seen = self.observed(r)
        verified = 0
        for op in OPS:
            low = self.acked[op]
            high = self.inflight[op] if self.inflight[op] is not None else low
            got = seen[op]
            assert low <= got <= high, (
                f"worker {self.wid} {op}: server holds {got}, acknowledged {low}, in flight {self.inflight[op]}"
            )
            verified += low
            self.acked[op] = got
            self.inflight[op] = None
        return verified


class Server:
    def __init__(self, binary: str, data: Path, fsync: str, log: Path) -> None:
        self.binary, self.data, self.fsync, self.log_path = binary, data, fsync, log
        self.port = free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--dir",
                    str(self.data),
                    "--fsync",
                    self.fsync,
                    "--loglevel",
                    "warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # Closed here, not by the garbage collector: a probe that
                # fails mid-handshake otherwise leaves its socket to a
                # finalizer (a ResourceWarning that fails the pytest run).
                with redis.Redis(port=self.port, socket_timeout=5) as probe:
                    if probe.ping():
                        return
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def merger(port: int, stop: threading.Event, counter: List[int]) -> None:
    r = redis.Redis(port=port, socket_timeout=30)
    try:
        while not stop.is_set():
            try:
                r.bgrewriteaof()
                counter[0] += 1
            except redis.ResponseError:
                pass  # one already running
            time.sleep(0.05)
    except (redis.ConnectionError, redis.TimeoutError, ConnectionResetError):
        pass
    finally:
        r.close()


def torture(
    binary: str,
    cycles: int,
    fsync: str = "always",
    workers: int = 4,
    min_run: float = 0.2,
    max_run: float = 1.0,
    seed: Optional[int] = None,
    base: Optional[Path] = None,
    quiet: bool = False,
) -> Dict[str, int]:
    """Runs the harness; raises AssertionError on the first violation.
    Returns the figures: cycles, operations acknowledged and verified."""
    rng = random.Random(seed)
    tmp = None
    if base is None:
        tmp = tempfile.TemporaryDirectory(prefix="fincaskv-torture-")
        base = Path(tmp.name)
    server = Server(binary, base / "data", fsync, base / "server.log")
    model = [Worker(w) for w in range(workers)]
    figures = {"cycles": 0, "acked": 0, "verified": 0, "merge_requests": 0}
    merges = [0]
    try:
        server.start()
        for cycle in range(1, cycles + 1):
            stop = threading.Event()
            threads = [threading.Thread(target=w.run, args=(server.port, stop)) for w in model]
            threads.append(threading.Thread(target=merger, args=(server.port, stop, merges)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(min_run, max_run))
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            errors = [w.error for w in model if w.error]
            assert not errors, "; ".join(errors)
            server.start()
            r = redis.Redis(port=server.port, socket_timeout=30)
            verified = sum(w.verify(r) for w in model)
            r.close()
            figures["cycles"] = cycle
            figures["verified"] = verified
            figures["acked"] = sum(w.ops_acked for w in model)
            if not quiet:
                print(f"cycle {cycle}/{cycles}: ok, {verified} acknowledged operations verified", flush=True)
        figures["merge_requests"] = merges[0]
        return figures
    finally:
        server.stop()
        if tmp is not None:
            tmp.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--fsync", choices=["always", "everysec", "no"], default="always")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--binary", default=os.environ.get("FINCASKV_SERVER_BIN", "target/release/fincaskv-server"))
    args = ap.parse_args()
    started = time.monotonic()
    try:
        f = torture(args.binary, args.cycles, args.fsync, args.workers, seed=args.seed)
    except AssertionError as e:
        print(f"VIOLATION: {e}", file=sys.stderr)
        return 1
    print(
        f"torture ok: {f['cycles']} kill cycles (fsync={args.fsync}, {args.workers} workers), "
        f"{f['acked']} operations acknowledged, {f['verified']} verified after the last restart, "
        f"{f['merge_requests']} merges requested, {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
