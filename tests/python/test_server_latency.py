"""LATENCY (the latency monitor and the per-command histograms) and LOLWUT
against a real redis-server 7.0 side by side: errors and fixed texts byte
for byte, measured values by shape (types, lengths, which buckets), and a
spike recorded after `CONFIG SET latency-monitor-threshold 1` + `DEBUG
SLEEP 0.01` on both."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import redis

from resp_script import compare, run
from server_harness import free_port, server, wait_for  # noqa: F401


@pytest.fixture
def debug_redis(tmp_path):
    """A fresh redis-server that allows DEBUG (for DEBUG SLEEP)."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server must be installed (scripts/test.sh installs it)"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--enable-debug-command", "yes", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up():
        try:
            with redis.Redis(port=port) as client:
                return client.ping()
        except redis.ConnectionError:
            return False

    wait_for(up, "redis-server to answer")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def raw(port: int, *args: object, protocol: int = 3):
    """A reply as redis-py parses it, without its command callbacks."""
    client = redis.Redis(port=port, protocol=protocol)
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        try:
            return conn.read_response()
        except redis.ResponseError as e:
            return ("error", str(e))
    finally:
        client.connection_pool.release(conn)
        client.close()


FIXED = [
    ("a", ["LATENCY", "LATEST"]),
    ("a", ["LATENCY", "HISTORY", "command"]),
    ("a", ["LATENCY", "GRAPH", "command"]),
    ("a", ["LATENCY", "DOCTOR"]),
    ("a", ["LATENCY", "HELP"]),
    ("a", ["LATENCY", "help"]),
    ("a", ["LATENCY", "RESET"]),
    ("a", ["LATENCY", "RESET", "a", "b"]),
    ("a", ["LATENCY"]),
    ("a", ["LATENCY", "NOPE"]),
    ("a", ["LATENCY", "HISTORY"]),
    ("a", ["LATENCY", "HISTORY", "a", "b"]),
    ("a", ["LATENCY", "GRAPH"]),
    ("a", ["LATENCY", "GRAPH", "a", "b"]),
    ("a", ["LATENCY", "LATEST", "x"]),
    ("a", ["LATENCY", "HELP", "x"]),
    ("a", ["LATENCY", "DOCTOR", "x"]),
    ("a", ["LATENCY", "HISTOGRAM", "nosuch", "nosuch|sub"]),
    ("a", ["CONFIG", "GET", "latency-monitor-threshold"]),
    ("a", ["CONFIG", "SET", "latency-monitor-threshold", "-1"]),
    ("a", ["CONFIG", "SET", "latency-monitor-threshold", "x"]),
    ("a", ["CONFIG", "SET", "latency-monitor-threshold", "1kb"]),
    ("a", ["CONFIG", "SET", "latency-monitor-threshold", "100000"]),
    ("a", ["CONFIG", "GET", "latency-monitor-threshold"]),
    # Enabled, nothing slow yet: a different text.
    ("a", ["LATENCY", "DOCTOR"]),
    ("a", ["LATENCY", "GRAPH", "command"]),
    ("a", ["CONFIG", "SET", "latency-monitor-threshold", "0"]),
    ("a", ["HELLO", "3"]),
    ("a", ["LATENCY", "LATEST"]),
    ("a", ["LATENCY", "DOCTOR"]),
    ("a", ["LATENCY", "HISTOGRAM", "nosuch"]),
    ("a", ["LATENCY", "RESET", "command"]),
]


def test_errors_and_fixed_replies_match_redis(server, debug_redis):
    theirs = run(debug_redis, FIXED)
    ours = run(server.port, FIXED, reference=theirs)
    keep = [i for i, (_, args) in enumerate(FIXED) if args[0] != "HELLO"]
    compare([ours[i] for i in keep], [theirs[i] for i in keep], [FIXED[i] for i in keep])


