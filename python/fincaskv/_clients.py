"""Bookkeeping of the redis-py clients the helpers hand out."""

from typing import Any, List


def close_all(clients: List[Any]) -> None:
    """Closes every redis-py client of ``clients`` and empties the list."""
    while clients:
        try:
            clients.pop().close()
        except Exception:  # pragma: no cover - a client already broken
            pass
