"""Sharded pub/sub (SSUBSCRIBE / SUNSUBSCRIBE / SPUBLISH / PUBSUB
SHARDCHANNELS | SHARDNUMSUB) against a real redis-server 7.0 side by side:
the same requests on several connections, every byte each connection
receives compared (replies and pushes), in RESP2 and RESP3; then redis-py's
sharded API, the command table rows, ACL and a Raft cluster."""

from __future__ import annotations

import pytest
import redis

from resp_script import compare, run
from server_harness import server, start_server, wait_for  # noqa: F401

# Two subscribers (a: RESP2, c: RESP3), publishers b and d.
RESP2_SCRIPT = [
    ("a", ["SSUBSCRIBE", "x", "y"]),
    ("a", ["SUBSCRIBE", "z"]),
    ("a", ["PSUBSCRIBE", "p*"]),
    ("a", ["SSUBSCRIBE", "x"]),
    ("b", ["SPUBLISH", "x", "hello"]),
    ("b", ["PUBLISH", "x", "hello"]),
    ("b", ["SPUBLISH", "z", "hi"]),
    ("b", ["SPUBLISH", "px", "not a pattern match"]),
    ("b", ["PUBSUB", "SHARDCHANNELS", "x*"]),
    ("b", ["PUBSUB", "SHARDCHANNELS", "nomatch*"]),
    ("b", ["PUBSUB", "SHARDCHANNELS", "x", "y"]),
    ("b", ["PUBSUB", "shardchannels", "x", "y"]),
    ("b", ["PUBSUB", "SHARDNUMSUB", "x", "y", "z"]),
    ("b", ["PUBSUB", "SHARDNUMSUB"]),
    ("b", ["PUBSUB", "NUMSUB", "x", "z"]),
    ("b", ["PUBSUB", "CHANNELS"]),
    ("b", ["PUBSUB", "CHANNELS", "x", "y"]),
    ("b", ["PUBSUB", "NUMPAT"]),
    ("b", ["PUBSUB", "NUMPAT", "x"]),
    ("b", ["PUBSUB", "HELP"]),
    ("b", ["PUBSUB"]),
    ("b", ["PUBSUB", "NOPE"]),
    # A RESP2 subscriber may run only (P|S)(UN)SUBSCRIBE, PING, QUIT, RESET.
    ("a", ["GET", "k"]),
    ("a", ["PING"]),
    ("a", ["SPUBLISH", "x", "me"]),
    ("a", ["PUBLISH", "x", "me"]),
    ("a", ["PUBSUB", "NUMPAT"]),
    ("a", ["SUNSUBSCRIBE", "x"]),
    ("a", ["UNSUBSCRIBE"]),
    ("a", ["PUNSUBSCRIBE"]),
    # Still subscribed to shard channel y: still in subscribed mode.
    ("a", ["GET", "k"]),
    ("a", ["SUNSUBSCRIBE"]),
    ("a", ["GET", "k"]),
    ("a", ["SUNSUBSCRIBE"]),
    ("a", ["SUNSUBSCRIBE", "a", "b"]),
    # Arity.
    ("b", ["SPUBLISH", "x"]),
    ("b", ["SPUBLISH", "x", "y", "z"]),
    ("b", ["SSUBSCRIBE"]),
    # Inside MULTI: SSUBSCRIBE fails at EXEC, the others run.
    ("b", ["MULTI"]),
    ("b", ["SSUBSCRIBE", "x"]),
    ("b", ["SUNSUBSCRIBE", "x"]),
    ("b", ["SPUBLISH", "x", "y"]),
    ("b", ["EXEC"]),
    ("b", ["PUBSUB", "SHARDNUMSUB", "x"]),
    # SUBSCRIBE and friends may be queued (Redis 7.0 has no no-multi flag
    # on them); the EXEC array holds their pushes.
    ("g", ["MULTI"]),
    ("g", ["SUBSCRIBE", "q"]),
    ("g", ["PSUBSCRIBE", "p*"]),
    ("g", ["SSUBSCRIBE", "x"]),
    ("g", ["UNSUBSCRIBE", "q"]),
    ("g", ["EXEC"]),
    ("g", ["GET", "k"]),
    ("g", ["PUNSUBSCRIBE"]),
    ("g", ["GET", "k"]),
    # RESET and QUIT leave every shard channel.
    ("e", ["SSUBSCRIBE", "r", "s"]),
    ("b", ["PUBSUB", "SHARDNUMSUB", "r", "s"]),
    ("e", ["RESET"]),
    ("b", ["PUBSUB", "SHARDNUMSUB", "r", "s"]),
    ("b", ["PUBSUB", "SHARDCHANNELS"]),
    ("f", ["SSUBSCRIBE", "q"]),
    ("f", ["QUIT"]),
    ("b", ["SPUBLISH", "q", "after quit"]),
    # The channels are not keys.
    ("b", ["COMMAND", "GETKEYS", "SPUBLISH", "ch", "msg"]),
    ("b", ["COMMAND", "GETKEYS", "SSUBSCRIBE", "a", "b"]),
    ("b", ["COMMAND", "GETKEYS", "SUNSUBSCRIBE", "a"]),
]

