"""``fincaskv.DB``: the embedded database, shaped like redis-py's ``Redis``.

``DB`` is a thin Python class over the native ``Database``: every command
method builds an argv and goes through one native ``execute`` (GIL released
around the engine), then through the redis-py response callback of that
command. ``get``/``set`` and ``db[key]`` take a direct native path.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
import weakref
from collections.abc import MutableMapping
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from fincaskv import _native
from fincaskv._callbacks import RESPONSE_CALLBACKS
from fincaskv.commands import Commands, StringCommands
from fincaskv.exceptions import DataError, Error, ResponseError

__all__ = ["DB", "Pipeline", "WriteBatch"]

PathLike = Union[str, "os.PathLike[str]"]

# Commands that may wait (argv index of their timeout). Embedded, they run
# non-blocking and, on a null reply, wait for a change of any key and retry.
_BLOCKING_TIMEOUT_AT: Dict[str, int] = {
    "BLPOP": -1,
    "BRPOP": -1,
    "BRPOPLPUSH": -1,
    "BLMOVE": -1,
    "BZPOPMIN": -1,
    "BZPOPMAX": -1,
    "BLMPOP": 1,
    "BZMPOP": 1,
}

# Longest single wait, so that Ctrl-C (or a cancelled asyncio task) is
# noticed while a blocking pop waits.
_WAIT_SLICE = 0.25

# A blocking pop running in a thread stops waiting (returns None) once the
# event in `cancel_wait.event` is set; fincaskv.aio sets it when the awaiting
# task is cancelled.
cancel_wait = threading.local()


def _command_name(name: Any) -> str:
    if isinstance(name, str):
        return name.upper()
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name).decode("utf-8", "replace").upper()
    raise DataError(f"Invalid command name of type: '{type(name).__name__}'")


def _set_with_options(owner: "weakref.ref[DB]", name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
    """redis-py's ``set`` with its options, for the native fast ``set``
    (which runs a plain SET itself)."""
    db = owner()
    if db is None:
        raise Error("the fincaskv.DB this set was bound to no longer exists")
    return StringCommands.set(db, name, value, *args, **kwargs)


class DB(Commands, MutableMapping):  # type: ignore[type-arg]
    """An embedded FincasKV database in directory ``path``.

    ``DB(path)`` opens the directory (creating it if needed); only one
    process (and one ``DB``) may hold it at a time: another gets
    ``LockedError``. Methods are redis-py's ``Redis`` methods: same names,
    arguments and return values (``bytes`` by default, ``str`` with
    ``decode_responses=True``). A ``DB`` is also a ``MutableMapping`` of keys
    to string values, a context manager, and safe to share between threads.

    Keyword options (the server's configuration; every one has a default):

    * ``db`` (0): the database index this handle works on (as redis-py's ``db=``).
    * ``decode_responses`` (False): return ``str`` instead of ``bytes``.
    * ``fsync`` (``"everysec"``): ``"always"`` (acknowledged = on disk),
      ``"everysec"`` (a power loss may lose about the last second; a process
      crash loses nothing), or ``"no"`` (the OS decides).
    * ``index`` (``"hash"``): keydir kind, ``"hash"``, ``"btree"`` or ``"skiplist"``.
    * ``cache_size``: bytes of the value cache (0 disables it).
    * ``max_file_size``: bytes of a data file before the writer rotates.
    * ``merge_ratio``: dead-bytes ratio above which a background merge runs.
    * ``merge_interval``: seconds between two checks of that ratio.
    * ``databases`` (16): number of databases.

    Unknown options raise ``TypeError``.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        db: int = 0,
        decode_responses: bool = False,
        **options: Any,
    ) -> None:
        self._native = _native.Database(os.fspath(path), options)
        if not 0 <= db < self._native.databases:
            self._native.close()
            raise DataError(f"db must be in 0..{self._native.databases - 1}, got {db}")
        self._index = db
        self._decode = bool(decode_responses)
        self.response_callbacks: Dict[str, Callable[..., Any]] = dict(RESPONSE_CALLBACKS)
        # get/set/db[key] skip argv building and callbacks while GET and SET
        # keep their standard callbacks.
        self._fast = True
        self._bind_fast_paths()

    @classmethod
    def _sharing(cls, other: "DB", db: int, decode_responses: bool) -> "DB":
        new = cls.__new__(cls)
        new._native = other._native
        new._index = db
        new._decode = decode_responses
        new.response_callbacks = dict(other.response_callbacks)
        new._fast = other._fast
        new._bind_fast_paths()
        return new

    def _bind_fast_paths(self) -> None:
        # Instance attributes `get` and `set` bound straight to the native
        # methods save the Python frame of DB.get / DB.set (a third of a
        # cached read's time, a tenth of a put's). The native `set` runs a
        # plain SET itself and hands any option to `_set_with_options`,
        # through a weak reference (a strong one would be a cycle).
        if self._fast:
            if self._decode:
                self.get = functools.partial(self._native.get, self._index, decode=True)  # type: ignore[method-assign]
            else:
                self.get = functools.partial(self._native.get, self._index)  # type: ignore[method-assign]
            self.set = functools.partial(self._native.set, self._index, weakref.ref(self))  # type: ignore[method-assign]
        else:
            self.__dict__.pop("get", None)
            self.__dict__.pop("set", None)

    # -- identity ----------------------------------------------------------------

    @property
    def path(self) -> str:
        """The data directory."""
        return str(self._native.path)

    @property
    def db(self) -> int:
        """The database index this handle works on."""
        return self._index

    @property
    def closed(self) -> bool:
        """Whether the database was closed."""
        return bool(self._native.closed)

    def select(self, db: int) -> "DB":
        """A handle on database ``db`` of the same open directory (shares the engine).

        Closing either handle closes the directory for both.
        """
        if not 0 <= db < self._native.databases:
            raise DataError(f"db must be in 0..{self._native.databases - 1}, got {db}")
        return DB._sharing(self, db, self._decode)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<fincaskv.DB path={self.path!r} db={self._index} {state}>"

    def __bool__(self) -> bool:
        # A client object is always true, as redis-py's is (not "true when non-empty").
        return True

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    # -- executing ---------------------------------------------------------------

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Runs one command given as ``name, *arguments`` and applies its
        response callback (``options`` are passed to the callback)."""
        if not args:
            raise DataError("execute_command needs a command name")
        name = _command_name(args[0])
        if options.pop("NEVER_DECODE", None) is not None and self._decode:
            # A binary reply (DUMP, FUNCTION DUMP) stays bytes, as redis-py's
            # NEVER_DECODE option keeps it.
            response = self._native.execute(self._index, args, False)
        else:
            response = self._execute_raw(name, args)
        # As in redis-py, a command named by bytes gets no callback (its
        # callback table is keyed by str).
        callback = self.response_callbacks.get(name) if isinstance(args[0], str) else None
        if callback is not None:
            return callback(response, **options)
        return response

    def set_response_callback(self, command: str, callback: Callable[..., Any]) -> None:
        """Replaces the response callback of ``command``."""
        self.response_callbacks[command.upper()] = callback
        if command.upper() in ("GET", "SET"):
            self._fast = False
            self._bind_fast_paths()

    def _execute_raw(self, name: str, args: Tuple[Any, ...]) -> Any:
        """Runs one command and returns its reply before any callback."""
        local = _LOCAL_COMMANDS.get(name)
        if local is not None:
            return local(self, args)
        if name in _BLOCKING_TIMEOUT_AT:
            return self._execute_blocking(name, args)
        return self._native.execute(self._index, args, self._decode)

    def _execute_blocking(self, name: str, args: Tuple[Any, ...]) -> Any:
        native = self._native
        # While watched, every change moves native.version() (unwatched
        # writes skip that work).
        native.watch()
        try:
            return self._wait_loop(native, name, args)
        finally:
            native.unwatch()

    def _wait_loop(self, native: Any, name: str, args: Tuple[Any, ...]) -> Any:
        deadline: Optional[float] = None
        cancel: Optional[threading.Event] = getattr(cancel_wait, "event", None)
        while True:
            if cancel is not None and cancel.is_set():
                return None
            seen = native.version()
            response = native.execute(self._index, args, self._decode)
            if response is not None:
                return response
            if deadline is None:
                timeout = float(args[_BLOCKING_TIMEOUT_AT[name]])
                deadline = float("inf") if timeout == 0 else time.monotonic() + timeout
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            native.wait_change(seen, min(remaining, _WAIT_SLICE))

    # -- fast paths (same results as the generic path) -----------------------------

    def get(self, name: Any) -> Any:  # type: ignore[override]
        """GET: the value of ``name``, or ``None``."""
        if self._fast:
            return self._native.get(self._index, name, self._decode)
        return self.execute_command("GET", name)

    def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        """SET: sets ``name``; ``True``, or ``None`` when NX/XX was not met
        (the old value with ``get=True``)."""
        if args or kwargs or not self._fast:
            return StringCommands.set(self, name, value, *args, **kwargs)
        return self._native.set(self._index, None, name, value)

    set.__signature__ = inspect.signature(StringCommands.set)  # type: ignore[attr-defined]

    # -- pipelines and batches -------------------------------------------------------

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> "Pipeline":
        """A pipeline: queue commands, then ``execute()`` them. With
        ``transaction=True`` (the default) they run atomically, as MULTI/EXEC."""
        return Pipeline(self, transaction=transaction)

    def write_batch(self) -> "WriteBatch":
        """A write batch: queue writes; they are applied atomically (all or
        none, also across a crash) when the ``with`` block ends without an
        exception, or on ``commit()``."""
        return WriteBatch(self)

    def transaction(self, func: Callable[["Pipeline"], Any], *watches: Any, **kwargs: Any) -> Any:
        """Calls ``func(pipe)`` and executes the pipeline it filled atomically;
        returns its results (``value_from_callable=True``: ``func``'s return value)."""
        value_from_callable = kwargs.pop("value_from_callable", False)
        if watches:
            raise Error("WATCH is not supported by the embedded database; drop the watched keys")
        pipe = self.pipeline(transaction=True)
        value = func(pipe)
        results = pipe.execute()
        return value if value_from_callable else results

    # -- engine maintenance -------------------------------------------------------

    def merge(self) -> None:
        """Compacts the data files now (drops overwritten and deleted records)."""
        self._native.merge()

    def sync(self) -> None:
        """Makes everything written so far durable (fsync)."""
        self._native.sync()

    def backup(self, dest: Union[str, "os.PathLike[str]"]) -> Dict[str, int]:
        """Writes a consistent copy of the database into ``dest`` (a new or
        empty directory) while the database stays open for readers and
        writers: every call that returned before is in the copy, no
        transaction or batch is half in it. Sealed data files are hard-linked
        (cheap: Bitcask files never change), the active one is copied.
        ``fincaskv.DB(dest)`` or a server started on ``dest`` restores it.
        Returns ``{"files_linked": ..., "files_copied": ..., "bytes": ...}``;
        a non-empty ``dest`` raises :class:`DataError`."""
        linked, copied, size = self._native.backup(os.fspath(dest))
        return {"files_linked": linked, "files_copied": copied, "bytes": size}

    def stats(self) -> Dict[str, Any]:
        """Statistics: keys per database, data files, dead bytes, cache, ..."""
        return dict(self._native.stats())

    def close(self) -> None:
        """Syncs and closes the database; later calls raise ``ClosedError``.
        Closing twice is allowed."""
        self._native.close()

    def __enter__(self) -> "DB":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- MutableMapping face ----------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return bool(self.exists(key))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(self.dbsize())

    def __iter__(self) -> Iterator[Any]:
        return self.scan_iter()

    _MISSING = object()

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Removes ``key`` and returns its value (GETDEL, atomic)."""
        value = self.getdel(key)
        if value is None:
            if default is DB._MISSING:
                raise KeyError(key)
            return default
        return value

    def clear(self) -> None:
        """Deletes every key of this database (FLUSHDB)."""
        self.flushdb()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Sets several keys at once (one MSET)."""
        mapping: Dict[Any, Any] = dict(*args, **kwargs)
        if mapping:
            self.mset(mapping)


def _ping(db: DB, args: Tuple[Any, ...]) -> Any:
    if len(args) > 2:
        raise ResponseError("wrong number of arguments for 'ping' command")
    if len(args) == 2:
        return _echo(db, args)
    return "PONG" if db._decode else b"PONG"


def _echo(db: DB, args: Tuple[Any, ...]) -> Any:
    if len(args) != 2:
        raise ResponseError("wrong number of arguments for 'echo' command")
    value = args[1]
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return raw.decode("utf-8") if db._decode else raw


def _time(db: DB, args: Tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise ResponseError("wrong number of arguments for 'time' command")
    now = time.time_ns() // 1000
    parts = [str(now // 1_000_000), str(now % 1_000_000)]
    return parts if db._decode else [p.encode() for p in parts]


# Connection-level commands that the embedded database answers itself.
_LOCAL_COMMANDS: Dict[str, Callable[[DB, Tuple[Any, ...]], Any]] = {
    "PING": _ping,
    "ECHO": _echo,
    "TIME": _time,
}


class Pipeline(Commands):
    """Queues commands; ``execute()`` runs them and returns one result each.

    With ``transaction=True`` the queue runs as one atomic transaction
    (MULTI/EXEC: nothing else interleaves, one storage batch). With
    ``transaction=False`` each command runs on its own, in order.
    """

    def __init__(self, db: DB, transaction: bool = True) -> None:
        self._db = db
        self.transaction = transaction
        self.command_stack: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = []

    def execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        """Queues one command; returns the pipeline (so calls can be chained)."""
        if not args:
            raise DataError("execute_command needs a command name")
        self.command_stack.append((args, options))
        return self

    def __len__(self) -> int:
        return len(self.command_stack)

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()

    def reset(self) -> None:
        """Drops the queued commands."""
        self.command_stack = []

    def watch(self, *names: Any) -> None:
        """WATCH is not available embedded: a transaction pipeline already
        runs atomically, so read inside it or use ``fincaskv.Server``."""
        raise Error(
            "WATCH is not supported by the embedded database: queue the reads in the "
            "transaction pipeline (it runs atomically), or use fincaskv.Server"
        )

    def unwatch(self) -> None:
        """Nothing is ever watched embedded; a no-op for redis-py compatibility."""

    def multi(self) -> None:
        """Starts the transaction block (queued commands are atomic already)."""
        self.transaction = True

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        """Runs the queued commands; returns their results in order. With
        ``raise_on_error`` the first error is raised (after everything ran),
        otherwise errors are returned in place as exception instances."""
        stack, self.command_stack = self.command_stack, []
        if not stack:
            return []
        db = self._db
        if self.transaction:
            raw = db._native.execute_transaction(db._index, [args for args, _ in stack], db._decode)
        else:
            raw = []
            for args, _ in stack:
                try:
                    raw.append(db._execute_raw(_command_name(args[0]), args))
                except ResponseError as e:
                    raw.append(e)
        results: List[Any] = []
        for (args, options), response in zip(stack, raw):
            if isinstance(response, Exception):
                results.append(response)
                continue
            callback = db.response_callbacks.get(_command_name(args[0])) if isinstance(args[0], str) else None
            results.append(callback(response, **options) if callback else response)
        if raise_on_error:
            for i, r in enumerate(results):
                if isinstance(r, ResponseError):
                    command = " ".join(_printable(a) for a in stack[i][0])
                    r.args = (f"Command # {i + 1} ({command}) of pipeline caused error: {r.args[0]}",) + r.args[1:]
                    raise r
        return results


def _printable(arg: Any) -> str:
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg)


class WriteBatch(Pipeline):
    """A batch of writes applied atomically: all or none, also across a crash.

    Use it as a context manager (committed when the block ends without an
    exception, discarded otherwise) or call ``commit()``. Reads queued in a
    batch run too, but their results are not returned.
    """

    def __init__(self, db: DB) -> None:
        super().__init__(db, transaction=True)
        # Plain puts queued since the last other command, as one flat
        # [key, value, key, value, ...] list: committed as a single MSET, with
        # no tuple per put (300,000 tuples wake Python's cyclic GC many times).
        self._puts: List[Any] = []
        # Commands queued (a put counts one), for len().
        self._queued = 0

    def _flush_puts(self) -> None:
        if self._puts:
            self.command_stack.append((("MSET", *self._puts), {}))
            self._puts = []

    def execute_command(self, *args: Any, **options: Any) -> "WriteBatch":
        """Queues one command (after the puts queued before it)."""
        if not args:
            raise DataError("execute_command needs a command name")
        self._queued += 1
        if len(args) == 3 and not options and isinstance(args[0], str) and args[0].upper() == "SET":
            self._puts += (args[1], args[2])
            return self
        self._flush_puts()
        self.command_stack.append((args, options))
        return self

    def put(self, key: Any, value: Any) -> "WriteBatch":
        """Queues ``SET key value``."""
        self._queued += 1
        self._puts += (key, value)
        return self

    def __len__(self) -> int:
        return self._queued

    def reset(self) -> None:
        """Drops the queued commands."""
        self.command_stack = []
        self._puts = []
        self._queued = 0

    def commit(self) -> None:
        """Applies the queued writes atomically; raises the first error reply."""
        db = self._db
        self._queued = 0
        if not self.command_stack:
            puts, self._puts = self._puts, []
            if puts:
                puts.insert(0, "MSET")
                db._native.execute(db._index, puts, db._decode)
            return
        self._flush_puts()
        stack, self.command_stack = self.command_stack, []
        error = db._native.execute_transaction(db._index, [args for args, _ in stack], db._decode, False)
        if error is not None:
            raise error

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        """Commits (as ``commit()``); a write batch returns no results."""
        self.commit()
        return []

    def __enter__(self) -> "WriteBatch":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.reset()
