"""The FincasKV exception hierarchy.

The names are redis-py's (``ResponseError``, ``DataError``, ...), so code
written for redis-py catches the same situations by the same names; the
classes are FincasKV's own (``fincaskv.Error`` is the root), so nothing here
needs redis-py installed.

Error replies are mapped the way redis-py maps them: ``ERR some text`` raises
``ResponseError("some text")``; ``WRONGTYPE ...`` raises ``WrongTypeError``
(a ``ResponseError``) with the full text; ``EXECABORT ...`` raises
``ExecAbortError``. The mapping itself lives in one place, the native module.
"""

from __future__ import annotations

__all__ = [
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


class Error(Exception):
    """Root of every FincasKV error (redis-py calls it ``RedisError``)."""


RedisError = Error
"""redis-py's name for :class:`Error`."""


class ResponseError(Error):
    """The command ran and answered with an error reply (``-ERR ...``)."""


class WrongTypeError(ResponseError):
    """``WRONGTYPE``: the key holds another type than the command works on."""


class ExecAbortError(ResponseError):
    """``EXECABORT``: a transaction was discarded because a command in it was rejected."""


class OutOfMemoryError(ResponseError):
    """``OOM``: the command was refused because a memory limit was reached."""


class NoScriptError(ResponseError):
    """``NOSCRIPT``: EVALSHA named a script the database does not hold."""


class DataError(Error, ValueError):
    """A bad argument, rejected before anything reached the engine.

    For example a value that is neither ``bytes``, ``str``, ``int`` nor
    ``float``, or a combination of options that Redis does not accept.
    """


class ConnectionError(Error):  # noqa: A001 - redis-py's name, on purpose
    """The database (or server connection) is not usable."""


class ClosedError(ConnectionError):
    """The database was closed; open it again to use it."""


class TimeoutError(Error):  # noqa: A001 - redis-py's name, on purpose
    """An operation did not finish in time."""


class WatchError(Error):
    """A watched key changed before a transaction ran."""


class StorageError(Error, OSError):
    """The storage engine failed (I/O error, bad configuration, ...)."""


class LockedError(StorageError):
    """The data directory is held by another process (or another open ``DB``)."""


class CorruptionError(StorageError):
    """A data file is corrupt; the message names the file, offset and the repair command."""
