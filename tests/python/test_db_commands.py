"""Command families whose results the differential test cannot compare
exactly (random picks, bloom filters, which redis-server lacks) and error
classes."""

from __future__ import annotations

import datetime

import pytest

import fincaskv


def test_randomkey(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    assert db.randomkey() is None
    db.mset({"a": 1, "b": 2})
    db.rpush("l", "x")
    assert db.randomkey() in {b"a", b"b", b"l"}


def test_bloom_filters(fincaskv_db: fincaskv.DB) -> None:
    bf = fincaskv_db.bf()
    assert bf.create("bf", 0.001, 1000) is True
    assert bf.add("bf", "apple") == 1
    assert bf.add("bf", "apple") == 0
    assert bf.madd("bf", "pear", "plum") == [1, 1]
    assert bf.exists("bf", "apple") == 1
    assert bf.exists("bf", "durian") == 0
    assert bf.mexists("bf", "pear", "nope") == [1, 0]
    assert bf.card("bf") == 3
    info = bf.info("bf")
    assert info.capacity == 1000
    assert info.insertedNum == 3
    with pytest.raises(fincaskv.ResponseError):
        bf.create("bf", 0.001, 1000)
    assert fincaskv_db.type("bf") == b"MBbloom--"


def test_wrongtype_is_a_response_error(fincaskv_db: fincaskv.DB) -> None:
    fincaskv_db.set("s", "v")
    with pytest.raises(fincaskv.WrongTypeError) as info:
        fincaskv_db.lpush("s", "x")
    assert isinstance(info.value, fincaskv.ResponseError)
    assert isinstance(info.value, fincaskv.Error)
    assert str(info.value).startswith("WRONGTYPE ")


def test_err_prefix_is_stripped_like_redis_py(fincaskv_db: fincaskv.DB) -> None:
    with pytest.raises(fincaskv.ResponseError) as info:
        fincaskv_db.execute_command("GET")
    assert str(info.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(fincaskv.ResponseError, match="unknown command"):
        fincaskv_db.execute_command("NOPE")


def test_bad_arguments_are_data_errors(fincaskv_db: fincaskv.DB) -> None:
    for bad in ({"a": 1}, [1], None, True, object()):
        with pytest.raises(fincaskv.DataError, match="Invalid input of type"):
            fincaskv_db.set("k", bad)  # type: ignore[arg-type]
    assert isinstance(fincaskv.DataError("x"), ValueError)
    with pytest.raises(fincaskv.DataError):
        fincaskv_db.execute_command()


def test_argument_encodings(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.set("int", 12345678901234567890123)
    db.set("float", 0.1)
    db.set("bytearray", bytearray(b"ba"))
    db.set("memoryview", memoryview(b"mv"))
    db.set("neg", -7)
    assert db.mget("int", "float", "bytearray", "memoryview", "neg") == [
        b"12345678901234567890123", b"0.1", b"ba", b"mv", b"-7"]
    db.set(b"\x00\xffkey", b"\x00\xff")
    assert db.get(b"\x00\xffkey") == b"\x00\xff"


def test_invalid_utf8_with_decode_responses(tmp_path: object) -> None:
    with fincaskv.DB(tmp_path / "d", decode_responses=True) as db:  # type: ignore[operator]
        db.set("bin", b"\xff\xfe")
        with pytest.raises(UnicodeDecodeError):
            db.get("bin")


def test_timedelta_and_datetime_expiries(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.set("a", "v", ex=datetime.timedelta(seconds=100))
    assert 90 <= db.ttl("a") <= 100
    db.set("b", "v", px=datetime.timedelta(seconds=100))
    assert 90_000 <= db.pttl("b") <= 100_000
    when = datetime.datetime.now() + datetime.timedelta(seconds=100)
    db.set("c", "v", exat=when)
    assert 90 <= db.ttl("c") <= 100
    assert db.expireat("a", when) is True
    assert db.expire("b", datetime.timedelta(seconds=50)) is True
    assert 40 <= db.ttl("b") <= 50


def test_custom_response_callback(fincaskv_db: fincaskv.DB) -> None:
    fincaskv_db.set_response_callback("GET", lambda r, **o: r and r.upper())
    fincaskv_db.set("k", "v")
    assert fincaskv_db.execute_command("GET", "k") == b"V"
    assert fincaskv_db.get("k") == b"V"
    assert fincaskv_db["k"] == b"V"


def test_double_replies_are_formatted_as_redis_does() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from fincaskv import _native

    @given(st.floats(allow_nan=True, allow_infinity=True))
    def check(x: float) -> None:
        assert _native._format_double(x) == "%.17g" % x

    check()
    assert _native._format_double(0.1) == "0.10000000000000001"
    assert _native._format_double(1e20) == "1e+20"
    assert _native._format_double(1.5e-7) == "1.4999999999999999e-07"
    assert _native._format_double(-0.0) == "-0"
