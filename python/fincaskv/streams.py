"""redis-py-shaped stream commands (XADD ... XINFO) and their response
callbacks (redis-py's RESP2 shapes: ``(id, {field: value})`` tuples, dicts
for XPENDING / XINFO).

Embedded (``fincaskv.DB``), ``block=`` does not wait: the command answers
at once (``[]`` when nothing is there), as inside a MULTI in Redis.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from fincaskv.exceptions import DataError

__all__ = ["StreamCommands", "STREAM_CALLBACKS"]


def _str(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value


def _pairs_to_dict(response: Any, decode_keys: bool = False) -> Dict[Any, Any]:
    if response is None:
        return {}
    it = iter(response)
    if decode_keys:
        return {_str(k): v for k, v in zip(it, it)}
    return dict(zip(it, it))


def parse_stream_list(response: Any) -> Any:
    """Entries -> ``[(id, {field: value})]`` (``(id, {})`` for a deleted one)."""
    if response is None:
        return None
    data: List[Any] = []
    for r in response:
        if r is not None:
            data.append((r[0], _pairs_to_dict(r[1])))
        else:
            data.append((None, None))
    return data


def parse_xread(response: Any, **options: Any) -> Any:
    """XREAD / XREADGROUP -> ``[[stream, [(id, {...})]]]`` (``[]`` for nil)."""
    if response is None:
        return []
    return [[r[0], parse_stream_list(r[1])] for r in response]


def parse_xpending(response: Any, **options: Any) -> Any:
    """XPENDING summary -> dict; the extended form -> list of dicts."""
    if options.get("parse_detail", False):
        return parse_xpending_range(response)
    consumers = [{"name": n, "pending": int(p)} for n, p in response[3] or []]
    return {
        "pending": response[0],
        "min": response[1],
        "max": response[2],
        "consumers": consumers,
    }


def parse_xpending_range(response: Any) -> Any:
    keys = ("message_id", "consumer", "time_since_delivered", "times_delivered")
    return [dict(zip(keys, r)) for r in response]


def parse_xclaim(response: Any, **options: Any) -> Any:
    if options.get("parse_justid", False):
        return response
    return parse_stream_list(response)


def parse_xautoclaim(response: Any, **options: Any) -> Any:
    if options.get("parse_justid", False):
        return response[1]
    response[1] = parse_stream_list(response[1])
    return response


def parse_xinfo_stream(response: Any, **options: Any) -> Any:
    data = _pairs_to_dict(response, decode_keys=True)
    if not options.get("full", False):
        first = data.get("first-entry")
        if first is not None:
            data["first-entry"] = (first[0], _pairs_to_dict(first[1]))
        last = data["last-entry"]
        if last is not None:
            data["last-entry"] = (last[0], _pairs_to_dict(last[1]))
    else:
        data["entries"] = {_id: _pairs_to_dict(entry) for _id, entry in data["entries"]}
        if len(data["groups"]) > 0 and isinstance(data["groups"][0], list):
            data["groups"] = [_pairs_to_dict(group, decode_keys=True) for group in data["groups"]]
            for g in data["groups"]:
                if g["consumers"] and g["consumers"][0] is not None:
                    g["consumers"] = [_pairs_to_dict(c) for c in g["consumers"]]
    return data


def parse_list_of_dicts(response: Any, **options: Any) -> Any:
    return [_pairs_to_dict(r, decode_keys=True) for r in response]


def _bool_ok(response: Any, **options: Any) -> bool:
    return _str(response) == "OK"


def _ident(response: Any, **options: Any) -> Any:
    return response


def _stream_list(response: Any, **options: Any) -> Any:
    return parse_stream_list(response)


def _group(response: Any, **options: Any) -> Any:
    """XGROUP's subcommands, told apart by the ``sub`` option."""
    sub = options.get("sub")
    if sub in ("CREATE", "SETID"):
        return _bool_ok(response)
    if sub == "DESTROY":
        return bool(response)
    return response


def _info(response: Any, **options: Any) -> Any:
    sub = options.get("sub")
    if sub == "STREAM":
        return parse_xinfo_stream(response, **options)
    if sub in ("GROUPS", "CONSUMERS"):
        return parse_list_of_dicts(response)
    return response


STREAM_CALLBACKS = {
    "XRANGE": _stream_list,
    "XREVRANGE": _stream_list,
    "XREAD": parse_xread,
    "XREADGROUP": parse_xread,
    "XPENDING": parse_xpending,
    "XCLAIM": parse_xclaim,
    "XAUTOCLAIM": parse_xautoclaim,
    "XGROUP": _group,
    "XINFO": _info,
    "XSETID": _bool_ok,
}
"""Command name -> callback, merged into ``RESPONSE_CALLBACKS``."""