RESP3_SCRIPT = [
    ("c", ["HELLO", "3"]),
    ("c", ["SSUBSCRIBE", "x"]),
    ("c", ["SUBSCRIBE", "x"]),
    ("d", ["SPUBLISH", "x", "m"]),
    ("d", ["PUBLISH", "x", "m"]),
    # A RESP3 subscriber runs any command; its own message comes first.
    ("c", ["GET", "k"]),
    ("c", ["SPUBLISH", "x", "self"]),
    ("c", ["PUBLISH", "x", "self"]),
    ("c", ["SUNSUBSCRIBE"]),
    ("c", ["SUNSUBSCRIBE"]),
    ("c", ["UNSUBSCRIBE"]),
    ("c", ["SSUBSCRIBE", "a", "b"]),
    ("c", ["MULTI"]),
    ("c", ["SUBSCRIBE", "q"]),
    ("c", ["SUNSUBSCRIBE", "a"]),
    ("c", ["SPUBLISH", "nobody", "m"]),
    ("c", ["EXEC"]),
    ("c", ["RESET"]),
]


def _without_hello(outcomes):
    # HELLO's reply names the server version and the client id.
    return [o for o, (_, args) in zip(outcomes, RESP3_SCRIPT) if args[0] != "HELLO"]


def test_same_bytes_as_redis_resp2(server, redis_server):
    theirs = run(redis_server, RESP2_SCRIPT)
    ours = run(server.port, RESP2_SCRIPT, reference=theirs)
    compare(ours, theirs, RESP2_SCRIPT)


def test_same_bytes_as_redis_resp3(server, redis_server):
    theirs = run(redis_server, RESP3_SCRIPT)
    ours = run(server.port, RESP3_SCRIPT, reference=theirs)
    steps = [s for s in RESP3_SCRIPT if s[1][0] != "HELLO"]
    compare(_without_hello(ours), _without_hello(theirs), steps)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sharded_api(server, redis_server, protocol):
    """redis-py's ssubscribe / get_sharded_message / spublish /
    pubsub_shardchannels / pubsub_shardnumsub give the same results."""
    results = []
    for port in (server.port, redis_server):
        pub = redis.Redis(port=port, protocol=protocol)
        sub = redis.Redis(port=port, protocol=protocol).pubsub()
        try:
            sub.ssubscribe("news", "sport")
            got = [sub.get_sharded_message(timeout=5) for _ in range(2)]
            sub.subscribe("news")
            got.append(sub.get_message(timeout=5))
            published = [pub.spublish("news", "hi"), pub.spublish("nobody", "x"), pub.publish("news", "plain")]
            messages = []
            for _ in range(20):
                m = sub.get_sharded_message(timeout=0.2)
                if m is not None:
                    messages.append(m)
                if len(messages) == 2:
                    break
            counts = (
                sorted(pub.pubsub_shardchannels()),
                pub.pubsub_shardchannels("s*"),
                pub.pubsub_shardnumsub("news", "sport", "none"),
                pub.pubsub_numsub("news", "sport"),
                pub.pubsub_channels(),
                int(pub.info("stats")["pubsubshard_channels"]),
            )
            sub.sunsubscribe("news")
            wait_for(lambda: pub.pubsub_shardnumsub("news") == [(b"news", 0)], "sunsubscribe")
            results.append((got, published, sorted(messages, key=lambda m: m["type"]), counts))
        finally:
            sub.close()
            pub.close()
    assert results[0] == results[1]
    got, published, messages, counts = results[0]
    assert [m["type"] for m in got] == ["ssubscribe", "ssubscribe", "subscribe"]
    assert published == [1, 0, 1]
    assert [(m["type"], m["channel"], m["data"]) for m in messages] == [
        ("message", b"news", b"plain"),
        ("smessage", b"news", b"hi"),
    ]
    assert counts[0] == [b"news", b"sport"] and counts[5] == 2


def test_client_list_and_info_count_shard_subscriptions(server, redis_server):
    for port in (server.port, redis_server):
        admin = redis.Redis(port=port, decode_responses=True)
        sub = redis.Redis(port=port).pubsub()
        try:
            sub.ssubscribe("a", "b")
            sub.get_sharded_message(timeout=5)
            sub.get_sharded_message(timeout=5)
            mine = [c for c in admin.client_list() if c["cmd"] == "ssubscribe"]
            assert len(mine) == 1, port
            assert (mine[0]["sub"], mine[0]["psub"], mine[0]["ssub"], mine[0]["flags"]) == ("0", "0", "2", "P"), port
            assert [c["ssub"] for c in admin.client_list(_type="pubsub")] == ["2"], port
            if port == server.port:  # a Redis 7.2 field FincasKV has
                assert admin.info("clients")["pubsub_clients"] == 1
            assert admin.info("stats")["pubsubshard_channels"] == 2, port
        finally:
            sub.close()
            admin.close()


