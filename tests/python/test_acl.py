"""ACL: users with passwords and allowed commands/categories, AUTH user pass,
ACL WHOAMI/USERS/DELUSER/CAT, compared byte for byte with redis-server 7.0
(users are given ~* there: ours see every key, see docs/architecture.md)."""

from __future__ import annotations

import pytest
import redis

from server_harness import Server, server  # noqa: F401
from test_server_differential import cmd, exchange

SCRIPT = [
    cmd("ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@read", "-get", "+set"),
    cmd("ACL", "SETUSER", "dave", "on", ">pw", "~*", "-@all", "+@sortedset", "+@bitmap", "+@hyperloglog"),
    cmd("ACL", "SETUSER", "bob", "on", ">x", "+nosuch"),
    cmd("ACL", "SETUSER", "bob", "on", ">x", "+@nosuch"),
    cmd("ACL", "SETUSER", "bob", "blah"),
    cmd("ACL", "SETUSER", "carol", "off", ">pw", "~*", "+@all"),
    cmd("ACL", "DELUSER", "default"),
    cmd("ACL", "DELUSER", "nobody"),
    cmd("ACL", "USERS"),
    cmd("ACL", "WHOAMI"),
    cmd("ACL", "CAT", "nosuch"),
    cmd("ACL", "NOPE"),
    cmd("ACL"),
    cmd("AUTH", "alice", "bad"),
    cmd("AUTH", "carol", "pw"),
    cmd("AUTH", "nobody", "pw"),
    cmd("SET", "k", "v"),
    cmd("AUTH", "alice", "pw"),
    cmd("GET", "k"),
    cmd("SET", "k", "v2"),
    cmd("MGET", "k"),
    cmd("STRLEN", "k"),
    cmd("DEL", "k"),
    cmd("CONFIG", "GET", "maxclients"),
    cmd("LPUSH", "l", "x"),
    cmd("AUTH", "default", "wrong"),
    cmd("AUTH", "alice", "pw"),
    cmd("MULTI"),
    cmd("DEL", "k"),
    cmd("EXEC"),
    # Categories by family: sorted sets, bitmaps, HyperLogLogs.
    cmd("AUTH", "dave", "pw"),
    cmd("ZADD", "z", "1", "a"),
    cmd("ZSCORE", "z", "a"),
    cmd("SETBIT", "b", "3", "1"),
    cmd("BITCOUNT", "b"),
    cmd("BITFIELD", "b", "GET", "u8", "0"),
    cmd("PFADD", "h", "x"),
    cmd("PFCOUNT", "h"),
    cmd("SET", "k", "v"),
    cmd("GET", "b"),
    cmd("HSET", "hh", "f", "v"),
]


def test_acl_same_bytes_as_redis(server: Server, redis_server: int) -> None:
    setup = [cmd("ACL", "DELUSER", "alice", "bob", "carol", "dave"), cmd("FLUSHALL")]
    ours = exchange(server.port, setup + SCRIPT)[len(setup):]
    theirs = exchange(redis_server, setup + SCRIPT)[len(setup):]
    try:
        for req, a, b in zip(SCRIPT, ours, theirs):
            assert a == b, f"{req!r}: ours {a!r}, redis {b!r}"
    finally:
        exchange(redis_server, [cmd("ACL", "DELUSER", "alice", "bob", "carol", "dave")])


def test_acl_with_redis_py(server: Server) -> None:
    admin = server.client()
    assert admin.acl_setuser("reader", enabled=True, passwords=["+secret"], commands=["+@read"]) is True
    assert admin.acl_whoami() == "default"
    assert sorted(admin.acl_users()) == ["default", "reader"]
    admin.set("k", "v")
    reader = server.client(username="reader", password="secret")
    assert reader.get("k") == b"v"
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the 'set' command"):
        reader.set("k", "w")
    with pytest.raises(redis.exceptions.AuthenticationError):
        server.client(username="reader", password="wrong").ping()
    # Deleting the user takes its rights away from open connections too.
    assert admin.acl_deluser("reader") == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.get("k")
    assert admin.get("k") == b"v"


def test_default_user_password_is_requirepass(server: Server) -> None:
    admin = server.client()
    assert admin.execute_command("ACL", "SETUSER", "default", ">topsecret") == b"OK"
    assert admin.config_get("requirepass") == {"requirepass": "topsecret"}
    with pytest.raises(redis.exceptions.AuthenticationError):
        server.client().ping()
    assert server.client(password="topsecret").ping() is True
    assert server.client(username="default", password="topsecret").ping() is True


# Redis puts a container's categories on its subcommands; ACL rules here
# apply to the container, which keeps the categories of its flags. CLUSTER
# commands add our own @cluster.
CATEGORY_EXCEPTIONS = {"acl", "client", "cluster", "config", "memory", "object", "pubsub", "slowlog"}


def test_command_categories_match_redis(server: Server, redis_server: int) -> None:
    """Every command both servers have lists Redis 7.0's ACL categories, in
    Redis's order (a `-@dangerous` user must not FLUSHALL)."""
    ours = redis.Redis(port=server.port, protocol=2).execute_command("COMMAND")
    theirs = redis.Redis(port=redis_server, protocol=2).execute_command("COMMAND")
    shared = sorted((set(ours) & set(theirs)) - CATEGORY_EXCEPTIONS)
    assert len(shared) > 150
    diffs = {
        name: (ours[name]["acl_categories"], theirs[name]["acl_categories"])
        for name in shared
        if ours[name]["acl_categories"] != theirs[name]["acl_categories"]
    }
    assert diffs == {}


def test_movablekeys_flag_matches_redis(server: Server, redis_server: int) -> None:
    """COMMAND flags `movablekeys` where Redis 7.0 does: redis-py's
    RedisCluster asks COMMAND GETKEYS for those (ZUNIONSTORE, SORT, ...)
    instead of trusting the fixed key range."""
    ours = redis.Redis(port=server.port, protocol=2).execute_command("COMMAND")
    theirs = redis.Redis(port=redis_server, protocol=2).execute_command("COMMAND")
    shared = sorted(set(ours) & set(theirs))
    movable = {name for name in shared if "movablekeys" in theirs[name]["flags"]}
    assert {"zunionstore", "sort", "lmpop", "georadius"} <= movable
    assert {name for name in shared if "movablekeys" in ours[name]["flags"]} == movable


def test_minus_dangerous_refuses_flushall(server: Server) -> None:
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "safe", "on", ">pw", "~*", "&*", "+@all", "-@dangerous")
    user = redis.Redis(port=server.port, username="safe", password="pw")
    assert user.set("k", "v")
    for args in (["FLUSHALL"], ["KEYS", "*"], ["SORT", "k"], ["SWAPDB", "0", "1"]):
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.execute_command(*args)
