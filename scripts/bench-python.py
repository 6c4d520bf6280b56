#!/usr/bin/env python3
"""Embedded key/value stores from Python, side by side.

For each store, in a process of its own (so that one store's memory and
threads do not slow the next): N puts (one call each), N gets in random
order (one call each), then one batch of N puts into a fresh store. Keys are
16 bytes, values 100 bytes. Prints operations per second.

    .venv/bin/pip install -r scripts/bench-requirements.txt
    .venv/bin/python scripts/bench-python.py            # N = 300,000, median of 3 runs
    .venv/bin/python scripts/bench-python.py -n 50000 --stores fincaskv,lmdb

Durability is set alike everywhere: a process crash loses nothing that a
call acknowledged, a power loss may lose the last moments (nobody fsyncs
each write): FincasKV ``fsync="everysec"`` (its default), LMDB
``sync=False``, RocksDB and LevelDB with their default unsynced WAL/log,
SQLite in WAL mode with ``synchronous=NORMAL``. Every put and get is its own
transaction where the store has transactions (LMDB, SQLite); the row
``lmdb-1txn`` also shows LMDB reading everything inside one read
transaction, which is LMDB's best case, not a one-call-per-get figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

KEY_LEN = 16
VALUE_LEN = 100
STORES = ["fincaskv", "lmdb", "lmdb-1txn", "rocksdict", "plyvel", "sqlite3"]


def make_data(n: int, seed: int = 42) -> Tuple[List[bytes], List[bytes]]:
    rng = random.Random(seed)
    keys = [b"k%015d" % i for i in rng.sample(range(10**15), n)]
    values = [rng.randbytes(VALUE_LEN) for _ in range(min(n, 1024))]
    values = [values[i % len(values)] for i in range(n)]
    assert all(len(k) == KEY_LEN for k in keys)
    return keys, values


class Store:
    """put / get / batch over one directory."""

    def __init__(self, path: str) -> None:
        self.path = path

    def put(self) -> Callable[[bytes, bytes], object]:
        raise NotImplementedError

    def get(self) -> Callable[[bytes], object]:
        raise NotImplementedError

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FincasKV(Store):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        import fincaskv

        self.db = fincaskv.DB(path, fsync="everysec")

    def put(self) -> Callable[[bytes, bytes], object]:
        return self.db.set

    def get(self) -> Callable[[bytes], object]:
        return self.db.get

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        with self.db.write_batch() as b:
            put = b.put
            for k, v in zip(keys, values):
                put(k, v)

    def close(self) -> None:
        self.db.close()


class Lmdb(Store):
    def __init__(self, path: str, one_read_txn: bool = False) -> None:
        super().__init__(path)
        import lmdb

        self.env = lmdb.open(path, map_size=8 << 30, sync=False, metasync=False)
        self.one_read_txn = one_read_txn
        self._txn: Optional[object] = None

    def put(self) -> Callable[[bytes, bytes], object]:
        env = self.env

        def put(k: bytes, v: bytes) -> object:
            with env.begin(write=True) as txn:
                return txn.put(k, v)

        return put

    def get(self) -> Callable[[bytes], object]:
        env = self.env
        if self.one_read_txn:
            self._txn = txn = env.begin()
            return txn.get  # type: ignore[attr-defined, no-any-return]

        def get(k: bytes) -> object:
            with env.begin() as txn:
                return txn.get(k)

        return get

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        with self.env.begin(write=True) as txn:
            put = txn.put
            for k, v in zip(keys, values):
                put(k, v)

    def close(self) -> None:
        if self._txn is not None:
            self._txn.abort()  # type: ignore[attr-defined]
        self.env.close()


class RocksDict(Store):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        import rocksdict

        self.rocksdict = rocksdict
        self.db = rocksdict.Rdict(path, options=rocksdict.Options(raw_mode=True))

    def put(self) -> Callable[[bytes, bytes], object]:
        return self.db.put

    def get(self) -> Callable[[bytes], object]:
        return self.db.get

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        wb = self.rocksdict.WriteBatch(raw_mode=True)
        put = wb.put
        for k, v in zip(keys, values):
            put(k, v)
        self.db.write(wb)

    def close(self) -> None:
        self.db.close()


class Plyvel(Store):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        import plyvel

        self.db = plyvel.DB(path, create_if_missing=True)

    def put(self) -> Callable[[bytes, bytes], object]:
        return self.db.put

    def get(self) -> Callable[[bytes], object]:
        return self.db.get

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        with self.db.write_batch() as wb:
            put = wb.put
            for k, v in zip(keys, values):
                put(k, v)

    def close(self) -> None:
        self.db.close()


class Sqlite(Store):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        import sqlite3

        os.makedirs(path, exist_ok=True)
        self.conn = sqlite3.connect(os.path.join(path, "kv.sqlite"), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")

    def put(self) -> Callable[[bytes, bytes], object]:
        execute = self.conn.execute
        sql = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"

        def put(k: bytes, v: bytes) -> object:
            return execute(sql, (k, v))

        return put

    def get(self) -> Callable[[bytes], object]:
        execute = self.conn.execute
        sql = "SELECT v FROM kv WHERE k = ?"

        def get(k: bytes) -> object:
            return execute(sql, (k,)).fetchone()

        return get

    def batch(self, keys: List[bytes], values: List[bytes]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", zip(keys, values))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def open_store(name: str, path: str) -> Store:
    if name == "fincaskv":
        return FincasKV(path)
    if name == "lmdb":
        return Lmdb(path)
    if name == "lmdb-1txn":
        return Lmdb(path, one_read_txn=True)
    if name == "rocksdict":
        return RocksDict(path)
    if name == "plyvel":
        return Plyvel(path)
    if name == "sqlite3":
        return Sqlite(path)
    raise SystemExit(f"unknown store {name!r}; known: {', '.join(STORES)}")


class Clock:
    """Wall time and process CPU time (all threads) of one phase."""

    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def run_one(name: str, n: int, workdir: str) -> Dict[str, float]:
    """Runs the three phases for one store (in this process); ops/s by wall
    clock and by process CPU time (robust when other programs load the machine)."""
    keys, values = make_data(n)
    order = keys[:]
    random.Random(7).shuffle(order)
    out: Dict[str, float] = {}

    store = open_store(name, os.path.join(workdir, "puts"))
    put = store.put()
    with Clock() as c:
        for k, v in zip(keys, values):
            put(k, v)
    out["puts"], out["puts_cpu"] = n / c.wall, n / c.cpu

    get = store.get()
    found = 0
    with Clock() as c:
        for k in order:
            if get(k) is not None:
                found += 1
    out["gets"], out["gets_cpu"] = n / c.wall, n / c.cpu
    assert found == n, f"{name}: {found} of {n} keys found"
    store.close()

    store = open_store(name, os.path.join(workdir, "batch"))
    with Clock() as c:
        store.batch(keys, values)
    out["batch"], out["batch_cpu"] = n / c.wall, n / c.cpu
    check = store.get()
    assert check(keys[-1]) is not None, f"{name}: batch lost its last key"
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=300_000, help="operations per phase (default 300000)")
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated stores to run")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per store, interleaved; each figure is the median (default 3)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        workdir = tempfile.mkdtemp(prefix=f"bench-{args.one}-")
        try:
            print(json.dumps(run_one(args.one, args.n, workdir)))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return

    # Runs are interleaved (every store once, then again ...) so that a
    # slow stretch of a shared machine hits every store alike; the median
    # of the runs is reported.
    runs: Dict[str, List[Dict[str, float]]] = {}
    for _ in range(max(1, args.repeat)):
        for name in args.stores.split(","):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", name, "-n", str(args.n)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                print(f"{name}: failed\n{proc.stderr.strip()}", file=sys.stderr)
                continue
            runs.setdefault(name, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()
    }

    print(f"\n{args.n:,} ops per phase, {KEY_LEN}-byte keys, {VALUE_LEN}-byte values, median of {args.repeat} runs")
    for suffix, title in (("", "ops per wall-clock second"), ("_cpu", "ops per CPU second of the process")):
        print(f"\n{title}:")
        print(f"{'store':<12}{'puts':>14}{'gets':>14}{'batch puts':>14}")
        for name, r in results.items():
            print(f"{name:<12}{r['puts' + suffix]:>14,.0f}{r['gets' + suffix]:>14,.0f}{r['batch' + suffix]:>14,.0f}")
        mine = results.get("fincaskv")
        others = {k: v for k, v in results.items() if k != "fincaskv"}
        if mine and any(k != "lmdb-1txn" for k in others):
            for phase in ("puts", "gets", "batch"):
                key = phase + suffix
                # lmdb-1txn is shown, not compared: it is not one call per get.
                best_name = max((k for k in others if k != "lmdb-1txn"), key=lambda k: others[k][key])
                line = f"  fincaskv {phase:<6} = {mine[key] / others[best_name][key]:5.2f}x the best other ({best_name})"
                if "lmdb" in others and best_name != "lmdb":
                    line += f", {mine[key] / others['lmdb'][key]:5.2f}x lmdb"
                print(line)


if __name__ == "__main__":
    main()