# The flags FincasKV models (Redis's `noscript`, `loading`, `stale` it
# reports for no command), as test_acl.py compares them.
MODELLED_FLAGS = {"write", "readonly", "denyoom", "admin", "pubsub", "no_multi", "blocking", "no_auth", "fast", "movablekeys"}


def raw(port: int, *args: str):
    """A RESP3 reply as redis-py parses it, without its command callbacks."""
    client = redis.Redis(port=port, protocol=3, decode_responses=True)
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)
        client.close()


def _row(port: int, name: str) -> tuple:
    with redis.Redis(port=port, protocol=2) as client:
        info = client.execute_command("COMMAND", "INFO", name)[name]
    flags = sorted(set(info["flags"]) & MODELLED_FLAGS)
    keys = (info["first_key_pos"], info["last_key_pos"], info["step_count"])
    return (info["arity"], flags, keys, info["acl_categories"])


@pytest.mark.parametrize("name", ["spublish", "ssubscribe", "sunsubscribe", "pubsub|shardchannels", "pubsub|shardnumsub"])
def test_command_rows_match_redis(server, redis_server, name):
    """Arity, flags, the channel's key range and ACL categories as Redis
    7.0 lists them; COMMAND DOCS has its summary, since, group, complexity."""
    assert _row(server.port, name) == _row(redis_server, name)
    fields = ("summary", "since", "group", "complexity")

    def docs(port):
        d = raw(port, "COMMAND", "DOCS", name)
        return {k: d[name][k] for k in fields}

    assert docs(server.port) == docs(redis_server)
    for port in (server.port, redis_server):
        names = raw(port, "COMMAND", "LIST")
        assert {"spublish", "ssubscribe", "sunsubscribe"} <= set(names)
        with redis.Redis(port=port, decode_responses=True) as client:
            assert {"spublish", "ssubscribe", "sunsubscribe"} <= set(client.acl_cat("pubsub"))


def test_acl_rules_apply_to_shard_channel_commands(server, redis_server):
    """`&*` users run the sharded commands under their categories; a denied
    one gets Redis's NOPERM text."""
    errors = []
    for port in (server.port, redis_server):
        admin = redis.Redis(port=port)
        admin.execute_command("ACL", "SETUSER", "shard", "on", ">pw", "~*", "&*", "-@all", "+@pubsub", "-spublish")
        user = redis.Redis(port=port, username="shard", password="pw")
        try:
            assert user.pubsub_shardnumsub("c") == [(b"c", 0)]
            with pytest.raises(redis.exceptions.NoPermissionError) as denied:
                user.spublish("c", "m")
            errors.append(str(denied.value))
            sub = user.pubsub()
            sub.ssubscribe("c")
            assert sub.get_sharded_message(timeout=5)["type"] == "ssubscribe"
            assert admin.spublish("c", "m") == 1
            sub.close()
        finally:
            admin.execute_command("ACL", "DELUSER", "shard")
            user.close()
            admin.close()
    assert errors[0] == errors[1]


def test_spublish_in_a_cluster_is_node_local_like_publish(tmp_path):
    """In a Raft cluster SPUBLISH does what PUBLISH does there: it reaches
    the subscribers connected to the node that runs it (no raft entry, no
    -MOVED from a follower in redirect mode)."""
    from test_cluster import agreed_leader, raft_info, start_cluster, stop_all

    nodes, _ = start_cluster(tmp_path, 2, "--cluster-redirect")
    try:
        wait_for(lambda: agreed_leader(nodes) is not None, "a leader", timeout=30)
        leader = agreed_leader(nodes)
        follower = next(n for n in nodes if n is not leader)
        assert raft_info(follower)["raft_redirect"] == "on"
        for node in (leader, follower):
            other = follower if node is leader else leader
            sub = node.client().pubsub()
            sub.ssubscribe("ch")
            sub.subscribe("ch")
            sub.get_sharded_message(timeout=5)
            sub.get_message(timeout=5)
            here, there = node.client(), other.client()
            assert here.spublish("ch", "m") == here.publish("ch", "m") == 1
            assert there.spublish("ch", "m") == there.publish("ch", "m") == 0
            assert here.pubsub_shardnumsub("ch") == [(b"ch", 1)]
            assert there.pubsub_shardnumsub("ch") == [(b"ch", 0)]
            sub.close()
    finally:
        stop_all(nodes)
