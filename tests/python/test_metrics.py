"""Prometheus metrics over HTTP (`--metrics-addr`): scraped and parsed."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict

import pytest

from server_harness import free_port, start_server

pytestmark = pytest.mark.timeout(60)

LINE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(port: int) -> Dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    samples: Dict[str, float] = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"{m.group(1)} has no # TYPE"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_metrics_endpoint(tmp_path: Path) -> None:
    mport = free_port()
    srv = start_server(tmp_path, "--metrics-addr", f"127.0.0.1:{mport}", "--fsync", "always")
    try:
        r = srv.client()
        for i in range(25):
            r.set(f"k{i}", i)
        r.expire("k0", 100)
        r.get("k1")
        with pytest.raises(Exception):
            r.lpush("k1", "x")  # WRONGTYPE: a failed call
        r.select(2)
        r.set("other", 1)
        s = scrape(mport)
        assert s['fincaskv_commands_total{cmd="set"}'] == 26
        assert s['fincaskv_commands_failed_total{cmd="lpush"}'] == 1
        assert s['fincaskv_keys{db="0"}'] == 25
        assert s['fincaskv_keys_with_expiry{db="0"}'] == 1
        assert s['fincaskv_keys{db="2"}'] == 1
        assert s["fincaskv_connected_clients"] >= 1
        assert s["fincaskv_connections_received_total"] >= 1
        # Histogram: cumulative buckets, +Inf equals the count.
        buckets = [v for k, v in s.items() if k.startswith('fincaskv_command_duration_seconds_bucket{cmd="set"')]
        assert buckets == sorted(buckets) and buckets[-1] == 26
        assert s['fincaskv_command_duration_seconds_count{cmd="set"}'] == 26
        assert s['fincaskv_command_duration_seconds_sum{cmd="set"}'] > 0
        assert any(k.startswith("fincaskv_storage_") for k in s), sorted(s)
        # fsync=always: one fsync per acknowledged write at least once, timed.
        fsyncs = [v for k, v in s.items() if k.endswith("_fsyncs")]
        assert fsyncs and fsyncs[0] >= 26, sorted(s)
        assert [v for k, v in s.items() if k.endswith("_fsync_micros_total")][0] > 0
        # Other paths and methods are refused.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{mport}/other", timeout=10)
        assert e.value.code == 404
        e.value.close()
        req = urllib.request.Request(f"http://127.0.0.1:{mport}/metrics", method="POST", data=b"x")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 405
        e.value.close()
        assert r.ping()
    finally:
        srv.stop()


def test_metrics_addr_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match="metrics-addr"):
            start_server(tmp_path, "--metrics-addr", f"127.0.0.1:{port}")
