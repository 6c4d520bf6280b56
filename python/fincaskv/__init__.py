"""FincasKV: a persistent, Redis-compatible key/value store, embedded in Python.

The table of contents:

* :class:`DB` -- the embedded database, with redis-py's ``Redis`` methods
  (``db.set``, ``db.hgetall``, ``db.zrange(..., withscores=True)``, ...), a
  ``MutableMapping`` face (``db[key]``), pipelines / transactions
  (``db.pipeline()``) and atomic write batches (``db.write_batch()``).
* :mod:`fincaskv.aio` -- the same API as awaitables for asyncio.
* :class:`Server` -- a RESP server inside this process that redis-py,
  ``redis-cli`` and every Redis client can talk to.
* The exceptions (:class:`Error`, :class:`ResponseError`, :class:`DataError`,
  ...) carry redis-py's names.
* The pytest plugin (``fincaskv.pytest_plugin``) gives the fixtures
  ``fincaskv_db`` and ``fincaskv_server``.

Quick start::

    import fincaskv

    with fincaskv.DB("./data") as db:
        db.set("greeting", "hello")
        assert db.get("greeting") == b"hello"
        db.hset("user:1", mapping={"name": "Ada", "lang": "en"})
        db["counter"] = 1
"""

from fincaskv._native import __version__
from fincaskv.db import DB, Pipeline, WriteBatch
from fincaskv.server import Server
from fincaskv.exceptions import (
    ClosedError,
    ConnectionError,
    CorruptionError,
    DataError,
    Error,
    ExecAbortError,
    LockedError,
    NoScriptError,
    OutOfMemoryError,
    RedisError,
    ResponseError,
    StorageError,
    TimeoutError,
    WatchError,
    WrongTypeError,
)

__all__ = [
    "__version__",
    "DB",
    "Pipeline",
    "WriteBatch",
    "Server",
    "Error",
    "RedisError",
    "ResponseError",
    "WrongTypeError",
    "ExecAbortError",
    "OutOfMemoryError",
    "NoScriptError",
    "DataError",
    "ConnectionError",
    "ClosedError",
    "TimeoutError",
    "WatchError",
    "StorageError",
    "LockedError",
    "CorruptionError",
]
