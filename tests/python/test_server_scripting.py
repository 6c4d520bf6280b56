"""Lua scripting through redis-py against the real binary: ``register_script``
(EVALSHA with the EVAL fallback), SCRIPT LOAD / EXISTS / FLUSH, and redis-py's
``Lock``, which is built on scripts (acquire, release, extend, reacquire,
blocking acquire with a timeout, a second holder refused)."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from redis.exceptions import LockError, LockNotOwnedError, NoScriptError, ResponseError

from server_harness import server, r  # noqa: F401


def test_register_script_and_script_cache(r):
    incr_by = r.register_script(
        "local v = redis.call('incrby', KEYS[1], ARGV[1]) return {v, #KEYS, ARGV[2]}"
    )
    assert incr_by(keys=["n"], args=[5, "x"]) == [5, 1, b"x"]
    assert incr_by(keys=["n"], args=[2, "y"]) == [7, 1, b"y"]
    sha = r.script_load("return redis.call('get', KEYS[1])")
    assert r.script_exists(sha, "0" * 40) == [True, False]
    assert r.evalsha(sha, 1, "n") == b"7"
    assert r.eval("return redis.call('get', KEYS[1])", 1, "n") == b"7"
    assert r.evalsha_ro(sha, 1, "n") == b"7"
    r.script_flush()
    assert r.script_exists(sha) == [False]
    with pytest.raises(NoScriptError):
        r.evalsha(sha, 1, "n")
    # register_script falls back to EVAL after NOSCRIPT and works again.
    assert incr_by(keys=["n"], args=[1, "z"]) == [8, 1, b"z"]


def test_script_errors_reach_the_client(r):
    with pytest.raises(ResponseError, match="Error compiling script"):
        r.eval("return +", 0)
    with pytest.raises(ResponseError, match="Write commands are not allowed from read-only scripts"):
        r.eval_ro("return redis.call('set', 'a', 'b')", 0)
    r.set("s", "v")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        r.eval("return redis.call('lpush', KEYS[1], 'x')", 1, "s")


@pytest.mark.parametrize(
    "body",
    [
        "redis.call('set', KEYS[1], 'before'); while true do end",
        # Catching the budget's error does not escape it.
        "redis.call('set', KEYS[1], 'before'); while true do pcall(function() while true do end end) end",
        "redis.call('set', KEYS[1], 'before'); local ok = true; while ok do ok = pcall(function() for i = 1, 1e12 do end end) end; return 'escaped'",
    ],
)
def test_a_runaway_script_is_stopped_and_the_server_keeps_serving(r, body):
    """A script runs under the keyspace lock: one that never ends would stop
    the server. It is stopped after a fixed number of Lua instructions (the
    same point on every replica); its writes before that stay, as after
    any script error (Redis does not roll back either)."""
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    with pytest.raises(ResponseError, match="Script killed: it ran more than 500000000 Lua instructions"):
        r.eval(body, 1, "runaway")
    assert other.ping() is True
    assert r.get("runaway") == b"before"
    # The next script gets a sound state (the killed one is rebuilt).
    assert r.eval(
        "return {('abc'):upper(), redis.call('get', KEYS[1]), type(math.random())}", 1, "runaway"
    ) == [b"ABC", b"before", b"number"]
    # A long but finite script is not stopped.
    assert r.eval("local x = 0; for i = 1, 1000000 do x = x + i end; return x", 0) == 500000500000


def test_a_script_cannot_change_the_sandbox_of_the_next(r):
    """Scripts share one kept Lua state, as on Redis: the globals, the
    libraries and the strings' metatable are read-only, so what one script
    tries to change the next never sees."""
    for body in [
        "x = 1",
        "redis.call = function() return 'hijacked' end",
        "string.upper = function() return 'hijacked' end",
        "getmetatable('').__index.upper = function() return 'hijacked' end",
        "getmetatable('').__index = {}",
    ]:
        with pytest.raises(ResponseError, match="Attempt to modify a readonly table"):
            r.eval(body, 0)
    assert r.eval("math.randomseed(1) collectgarbage('stop') return 1", 0) == 1
    assert r.eval("return {('abc'):upper(), redis.call('ping')}", 0) == [b"ABC", b"PONG"]
    with pytest.raises(ResponseError, match="nonexistent global variable 'x'"):
        r.eval("return x", 0)


def test_scripts_in_a_transaction(r):
    with r.pipeline(transaction=True) as p:
        p.eval("return redis.call('set', KEYS[1], ARGV[1])", 1, "t", "1")
        p.eval("return redis.call('incr', KEYS[1])", 1, "t")
        assert p.execute() == [b"OK", 2]


def test_lock_acquire_release_extend(server):
    client = redis.Redis(port=server.port)
    other = redis.Redis(port=server.port)
    try:
        lock = client.lock("resource", timeout=10)
        assert lock.acquire(blocking=False)
        assert lock.locked() and lock.owned()
        # A second holder is refused, without and with a (short) wait.
        rival = other.lock("resource", timeout=10)
        assert not rival.acquire(blocking=False)
        started = time.monotonic()
        assert not rival.acquire(blocking=True, blocking_timeout=0.3)
        assert time.monotonic() - started >= 0.1
        # extend / reacquire run Lua scripts.
        assert lock.extend(5)
        assert 10 < client.pttl("resource") / 1000 <= 15
        assert lock.extend(3, replace_ttl=True)
        assert client.pttl("resource") <= 3000
        assert lock.reacquire()
        assert 9 < client.pttl("resource") / 1000 <= 10
        # Only the owner may release or extend: the scripts compare tokens.
        rival.local.token = b"not-the-owner"
        with pytest.raises(LockNotOwnedError):
            rival.extend(1)
        rival.local.token = b"not-the-owner"
        with pytest.raises(LockNotOwnedError):
            rival.release()
        assert lock.owned()
        lock.release()
        assert not lock.locked()
        with pytest.raises(LockError):
            lock.release()
        assert rival.acquire(blocking=False)
        rival.release()
    finally:
        client.close()
        other.close()


def test_lock_blocking_acquire_waits_for_the_release(server):
    client = redis.Redis(port=server.port)
    other = redis.Redis(port=server.port)
    try:
        lock = client.lock("job", timeout=10)
        assert lock.acquire()
        got = []

        def waiter():
            rival = other.lock("job", timeout=10, sleep=0.02)
            got.append(rival.acquire(blocking=True, blocking_timeout=5))
            if got[-1]:
                rival.release()

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)
        assert got == []
        lock.release()
        thread.join(timeout=10)
        assert got == [True]
    finally:
        client.close()
        other.close()


def test_lock_expires_and_context_manager(server):
    client = redis.Redis(port=server.port)
    try:
        short = client.lock("brief", timeout=0.2)
        assert short.acquire(blocking=False)
        time.sleep(0.35)
        with client.lock("brief", timeout=5, blocking_timeout=1) as held:
            assert held.owned()
        assert not client.exists("brief")
        # The expired holder no longer owns it.
        with pytest.raises(LockNotOwnedError):
            short.release()
    finally:
        client.close()
