"""``fincaskv.Server``: the RESP server inside this Python process.

The same server as the ``fincaskv-server`` binary (``fincaskv::server::run``),
on a runtime of its own in background threads; redis-py, ``redis-cli`` and
every Redis client can connect as soon as the constructor returns::

    with fincaskv.Server("./data", port=0) as server:
        r = redis.Redis(port=server.port)
        r.set("k", "v")
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple, Union

from fincaskv import _native
from fincaskv._clients import close_all

__all__ = ["Server"]

PathLike = Union[str, "os.PathLike[str]"]


class Server:
    """A RESP server on ``host:port`` (``port=0``: a free port) over directory ``dir``.

    ``options`` are the server's configuration options, named as in its TOML
    file (``fsync``, ``index``, ``databases``, ``requirepass``, ``maxclients``,
    ``hz``, ``merge_check_interval_ms``, ...; ``_`` or ``-`` alike); ``conf``
    reads a TOML configuration file first. The directory is held (locked)
    until ``stop()``.
    """

    def __init__(
        self,
        dir: Optional[PathLike],
        port: Optional[int] = 0,
        *,
        host: Optional[str] = "127.0.0.1",
        conf: Optional[PathLike] = None,
        **options: Any,
    ) -> None:
        # None for dir / port / host keeps the config file's value (or the default).
        self._handle = _native.ServerHandle(
            os.fspath(dir) if dir is not None else None,
            host,
            port,
            options,
            os.fspath(conf) if conf is not None else None,
        )
        self._clients: List[Any] = []

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._handle.port)

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._handle.host)

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)``."""
        return self.host, self.port

    @property
    def url(self) -> str:
        """``redis://host:port`` (for ``redis.Redis.from_url``)."""
        return f"redis://{self.host}:{self.port}"

    @property
    def dir(self) -> str:
        """The data directory."""
        return str(self._handle.dir)

    @property
    def running(self) -> bool:
        """Whether the server still runs (false after ``stop()`` or SHUTDOWN)."""
        return bool(self._handle.running)

    def stop(self) -> None:
        """Stops the server: connections finish their command, the data is
        fsynced, the directory is released. Clients made by :meth:`client`
        are closed. Stopping twice is allowed."""
        self._handle.stop()
        close_all(self._clients)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits for the server to stop by itself (a client's SHUTDOWN);
        returns whether it stopped within ``timeout`` seconds."""
        return bool(self._handle.wait(timeout))

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` connected to this server (needs redis-py); it is
        closed by :meth:`stop` if the caller has not closed it."""
        import redis

        client = redis.Redis(host=self.host, port=self.port, **kwargs)
        self._clients.append(client)
        return client

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<fincaskv.Server {self.host}:{self.port} dir={self.dir!r} {state}>"

