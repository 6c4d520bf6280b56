"""Offline tools of the binary: `dump` (JSON lines / RESP), `load`, `merge`.
The RESP dump is also piped into a real redis-server with `redis-cli --pipe`
and the two servers are compared key by key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import redis

import fincaskv
from server_harness import server_bin

pytestmark = pytest.mark.timeout(120)


def tool(*args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([server_bin(), *args], capture_output=True, text=True, timeout=60, stdin=stdin)


def make_store(path: Path) -> None:
    with fincaskv.DB(path) as db:
        db.set("s", "hello")
        db.set(b"bin\xff\x00key", b"\x00\x01\xfe")
        db.set("ttl", "x", px=3_600_000)
        db.rpush("l", *[f"e{i}" for i in range(2500)])  # more than one chunk
        db.hset("h", mapping={"f1": "v1", "f2": b"\xff"})
        db.sadd("set", "a", "b", "c")
        db.zadd("z", {"m1": 1.5, "m2": -2, "m3": 1e300})
        db.bf().add("bloom", "x")
        db.select(3).set("in-db3", "yes")
        for i in range(100):
            db.set(f"k{i}", i)
            db.delete(f"k{i}") if i % 2 else None


def contents(r: redis.Redis) -> Dict[bytes, Any]:
    out: Dict[bytes, Any] = {}
    for key in r.scan_iter(count=1000):
        t = r.type(key)
        if t == b"string":
            v: Any = r.get(key)
        elif t == b"list":
            v = r.lrange(key, 0, -1)
        elif t == b"hash":
            v = r.hgetall(key)
        elif t == b"set":
            v = sorted(r.smembers(key))
        elif t == b"zset":
            v = r.zrange(key, 0, -1, withscores=True)
        else:
            continue
        pttl = r.pttl(key)
        out[key] = (t, v, pttl > 0)
    return out


def test_dump_load_dump_is_identical(tmp_path: Path) -> None:
    make_store(tmp_path / "a")
    out = tool("dump", "--format", "jsonl", "-o", str(tmp_path / "a.jsonl"), str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    assert "dumped 59 keys" in out.stderr and "left out" not in out.stderr, out.stderr
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    docs = [json.loads(x) for x in lines]
    by_key = {d["key"] if isinstance(d["key"], str) else d["key"]["hex"]: d for d in docs}
    assert by_key["bloom"]["type"] == "MBbloom--" and len(by_key["bloom"]["value"]) >= 2
    assert by_key["s"] == {"db": 0, "key": "s", "type": "string", "pexpireat": None, "value": "hello"}
    assert by_key["in-db3"]["db"] == 3
    assert by_key["ttl"]["pexpireat"] > 0
    assert by_key[b"bin\xff\x00key".hex()]["value"] == {"hex": "0001fe"}

    load = tool("load", str(tmp_path / "b"), str(tmp_path / "a.jsonl"))
    assert load.returncode == 0, load.stderr
    assert "loaded 59 keys" in load.stderr
    again = tool("dump", "-o", str(tmp_path / "b.jsonl"), str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr
    assert sorted((tmp_path / "b.jsonl").read_text().splitlines()) == sorted(lines)

    # RESP form, loaded back through `load` too.
    resp = tool("dump", "--format", "resp", "-o", str(tmp_path / "a.resp"), str(tmp_path / "a"))
    assert resp.returncode == 0, resp.stderr
    with open(tmp_path / "a.resp") as f:
        load = tool("load", str(tmp_path / "c"), "-", stdin=f)
    assert load.returncode == 0, load.stderr
    third = tool("dump", "-o", str(tmp_path / "c.jsonl"), str(tmp_path / "c"))
    assert third.returncode == 0, third.stderr
    assert sorted((tmp_path / "c.jsonl").read_text().splitlines()) == sorted(lines)


def test_resp_dump_pipes_into_a_real_redis(tmp_path: Path, redis_client: redis.Redis, redis_server: int) -> None:
    make_store(tmp_path / "a")
    out = tool("dump", "--format", "resp", "--no-bloom", "-o", str(tmp_path / "a.resp"), str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    assert "1 Bloom filters left out" in out.stderr, out.stderr
    with open(tmp_path / "a.resp", "rb") as f:
        pipe = subprocess.run(
            ["redis-cli", "-p", str(redis_server), "--pipe"], stdin=f, capture_output=True, timeout=60
        )
    assert pipe.returncode == 0, pipe.stdout + pipe.stderr
    assert b"errors: 0" in pipe.stdout, pipe.stdout
    srv = subprocess.Popen(
        [server_bin(), "--port", "0", "--dir", str(tmp_path / "a")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().decode()
        port = int(line.split("listening on ")[1].split(" ")[0].rsplit(":", 1)[1])
        ours = redis.Redis(port=port, protocol=2)
        for db in (0, 3):
            ours.execute_command("SELECT", db)
            redis_client.execute_command("SELECT", db)
            mine, theirs = contents(ours), contents(redis_client)
            mine.pop(b"bloom", None)
            assert mine == theirs
        ours.close()
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        if srv.stdout is not None:
            srv.stdout.close()


def test_merge_and_errors(tmp_path: Path) -> None:
    make_store(tmp_path / "a")
    out = tool("merge", str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    assert "merged in" in out.stderr and "dead bytes dropped" in out.stderr
    with fincaskv.DB(tmp_path / "a") as db:
        assert db.get("s") == b"hello" and db.llen("l") == 2500
        # A directory held by a running store is refused, not corrupted.
        for args in (["dump", str(tmp_path / "a")], ["merge", str(tmp_path / "a")]):
            held = tool(*args)
            assert held.returncode == 1 and "lock" in held.stderr.lower(), held.stderr
    assert tool("dump", str(tmp_path / "missing")).returncode == 1
    bad: List[str] = ['{"db": 0, "key": "k", "type": "string", "value": "v"}', "{not json"]
    (tmp_path / "bad.jsonl").write_text("\n".join(bad) + "\n")
    out = tool("load", str(tmp_path / "b"), str(tmp_path / "bad.jsonl"))
    assert out.returncode == 1 and "line 2" in out.stderr, out.stderr
    (tmp_path / "cut.resp").write_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab")
    out = tool("load", str(tmp_path / "c"), str(tmp_path / "cut.resp"))
    assert out.returncode == 1 and "middle of a command" in out.stderr, out.stderr
    (tmp_path / "wrong.jsonl").write_text('{"db": 0, "key": "k", "type": "zset", "value": [["m", "nan-ish"]]}\n')
    out = tool("load", str(tmp_path / "d"), str(tmp_path / "wrong.jsonl"))
    assert out.returncode == 1 and "line 1" in out.stderr and "float" in out.stderr, out.stderr
