"""Bloom-filter helpers (the result type of ``db.bf().info(key)``)."""

from __future__ import annotations

from typing import Any, Dict, List


class BFInfo:
    """BF.INFO of one filter, with redis-py's attribute names."""

    capacity: Any
    """How many items the filter was sized for (before any scaling)."""
    size: Any
    """Memory used, in bytes."""
    filterNum: Any
    """Number of sub-filters (grows when a scaling filter fills up)."""
    insertedNum: Any
    """Number of items added."""
    expansionRate: Any
    """Growth factor of each new sub-filter (``None`` when non-scaling)."""

    _FIELDS = {
        "Capacity": "capacity",
        "Size": "size",
        "Number of filters": "filterNum",
        "Number of items inserted": "insertedNum",
        "Expansion rate": "expansionRate",
    }

    def __init__(self, args: List[Any]) -> None:
        values: Dict[str, Any] = {}
        it = iter(args or [])
        for name, value in zip(it, it):
            text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            values[text] = value
        for field, attr in self._FIELDS.items():
            setattr(self, attr, values.get(field))

    def get(self, item: str) -> Any:
        """An attribute by name, ``None`` when missing."""
        return getattr(self, item, None)

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item)

    def __repr__(self) -> str:
        return (
            f"BFInfo(capacity={self.capacity!r}, size={self.size!r}, filterNum={self.filterNum!r}, "
            f"insertedNum={self.insertedNum!r}, expansionRate={self.expansionRate!r})"
        )
