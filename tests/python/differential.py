"""Helpers of the differential tests: run the same redis-py-style calls on
``fincaskv.DB`` and on redis-py talking to a real ``redis-server``.

Errors are compared by message and by redis-py's class (a FincasKV
``WrongTypeError`` counts as the ``ResponseError`` redis-py raises);
``DataError`` by class only (it is raised before anything is sent, in the
client's own words).
"""

from __future__ import annotations

import warnings
from typing import AbstractSet, Any, Dict, Sequence, Tuple

import redis

import fincaskv

Call = Tuple[str, Tuple[Any, ...], Dict[str, Any]]


def c(method: str, *args: Any, **kwargs: Any) -> Call:
    """One call: ``method(*args, **kwargs)``."""
    return (method, args, kwargs)


def outcome(client: Any, call: Call) -> Any:
    """The result of a call, or its error as a comparable tuple."""
    method, args, kwargs = call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return ("ok", getattr(client, method)(*args, **kwargs))
    except (redis.ResponseError, fincaskv.ResponseError) as e:
        return ("error", "ResponseError", str(e))
    except (redis.DataError, fincaskv.DataError):
        return ("error", "DataError")


def _sorted_if_list(result: Any) -> Any:
    if result[0] == "ok" and isinstance(result[1], list):
        return ("ok", sorted(result[1], key=repr))
    return result


def run_both(
    db: fincaskv.DB, r: redis.Redis, calls: Sequence[Call], unordered: AbstractSet[str] = frozenset()
) -> None:
    """Runs each call on both and asserts equal outcomes, in order. Methods in
    ``unordered`` return collections whose order is not specified (FincasKV
    replies in hash order where Redis's small encodings keep insertion
    order, a documented difference): their lists are compared sorted."""
    for i, call in enumerate(calls):
        mine = outcome(db, call)
        theirs = outcome(r, call)
        if call[0] in unordered:
            mine, theirs = _sorted_if_list(mine), _sorted_if_list(theirs)
        assert mine == theirs, f"call #{i} {call}: fincaskv={mine!r} redis={theirs!r}"