def _digits(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def _spike(port: int) -> dict:
    """Enables the monitor, sleeps 10 ms in a command, reads everything."""
    c = redis.Redis(port=port)
    try:
        assert c.config_set("latency-monitor-threshold", 1)
        assert c.execute_command("DEBUG", "SLEEP", "0.01") in (b"OK", True)
    finally:
        c.close()
    out = {}
    for protocol in (2, 3):
        out[protocol] = {
            "latest": raw(port, "LATENCY", "LATEST", protocol=protocol),
            "history": raw(port, "LATENCY", "HISTORY", "command", protocol=protocol),
            "fast": raw(port, "LATENCY", "HISTORY", "fast-command", protocol=protocol),
            "graph": raw(port, "LATENCY", "GRAPH", "command", protocol=protocol),
            "doctor": raw(port, "LATENCY", "DOCTOR", protocol=protocol),
        }
    out["reset"] = (raw(port, "LATENCY", "RESET", "COMMAND"), raw(port, "LATENCY", "LATEST"))
    raw(port, "CONFIG", "SET", "latency-monitor-threshold", "0")
    return out


def _masked(replies: dict) -> dict:
    def mask(v):
        if isinstance(v, list):
            return [mask(x) for x in v]
        if isinstance(v, int):
            return "int"
        if isinstance(v, (bytes, str)):
            return _digits(v.decode() if isinstance(v, bytes) else str(v))
        return v

    return {k: mask(v) for k, v in replies.items()}


def test_spike_recorded_with_redis_shapes(server, debug_redis):
    now = time.time()
    ours, theirs = _spike(server.port), _spike(debug_redis)
    for protocol in (2, 3):
        assert _masked(ours[protocol]) == _masked(theirs[protocol]), protocol
        for got in (ours[protocol], theirs[protocol]):
            [[event, when, latest, worst]] = got["latest"]
            assert event == b"command"
            assert abs(when - now) < 30 and 10 <= latest <= worst
            assert got["history"] == [[when, latest]]
            assert got["fast"] == []
            graph = got["graph"].decode() if isinstance(got["graph"], bytes) else str(got["graph"])
            assert graph.startswith(f"command - high {latest} ms, low {latest} ms (all time high {worst} ms)\n" + "-" * 80)
            doctor = got["doctor"].decode() if isinstance(got["doctor"], bytes) else str(got["doctor"])
            assert "1. command: 1 latency spikes" in doctor
    assert ours["reset"] == theirs["reset"] == (1, [])


def _bucket_values() -> set[int]:
    # Redis's HDR histogram buckets as LATENCY HISTOGRAM reports them (us).
    return {((1032 << k) - 1) // 1000 for k in range(31)}


def _histograms(port: int, protocol: int):
    c = redis.Redis(port=port)
    try:
        for _ in range(3):
            c.set("h-key", "v")
        c.config_get("maxclients")
    finally:
        c.close()
    return (
        raw(port, "LATENCY", "HISTOGRAM", "set", "config|get", "nosuch", protocol=protocol),
        raw(port, "LATENCY", "HISTOGRAM", "CONFIG", protocol=protocol),
        raw(port, "LATENCY", "HISTOGRAM", protocol=protocol),
    )


@pytest.mark.parametrize("protocol", [2, 3])
def test_histograms_have_redis_shape_and_buckets(server, debug_redis, protocol):
    for port in (server.port, debug_redis):
        named, container, everything = _histograms(port, protocol)
        if protocol == 2:
            # A flat array of name, [calls, n, histogram_usec, [bucket, count, ...]].
            named = dict(zip(named[::2], named[1::2]))
            named = {k: {"calls": v[1], "histogram_usec": dict(zip(v[3][::2], v[3][1::2]))} for k, v in named.items()}
            container = dict(zip(container[::2], container[1::2]))
            everything = dict(zip(everything[::2], everything[1::2]))
        else:
            named = {k: {kk.decode(): vv for kk, vv in v.items()} for k, v in named.items()}
        assert set(named) == {b"set", b"config|get"}, port
        assert (named[b"set"]["calls"], named[b"config|get"]["calls"]) == (3, 1), port
        for h in named.values():
            buckets = h["histogram_usec"]
            assert set(buckets) <= _bucket_values(), (port, buckets)
            counts = [buckets[b] for b in sorted(buckets)]
            assert counts == sorted(counts) and counts[-1] == h["calls"], port
        assert b"config|get" in container and b"config" not in container, port
        assert {b"set", b"config|get"} <= set(everything), port


# Deterministic LOLWUT requests (Redis draws with rand(); these sizes draw
# no random square), compared with the version line adjusted.
LOLWUT = [
    ["LOLWUT"],
    ["LOLWUT", "foo"],
    ["LOLWUT", "VERSION"],
    ["LOLWUT", "VERSION", "x"],
    ["LOLWUT", "VERSION", "4"],
    ["LOLWUT", "VERSION", "7", "foo"],
    ["LOLWUT", "VERSION", "5", "x"],
    ["LOLWUT", "VERSION", "5", "1", "1", "x"],
    ["LOLWUT", "VERSION", "5", "1", "1", "1", "1"],
    ["LOLWUT", "version", "5", "2", "1", "1"],
    ["LOLWUT", "VERSION", "5", "-3", "-3", "-3"],
    ["LOLWUT", "VERSION", "5", "10", "3", "2"],
    ["LOLWUT", "VERSION", "6", "3", "x"],
    ["LOLWUT", "VERSION", "6", "0", "0"],
    ["LOLWUT", "VERSION", "9999999999999999999"],
]


def _version(port: int) -> str:
    with redis.Redis(port=port) as client:
        return str(client.info("server")["redis_version"])


@pytest.mark.parametrize("protocol", [2, 3])
def test_lolwut_matches_redis(server, debug_redis, protocol):
    ours_v, theirs_v = _version(server.port), _version(debug_redis)
    for args in LOLWUT:
        ours = raw(server.port, *args, protocol=protocol)
        theirs = raw(debug_redis, *args, protocol=protocol)
        if isinstance(theirs, (bytes, str)):
            text = theirs.decode() if isinstance(theirs, bytes) else str(theirs)
            mine = ours.decode() if isinstance(ours, bytes) else str(ours)
            assert mine == text.replace(f"Redis ver. {theirs_v}\n", f"Redis ver. {ours_v}\n"), args
            assert mine.endswith(f"Redis ver. {ours_v}\n"), args
        else:
            assert ours == theirs, args


@pytest.mark.parametrize("args", [["5"], ["5", "40", "6", "5"], ["6"], ["6", "30", "7"]])
def test_lolwut_art_has_redis_shape(server, debug_redis, args):
    """Random art (Redis uses rand()): same number of lines, same width."""

    def shape(port):
        text = raw(port, "LOLWUT", "VERSION", *args, protocol=2).decode()
        art = text.split("\n")[:-3]
        return [len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in art]

    assert shape(server.port) == shape(debug_redis)


def test_slow_fast_command_is_a_fast_command_event(server, debug_redis):
    """A command flagged `fast` (MGET) over the threshold is recorded as
    `fast-command` (300,000 keys take well over 1 ms on both servers)."""
    keys = [f"k{i}" for i in range(300_000)]
    events = []
    for port in (server.port, debug_redis):
        c = redis.Redis(port=port)
        try:
            c.config_set("latency-monitor-threshold", 1)
            assert c.mget(keys)[0] is None
            events.append({e[0] for e in c.execute_command("LATENCY", "LATEST")})
            c.config_set("latency-monitor-threshold", 0)
        finally:
            c.close()
    assert all(b"fast-command" in e for e in events), events
