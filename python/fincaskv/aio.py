"""``fincaskv.aio``: the embedded database for asyncio code.

``fincaskv.aio.DB`` has the methods of ``fincaskv.DB`` (redis-py's), each
returning an awaitable, as ``redis.asyncio.Redis`` does. A command call builds
its arguments exactly as the synchronous method does and runs as a native
awaitable (pyo3-async-runtimes: the engine call runs on a tokio blocking
pool, the event loop never waits on a disk write); blocking pops wait in a
thread of their own, cancelled with their task::

    async with fincaskv.aio.DB(path) as db:
        await db.set("k", "v")
        async for key in db.scan_iter():
            ...
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

from fincaskv import db as _sync
from fincaskv.commands import BitFieldOperation, BloomCommands, Commands, Script
from fincaskv.exceptions import NoScriptError

__all__ = ["DB", "Pipeline"]


async def _in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))


# Commands that may wait for data. Each call gets a thread of its own (a
# dozen waiting pops must not fill the shared pool and starve the push that
# would wake them), and cancelling the awaiting task ends the wait.
_BLOCKING = frozenset({"blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"})


async def _in_own_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[Any]" = loop.create_future()
    cancel = threading.Event()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        _sync.cancel_wait.event = cancel
        try:
            result = func(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(settle, False, e)
        else:
            loop.call_soon_threadsafe(settle, True, result)

    threading.Thread(target=run, name="fincaskv-aio-blocking", daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:
        cancel.set()
        raise


def _queue_one(sync: _sync.DB, name: str, args: Any, kwargs: Any) -> Optional[Tuple[Any, Any]]:
    """The one command (argv, callback options) that ``sync.<name>(...)``
    would run, built by the same method on a pipeline; ``None`` when the
    method runs something else (several commands, local answers, waits)."""
    if name == "execute_command":
        queued: Tuple[Any, Any] = (args, kwargs)
    else:
        pipe = sync.pipeline(transaction=False)
        getattr(pipe, name)(*args, **kwargs)
        if len(pipe.command_stack) != 1:
            return None
        queued = pipe.command_stack[0]
    if not queued[0]:
        return None
    cname = _sync._command_name(queued[0][0])
    if cname in _sync._LOCAL_COMMANDS or cname in _sync._BLOCKING_TIMEOUT_AT:
        return None
    return queued


async def _execute_native(sync: _sync.DB, args: Any, options: Any) -> Any:
    """Runs one command as a native awaitable (pyo3-async-runtimes: the
    engine call runs on tokio's blocking pool) and applies its callback as
    ``DB.execute_command`` does."""
    response = await sync._native.execute_async(sync._index, args, sync._decode)
    callback = sync.response_callbacks.get(_sync._command_name(args[0])) if isinstance(args[0], str) else None
    if callback is not None:
        return callback(response, **options)
    return response


def _awaitable(name: str, source: Any) -> Callable[..., Any]:
    """An async method that runs ``self._sync.<name>`` in a thread."""
    runner = _in_own_thread if name in _BLOCKING else _in_thread

    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        sync = self._sync
        if runner is _in_thread and isinstance(sync, _sync.DB):
            queued = _queue_one(sync, name, args, kwargs)
            if queued is not None:
                return await _execute_native(sync, *queued)
        return await runner(getattr(sync, name), *args, **kwargs)

    original = getattr(source, name)
    method.__name__ = name
    method.__qualname__ = f"DB.{name}"
    method.__doc__ = original.__doc__
    try:
        method.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        pass
    return method


_ITERATORS = ("scan_iter", "hscan_iter", "sscan_iter", "zscan_iter")


def _command_names(cls: type) -> List[str]:
    return [
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and callable(value) and name not in _ITERATORS and name != "bf"
    ]


class _AsyncCommands:
    """Base of the generated async command methods."""

    _sync: Any

    if TYPE_CHECKING:
        # The command methods are generated at import time from the
        # synchronous ones; type checkers see each as an awaitable call.
        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...


class Bloom(_AsyncCommands):
    """Async bloom-filter commands: ``await db.bf().add(key, item)``."""

    def __init__(self, sync: BloomCommands) -> None:
        self._sync = sync


for _name in _command_names(BloomCommands):
    if _name != "execute_command" and _name != "client":
        setattr(Bloom, _name, _awaitable(_name, BloomCommands))


class AsyncScript(Script):
    """A Lua script bound to an asyncio database: awaiting a call runs
    EVALSHA, loading the script first if the database does not hold it."""

    async def __call__(self, keys: Any = (), args: Any = (), client: Any = None) -> Any:  # type: ignore[override]
        """Runs the script with ``keys`` and ``args``."""
        client = self.registered_client if client is None else client
        keys, args = list(keys), list(args)
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.sha = await client.script_load(self.script)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


class DB(_AsyncCommands):
    """An embedded FincasKV database for asyncio; see ``fincaskv.DB`` for the options.

    Opening runs in the calling thread (recovery of a large directory may take
    a moment): use ``await fincaskv.aio.DB.open(path)`` to open in a thread.
    """

    def __init__(self, path: Any, **options: Any) -> None:
        self._sync = options.pop("_sync", None) or _sync.DB(path, **options)

    def register_script(self, script: Any) -> "AsyncScript":
        """A :class:`AsyncScript` for ``script`` (redis-py's asyncio helper):
        ``await s(keys=[...], args=[...])``."""
        return AsyncScript(self, script)

    @classmethod
    async def open(cls, path: Any, **options: Any) -> "DB":
        """Opens the database in a worker thread."""
        sync = await _in_thread(_sync.DB, path, **options)
        return cls(path, _sync=sync)

    @property
    def sync_db(self) -> _sync.DB:
        """The underlying synchronous ``fincaskv.DB``."""
        return self._sync

    @property
    def closed(self) -> bool:
        """Whether the database was closed."""
        return self._sync.closed

    def __repr__(self) -> str:
        return f"<fincaskv.aio.DB path={self._sync.path!r} db={self._sync.db}>"

    async def __aenter__(self) -> "DB":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Syncs and closes the database."""
        await _in_thread(self._sync.close)

    close = aclose

    async def merge(self) -> None:
        """Compacts the data files now."""
        await _in_thread(self._sync.merge)

    async def sync(self) -> None:
        """Makes everything written so far durable (fsync)."""
        await _in_thread(self._sync.sync)

    async def backup(self, dest: Any) -> Dict[str, int]:
        """A consistent copy of the database in ``dest`` (see ``DB.backup``)."""
        result: Dict[str, int] = await _in_thread(self._sync.backup, dest)
        return result

    async def stats(self) -> Dict[str, Any]:
        """Engine and keyspace statistics."""
        return await _in_thread(self._sync.stats)

    def bf(self) -> Bloom:
        """The bloom-filter commands, as awaitables."""
        return Bloom(self._sync.bf())

    def bitfield(self, key: Any, default_overflow: Optional[str] = None) -> BitFieldOperation:
        """BITFIELD: a builder (see ``fincaskv.DB.bitfield``) whose
        ``execute()`` is awaitable."""
        return BitFieldOperation(self, key, default_overflow=default_overflow)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> "Pipeline":
        """A pipeline: queue commands (no await), then ``await pipe.execute()``."""
        return Pipeline(self._sync, transaction=transaction)

    async def scan_iter(
        self, match: Optional[Any] = None, count: Optional[int] = None, _type: Optional[str] = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Iterates over the keys with SCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = await self.scan(cursor=cursor, match=match, count=count, _type=_type, **kwargs)  # type: ignore[attr-defined]
            for item in data:
                yield item

    async def hscan_iter(
        self, name: Any, match: Optional[Any] = None, count: Optional[int] = None, no_values: Optional[bool] = None
    ) -> AsyncIterator[Any]:
        """Iterates over ``(field, value)`` pairs with HSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = await self.hscan(name, cursor=cursor, match=match, count=count, no_values=no_values)  # type: ignore[attr-defined]
            for item in data if no_values else data.items():
                yield item

    async def sscan_iter(self, name: Any, match: Optional[Any] = None, count: Optional[int] = None) -> AsyncIterator[Any]:
        """Iterates over the members of a set with SSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = await self.sscan(name, cursor=cursor, match=match, count=count)  # type: ignore[attr-defined]
            for item in data:
                yield item

    async def zscan_iter(
        self, name: Any, match: Optional[Any] = None, count: Optional[int] = None, score_cast_func: Any = float
    ) -> AsyncIterator[Any]:
        """Iterates over ``(member, score)`` pairs with ZSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = await self.zscan(name, cursor=cursor, match=match, count=count, score_cast_func=score_cast_func)  # type: ignore[attr-defined]
            for item in data:
                yield item


for _name in _command_names(Commands) + ["execute_command"]:
    if hasattr(Commands, _name) and not hasattr(DB, _name):
        setattr(DB, _name, _awaitable(_name, _sync.DB))


class Pipeline(_sync.Pipeline):
    """An asyncio pipeline: commands queue without ``await``; ``await
    pipe.execute()`` runs them (atomically with ``transaction=True``)."""

    async def execute(self, raise_on_error: bool = True) -> List[Any]:  # type: ignore[override]
        """Runs the queued commands in a worker thread; one result each."""
        return await _in_thread(_sync.Pipeline.execute, self, raise_on_error)

    async def __aenter__(self) -> "Pipeline":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.reset()
