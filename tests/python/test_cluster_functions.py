"""Redis 7.0 Functions in a Raft cluster: FUNCTION LOAD / DELETE / FLUSH /
RESTORE are write entries replicated as the command (every node loads the
library from the entry), FCALL is a write entry and FCALL_RO a read; a
library loaded at one node runs on another that becomes leader; a node that
joins late gets the libraries with the leader's snapshot (the snapshot
carries the functions record)."""

from __future__ import annotations

import pytest
import redis

from server_harness import free_port, wait_for
from test_cluster import leader_of, node, raft_info, start_cluster, stop_all, try_raft_info, wait_same_data

pytestmark = pytest.mark.timeout(180)

LIB = """#!lua name=lib
redis.register_function('incr2', function(keys) redis.call('incr', keys[1]) return redis.call('incr', keys[1]) end)
redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}
"""


def test_a_library_loaded_at_a_follower_runs_on_a_new_leader(tmp_path):
    nodes, _ = start_cluster(tmp_path, 3)
    try:
        leader = leader_of(nodes)
        assert leader is not None
        followers = [n for n in nodes if n is not leader]
        f = followers[0].client(decode_responses=True)
        # Loaded through a follower (forwarded to the leader, replicated).
        assert f.function_load(LIB) == "lib"
        with pytest.raises(redis.ResponseError, match="Library 'lib' already exists"):
            f.function_load(LIB)
        assert f.fcall("incr2", 1, "n") == 2
        assert f.fcall_ro("peek", 1, "n") == "2"
        with pytest.raises(redis.ResponseError, match="Can not execute a script with write flag"):
            f.fcall_ro("incr2", 1, "n")
        assert f.function_load("#!lua name=tmp\nredis.register_function('t', function() return 1 end)") == "tmp"
        assert f.function_delete("tmp") is True
        wait_same_data(nodes)
        # The leader goes away: a follower that only applied the entries
        # now leads and runs the library.
        leader.stop()
        rest = [n for n in nodes if n is not leader]
        wait_for(lambda: leader_of(rest) is not None, "a new leader", timeout=60)
        c = leader_of(rest).client(decode_responses=True)
        assert c.fcall("incr2", 1, "n") == 4
        with pytest.raises(redis.ResponseError, match="Function not found"):
            c.fcall("t", 0)
        assert [lib[1] for lib in c.function_list()] == ["lib"]
    finally:
        stop_all(nodes)


def test_a_late_joiner_gets_the_libraries_with_the_snapshot(tmp_path):
    nodes, _ = start_cluster(tmp_path, 2)
    try:
        cl = nodes[0].client(decode_responses=True)
        assert cl.function_load(LIB) == "lib"
        assert cl.fcall("incr2", 1, "n") == 2
        assert cl.execute_command("CLUSTER", "SNAPSHOT") == "OK"
        applied = int(raft_info(nodes[0])["raft_last_applied"])

        def purged() -> bool:
            i = raft_info(nodes[0])
            return int(i["raft_snapshot_index"]) >= applied and int(i["raft_purged_index"]) >= applied

        wait_for(purged, "the leader's snapshot and purge", timeout=120)
        late = node(tmp_path, "late", free_port(), "--join", raft_info(nodes[0])["raft_addr"])
        nodes.append(late)
        wait_for(lambda: try_raft_info(late).get("cluster_size") == "3", "the late node to be a voter", timeout=120)
        log = (tmp_path / f"server-{late.port}.log").read_text(errors="replace")
        assert "snapshot installed" in log
        # The digest covers the functions record: the joiner has the library.
        wait_same_data(nodes, timeout=120)
        assert cl.fcall("incr2", 1, "n") == 4
        wait_same_data(nodes, timeout=120)
    finally:
        stop_all(nodes)
