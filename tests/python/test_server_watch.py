"""WATCH against a real redis-server 7.0: which flushes, swaps and
expiries break a transaction. Redis 7.0 breaks a WATCH only when its key
really changes: FLUSHDB / FLUSHALL / SWAPDB touch only the watched keys
they remove or replace, and a key already expired when watched changes
neither when expiry removes it nor when a flush does.

Each case runs the same steps on both servers and the EXEC outcomes must
agree. Deadlines are far enough from the sleeps that a slow host changes
neither outcome."""

from __future__ import annotations

import time
from typing import Callable

import pytest
import redis

from server_harness import server  # noqa: F401

pytestmark = pytest.mark.timeout(60)

Client = Callable[..., redis.Redis]

# name -> (setup, between WATCH and MULTI); both get a client factory.
CASES: dict[str, tuple[Callable[[Client], object], Callable[[Client], object]]] = {
    "flushdb, key missing": (lambda c: None, lambda c: c().flushdb()),
    "flushdb, key there": (lambda c: c().set("k", "1"), lambda c: c().flushdb()),
    "flushdb, key expired after the watch": (
        lambda c: c().set("k", "1", px=300),
        lambda c: (time.sleep(0.6), c().flushdb()),
    ),
    "flushdb, key expired before the watch": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: c().flushdb(),
    ),
    "flushdb of another db": (lambda c: c(1).set("k", "1"), lambda c: c(1).flushdb()),
    "flushall, key missing": (lambda c: c().set("other", "1"), lambda c: c().flushall()),
    "flushall, key there": (lambda c: c().set("k", "1"), lambda c: c().flushall()),
    "swapdb, key in neither": (lambda c: c(1).set("other", "1"), lambda c: c().swapdb(0, 1)),
    "swapdb, key in the other": (lambda c: c(1).set("k", "1"), lambda c: c().swapdb(0, 1)),
    "swapdb, key in its own": (lambda c: c().set("k", "1"), lambda c: c().swapdb(0, 1)),
    "swapdb, same value in both": (
        lambda c: (c().set("k", "1"), c(1).set("k", "1")),
        lambda c: c().swapdb(0, 1),
    ),
    "swapdb, expired key for an expired one": (
        lambda c: (c().set("k", "1", px=10), c(1).set("k", "2", px=10), time.sleep(0.1)),
        lambda c: c().swapdb(0, 1),
    ),
    "expired before the watch, nothing after": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: None,
    ),
    "expired before the watch, read by another client": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: c().get("k"),
    ),
    "expired before the watch, removed by active expiry": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: time.sleep(0.5),
    ),
    "expired before the watch, then written": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: c().set("k", "2"),
    ),
    "expired before the watch, removed, then written": (
        lambda c: (c().set("k", "1", px=10), time.sleep(0.1)),
        lambda c: (time.sleep(0.5), c().set("k", "3")),
    ),
    "live when watched, expired at exec": (
        lambda c: c().set("k", "1", px=1000),
        lambda c: time.sleep(1.5),
    ),
}


def outcome(port: int, case: str) -> str:
    opened: list[redis.Redis] = []

    def client(db: int = 0) -> redis.Redis:
        opened.append(redis.Redis(port=port, db=db))
        return opened[-1]

    setup, between = CASES[case]
    try:
        client().flushall()
        setup(client)
        p = client().pipeline()
        p.watch("k")
        between(client)
        p.multi()
        p.set("z", "1")
        try:
            return f"EXEC {p.execute()}"
        except redis.WatchError:
            return "WatchError"
        finally:
            p.reset()
    finally:
        for c in opened:
            c.close()


@pytest.mark.parametrize("case", list(CASES))
def test_watch_breaks_as_in_redis(server, redis_server, case):  # noqa: F811
    assert outcome(server.port, case) == outcome(redis_server, case)


def test_the_cases_cover_both_outcomes(redis_server):
    """The comparison above means something only if Redis itself answers
    both ways across the cases (so a server that always breaks, or never
    does, fails some)."""
    seen = {outcome(redis_server, case) for case in CASES}
    assert seen == {"WatchError", "EXEC [True]"}
