"""Differential tests: the same redis-py-style calls on ``fincaskv.DB`` and on
redis-py talking to a real ``redis-server``; results must be equal.

Strings, keys, lists, errors, pipelines and random sequences (every family)
here; hashes, sets and sorted sets in their own files. Commands whose result is random
(SPOP, SRANDMEMBER, ...) are compared by shape in their own tests.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fincaskv
from differential import Call, c, run_both

STRINGS: List[Call] = [
    c("get", "s"),
    c("set", "s", "v1"),
    c("get", "s"),
    c("set", "s", "v2", nx=True),
    c("set", "s", "v2", xx=True),
    c("set", "s", "v3", get=True),
    c("set", "missing", "x", xx=True),
    c("set", "n", 10),
    c("incr", "n"),
    c("incrby", "n", 5),
    c("decr", "n"),
    c("decrby", "n", 3),
    c("incrbyfloat", "n", 1.5),
    c("incrbyfloat", "f", "0.1"),
    c("incrbyfloat", "f", -2),
    c("incr", "s"),
    c("append", "s", "-tail"),
    c("append", "newkey", "abc"),
    c("strlen", "s"),
    c("strlen", "nope"),
    c("getrange", "s", 0, 3),
    c("getrange", "s", -4, -1),
    c("setrange", "s", 2, "ZZ"),
    c("setrange", "pad", 3, "x"),
    c("get", "pad"),
    c("setbit", "bits", 7, 1),
    c("setbit", "bits", 7, 0),
    c("setbit", "bits", 20, 1),
    c("getbit", "bits", 20),
    c("getbit", "bits", 1000),
    c("bitcount", "bits"),
    c("bitcount", "pad", 0, -1),
    c("bitcount", "pad", 1, 20, "BIT"),
    c("bitpos", "bits", 1),
    c("bitpos", "bits", 0, 2),
    c("bitpos", "pad", 1, 0, 30, "BIT"),
    c("set", "b1", "foobar"),
    c("set", "b2", b"\xff\x00\x0f"),
    c("bitop", "AND", "bdest", "b1", "b2"),
    c("bitop", "or", "bdest", "b1", "b2", "nope"),
    c("get", "bdest"),
    c("bitop", "NOT", "bdest", "b2"),
    c("get", "bdest"),
    c("bitop", "NOT", "bdest", "b1", "b2"),
    c("bitop", "xor", "bdest", "nope"),
    c("exists", "bdest"),
    c("bitfield_ro", "b1", "u8", 0),
    c("bitfield_ro", "b1", "i4", "#3", items=[("u16", 8), ("i64", 0), ("u63", 100)]),
    c("bitfield_ro", "b1", "u64", 0),
    c("pfadd", "hll", "a", "b", "c"),
    c("pfadd", "hll", "a"),
    c("pfadd", "hll2"),
    c("pfcount", "hll"),
    c("get", "hll"),
    c("pfcount", "hll", "hll2", "nope"),
    c("pfmerge", "hll3", "hll", "hll2"),
    c("get", "hll3"),
    c("pfadd", "pad", "x"),
    c("getset", "s", "new"),
    c("getdel", "s"),
    c("getdel", "s"),
    c("mset", {"a": 1, "b": 2, "c": "three"}),
    c("mget", ["a", "b", "zz", "c"]),
    c("mget", "a", "b"),
    c("msetnx", {"a": 5, "d": 4}),
    c("msetnx", {"d": 4, "e": 5}),
    c("setnx", "a", 7),
    c("setnx", "g", 7),
    c("setex", "ttl1", 100, "v"),
    c("psetex", "ttl2", 100000, "v"),
    c("ttl", "ttl1"),
    c("getex", "a", ex=50),
    c("ttl", "a"),
    c("getex", "a", persist=True),
    c("ttl", "a"),
    c("set", "bin", b"\x00\xff\x10"),
    c("get", "bin"),
    c("set", "k", "v", ex=0),
    c("set", "k", "v", px=-5),
    c("incrby", "n", "notanumber"),
    c("set", "big", "9223372036854775807"),
    c("incr", "big"),
    c("lcs", "a", "b"),
    c("substr", "c", 0, 2),
]


def test_strings(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, STRINGS)


KEYS: List[Call] = [
    c("mset", {"k1": "a", "k2": "b", "k3": "c", "other": "d"}),
    c("rpush", "alist", "x"),
    c("exists", "k1", "k2", "nope", "k1"),
    c("type", "k1"),
    c("type", "alist"),
    c("type", "nope"),
    c("delete", "k3", "nope"),
    c("unlink", "k3"),
    c("touch", "k1", "nope"),
    c("expire", "k1", 100),
    c("ttl", "k1"),
    c("expire", "k1", 50, gt=True),
    c("expire", "k1", 500, gt=True),
    c("expire", "k1", 10, xx=True),
    c("expire", "k2", 10, xx=True),
    c("expire", "k2", 10, nx=True),
    c("persist", "k1"),
    c("persist", "k1"),
    c("ttl", "k1"),
    c("pttl", "nope"),
    c("ttl", "nope"),
    c("pexpire", "k2", 100000),
    c("expireat", "other", 4102444800),
    c("expiretime", "other"),
    c("pexpiretime", "other"),
    c("pexpireat", "other", 4102444800000),
    c("expiretime", "nope"),
    c("rename", "other", "renamed"),
    c("rename", "nope", "x"),
    c("renamenx", "renamed", "k1"),
    c("renamenx", "renamed", "fresh"),
    c("copy", "fresh", "copied"),
    c("copy", "fresh", "copied"),
    c("copy", "fresh", "copied", replace=True),
    c("get", "copied"),
    c("move", "copied", 3),
    c("exists", "copied"),
    c("dbsize"),
    c("expire", "k1", -1),
    c("exists", "k1"),
    c("delete", "a", "b", "c"),
]


SORTS: List[Call] = [
    c("rpush", "sl", 3, 1, 2, 10),
    c("sadd", "ss", "b", "a", "c"),
    c("zadd", "sz", {"x": 2, "y": 1, "z": 3}),
    c("mset", {"w_1": 30, "w_2": 20, "w_3": 10, "o_1": "one", "o_2": "two"}),
    c("hset", "h_3", "f", "three"),
    c("sort", "sl"),
    c("sort", "sl", desc=True, start=1, num=2),
    c("sort", "sl", start=1),
    c("sort", "sl", alpha=True),
    c("sort", "sl", by="w_*"),
    c("sort", "sl", by="w_*", get=["#", "o_*", "h_*->f"]),
    c("sort", "sl", by="w_*", get="o_*"),
    c("sort", "sl", by="w_*", get=["#", "o_*"], groups=True),
    c("sort", "sl", get="o_*", groups=True),
    c("sort", "sl", by="nosort", desc=True),
    c("sort", "sl", by="w_*", get="o_*", store="sorted"),
    c("lrange", "sorted", 0, -1),
    c("sort", "ss", alpha=True, desc=True),
    c("sort", "ss"),
    c("sort", "ss", by="nosort", store="sorted2"),
    c("lrange", "sorted2", 0, -1),
    c("sort", "sz", by="nosort", start=0, num=2),
    c("sort", "sz", alpha=True),
    c("sort_ro", "sl", desc=True),
    c("sort_ro", "sz", by="nosort"),
    c("sort", "w_1"),
    c("sort", "nope", store="sorted"),
    c("exists", "sorted"),
]


def test_sort(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, SORTS)


GEOS: List[Call] = [
    c("geoadd", "geo", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]),
    c("geoadd", "geo", [2.349014, 48.864716, "Paris"], nx=True),
    c("geoadd", "geo", [2.35, 48.86, "Paris", 0, 0, "Null"], xx=True, ch=True),
    c("geoadd", "geo", [200, 10, "bad"]),
    c("geodist", "geo", "Palermo", "Catania"),
    c("geodist", "geo", "Palermo", "Catania", "km"),
    c("geodist", "geo", "Palermo", "nobody"),
    c("geohash", "geo", "Palermo", "nobody", "Paris"),
    c("geopos", "geo", "Catania", "nobody"),
    c("georadius", "geo", 15, 37, 200, "km"),
    c("georadius", "geo", 15, 37, 200, "km", withdist=True, withcoord=True, withhash=True, sort="ASC"),
    c("georadius", "geo", 15, 37, 5000, "km", count=2, sort="DESC", withdist=True),
    c("georadiusbymember", "geo", "Palermo", 300, "km", sort="ASC"),
    c("georadiusbymember", "geo", "nobody", 300, "km"),
    c("geosearch", "geo", member="Palermo", radius=200, unit="km", sort="ASC", withdist=True),
    c("geosearch", "geo", longitude=15, latitude=37, width=400, height=400, unit="km", sort="ASC"),
    c("geosearch", "geo", longitude=15, latitude=37, radius=5000, unit="km", count=1, any=True),
    c("geosearchstore", "near", "geo", longitude=15, latitude=37, radius=200, unit="km"),
    c("zrange", "near", 0, -1, withscores=True),
    c("geosearchstore", "dists", "geo", member="Catania", radius=2000, unit="km", storedist=True),
    c("zrange", "dists", 0, -1, withscores=True),
    c("georadius", "geo", 15, 37, 200, "km", store="near2"),
    c("zcard", "near2"),
    c("set", "str", "x"),
    c("geoadd", "str", [1, 1, "m"]),
    c("geopos", "str", "m"),
]


def test_geo(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, GEOS)


def test_bitfield_builder(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    results = []
    for client in both:
        bf = client.bitfield("bf", default_overflow="SAT")
        first = bf.set("i8", 0, 100).incrby("i8", 0, 100).get("u8", 0).execute()
        second = (
            bf.incrby("u4", "#3", 20, overflow="fail")
            .overflow("wrap")
            .incrby("u4", "#3", 20)
            .set("i64", 64, -(2**63))
            .get("u63", 65)
            .execute()
        )
        pipe = client.pipeline(transaction=False)
        pipe.bitfield("bf").get("i16", 0).execute()
        pipe.get("bf")
        results.append((first, second, pipe.execute()))
    assert results[0] == results[1]
    assert results[0][0] == [0, 127, 127]


def test_keys(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, KEYS)
    db, r = both
    assert sorted(db.keys()) == sorted(r.keys())
    assert sorted(db.keys("k*")) == sorted(r.keys("k*"))
    assert sorted(db.scan_iter(match="*")) == sorted(r.scan_iter(match="*"))


LISTS: List[Call] = [
    c("lpush", "l", 1, 2, 3),
    c("rpush", "l", "a", "b"),
    c("lrange", "l", 0, -1),
    c("llen", "l"),
    c("lindex", "l", 0),
    c("lindex", "l", -1),
    c("lindex", "l", 99),
    c("lset", "l", 1, "X"),
    c("lset", "l", 99, "X"),
    c("linsert", "l", "BEFORE", "X", "before-x"),
    c("linsert", "l", "AFTER", "nope", "x"),
    c("lrem", "l", 0, "a"),
    c("lpos", "l", "b"),
    c("lpos", "l", "zz"),
    c("rpush", "l", "b", "b"),
    c("lpos", "l", "b", rank=2),
    c("lpos", "l", "b", count=0),
    c("lpop", "l"),
    c("rpop", "l"),
    c("lpop", "l", 2),
    c("rpop", "l", 10),
    c("lpop", "l"),
    c("lpop", "l", 2),
    c("lpushx", "l", "x"),
    c("rpushx", "l", "x"),
    c("rpush", "src", "1", "2", "3"),
    c("rpoplpush", "src", "dst"),
    c("lmove", "src", "dst", "LEFT", "LEFT"),
    c("lrange", "dst", 0, -1),
    c("ltrim", "src", 0, 0),
    c("lrange", "src", 0, -1),
    c("lmpop", 2, "nope", "dst", direction="LEFT"),
    c("lmpop", 2, "nope", "dst", direction="RIGHT", count=5),
    c("blpop", ["nope", "src"], 1),
    c("brpop", ["nope"], 0.05),
    c("set", "str", "x"),
    c("lpush", "str", 1),
    c("lrange", "str", 0, -1),
]


def test_lists(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, LISTS)


ERRORS: List[Call] = [
    c("execute_command", "GET"),
    c("execute_command", "GET", "a", "b"),
    c("execute_command", "NOSUCHCOMMAND", "x"),
    c("execute_command", "SET", "k", "v", "EX"),
    c("execute_command", "SET", "k", "v", "EX", "abc"),
    c("execute_command", "SET", "k", "v", "NX", "XX"),
    c("execute_command", "INCRBY", "k", "1.5"),
    c("execute_command", "EXPIRE", "k", "10", "NX", "XX"),
    c("execute_command", "LRANGE", "k", "a", "1"),
    c("execute_command", "LPOS", "l", "x", "RANK", "0"),
    c("execute_command", "LPUSH", "l"),
    c("execute_command", "set", "lower", "case"),
    c("execute_command", "GET", "lower"),
    c("execute_command", b"SET", b"bytes", b"cmd"),
    c("execute_command", "TYPE", "bytes"),
]


def test_errors_and_raw_commands(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(*both, ERRORS)


def test_bad_argument_types_are_data_errors(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    run_both(
        *both,
        [
            c("set", "k", {"a": 1}),
            c("set", "k", True),
            c("set", "k", None),
            c("set", "k", "v", nx=True, xx=True),
            c("set", "k", "v", ex=1, px=1),
            c("hset", "h"),
            c("zadd", "z", {}),
            c("zadd", "z", {"a": 1, "b": 2}, incr=True),
        ],
    )


def test_decode_responses(tmp_path: Any, redis_server: int) -> None:
    r = redis.Redis(port=redis_server, decode_responses=True)
    r.flushall()
    with fincaskv.DB(tmp_path / "d", decode_responses=True) as db:
        run_both(
            db,
            r,
            [
                c("set", "k", "välue"),
                c("get", "k"),
                c("mget", ["k", "nope"]),
                c("rpush", "l", "ä", "b"),
                c("lrange", "l", 0, -1),
                c("type", "l"),
                c("keys", "k*"),
            ],
        )
    r.close()


def test_pipelines_match(both: Tuple[fincaskv.DB, redis.Redis]) -> None:
    db, r = both
    results = []
    for client in (db, r):
        pipe = client.pipeline(transaction=True)
        pipe.set("a", 1).incr("a").get("a").rpush("l", "x", "y").lrange("l", 0, -1)
        pipe.set("b", 2, nx=True).set("b", 3, nx=True).delete("a", "l").incrbyfloat("f", 0.5)
        results.append(pipe.execute())
    assert results[0] == results[1]


# -- model-based: random sequences over a small key space -----------------------

_keys = st.sampled_from(["k1", "k2", "k3"])
_vals = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "", "1.5", "x y"]))
_members = st.sampled_from(["m1", "m2", "m3", "m4"])

_calls = st.one_of(
    st.builds(lambda k, v: c("set", k, v), _keys, _vals),
    st.builds(lambda k: c("get", k), _keys),
    st.builds(lambda k: c("incr", k), _keys),
    st.builds(lambda k, v: c("append", k, v), _keys, _vals),
    st.builds(lambda k: c("delete", k), _keys),
    st.builds(lambda k: c("type", k), _keys),
    st.builds(lambda k, v: c("lpush", k, v), _keys, _vals),
    st.builds(lambda k, v: c("rpush", k, v), _keys, _vals),
    st.builds(lambda k: c("lpop", k), _keys),
    st.builds(lambda k, a, b: c("lrange", k, a, b), _keys, st.integers(-3, 3), st.integers(-3, 3)),
    st.builds(lambda k, m, v: c("hset", k, m, v), _keys, _members, _vals),
    st.builds(lambda k, m: c("hdel", k, m), _keys, _members),
    st.builds(lambda k: c("hgetall", k), _keys),
    st.builds(lambda k, m: c("hincrby", k, m, 2), _keys, _members),
    st.builds(lambda k, m: c("sadd", k, m), _keys, _members),
    st.builds(lambda k, m: c("srem", k, m), _keys, _members),
    st.builds(lambda k: c("smembers", k), _keys),
    st.builds(lambda a, b: c("sinter", [a, b]), _keys, _keys),
    st.builds(lambda k, m, s: c("zadd", k, {m: s}), _keys, _members, st.integers(-3, 3)),
    st.builds(lambda k, m: c("zrem", k, m), _keys, _members),
    st.builds(lambda k: c("zrange", k, 0, -1, withscores=True), _keys),
    st.builds(lambda k, m: c("zincrby", k, 1.5, m), _keys, _members),
    st.builds(lambda k: c("zpopmin", k), _keys),
    st.builds(lambda a, b: c("rename", a, b), _keys, _keys),
    st.builds(lambda k: c("exists", k), _keys),
    st.builds(lambda k, x, y, m: c("geoadd", k, [x, y, m]), _keys, st.integers(-3, 3), st.integers(-3, 3), _members),
    st.builds(
        lambda k, x, r: c("geosearch", k, longitude=x, latitude=0, radius=r, unit="km", withdist=True),
        _keys,
        st.integers(-3, 3),
        st.sampled_from([1, 200, 500]),
    ),
    st.builds(lambda k, a, b: c("geodist", k, a, b), _keys, _members, _members),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(_calls, min_size=1, max_size=25))
def test_random_sequences_match_redis(both: Tuple[fincaskv.DB, redis.Redis], calls: List[Call]) -> None:
    db, r = both
    db.flushall()
    r.flushall()
    run_both(db, r, calls)
