"""Lua scripts in a Raft cluster: EVAL / EVALSHA are write entries replicated
as the command; EVALSHA travels as EVAL with the body of the receiving node's
cache (the leader and the other followers need not have the script); random
numbers come from the entry's seed, so every node writes the same value;
SCRIPT is each node's own."""

from __future__ import annotations

import pytest
import redis

from test_cluster import leader_of, start_cluster, stop_all, wait_same_data

pytestmark = pytest.mark.timeout(120)


def test_scripts_at_a_follower_replicate(tmp_path):
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is not None
        followers = [n for n in nodes if n is not leader]
        f = followers[0].client(decode_responses=True)
        lc = leader.client(decode_responses=True)
        # A script loaded at one follower only.
        body = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])"
        sha = f.script_load(body)
        assert lc.script_exists(sha) == [False]
        assert f.evalsha(sha, 2, "k", "n", "v") == 1
        assert f.evalsha(sha.upper(), 2, "k", "n", "w") == 2
        # Random picks are the entry's: the same number on every node.
        assert f.eval("redis.call('set', KEYS[1], math.random(1000000000)) return 1", 1, "r") == 1
        # A script that fails midway keeps its first write, on every node.
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            f.eval("redis.call('set', 'half', '1') return redis.call('lpush', KEYS[1], 'x')", 1, "k")
        # Unknown at the node that receives it: NOSCRIPT, nothing proposed.
        with pytest.raises(redis.exceptions.NoScriptError):
            f.evalsha("0" * 40, 0)
        # Read-only scripts (a linearizable read at the leader), by digest too.
        assert f.evalsha_ro(f.script_load("return redis.call('get', KEYS[1])"), 1, "k") == "w"
        assert f.eval_ro("return redis.call('get', KEYS[1])", 1, "n") == "2"
        with pytest.raises(redis.ResponseError, match="Write commands are not allowed"):
            f.eval_ro("return redis.call('del', KEYS[1])", 1, "k")
        # In a transaction, EVALSHA travels as EVAL too.
        p = f.pipeline(transaction=True)
        p.evalsha(sha, 2, "k2", "n", "x").get("k2")
        assert p.execute() == [3, "x"]
        wait_same_data(nodes)
        values = set()
        for n in nodes:
            c = n.client(decode_responses=True)
            assert c.get("k") == "w"
            assert c.get("n") == "3"
            assert c.get("half") == "1"
            values.add(c.get("r"))
        assert len(values) == 1 and values.pop().isdigit()
    finally:
        stop_all(nodes)