class StreamCommands:
    """XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD XREADGROUP XACK XPENDING
    XCLAIM XAUTOCLAIM XGROUP XINFO, with redis-py's signatures."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def xadd(
        self,
        name: Any,
        fields: Mapping[Any, Any],
        id: Any = "*",
        maxlen: Optional[int] = None,
        approximate: bool = True,
        nomkstream: bool = False,
        minid: Any = None,
        limit: Optional[int] = None,
        ref_policy: Optional[str] = None,
        idmpauto: Optional[str] = None,
        idmp: Optional[Tuple[Any, Any]] = None,
    ) -> Any:
        """XADD: appends ``fields`` as a new entry; its id. (``ref_policy``,
        ``idmpauto`` and ``idmp`` are Redis 8 options, sent as redis-py sends
        them: refused, as Redis 7.0 refuses them.)"""
        pieces: List[Any] = []
        if maxlen is not None and minid is not None:
            raise DataError("Only one of ```maxlen``` or ```minid``` may be specified")
        if maxlen is not None:
            if not isinstance(maxlen, int) or maxlen < 0:
                raise DataError("XADD maxlen must be non-negative integer")
            pieces.append(b"MAXLEN")
            if approximate:
                pieces.append(b"~")
            pieces.append(str(maxlen))
        if minid is not None:
            pieces.append(b"MINID")
            if approximate:
                pieces.append(b"~")
            pieces.append(minid)
        if limit is not None:
            pieces.extend([b"LIMIT", limit])
        if ref_policy is not None:
            pieces.append(ref_policy)
        if nomkstream:
            pieces.append(b"NOMKSTREAM")
        if idmpauto is not None:
            pieces.extend([b"IDMPAUTO", idmpauto])
        if idmp is not None:
            pieces.extend([b"IDMP", idmp[0], idmp[1]])
        pieces.append(id)
        if not isinstance(fields, dict) or len(fields) == 0:
            raise DataError("XADD fields must be a non-empty dict")
        for pair in fields.items():
            pieces.extend(pair)
        return self.execute_command("XADD", name, *pieces)

    def xlen(self, name: Any) -> Any:
        """XLEN: the number of entries."""
        return self.execute_command("XLEN", name)

    def xrange(self, name: Any, min: Any = "-", max: Any = "+", count: Optional[int] = None) -> Any:
        """XRANGE: entries from ``min`` to ``max``."""
        pieces: List[Any] = [min, max]
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError("XRANGE count must be a positive integer")
            pieces.extend([b"COUNT", str(count)])
        return self.execute_command("XRANGE", name, *pieces)

    def xrevrange(self, name: Any, max: Any = "+", min: Any = "-", count: Optional[int] = None) -> Any:
        """XREVRANGE: entries from ``max`` down to ``min``."""
        pieces: List[Any] = [max, min]
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError("XREVRANGE count must be a positive integer")
            pieces.extend([b"COUNT", str(count)])
        return self.execute_command("XREVRANGE", name, *pieces)

    def xdel(self, name: Any, *ids: Any) -> Any:
        """XDEL: removes entries; how many there were."""
        return self.execute_command("XDEL", name, *ids)

    def xtrim(
        self,
        name: Any,
        maxlen: Optional[int] = None,
        approximate: bool = True,
        minid: Any = None,
        limit: Optional[int] = None,
        ref_policy: Optional[str] = None,
    ) -> Any:
        """XTRIM: trims by MAXLEN or MINID; how many entries went
        (``ref_policy`` is a Redis 8 option: refused, as by Redis 7.0)."""
        pieces: List[Any] = []
        if maxlen is not None and minid is not None:
            raise DataError("Only one of ``maxlen`` or ``minid`` may be specified")
        if maxlen is None and minid is None:
            raise DataError("One of ``maxlen`` or ``minid`` must be specified")
        if maxlen is not None:
            pieces.append(b"MAXLEN")
        if minid is not None:
            pieces.append(b"MINID")
        if approximate:
            pieces.append(b"~")
        if maxlen is not None:
            pieces.append(maxlen)
        if minid is not None:
            pieces.append(minid)
        if limit is not None:
            pieces.extend([b"LIMIT", limit])
        if ref_policy is not None:
            pieces.append(ref_policy)
        return self.execute_command("XTRIM", name, *pieces)

    def xread(
        self,
        streams: Mapping[Any, Any],
        count: Optional[int] = None,
        block: Optional[int] = None,
        max_count: Optional[int] = None,
        max_size: Optional[int] = None,
    ) -> Any:
        """XREAD: entries after the given ids of each stream (``max_count``
        and ``max_size`` are Redis 8 options: refused, as by Redis 7.0)."""
        pieces: List[Any] = []
        if max_count is not None:
            pieces.extend([b"MAXCOUNT", max_count])
        if max_size is not None:
            pieces.extend([b"MAXSIZE", max_size])
        if block is not None:
            if not isinstance(block, int) or block < 0:
                raise DataError("XREAD block must be a non-negative integer")
            pieces.extend([b"BLOCK", str(block)])
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError("XREAD count must be a positive integer")
            pieces.extend([b"COUNT", str(count)])
        if not isinstance(streams, dict) or len(streams) == 0:
            raise DataError("XREAD streams must be a non empty dict")
        pieces.append(b"STREAMS")
        keys, values = zip(*streams.items())
        pieces.extend(keys)
        pieces.extend(values)
        return self.execute_command("XREAD", *pieces)

    def xreadgroup(
        self,
        groupname: Any,
        consumername: Any,
        streams: Mapping[Any, Any],
        count: Optional[int] = None,
        block: Optional[int] = None,
        noack: bool = False,
        claim_min_idle_time: Optional[int] = None,
        max_count: Optional[int] = None,
        max_size: Optional[int] = None,
    ) -> Any:
        """XREADGROUP: new entries (``>``) or a consumer's pending history
        (``claim_min_idle_time``, ``max_count`` and ``max_size`` are Redis 8
        options: refused, as by Redis 7.0)."""
        pieces: List[Any] = [b"GROUP", groupname, consumername]
        if claim_min_idle_time is not None:
            pieces.extend([b"CLAIM", claim_min_idle_time])
        if max_count is not None:
            pieces.extend([b"MAXCOUNT", max_count])
        if max_size is not None:
            pieces.extend([b"MAXSIZE", max_size])
        if count is not None:
            if not isinstance(count, int) or count < 1:
                raise DataError("XREADGROUP count must be a positive integer")
            pieces.extend([b"COUNT", str(count)])
        if block is not None:
            if not isinstance(block, int) or block < 0:
                raise DataError("XREADGROUP block must be a non-negative integer")
            pieces.extend([b"BLOCK", str(block)])
        if noack:
            pieces.append(b"NOACK")
        if not isinstance(streams, dict) or len(streams) == 0:
            raise DataError("XREADGROUP streams must be a non empty dict")
        pieces.append(b"STREAMS")
        pieces.extend(streams.keys())
        pieces.extend(streams.values())
        return self.execute_command("XREADGROUP", *pieces)

    def xack(self, name: Any, groupname: Any, *ids: Any) -> Any:
        """XACK: acknowledges entries; how many were pending."""
        return self.execute_command("XACK", name, groupname, *ids)

    def xpending(self, name: Any, groupname: Any) -> Any:
        """XPENDING summary: ``{"pending", "min", "max", "consumers"}``."""
        return self.execute_command("XPENDING", name, groupname)

    def xpending_range(
        self,
        name: Any,
        groupname: Any,
        min: Any,
        max: Any,
        count: Any,
        consumername: Any = None,
        idle: Optional[int] = None,
    ) -> Any:
        """XPENDING's extended form: a list of dicts."""
        if {min, max, count} == {None}:
            if idle is not None or consumername is not None:
                raise DataError(
                    "if XPENDING is provided with idle time or consumername,"
                    " it must be provided with min, max and count parameters"
                )
            return self.xpending(name, groupname)
        pieces: List[Any] = [name, groupname]
        if min is None or max is None or count is None:
            raise DataError("XPENDING must be provided with min, max and count parameters, or none of them.")
        try:
            if int(idle) < 0:  # type: ignore[arg-type]
                raise DataError("XPENDING idle must be a integer >= 0")
            pieces.extend(["IDLE", idle])
        except TypeError:
            pass
        try:
            if int(count) < 0:
                raise DataError("XPENDING count must be a integer >= 0")
            pieces.extend([min, max, count])
        except TypeError:
            pass
        if consumername:
            pieces.append(consumername)
        return self.execute_command("XPENDING", *pieces, parse_detail=True)

    def xclaim(
        self,
        name: Any,
        groupname: Any,
        consumername: Any,
        min_idle_time: int,
        message_ids: Any,
        idle: Optional[int] = None,
        time: Optional[int] = None,
        retrycount: Optional[int] = None,
        force: bool = False,
        justid: bool = False,
    ) -> Any:
        """XCLAIM: takes pending entries over."""
        if not isinstance(min_idle_time, int) or min_idle_time < 0:
            raise DataError("XCLAIM min_idle_time must be a non negative integer")
        if not isinstance(message_ids, (list, tuple)) or not message_ids:
            raise DataError("XCLAIM message_ids must be a non empty list or tuple of message IDs to claim")
        kwargs: Dict[str, Any] = {}
        pieces: List[Any] = [name, groupname, consumername, str(min_idle_time)]
        pieces.extend(list(message_ids))
        if idle is not None:
            if not isinstance(idle, int):
                raise DataError("XCLAIM idle must be an integer")
            pieces.extend((b"IDLE", str(idle)))
        if time is not None:
            if not isinstance(time, int):
                raise DataError("XCLAIM time must be an integer")
            pieces.extend((b"TIME", str(time)))
        if retrycount is not None:
            if not isinstance(retrycount, int):
                raise DataError("XCLAIM retrycount must be an integer")
            pieces.extend((b"RETRYCOUNT", str(retrycount)))
        if force:
            if not isinstance(force, bool):
                raise DataError("XCLAIM force must be a boolean")
            pieces.append(b"FORCE")
        if justid:
            if not isinstance(justid, bool):
                raise DataError("XCLAIM justid must be a boolean")
            pieces.append(b"JUSTID")
            kwargs["parse_justid"] = True
        return self.execute_command("XCLAIM", *pieces, **kwargs)

    def xautoclaim(
        self,
        name: Any,
        groupname: Any,
        consumername: Any,
        min_idle_time: int,
        start_id: Any = "0-0",
        count: Optional[int] = None,
        justid: bool = False,
    ) -> Any:
        """XAUTOCLAIM: ``[next start id, claimed, deleted ids]``."""
        try:
            if int(min_idle_time) < 0:
                raise DataError("XAUTOCLAIM min_idle_time must be a nonnegative integer")
        except TypeError:
            pass
        kwargs: Dict[str, Any] = {}
        pieces: List[Any] = [name, groupname, consumername, min_idle_time, start_id]
        try:
            if int(count) < 0:  # type: ignore[arg-type]
                raise DataError("XPENDING count must be a integer >= 0")
            pieces.extend([b"COUNT", count])
        except TypeError:
            pass
        if justid:
            pieces.append(b"JUSTID")
            kwargs["parse_justid"] = True
        return self.execute_command("XAUTOCLAIM", *pieces, **kwargs)

    def xgroup_create(
        self,
        name: Any,
        groupname: Any,
        id: Any = "$",
        mkstream: bool = False,
        entries_read: Optional[int] = None,
    ) -> Any:
        """XGROUP CREATE: ``True``."""
        pieces: List[Any] = ["CREATE", name, groupname, id]
        if mkstream:
            pieces.append(b"MKSTREAM")
        if entries_read is not None:
            pieces.extend([b"ENTRIESREAD", entries_read])
        return self.execute_command("XGROUP", *pieces, sub="CREATE")

    def xgroup_setid(self, name: Any, groupname: Any, id: Any, entries_read: Optional[int] = None) -> Any:
        """XGROUP SETID: ``True``."""
        pieces: List[Any] = ["SETID", name, groupname, id]
        if entries_read is not None:
            pieces.extend([b"ENTRIESREAD", entries_read])
        return self.execute_command("XGROUP", *pieces, sub="SETID")

    def xgroup_destroy(self, name: Any, groupname: Any) -> Any:
        """XGROUP DESTROY: whether the group existed."""
        return self.execute_command("XGROUP", "DESTROY", name, groupname, sub="DESTROY")

    def xgroup_createconsumer(self, name: Any, groupname: Any, consumername: Any) -> Any:
        """XGROUP CREATECONSUMER: 1 if created."""
        return self.execute_command("XGROUP", "CREATECONSUMER", name, groupname, consumername, sub="CREATECONSUMER")

    def xgroup_delconsumer(self, name: Any, groupname: Any, consumername: Any) -> Any:
        """XGROUP DELCONSUMER: the number of pending entries it had."""
        return self.execute_command("XGROUP", "DELCONSUMER", name, groupname, consumername, sub="DELCONSUMER")

    def xinfo_stream(self, name: Any, full: bool = False) -> Any:
        """XINFO STREAM [FULL]: a dict."""
        pieces: List[Any] = ["STREAM", name]
        options: Dict[str, Any] = {"sub": "STREAM"}
        if full:
            pieces.append(b"FULL")
            options["full"] = full
        return self.execute_command("XINFO", *pieces, **options)

    def xinfo_groups(self, name: Any) -> Any:
        """XINFO GROUPS: a list of dicts."""
        return self.execute_command("XINFO", "GROUPS", name, sub="GROUPS")

    def xinfo_consumers(self, name: Any, groupname: Any) -> Any:
        """XINFO CONSUMERS: a list of dicts."""
        return self.execute_command("XINFO", "CONSUMERS", name, groupname, sub="CONSUMERS")
