"""The ``MutableMapping`` face of ``fincaskv.DB``."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest

import fincaskv


def test_is_a_mutable_mapping(fincaskv_db: fincaskv.DB) -> None:
    assert isinstance(fincaskv_db, MutableMapping)


def test_item_access(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db["a"] = "1"
    db[b"b"] = b"2"
    db["n"] = 3
    assert db["a"] == b"1"
    assert db["b"] == b"2"
    assert db["n"] == b"3"
    assert "a" in db and "zz" not in db
    assert len(db) == 3
    assert sorted(db) == [b"a", b"b", b"n"]
    assert sorted(db.keys()) == [b"a", b"b", b"n"]
    assert sorted(db.keys("[ab]")) == [b"a", b"b"]
    del db["a"]
    assert "a" not in db
    with pytest.raises(KeyError):
        db["a"]
    with pytest.raises(KeyError):
        del db["a"]
    assert len(db) == 2


def test_mapping_helpers(fincaskv_db: fincaskv.DB) -> None:
    db = fincaskv_db
    db.update({"x": 1, "y": 2}, z=3)
    assert dict(db.items()) == {b"x": b"1", b"y": b"2", b"z": b"3"}
    assert sorted(db.values()) == [b"1", b"2", b"3"]
    assert db.pop("x") == b"1"
    assert db.pop("x", None) is None
    with pytest.raises(KeyError):
        db.pop("x")
    assert db.setdefault("w", b"9") == b"9"
    assert db.setdefault("w", b"0") == b"9"
    db.clear()
    assert len(db) == 0
    assert bool(db) is True  # a client is true even when empty, as redis-py's


def test_non_string_values_raise_wrongtype(fincaskv_db: fincaskv.DB) -> None:
    fincaskv_db.rpush("list", "x")
    with pytest.raises(fincaskv.WrongTypeError):
        fincaskv_db["list"]
    assert "list" in fincaskv_db


def test_iteration_sees_every_key_once_per_scan(fincaskv_db: fincaskv.DB) -> None:
    keys = {f"key:{i}".encode() for i in range(1000)}
    fincaskv_db.update({k: b"v" for k in keys})
    seen = list(fincaskv_db)
    assert set(seen) == keys
    assert set(fincaskv_db.scan_iter(match="key:1*", count=7)) == {k for k in keys if k.startswith(b"key:1")}


def test_decoded_mapping(tmp_path: object) -> None:
    with fincaskv.DB(tmp_path / "d", decode_responses=True) as db:  # type: ignore[operator]
        db["ключ"] = "значение"
        assert db["ключ"] == "значение"
        assert list(db) == ["ключ"]


def test_mapping_behaves_like_a_dict(fincaskv_db: fincaskv.DB) -> None:
    from typing import Dict, List, Tuple

    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = st.binary(min_size=1, max_size=3)
    ops = st.lists(
        st.one_of(
            st.tuples(st.just("set"), keys, st.binary(max_size=5)),
            st.tuples(st.just("del"), keys, st.just(b"")),
            st.tuples(st.just("pop"), keys, st.just(b"")),
        ),
        max_size=30,
    )

    @settings(max_examples=60, deadline=None)
    @given(ops)
    def check(steps: List[Tuple[str, bytes, bytes]]) -> None:
        db = fincaskv_db
        db.clear()
        model: Dict[bytes, bytes] = {}
        for op, key, value in steps:
            if op == "set":
                db[key] = value
                model[key] = value
            elif op == "del":
                if key in model:
                    del db[key]
                    del model[key]
                else:
                    with pytest.raises(KeyError):
                        del db[key]
            else:
                assert db.pop(key, None) == model.pop(key, None)
            assert len(db) == len(model)
            assert (key in db) == (key in model)
        assert sorted(db) == sorted(model)
        assert dict(db.items()) == model

    check()
