"""Redis 7.0 Functions through redis-py against the real binary, in RESP2
and RESP3, compared call by call with redis-py on a real redis-server in
the same protocol; libraries survive a restart and FLUSHALL."""

from __future__ import annotations

import pytest
import redis

from server_harness import r, server, start_server  # noqa: F401
from test_cluster import restart

LIB = """#!lua name=mylib
redis.register_function{function_name='getk', callback=function(keys) return redis.call('get', keys[1]) end,
  flags={'no-writes', 'allow-stale'}, description='reads a key'}
redis.register_function('setk', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('mixed', function(keys, args) return {1, 'two', {3.5, false}, {ok='fine'}} end)
redis.register_function('boom', function(keys, args) return redis.call('incr', keys[1]) end)
"""
OTHER = "#!lua name=other\nredis.register_function('o', function() return 'o' end)"


def _field(lib, name):
    if isinstance(lib, dict):
        return lib.get(name.encode(), lib.get(name))
    i = lib.index(name.encode()) if name.encode() in lib else lib.index(name)
    return lib[i + 1]


def normalized(result):
    """FUNCTION LIST with its libraries and each one's functions sorted
    (Redis lists them in its dicts' order, FincasKV by name)."""
    for lib in result:
        _field(lib, "functions").sort(key=repr)
    return sorted(result, key=repr)


def outcome(client, method, *args, **kwargs):
    try:
        result = getattr(client, method)(*args, **kwargs)
    except redis.ResponseError as e:
        return ("error", str(e))
    if method == "function_list":
        result = normalized(result)
    return ("ok", result)


@pytest.fixture
def reference(redis_server, r):
    """A client of the session's reference redis-server in r's protocol,
    with no libraries (they outlive FLUSHALL)."""
    protocol = r.connection_pool.connection_kwargs.get("protocol")
    kw = {} if protocol is None else {"protocol": protocol}
    ref = redis.Redis(port=redis_server, **kw)
    ref.function_flush()
    ref.flushall()
    yield ref
    ref.function_flush()
    ref.close()


def test_functions_match_redis(r, reference):
    calls = [
        ("function_load", (LIB,), {}),
        ("function_load", (LIB,), {}),
        ("function_load", (LIB,), {"replace": True}),
        ("function_load", ("#!lua name=x\nredis.register_function('y', function() end, 3)",), {}),
        ("function_load", ("#!lua name=x\nredis.call('ping')",), {}),
        ("function_load", ("#!lua name=dup\nredis.register_function('SETK', function() end)",), {}),
        ("function_load", (OTHER,), {}),
        ("fcall", ("setk", 1, "k", "v"), {}),
        ("fcall_ro", ("getk", 1, "k"), {}),
        ("fcall_ro", ("setk", 1, "k", "w"), {}),
        ("fcall", ("mixed", 0), {}),
        ("fcall", ("boom", 1, "k"), {}),
        ("fcall", ("nosuch", 0), {}),
        ("fcall", ("getk", -1), {}),
        ("function_list", (), {"library": "mylib"}),
        ("function_list", (), {"library": "o*", "withcode": True}),
        ("function_stats", (), {}),
        ("function_kill", (), {}),
        ("function_delete", ("other",), {}),
        ("function_delete", ("other",), {}),
        ("function_restore", (b"junk",), {}),
        ("function_flush", ("ASYNC",), {}),
        ("function_list", (), {}),
    ]
    for i, (method, args, kwargs) in enumerate(calls):
        ours = outcome(r, method, *args, **kwargs)
        theirs = outcome(reference, method, *args, **kwargs)
        assert ours == theirs, f"call #{i} {method}{args}: fincaskv={ours!r} redis={theirs!r}"


def test_payloads_cross_between_the_servers(r, reference):
    reference.function_load(LIB)
    assert r.function_restore(reference.function_dump()) is True
    assert r.fcall("setk", 1, "k", "v") in (b"OK", "OK")
    r.function_load(OTHER)
    assert reference.function_restore(r.function_dump(), "REPLACE") is True
    assert reference.fcall("o", 0) == b"o"


def test_command_info_and_arity(r):
    info = r.execute_command("COMMAND", "INFO", "fcall", "fcall_ro", "function")
    assert info is not None
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'function\\|delete' command"):
        r.execute_command("FUNCTION", "DELETE")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'fcall' command"):
        r.execute_command("FCALL", "f")


def test_libraries_survive_restart_and_flushall(tmp_path):
    srv = start_server(tmp_path)
    try:
        c = srv.client(decode_responses=True)
        assert c.function_load(LIB) == "mylib"
        assert c.fcall("setk", 1, "k", "v") == "OK"
        assert c.flushall() is True
        assert c.fcall("setk", 1, "k", "w") == "OK"
        data = srv.dir
        srv.stop()
        srv = restart(tmp_path, data, None)
        c = srv.client(decode_responses=True)
        assert c.fcall_ro("getk", 1, "k") == "w"
        stats = c.function_stats()
        engines = stats["engines"] if isinstance(stats, dict) else stats[3]
        assert engines in (
            ["LUA", ["libraries_count", 1, "functions_count", 4]],
            {"LUA": {"libraries_count": 1, "functions_count": 4}},
        )
    finally:
        srv.stop()
