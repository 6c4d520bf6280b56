"""redis-py-shaped command methods, one mixin per command family.

Each method builds the command's argument list and hands it to
``self.execute_command(*args, **options)``; the class that mixes these in
(``DB``, ``Pipeline``) decides what executing means (run now, or queue). The
names, argument names, option keywords and return types are redis-py's, so
code written for ``redis.Redis`` runs unchanged against ``fincaskv.DB``.
"""

from __future__ import annotations

import datetime
import hashlib
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from fincaskv.exceptions import DataError, NoScriptError
from fincaskv.streams import StreamCommands

KeyT = Union[bytes, str, memoryview]
EncodableT = Union[bytes, bytearray, memoryview, str, int, float]
ExpiryT = Union[int, datetime.timedelta]
AbsExpiryT = Union[int, datetime.datetime]

__all__ = [
    "BitFieldOperation",
    "BloomCommands",
    "Commands",
    "GenericCommands",
    "GeoCommands",
    "HashCommands",
    "ListCommands",
    "ServerCommands",
    "SetCommands",
    "SortedSetCommands",
    "Script",
    "ScriptCommands",
    "StringCommands",
]


def _as_list(keys: Any, args: Sequence[Any] = ()) -> List[Any]:
    """``keys`` may be one key or an iterable of keys; ``args`` adds more."""
    if isinstance(keys, (bytes, str, memoryview, bytearray, int, float)):
        out = [keys]
    else:
        try:
            out = list(keys)
        except TypeError:
            out = [keys]
    out.extend(args)
    return out


def _seconds(value: ExpiryT) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    return value


def _millis(value: ExpiryT) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return value


def _unix_seconds(value: AbsExpiryT) -> int:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return value


def _unix_millis(value: AbsExpiryT) -> int:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def _deprecated(name: str, reason: str, version: str) -> None:
    warnings.warn(
        f"Call to deprecated {name}. ({reason}) -- Deprecated since version {version}.",
        DeprecationWarning,
        stacklevel=3,
    )


def _expiry_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> List[bytes]:
    flags = []
    if nx:
        flags.append(b"NX")
    if xx:
        flags.append(b"XX")
    if gt:
        flags.append(b"GT")
    if lt:
        flags.append(b"LT")
    return flags


class BitFieldOperation:
    """A BITFIELD command under construction (redis-py's builder): each of
    ``get`` / ``set`` / ``incrby`` / ``overflow`` adds a subcommand and
    returns the builder; ``execute()`` sends them as one command and
    returns its list of results (``None`` where OVERFLOW FAIL refused)."""

    def __init__(self, client: Any, key: KeyT, default_overflow: Optional[str] = None) -> None:
        self.client = client
        self.key = key
        self._default_overflow = default_overflow
        self.reset()

    def reset(self) -> None:
        """Forgets the subcommands added so far."""
        self.operations: List[tuple] = []
        self._last_overflow = "WRAP"
        self.overflow(self._default_overflow or self._last_overflow)

    def overflow(self, overflow: str) -> "BitFieldOperation":
        """OVERFLOW WRAP | SAT | FAIL for the SET / INCRBY that follow."""
        overflow = overflow.upper()
        if overflow != self._last_overflow:
            self._last_overflow = overflow
            self.operations.append(("OVERFLOW", overflow))
        return self

    def get(self, fmt: str, offset: Union[int, str]) -> "BitFieldOperation":
        """GET the field ``fmt`` (``i8``, ``u4``, ...) at ``offset`` (``"#N"``
        counts in fields)."""
        self.operations.append(("GET", fmt, offset))
        return self

    def set(self, fmt: str, offset: Union[int, str], value: int) -> "BitFieldOperation":
        """SET the field to ``value``; its result is the old value."""
        self.operations.append(("SET", fmt, offset, value))
        return self

    def incrby(
        self, fmt: str, offset: Union[int, str], increment: int, overflow: Optional[str] = None
    ) -> "BitFieldOperation":
        """INCRBY the field by ``increment`` (under ``overflow`` if given);
        its result is the new value."""
        if overflow is not None:
            self.overflow(overflow)
        self.operations.append(("INCRBY", fmt, offset, increment))
        return self

    @property
    def command(self) -> List[Any]:
        """The command as it will be sent."""
        cmd: List[Any] = ["BITFIELD", self.key]
        for op in self.operations:
            cmd.extend(op)
        return cmd

    def execute(self) -> Any:
        """Sends the command; the builder is reset for reuse."""
        cmd = self.command
        self.reset()
        return self.client.execute_command(*cmd)


class StringCommands:
    """String commands: GET, SET, INCR, MSET, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def append(self, key: KeyT, value: EncodableT) -> Any:
        """APPEND: appends ``value`` to the string at ``key``; returns the new length."""
        return self.execute_command("APPEND", key, value)

    def decrby(self, name: KeyT, amount: int = 1) -> Any:
        """DECRBY: decrements the integer at ``name`` by ``amount``."""
        return self.execute_command("DECRBY", name, amount)

    decr = decrby

    def incrby(self, name: KeyT, amount: int = 1) -> Any:
        """INCRBY: increments the integer at ``name`` by ``amount``."""
        return self.execute_command("INCRBY", name, amount)

    incr = incrby

    def incrbyfloat(self, name: KeyT, amount: float = 1.0) -> Any:
        """INCRBYFLOAT: increments the number at ``name``; returns a ``float``."""
        return self.execute_command("INCRBYFLOAT", name, amount)

    def get(self, name: KeyT) -> Any:
        """GET: the value of ``name``, or ``None``."""
        return self.execute_command("GET", name)

    def getdel(self, name: KeyT) -> Any:
        """GETDEL: returns the value of ``name`` and deletes it."""
        return self.execute_command("GETDEL", name)

    def getex(
        self,
        name: KeyT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        persist: bool = False,
    ) -> Any:
        """GETEX: returns the value of ``name`` and sets or clears its expiry."""
        given = [x for x in (ex, px, exat, pxat) if x is not None]
        if len(given) > 1 or (given and persist):
            raise DataError("``ex``, ``px``, ``exat``, ``pxat``, and ``persist`` are mutually exclusive.")
        pieces: List[Any] = ["GETEX", name]
        if ex is not None:
            pieces += ["EX", _seconds(ex)]
        if px is not None:
            pieces += ["PX", _millis(px)]
        if exat is not None:
            pieces += ["EXAT", _unix_seconds(exat)]
        if pxat is not None:
            pieces += ["PXAT", _unix_millis(pxat)]
        if persist:
            pieces.append("PERSIST")
        return self.execute_command(*pieces)

    def getrange(self, key: KeyT, start: int, end: int) -> Any:
        """GETRANGE: the substring ``start..=end`` of the string at ``key``."""
        return self.execute_command("GETRANGE", key, start, end)

    def substr(self, name: KeyT, start: int, end: int = -1) -> Any:
        """SUBSTR: the old name of GETRANGE."""
        return self.execute_command("SUBSTR", name, start, end)

    def getset(self, name: KeyT, value: EncodableT) -> Any:
        """GETSET: sets ``name`` and returns the old value."""
        return self.execute_command("GETSET", name, value)

    def mget(self, keys: Any, *args: Any) -> Any:
        """MGET: the values of several keys (``None`` for missing ones)."""
        return self.execute_command("MGET", *_as_list(keys, args))

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET: sets every key of ``mapping``."""
        pieces: List[Any] = ["MSET"]
        for pair in mapping.items():
            pieces.extend(pair)
        return self.execute_command(*pieces)

    def msetnx(self, mapping: Mapping[Any, Any]) -> Any:
        """MSETNX: sets every key of ``mapping`` only if none exists; returns ``bool``."""
        pieces: List[Any] = ["MSETNX"]
        for pair in mapping.items():
            pieces.extend(pair)
        return self.execute_command(*pieces)

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
    ) -> Any:
        """SET: sets ``name``; ``True``, or ``None`` when NX/XX was not met
        (the old value with ``get=True``)."""
        expiries = [x for x in (ex, px, exat, pxat) if x is not None]
        if len(expiries) > 1 or (expiries and keepttl):
            raise DataError("``ex``, ``px``, ``exat``, ``pxat``, and ``keepttl`` are mutually exclusive.")
        if nx and xx:
            raise DataError("``nx`` and ``xx`` are mutually exclusive.")
        pieces: List[Any] = ["SET", name, value]
        options: Dict[str, Any] = {}
        if ex is not None:
            pieces += ["EX", _seconds(ex)]
        if px is not None:
            pieces += ["PX", _millis(px)]
        if exat is not None:
            pieces += ["EXAT", _unix_seconds(exat)]
        if pxat is not None:
            pieces += ["PXAT", _unix_millis(pxat)]
        if keepttl:
            pieces.append("KEEPTTL")
        if nx:
            pieces.append("NX")
        if xx:
            pieces.append("XX")
        if get:
            pieces.append("GET")
            options["get"] = True
        return self.execute_command(*pieces, **options)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> Any:
        """SETEX (deprecated, use ``set(name, value, ex=time)``): sets ``name``
        with a TTL of ``time`` seconds."""
        _deprecated("setex", "Use 'set' instead.", "2.6.12")
        return self.execute_command("SETEX", name, _seconds(time), value)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> Any:
        """PSETEX: sets ``name`` with a TTL of ``time_ms`` milliseconds."""
        return self.execute_command("PSETEX", name, _millis(time_ms), value)

    def setnx(self, name: KeyT, value: EncodableT) -> Any:
        """SETNX: sets ``name`` only if it does not exist; returns ``bool``."""
        return self.execute_command("SETNX", name, value)

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> Any:
        """SETRANGE: overwrites part of the string at ``name``; returns the new length."""
        return self.execute_command("SETRANGE", name, offset, value)

    def setbit(self, name: KeyT, offset: int, value: int) -> Any:
        """SETBIT: sets the bit at ``offset`` to ``value``; returns the old bit."""
        return self.execute_command("SETBIT", name, offset, value)

    def getbit(self, name: KeyT, offset: int) -> Any:
        """GETBIT: the bit at ``offset`` (0 past the end or for a missing key)."""
        return self.execute_command("GETBIT", name, offset)

    def bitcount(
        self,
        key: KeyT,
        start: Optional[int] = None,
        end: Optional[int] = None,
        mode: Optional[str] = None,
    ) -> Any:
        """BITCOUNT: set bits, in ``start..=end`` (bytes, or bits with ``mode="BIT"``)."""
        params: List[Any] = [key]
        if start is not None and end is not None:
            params += [start, end]
            if mode is not None:
                params.append(mode)
        elif (start is None) != (end is None):
            raise DataError("Both start and end must be specified")
        return self.execute_command("BITCOUNT", *params)

    def bitpos(
        self,
        key: KeyT,
        bit: int,
        start: Optional[int] = None,
        end: Optional[int] = None,
        mode: Optional[str] = None,
    ) -> Any:
        """BITPOS: the first bit equal to ``bit``, in an optional range."""
        if bit not in (0, 1):
            raise DataError("bit must be 0 or 1")
        params: List[Any] = [key, bit]
        if start is not None:
            params.append(start)
        if start is not None and end is not None:
            params.append(end)
            if mode is not None:
                params.append(mode)
        elif start is None and end is not None:
            raise DataError("start argument is not set, when end is specified")
        return self.execute_command("BITPOS", *params)

    def bitop(self, operation: str, dest: KeyT, *keys: KeyT) -> Any:
        """BITOP: ``operation`` (AND, OR, XOR, NOT) over ``keys`` into
        ``dest``; returns the result's length (``dest`` deleted when 0)."""
        return self.execute_command("BITOP", operation, dest, *keys)

    def bitfield(self, key: KeyT, default_overflow: Optional[str] = None) -> "BitFieldOperation":
        """BITFIELD: returns a :class:`BitFieldOperation` to chain
        ``get`` / ``set`` / ``incrby`` / ``overflow`` on, then ``execute()``."""
        return BitFieldOperation(self, key, default_overflow=default_overflow)

    def bitfield_ro(
        self,
        key: KeyT,
        encoding: str,
        offset: Union[int, str],
        items: Optional[List[tuple]] = None,
    ) -> Any:
        """BITFIELD_RO: the field ``encoding`` at ``offset``, then one per
        ``(encoding, offset)`` pair of ``items``."""
        params: List[Any] = [key, "GET", encoding, offset]
        for enc, off in items or ():
            params += ["GET", enc, off]
        return self.execute_command("BITFIELD_RO", *params)

    def pfadd(self, name: KeyT, *values: EncodableT) -> Any:
        """PFADD: adds ``values`` to the HyperLogLog at ``name``; 1 if it changed (or was created)."""
        return self.execute_command("PFADD", name, *values)

    def pfcount(self, *sources: KeyT) -> Any:
        """PFCOUNT: the estimated cardinality of one HyperLogLog, or of the union of several."""
        return self.execute_command("PFCOUNT", *sources)

    def pfmerge(self, dest: KeyT, *sources: KeyT) -> Any:
        """PFMERGE: stores the union of ``dest`` and ``sources`` into ``dest``; returns ``True``."""
        return self.execute_command("PFMERGE", dest, *sources)

    def strlen(self, name: KeyT) -> Any:
        """STRLEN: the length of the string at ``name``."""
        return self.execute_command("STRLEN", name)

    def lcs(
        self,
        key1: KeyT,
        key2: KeyT,
        len: bool = False,
        idx: bool = False,
        minmatchlen: int = 0,
        withmatchlen: bool = False,
    ) -> Any:
        """LCS: the longest common subsequence of two strings."""
        pieces: List[Any] = ["LCS", key1, key2]
        if len:
            pieces.append("LEN")
        if idx:
            pieces.append("IDX")
        if minmatchlen:
            pieces += ["MINMATCHLEN", minmatchlen]
        if withmatchlen:
            pieces.append("WITHMATCHLEN")
        return self.execute_command(*pieces)


def _sort_args(
    name: Any, start: Any, num: Any, by: Any, get: Any, desc: bool, alpha: bool, store: Any, groups: bool
) -> List[Any]:
    """SORT's arguments after the command name, with redis-py's checks."""
    if (start is None) != (num is None):
        raise DataError("``start`` and ``num`` must both be specified")
    args: List[Any] = [name]
    if by is not None:
        args += ["BY", by]
    if start is not None:
        args += ["LIMIT", start, num]
    if get is not None:
        for pattern in [get] if isinstance(get, (bytes, str)) else get:
            args += ["GET", pattern]
    if desc:
        args.append("DESC")
    if alpha:
        args.append("ALPHA")
    if store is not None:
        args += ["STORE", store]
    if groups and (not get or isinstance(get, (bytes, str)) or len(get) < 2):
        raise DataError(
            'when using "groups" the "get" argument must be specified and contain at least two keys'
        )
    return args


class GenericCommands:
    """Key-space commands: DEL, EXISTS, EXPIRE, TTL, RENAME, SCAN, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def delete(self, *names: KeyT) -> Any:
        """DEL: deletes keys; returns how many existed."""
        return self.execute_command("DEL", *names)

    def unlink(self, *names: KeyT) -> Any:
        """UNLINK: deletes keys (memory freed in the background); returns how many existed."""
        return self.execute_command("UNLINK", *names)

    def exists(self, *names: KeyT) -> Any:
        """EXISTS: how many of ``names`` exist."""
        return self.execute_command("EXISTS", *names)

    def dump(self, name: KeyT) -> Any:
        """DUMP: the value at ``name`` serialized as Redis 7.0 does (``bytes``),
        or ``None`` if absent; RESTORE (here or in Redis) reads it back."""
        return self.execute_command("DUMP", name, NEVER_DECODE=[])

    def restore(
        self,
        name: KeyT,
        ttl: float,
        value: EncodableT,
        replace: bool = False,
        absttl: bool = False,
        idletime: Optional[int] = None,
        frequency: Optional[int] = None,
    ) -> Any:
        """RESTORE: creates ``name`` from a DUMP payload (ours or Redis's);
        ``ttl`` in milliseconds (0: none; with ``absttl`` a Unix time in ms)."""
        params: List[Any] = [name, ttl, value]
        if replace:
            params.append("REPLACE")
        if absttl:
            params.append("ABSTTL")
        if idletime is not None:
            try:
                params.extend(["IDLETIME", int(idletime)])
            except ValueError:
                raise DataError("idletime must be an integer") from None
        if frequency is not None:
            try:
                params.extend(["FREQ", int(frequency)])
            except ValueError:
                raise DataError("frequency must be an integer") from None
        return self.execute_command("RESTORE", *params)

    def sort(
        self,
        name: KeyT,
        start: Optional[int] = None,
        num: Optional[int] = None,
        by: Optional[KeyT] = None,
        get: Optional[Union[KeyT, Sequence[KeyT]]] = None,
        desc: bool = False,
        alpha: bool = False,
        store: Optional[KeyT] = None,
        groups: bool = False,
    ) -> Any:
        """SORT: the list, set or sorted set at ``name`` sorted (numbers, or
        strings with ``alpha``), by the weights a ``by`` pattern names, paged
        with ``start`` / ``num``, projected by ``get`` patterns (``groups``
        returns one tuple per element), or stored at ``store`` (returns the
        stored length)."""
        return self.execute_command("SORT", *_sort_args(name, start, num, by, get, desc, alpha, store, groups),
                                    groups=len(get) if groups and get is not None else None)

    def sort_ro(
        self,
        key: str,
        start: Optional[int] = None,
        num: Optional[int] = None,
        by: Optional[str] = None,
        get: Optional[List[str]] = None,
        desc: bool = False,
        alpha: bool = False,
    ) -> Any:
        """SORT_RO: SORT without STORE, as a read-only command."""
        return self.execute_command("SORT_RO", *_sort_args(key, start, num, by, get, desc, alpha, None, False))

    def touch(self, *args: KeyT) -> Any:
        """TOUCH: how many of the keys exist."""
        return self.execute_command("TOUCH", *args)

    def type(self, name: KeyT) -> Any:
        """TYPE: ``b"string"``, ``b"list"``, ... or ``b"none"``."""
        return self.execute_command("TYPE", name)

    def expire(
        self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False
    ) -> Any:
        """EXPIRE: sets a TTL of ``time`` seconds; returns ``bool``."""
        return self.execute_command("EXPIRE", name, _seconds(time), *_expiry_flags(nx, xx, gt, lt))

    def pexpire(
        self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False
    ) -> Any:
        """PEXPIRE: sets a TTL of ``time`` milliseconds; returns ``bool``."""
        return self.execute_command("PEXPIRE", name, _millis(time), *_expiry_flags(nx, xx, gt, lt))

    def expireat(
        self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False
    ) -> Any:
        """EXPIREAT: expires ``name`` at Unix time ``when`` (seconds); returns ``bool``."""
        return self.execute_command("EXPIREAT", name, _unix_seconds(when), *_expiry_flags(nx, xx, gt, lt))

    def pexpireat(
        self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False
    ) -> Any:
        """PEXPIREAT: expires ``name`` at Unix time ``when`` (milliseconds); returns ``bool``."""
        return self.execute_command("PEXPIREAT", name, _unix_millis(when), *_expiry_flags(nx, xx, gt, lt))

    def ttl(self, name: KeyT) -> Any:
        """TTL: seconds to live, -1 without expiry, -2 when missing."""
        return self.execute_command("TTL", name)

    def pttl(self, name: KeyT) -> Any:
        """PTTL: milliseconds to live, -1 without expiry, -2 when missing."""
        return self.execute_command("PTTL", name)

    def expiretime(self, key: KeyT) -> Any:
        """EXPIRETIME: the absolute Unix expiry time in seconds (-1, -2 as TTL)."""
        return self.execute_command("EXPIRETIME", key)

    def pexpiretime(self, key: KeyT) -> Any:
        """PEXPIRETIME: the absolute Unix expiry time in milliseconds."""
        return self.execute_command("PEXPIRETIME", key)

    def persist(self, name: KeyT) -> Any:
        """PERSIST: removes the expiry; returns ``bool``."""
        return self.execute_command("PERSIST", name)

    def rename(self, src: KeyT, dst: KeyT) -> Any:
        """RENAME: renames ``src`` to ``dst``; returns ``True``."""
        return self.execute_command("RENAME", src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> Any:
        """RENAMENX: renames only if ``dst`` does not exist; returns ``bool``."""
        return self.execute_command("RENAMENX", src, dst)

    def copy(
        self, source: KeyT, destination: KeyT, destination_db: Optional[int] = None, replace: bool = False
    ) -> Any:
        """COPY: copies ``source`` to ``destination``; returns ``bool``."""
        pieces: List[Any] = ["COPY", source, destination]
        if destination_db is not None:
            pieces += ["DB", destination_db]
        if replace:
            pieces.append("REPLACE")
        return self.execute_command(*pieces)

    def move(self, name: KeyT, db: int) -> Any:
        """MOVE: moves ``name`` to database ``db``; returns ``bool``."""
        return self.execute_command("MOVE", name, db)

    def randomkey(self, **kwargs: Any) -> Any:
        """RANDOMKEY: a random key, or ``None`` when the database is empty."""
        return self.execute_command("RANDOMKEY", **kwargs)

    def keys(self, pattern: KeyT = "*", **kwargs: Any) -> Any:
        """KEYS: every key matching the glob ``pattern`` (a list)."""
        return self.execute_command("KEYS", pattern, **kwargs)

    def scan(
        self,
        cursor: int = 0,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """SCAN: one step of an incremental iteration; returns ``(cursor, keys)``."""
        pieces: List[Any] = ["SCAN", cursor]
        if match is not None:
            pieces += ["MATCH", match]
        if count is not None:
            pieces += ["COUNT", count]
        if _type is not None:
            pieces += ["TYPE", _type]
        return self.execute_command(*pieces, **kwargs)

    def scan_iter(
        self,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Iterates over the keys with SCAN (a key present throughout is seen at least once)."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.scan(cursor=cursor, match=match, count=count, _type=_type, **kwargs)
            yield from data

    def object(self, infotype: Any, key: KeyT, **kwargs: Any) -> Any:
        """OBJECT <infotype> <key> (redis-py's ``object``): the encoding, or
        an integer (``None`` for a missing key)."""
        return self.execute_command("OBJECT", infotype, key, infotype=infotype, **kwargs)


class ListCommands:
    """List commands: LPUSH, LRANGE, LPOP, BLPOP, LMOVE, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def blpop(self, keys: Any, timeout: Optional[float] = 0) -> Any:
        """BLPOP: pops the head of the first non-empty list, waiting up to
        ``timeout`` seconds (0 = forever); ``(key, value)`` or ``None``."""
        timeout = 0 if timeout is None else timeout
        return self.execute_command("BLPOP", *_as_list(keys), timeout)

    def brpop(self, keys: Any, timeout: Optional[float] = 0) -> Any:
        """BRPOP: as BLPOP, from the tail."""
        timeout = 0 if timeout is None else timeout
        return self.execute_command("BRPOP", *_as_list(keys), timeout)

    def brpoplpush(self, src: KeyT, dst: KeyT, timeout: Optional[float] = 0) -> Any:
        """BRPOPLPUSH: as RPOPLPUSH, waiting up to ``timeout`` seconds."""
        timeout = 0 if timeout is None else timeout
        return self.execute_command("BRPOPLPUSH", src, dst, timeout)

    def blmove(
        self, first_list: KeyT, second_list: KeyT, timeout: float, src: str = "LEFT", dest: str = "RIGHT"
    ) -> Any:
        """BLMOVE: as LMOVE, waiting up to ``timeout`` seconds."""
        return self.execute_command("BLMOVE", first_list, second_list, src, dest, timeout)

    def lmpop(self, num_keys: int, *args: KeyT, direction: str, count: Optional[int] = 1) -> Any:
        """LMPOP: pops up to ``count`` elements from the first non-empty list;
        ``[key, [elements]]`` or ``None``."""
        pieces: List[Any] = ["LMPOP", num_keys, *args, direction]
        if count != 1:
            pieces += ["COUNT", count]
        return self.execute_command(*pieces)

    def blmpop(
        self, timeout: float, numkeys: int, *args: KeyT, direction: str, count: Optional[int] = 1
    ) -> Any:
        """BLMPOP: as LMPOP, waiting up to ``timeout`` seconds."""
        pieces: List[Any] = ["BLMPOP", timeout, numkeys, *args, direction, "COUNT", count]
        return self.execute_command(*pieces)

    def lindex(self, name: KeyT, index: int) -> Any:
        """LINDEX: the element at ``index`` (negative from the tail), or ``None``."""
        return self.execute_command("LINDEX", name, index)

    def linsert(self, name: KeyT, where: str, refvalue: EncodableT, value: EncodableT) -> Any:
        """LINSERT: inserts ``value`` BEFORE or AFTER ``refvalue``; the new length, or -1."""
        return self.execute_command("LINSERT", name, where, refvalue, value)

    def llen(self, name: KeyT) -> Any:
        """LLEN: the length of the list."""
        return self.execute_command("LLEN", name)

    def lmove(self, first_list: KeyT, second_list: KeyT, src: str = "LEFT", dest: str = "RIGHT") -> Any:
        """LMOVE: pops from one end of ``first_list`` and pushes onto ``second_list``."""
        return self.execute_command("LMOVE", first_list, second_list, src, dest)

    def lpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """LPOP: pops the head (a list of up to ``count`` elements when given)."""
        if count is not None:
            return self.execute_command("LPOP", name, count)
        return self.execute_command("LPOP", name)

    def rpop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """RPOP: pops the tail (a list of up to ``count`` elements when given)."""
        if count is not None:
            return self.execute_command("RPOP", name, count)
        return self.execute_command("RPOP", name)

    def lpush(self, name: KeyT, *values: EncodableT) -> Any:
        """LPUSH: pushes onto the head; returns the new length."""
        return self.execute_command("LPUSH", name, *values)

    def rpush(self, name: KeyT, *values: EncodableT) -> Any:
        """RPUSH: pushes onto the tail; returns the new length."""
        return self.execute_command("RPUSH", name, *values)

    def lpushx(self, name: KeyT, *values: EncodableT) -> Any:
        """LPUSHX: LPUSH only if the list exists."""
        return self.execute_command("LPUSHX", name, *values)

    def rpushx(self, name: KeyT, *values: EncodableT) -> Any:
        """RPUSHX: RPUSH only if the list exists."""
        return self.execute_command("RPUSHX", name, *values)

    def lrange(self, name: KeyT, start: int, end: int) -> Any:
        """LRANGE: the elements ``start..=end`` (negative from the tail)."""
        return self.execute_command("LRANGE", name, start, end)

    def lrem(self, name: KeyT, count: int, value: EncodableT) -> Any:
        """LREM: removes ``count`` occurrences of ``value`` (0 = all, <0 from the tail)."""
        return self.execute_command("LREM", name, count, value)

    def lset(self, name: KeyT, index: int, value: EncodableT) -> Any:
        """LSET: sets the element at ``index``; returns ``True``."""
        return self.execute_command("LSET", name, index, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> Any:
        """LTRIM: keeps only ``start..=end``; returns ``True``."""
        return self.execute_command("LTRIM", name, start, end)

    def rpoplpush(self, src: KeyT, dst: KeyT) -> Any:
        """RPOPLPUSH: pops the tail of ``src`` and pushes it onto ``dst``."""
        return self.execute_command("RPOPLPUSH", src, dst)

    def lpos(
        self,
        name: KeyT,
        value: EncodableT,
        rank: Optional[int] = None,
        count: Optional[int] = None,
        maxlen: Optional[int] = None,
    ) -> Any:
        """LPOS: the index of ``value`` (a list of indexes with ``count``), or ``None``."""
        pieces: List[Any] = ["LPOS", name, value]
        if rank is not None:
            pieces += ["RANK", rank]
        if count is not None:
            pieces += ["COUNT", count]
        if maxlen is not None:
            pieces += ["MAXLEN", maxlen]
        return self.execute_command(*pieces)


class HashCommands:
    """Hash commands: HSET, HGET, HGETALL, HINCRBY, HSCAN, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def hdel(self, name: KeyT, *keys: KeyT) -> Any:
        """HDEL: deletes fields; returns how many existed."""
        return self.execute_command("HDEL", name, *keys)

    def hexists(self, name: KeyT, key: KeyT) -> Any:
        """HEXISTS: whether the field exists (``bool``)."""
        return self.execute_command("HEXISTS", name, key)

    def hget(self, name: KeyT, key: KeyT) -> Any:
        """HGET: the value of a field, or ``None``."""
        return self.execute_command("HGET", name, key)

    def hgetall(self, name: KeyT) -> Any:
        """HGETALL: every field and value, as a ``dict``."""
        return self.execute_command("HGETALL", name)

    def hincrby(self, name: KeyT, key: KeyT, amount: int = 1) -> Any:
        """HINCRBY: increments an integer field; returns the new value."""
        return self.execute_command("HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: KeyT, amount: float = 1.0) -> Any:
        """HINCRBYFLOAT: increments a numeric field; returns a ``float``."""
        return self.execute_command("HINCRBYFLOAT", name, key, amount)

    def hkeys(self, name: KeyT) -> Any:
        """HKEYS: the field names."""
        return self.execute_command("HKEYS", name)

    def hvals(self, name: KeyT) -> Any:
        """HVALS: the values."""
        return self.execute_command("HVALS", name)

    def hlen(self, name: KeyT) -> Any:
        """HLEN: the number of fields."""
        return self.execute_command("HLEN", name)

    def hset(
        self,
        name: KeyT,
        key: Optional[KeyT] = None,
        value: Optional[EncodableT] = None,
        mapping: Optional[Mapping[Any, Any]] = None,
        items: Optional[List[Any]] = None,
    ) -> Any:
        """HSET: sets ``key`` to ``value`` and/or every pair of ``mapping`` and
        the flat ``items`` list; returns how many fields were added."""
        if key is None and not mapping and not items:
            raise DataError("'hset' with no key value pairs")
        pieces: List[Any] = []
        if items:
            pieces.extend(items)
        if key is not None:
            pieces += [key, value]
        if mapping:
            for pair in mapping.items():
                pieces.extend(pair)
        return self.execute_command("HSET", name, *pieces)

    def hsetnx(self, name: KeyT, key: KeyT, value: EncodableT) -> Any:
        """HSETNX: sets a field only if it does not exist; returns 1 or 0."""
        return self.execute_command("HSETNX", name, key, value)

    def hmset(self, name: KeyT, mapping: Mapping[Any, Any]) -> Any:
        """HMSET (deprecated, use ``hset(name, mapping=...)``): returns ``True``."""
        _deprecated("hmset", "Use 'hset' instead.", "4.0.0")
        if not mapping:
            raise DataError("'hmset' with 'mapping' of length 0")
        pieces: List[Any] = []
        for pair in mapping.items():
            pieces.extend(pair)
        return self.execute_command("HMSET", name, *pieces)

    def hmget(self, name: KeyT, keys: Any, *args: Any) -> Any:
        """HMGET: the values of several fields (``None`` for missing ones)."""
        return self.execute_command("HMGET", name, *_as_list(keys, args))

    def hstrlen(self, name: KeyT, key: KeyT) -> Any:
        """HSTRLEN: the length of a field's value."""
        return self.execute_command("HSTRLEN", name, key)

    def hrandfield(self, key: KeyT, count: Optional[int] = None, withvalues: bool = False) -> Any:
        """HRANDFIELD: random field(s) (a flat field/value list with ``withvalues``)."""
        pieces: List[Any] = ["HRANDFIELD", key]
        if count is not None:
            pieces.append(count)
        if withvalues:
            pieces.append("WITHVALUES")
        return self.execute_command(*pieces)

    def hscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> Any:
        """HSCAN: one step of a field iteration; ``(cursor, {field: value})``."""
        pieces: List[Any] = ["HSCAN", name, cursor]
        if match is not None:
            pieces += ["MATCH", match]
        if count is not None:
            pieces += ["COUNT", count]
        if no_values:
            pieces.append("NOVALUES")
        return self.execute_command(*pieces, no_values=no_values)

    def hscan_iter(
        self,
        name: KeyT,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> Iterator[Any]:
        """Iterates over ``(field, value)`` pairs (fields with ``no_values``) with HSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.hscan(name, cursor=cursor, match=match, count=count, no_values=no_values)
            if no_values:
                yield from data
            else:
                yield from data.items()


class SetCommands:
    """Set commands: SADD, SMEMBERS, SINTER, SPOP, SSCAN, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def sadd(self, name: KeyT, *values: EncodableT) -> Any:
        """SADD: adds members; returns how many were new."""
        return self.execute_command("SADD", name, *values)

    def srem(self, name: KeyT, *values: EncodableT) -> Any:
        """SREM: removes members; returns how many existed."""
        return self.execute_command("SREM", name, *values)

    def scard(self, name: KeyT) -> Any:
        """SCARD: the number of members."""
        return self.execute_command("SCARD", name)

    def smembers(self, name: KeyT) -> Any:
        """SMEMBERS: every member, as a ``set``."""
        return self.execute_command("SMEMBERS", name)

    def sismember(self, name: KeyT, value: EncodableT) -> Any:
        """SISMEMBER: 1 if ``value`` is a member, else 0."""
        return self.execute_command("SISMEMBER", name, value)

    def smismember(self, name: KeyT, values: Any, *args: Any) -> Any:
        """SMISMEMBER: membership (1/0) of each value."""
        return self.execute_command("SMISMEMBER", name, *_as_list(values, args))

    def smove(self, src: KeyT, dst: KeyT, value: EncodableT) -> Any:
        """SMOVE: moves a member between sets; returns ``bool``."""
        return self.execute_command("SMOVE", src, dst, value)

    def spop(self, name: KeyT, count: Optional[int] = None) -> Any:
        """SPOP: removes and returns a random member (a list with ``count``)."""
        args = [count] if count is not None else []
        return self.execute_command("SPOP", name, *args)

    def srandmember(self, name: KeyT, number: Optional[int] = None) -> Any:
        """SRANDMEMBER: a random member (a list with ``number``; negative allows repeats)."""
        args = [number] if number is not None else []
        return self.execute_command("SRANDMEMBER", name, *args)

    def sdiff(self, keys: Any, *args: Any) -> Any:
        """SDIFF: members of the first set not in the others (a ``set``)."""
        return self.execute_command("SDIFF", *_as_list(keys, args))

    def sdiffstore(self, dest: KeyT, keys: Any, *args: Any) -> Any:
        """SDIFFSTORE: stores SDIFF into ``dest``; returns its size."""
        return self.execute_command("SDIFFSTORE", dest, *_as_list(keys, args))

    def sinter(self, keys: Any, *args: Any) -> Any:
        """SINTER: members common to all sets (a ``set``)."""
        return self.execute_command("SINTER", *_as_list(keys, args))

    def sinterstore(self, dest: KeyT, keys: Any, *args: Any) -> Any:
        """SINTERSTORE: stores SINTER into ``dest``; returns its size."""
        return self.execute_command("SINTERSTORE", dest, *_as_list(keys, args))

    def sintercard(self, numkeys: int, keys: List[KeyT], limit: int = 0) -> Any:
        """SINTERCARD: the size of the intersection (stopping at ``limit``)."""
        return self.execute_command("SINTERCARD", numkeys, *_as_list(keys), "LIMIT", limit)

    def sunion(self, keys: Any, *args: Any) -> Any:
        """SUNION: members of any set (a ``set``)."""
        return self.execute_command("SUNION", *_as_list(keys, args))

    def sunionstore(self, dest: KeyT, keys: Any, *args: Any) -> Any:
        """SUNIONSTORE: stores SUNION into ``dest``; returns its size."""
        return self.execute_command("SUNIONSTORE", dest, *_as_list(keys, args))

    def sscan(
        self, name: KeyT, cursor: int = 0, match: Optional[KeyT] = None, count: Optional[int] = None
    ) -> Any:
        """SSCAN: one step of a member iteration; ``(cursor, members)``."""
        pieces: List[Any] = ["SSCAN", name, cursor]
        if match is not None:
            pieces += ["MATCH", match]
        if count is not None:
            pieces += ["COUNT", count]
        return self.execute_command(*pieces)

    def sscan_iter(self, name: KeyT, match: Optional[KeyT] = None, count: Optional[int] = None) -> Iterator[Any]:
        """Iterates over the members with SSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.sscan(name, cursor=cursor, match=match, count=count)
            yield from data


def _zaggregate(command: str, dest: Optional[KeyT], keys: Any, aggregate: Optional[str], **options: Any) -> List[Any]:
    pieces: List[Any] = [command]
    if dest is not None:
        pieces.append(dest)
    weights: Optional[Iterable[Any]] = None
    if isinstance(keys, dict):
        keys, weights = list(keys.keys()), list(keys.values())
    else:
        keys = _as_list(keys)
    pieces.append(len(keys))
    pieces.extend(keys)
    if weights:
        pieces.append("WEIGHTS")
        pieces.extend(weights)
    if aggregate:
        if aggregate.upper() in ("SUM", "MIN", "MAX"):
            pieces += ["AGGREGATE", aggregate]
        else:
            raise DataError("aggregate can be sum, min or max.")
    if options.get("withscores"):
        pieces.append("WITHSCORES")
    return pieces


class SortedSetCommands:
    """Sorted-set commands: ZADD, ZRANGE, ZSCORE, ZPOPMIN, ZUNIONSTORE, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[Any, Any],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Any:
        """ZADD: adds ``{member: score}``; the number added (changed with
        ``ch``), or the new score with ``incr=True``."""
        if not mapping:
            raise DataError("ZADD requires at least one element/score pair")
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise DataError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works when passing a single element/score pair")
        if nx and (gt or lt):
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        pieces: List[Any] = ["ZADD", name]
        options: Dict[str, Any] = {}
        if nx:
            pieces.append("NX")
        if xx:
            pieces.append("XX")
        if ch:
            pieces.append("CH")
        if incr:
            pieces.append("INCR")
            options["as_score"] = True
        if gt:
            pieces.append("GT")
        if lt:
            pieces.append("LT")
        for member, score in mapping.items():
            pieces += [score, member]
        return self.execute_command(*pieces, **options)

    def zcard(self, name: KeyT) -> Any:
        """ZCARD: the number of members."""
        return self.execute_command("ZCARD", name)

    def zcount(self, name: KeyT, min: Any, max: Any) -> Any:
        """ZCOUNT: members with a score in ``[min, max]`` (``"(1"`` excludes, ``"-inf"``)."""
        return self.execute_command("ZCOUNT", name, min, max)

    def zlexcount(self, name: KeyT, min: Any, max: Any) -> Any:
        """ZLEXCOUNT: members in a lexicographic range (``"[a"``, ``"(b"``, ``"-"``, ``"+"``)."""
        return self.execute_command("ZLEXCOUNT", name, min, max)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> Any:
        """ZINCRBY: adds ``amount`` to a member's score; returns the new score (``float``)."""
        return self.execute_command("ZINCRBY", name, amount, value)

    def zscore(self, name: KeyT, value: EncodableT) -> Any:
        """ZSCORE: a member's score (``float``), or ``None``."""
        return self.execute_command("ZSCORE", name, value)

    def zmscore(self, key: KeyT, members: List[Any]) -> Any:
        """ZMSCORE: the scores of several members (``None`` for missing ones)."""
        if not members:
            raise DataError("ZMSCORE members must be a non-empty list")
        return self.execute_command("ZMSCORE", key, *members)

    def zrem(self, name: KeyT, *values: EncodableT) -> Any:
        """ZREM: removes members; returns how many existed."""
        return self.execute_command("ZREM", name, *values)

    def zrank(self, name: KeyT, value: EncodableT, withscore: bool = False, score_cast_func: Any = float) -> Any:
        """ZRANK: the 0-based rank by ascending score, or ``None``."""
        if withscore:
            return self.execute_command(
                "ZRANK", name, value, "WITHSCORE", withscore=True, score_cast_func=score_cast_func
            )
        return self.execute_command("ZRANK", name, value)

    def zrevrank(self, name: KeyT, value: EncodableT, withscore: bool = False, score_cast_func: Any = float) -> Any:
        """ZREVRANK: the 0-based rank by descending score, or ``None``."""
        if withscore:
            return self.execute_command(
                "ZREVRANK", name, value, "WITHSCORE", withscore=True, score_cast_func=score_cast_func
            )
        return self.execute_command("ZREVRANK", name, value)

    def _zrange_pieces(
        self,
        command: str,
        dest: Optional[KeyT],
        name: KeyT,
        start: Any,
        end: Any,
        desc: bool,
        byscore: bool,
        bylex: bool,
        withscores: bool,
        offset: Optional[int],
        num: Optional[int],
    ) -> List[Any]:
        if byscore and bylex:
            raise DataError("``byscore`` and ``bylex`` can not be specified together.")
        if (offset is not None and num is None) or (num is not None and offset is None):
            raise DataError("``offset`` and ``num`` must both be specified.")
        if bylex and withscores:
            raise DataError("``withscores`` not supported in combination with ``bylex``.")
        pieces: List[Any] = [command]
        if dest is not None:
            pieces.append(dest)
        pieces += [name, start, end]
        if byscore:
            pieces.append("BYSCORE")
        if bylex:
            pieces.append("BYLEX")
        if desc:
            pieces.append("REV")
        if offset is not None and num is not None:
            pieces += ["LIMIT", offset, num]
        if withscores:
            pieces.append("WITHSCORES")
        return pieces

    def zrange(
        self,
        name: KeyT,
        start: Any,
        end: Any,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: Any = float,
        byscore: bool = False,
        bylex: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> Any:
        """ZRANGE: members by rank (or by score / lex); with ``withscores`` a
        list of ``(member, score)`` tuples."""
        if not byscore and not bylex and offset is None and num is None and desc:
            return self.zrevrange(name, start, end, withscores, score_cast_func)
        pieces = self._zrange_pieces("ZRANGE", None, name, start, end, desc, byscore, bylex, withscores, offset, num)
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrevrange(
        self, name: KeyT, start: int, end: int, withscores: bool = False, score_cast_func: Any = float
    ) -> Any:
        """ZREVRANGE: members by descending rank."""
        pieces: List[Any] = ["ZREVRANGE", name, start, end]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrangestore(
        self,
        dest: KeyT,
        name: KeyT,
        start: Any,
        end: Any,
        byscore: bool = False,
        bylex: bool = False,
        desc: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> Any:
        """ZRANGESTORE: stores a ZRANGE into ``dest``; returns its size."""
        pieces = self._zrange_pieces("ZRANGESTORE", dest, name, start, end, desc, byscore, bylex, False, offset, num)
        return self.execute_command(*pieces)

    def zrangebyscore(
        self,
        name: KeyT,
        min: Any,
        max: Any,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: Any = float,
    ) -> Any:
        """ZRANGEBYSCORE: members with a score in ``[min, max]``."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: List[Any] = ["ZRANGEBYSCORE", name, min, max]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrevrangebyscore(
        self,
        name: KeyT,
        max: Any,
        min: Any,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: Any = float,
    ) -> Any:
        """ZREVRANGEBYSCORE: members with a score in ``[min, max]``, highest first."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: List[Any] = ["ZREVRANGEBYSCORE", name, max, min]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrangebylex(
        self, name: KeyT, min: Any, max: Any, start: Optional[int] = None, num: Optional[int] = None
    ) -> Any:
        """ZRANGEBYLEX: members in a lexicographic range."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: List[Any] = ["ZRANGEBYLEX", name, min, max]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        return self.execute_command(*pieces)

    def zrevrangebylex(
        self, name: KeyT, max: Any, min: Any, start: Optional[int] = None, num: Optional[int] = None
    ) -> Any:
        """ZREVRANGEBYLEX: members in a lexicographic range, in reverse."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: List[Any] = ["ZREVRANGEBYLEX", name, max, min]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        return self.execute_command(*pieces)

    def zremrangebylex(self, name: KeyT, min: Any, max: Any) -> Any:
        """ZREMRANGEBYLEX: removes a lexicographic range; returns how many."""
        return self.execute_command("ZREMRANGEBYLEX", name, min, max)

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> Any:
        """ZREMRANGEBYRANK: removes a rank range; returns how many."""
        return self.execute_command("ZREMRANGEBYRANK", name, min, max)

    def zremrangebyscore(self, name: KeyT, min: Any, max: Any) -> Any:
        """ZREMRANGEBYSCORE: removes a score range; returns how many."""
        return self.execute_command("ZREMRANGEBYSCORE", name, min, max)

    def zpopmax(self, name: KeyT, count: Optional[int] = None) -> Any:
        """ZPOPMAX: pops the highest members; ``[(member, score), ...]``."""
        args = [count] if count is not None else []
        return self.execute_command("ZPOPMAX", name, *args, withscores=True)

    def zpopmin(self, name: KeyT, count: Optional[int] = None) -> Any:
        """ZPOPMIN: pops the lowest members; ``[(member, score), ...]``."""
        args = [count] if count is not None else []
        return self.execute_command("ZPOPMIN", name, *args, withscores=True)

    def bzpopmax(self, keys: Any, timeout: Optional[float] = 0) -> Any:
        """BZPOPMAX: as ZPOPMAX over several keys, waiting up to ``timeout``
        seconds; ``(key, member, score)`` or ``None``."""
        timeout = 0 if timeout is None else timeout
        return self.execute_command("BZPOPMAX", *_as_list(keys), timeout)

    def bzpopmin(self, keys: Any, timeout: Optional[float] = 0) -> Any:
        """BZPOPMIN: as ZPOPMIN over several keys, waiting up to ``timeout`` seconds."""
        timeout = 0 if timeout is None else timeout
        return self.execute_command("BZPOPMIN", *_as_list(keys), timeout)

    def zmpop(
        self, num_keys: int, keys: List[KeyT], min: Optional[bool] = False, max: Optional[bool] = False, count: Optional[int] = 1
    ) -> Any:
        """ZMPOP: pops from the first non-empty sorted set; ``[key, [[member, score], ...]]``."""
        pieces: List[Any] = ["ZMPOP", num_keys, *keys]
        if (min and max) or (not min and not max):
            raise DataError("Either min or max must be set, but not both")
        pieces.append("MIN" if min else "MAX")
        if count != 1:
            pieces += ["COUNT", count]
        return self.execute_command(*pieces)

    def bzmpop(
        self,
        timeout: float,
        numkeys: int,
        keys: List[KeyT],
        min: Optional[bool] = False,
        max: Optional[bool] = False,
        count: Optional[int] = 1,
    ) -> Any:
        """BZMPOP: as ZMPOP, waiting up to ``timeout`` seconds."""
        pieces: List[Any] = ["BZMPOP", timeout, numkeys, *keys]
        if (min and max) or (not min and not max):
            raise DataError("Either min or max must be set, but not both")
        pieces.append("MIN" if min else "MAX")
        if count != 1:
            pieces += ["COUNT", count]
        return self.execute_command(*pieces)

    def zrandmember(self, key: KeyT, count: Optional[int] = None, withscores: bool = False) -> Any:
        """ZRANDMEMBER: random member(s) (a flat member/score list with ``withscores``)."""
        pieces: List[Any] = ["ZRANDMEMBER", key]
        if count is not None:
            pieces.append(count)
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces)

    def zdiff(self, keys: Any, withscores: bool = False) -> Any:
        """ZDIFF: members of the first sorted set not in the others."""
        pieces: List[Any] = ["ZDIFF", len(_as_list(keys)), *_as_list(keys)]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces)

    def zdiffstore(self, dest: KeyT, keys: Any) -> Any:
        """ZDIFFSTORE: stores ZDIFF into ``dest``; returns its size."""
        return self.execute_command("ZDIFFSTORE", dest, len(_as_list(keys)), *_as_list(keys))

    def zinter(self, keys: Any, aggregate: Optional[str] = None, withscores: bool = False) -> Any:
        """ZINTER: the intersection (``keys`` may be ``{key: weight}``)."""
        pieces = _zaggregate("ZINTER", None, keys, aggregate, withscores=withscores)
        return self.execute_command(*pieces, withscores=withscores)

    def zinterstore(self, dest: KeyT, keys: Any, aggregate: Optional[str] = None) -> Any:
        """ZINTERSTORE: stores the intersection into ``dest``; returns its size."""
        return self.execute_command(*_zaggregate("ZINTERSTORE", dest, keys, aggregate))

    def zintercard(self, numkeys: int, keys: List[KeyT], limit: int = 0) -> Any:
        """ZINTERCARD: the size of the intersection (stopping at ``limit``)."""
        return self.execute_command("ZINTERCARD", numkeys, *_as_list(keys), "LIMIT", limit)

    def zunion(
        self, keys: Any, aggregate: Optional[str] = None, withscores: bool = False, score_cast_func: Any = float
    ) -> Any:
        """ZUNION: the union (``keys`` may be ``{key: weight}``)."""
        pieces = _zaggregate("ZUNION", None, keys, aggregate, withscores=withscores)
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zunionstore(self, dest: KeyT, keys: Any, aggregate: Optional[str] = None) -> Any:
        """ZUNIONSTORE: stores the union into ``dest``; returns its size."""
        return self.execute_command(*_zaggregate("ZUNIONSTORE", dest, keys, aggregate))

    def zscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        score_cast_func: Any = float,
    ) -> Any:
        """ZSCAN: one step of a member iteration; ``(cursor, [(member, score), ...])``."""
        pieces: List[Any] = ["ZSCAN", name, cursor]
        if match is not None:
            pieces += ["MATCH", match]
        if count is not None:
            pieces += ["COUNT", count]
        return self.execute_command(*pieces, score_cast_func=score_cast_func)

    def zscan_iter(
        self,
        name: KeyT,
        match: Optional[KeyT] = None,
        count: Optional[int] = None,
        score_cast_func: Any = float,
    ) -> Iterator[Any]:
        """Iterates over ``(member, score)`` pairs with ZSCAN."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.zscan(name, cursor=cursor, match=match, count=count, score_cast_func=score_cast_func)
            yield from data


class ServerCommands:
    """Database-wide commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, PING, ECHO, TIME."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def dbsize(self, **kwargs: Any) -> Any:
        """DBSIZE: the number of keys in the selected database."""
        return self.execute_command("DBSIZE", **kwargs)

    def flushdb(self, asynchronous: bool = False, **kwargs: Any) -> Any:
        """FLUSHDB: deletes every key of the selected database; returns ``True``."""
        args = ["ASYNC"] if asynchronous else []
        return self.execute_command("FLUSHDB", *args, **kwargs)

    def flushall(self, asynchronous: bool = False, **kwargs: Any) -> Any:
        """FLUSHALL: deletes every key of every database; returns ``True``."""
        args = ["ASYNC"] if asynchronous else []
        return self.execute_command("FLUSHALL", *args, **kwargs)

    def swapdb(self, first: int, second: int, **kwargs: Any) -> Any:
        """SWAPDB: swaps two databases; returns ``True``."""
        return self.execute_command("SWAPDB", first, second, **kwargs)

    def ping(self, **kwargs: Any) -> Any:
        """PING: ``True``."""
        return self.execute_command("PING", **kwargs)

    def echo(self, value: EncodableT, **kwargs: Any) -> Any:
        """ECHO: returns ``value``."""
        return self.execute_command("ECHO", value, **kwargs)

    def time(self, **kwargs: Any) -> Any:
        """TIME: ``(seconds, microseconds)`` of the clock."""
        return self.execute_command("TIME", **kwargs)


class Script:
    """A Lua script bound to a database, as redis-py's ``register_script``
    returns: calling it runs EVALSHA, and loads the script first if the
    database does not hold it (``NoScriptError``)."""

    def __init__(self, registered_client: Any, script: Union[str, bytes]) -> None:
        self.registered_client = registered_client
        self.script = script
        body = script.encode("utf-8") if isinstance(script, str) else bytes(script)
        self.sha = hashlib.sha1(body).hexdigest()

    def __call__(
        self,
        keys: Sequence[KeyT] = (),
        args: Sequence[EncodableT] = (),
        client: Any = None,
    ) -> Any:
        """Runs the script with ``keys`` and ``args`` on ``client`` (default:
        the database it was registered with)."""
        client = self.registered_client if client is None else client
        keys, args = list(keys), list(args)
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A pipeline queues instead of raising, so only a direct call gets here.
            self.sha = client.script_load(self.script)
            return client.evalsha(self.sha, len(keys), *keys, *args)


class ScriptCommands:
    """Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD / EXISTS /
    FLUSH, and Redis 7.0 Functions (FUNCTION ..., FCALL, FCALL_RO)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def eval(self, script: Union[str, bytes], numkeys: int, *keys_and_args: EncodableT) -> Any:
        """EVAL: runs ``script`` with its first ``numkeys`` arguments as KEYS."""
        return self.execute_command("EVAL", script, numkeys, *keys_and_args)

    def eval_ro(self, script: Union[str, bytes], numkeys: int, *keys_and_args: EncodableT) -> Any:
        """EVAL_RO: as ``eval``, for a script that only reads."""
        return self.execute_command("EVAL_RO", script, numkeys, *keys_and_args)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: EncodableT) -> Any:
        """EVALSHA: runs the held script whose SHA1 is ``sha``."""
        return self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)

    def evalsha_ro(self, sha: str, numkeys: int, *keys_and_args: EncodableT) -> Any:
        """EVALSHA_RO: as ``evalsha``, for a script that only reads."""
        return self.execute_command("EVALSHA_RO", sha, numkeys, *keys_and_args)

    def script_load(self, script: Union[str, bytes]) -> Any:
        """SCRIPT LOAD: keeps ``script``; returns its SHA1 (``str``)."""
        return self.execute_command("SCRIPT", "LOAD", script, script="LOAD")

    def script_exists(self, *args: str) -> Any:
        """SCRIPT EXISTS: one ``bool`` per SHA1, whether the script is held."""
        return self.execute_command("SCRIPT", "EXISTS", *args, script="EXISTS")

    def script_flush(self, sync_type: Optional[str] = None) -> Any:
        """SCRIPT FLUSH [ASYNC|SYNC]: forgets every script; returns ``True``."""
        if sync_type not in ("SYNC", "ASYNC", None):
            raise DataError("SCRIPT FLUSH defaults to SYNC, or accepts SYNC/ASYNC as sync_type")
        pieces = [] if sync_type is None else [sync_type]
        return self.execute_command("SCRIPT", "FLUSH", *pieces, script="FLUSH")

    def register_script(self, script: Union[str, bytes]) -> Script:
        """A callable :class:`Script` for ``script`` (redis-py's helper)."""
        return Script(self, script)

    # -- Redis 7.0 Functions -------------------------------------------------

    def function_load(self, code: Union[str, bytes], replace: Optional[bool] = False) -> Any:
        """FUNCTION LOAD [REPLACE]: loads the library ``code`` (which starts
        with ``#!lua name=<library>``); returns the library's name."""
        pieces: List[Any] = ["REPLACE"] if replace else []
        pieces.append(code)
        return self.execute_command("FUNCTION", "LOAD", *pieces, function="LOAD")

    def function_delete(self, library: Union[str, bytes]) -> Any:
        """FUNCTION DELETE: removes ``library`` and its functions; ``True``."""
        return self.execute_command("FUNCTION", "DELETE", library, function="DELETE")

    def function_flush(self, mode: str = "SYNC") -> Any:
        """FUNCTION FLUSH [ASYNC|SYNC]: removes every library; ``True``."""
        return self.execute_command("FUNCTION", "FLUSH", mode, function="FLUSH")

    def function_list(self, library: Optional[str] = "*", withcode: Optional[bool] = False) -> Any:
        """FUNCTION LIST LIBRARYNAME <pattern> [WITHCODE]: the libraries whose
        names match ``library``, as redis-py returns them over RESP2 (per
        library a flat ``[name, value, ...]`` list)."""
        args: List[Any] = ["LIBRARYNAME", library]
        if withcode:
            args.append("WITHCODE")
        return self.execute_command("FUNCTION", "LIST", *args, function="LIST")

    def fcall(self, function: Union[str, bytes], numkeys: int, *keys_and_args: EncodableT) -> Any:
        """FCALL: runs ``function`` with its first ``numkeys`` arguments as keys."""
        return self.execute_command("FCALL", function, numkeys, *keys_and_args)

    def fcall_ro(self, function: Union[str, bytes], numkeys: int, *keys_and_args: EncodableT) -> Any:
        """FCALL_RO: as ``fcall``, for a function flagged ``no-writes``."""
        return self.execute_command("FCALL_RO", function, numkeys, *keys_and_args)

    def function_dump(self) -> Any:
        """FUNCTION DUMP: every library as one payload (``bytes``, also with
        ``decode_responses``; Redis's format: FUNCTION RESTORE here or in
        Redis reads it back)."""
        return self.execute_command("FUNCTION", "DUMP", function="DUMP", NEVER_DECODE=[])

    def function_restore(self, payload: Union[str, bytes], policy: Optional[str] = "APPEND") -> Any:
        """FUNCTION RESTORE <payload> [FLUSH|APPEND|REPLACE]; ``True``."""
        return self.execute_command("FUNCTION", "RESTORE", payload, policy, function="RESTORE")

    def function_stats(self) -> Any:
        """FUNCTION STATS: the running function (always ``None`` here) and
        the engines' library and function counts."""
        return self.execute_command("FUNCTION", "STATS", function="STATS")

    def function_kill(self) -> Any:
        """FUNCTION KILL: there is never a function to kill here (a function
        runs to its end under the database lock): raises ``ResponseError``
        (NOTBUSY), as Redis does when none runs."""
        return self.execute_command("FUNCTION", "KILL", function="KILL")


class BloomCommands:
    """RedisBloom-style bloom filters, reached as ``db.bf()`` (as in redis-py)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Runs the command on the client this object was made from."""
        return self.client.execute_command(*args, **options)

    def create(
        self,
        key: KeyT,
        errorRate: float,
        capacity: int,
        expansion: Optional[int] = None,
        noScale: Optional[bool] = None,
    ) -> Any:
        """BF.RESERVE: creates a filter for ``capacity`` items at ``errorRate``; ``True``."""
        pieces: List[Any] = ["BF.RESERVE", key, errorRate, capacity]
        if expansion is not None:
            pieces += ["EXPANSION", expansion]
        if noScale:
            pieces.append("NONSCALING")
        return self.execute_command(*pieces)

    reserve = create

    def add(self, key: KeyT, item: EncodableT) -> Any:
        """BF.ADD: adds ``item``; 1 if it was new, 0 if it may have been there."""
        return self.execute_command("BF.ADD", key, item)

    def madd(self, key: KeyT, *items: EncodableT) -> Any:
        """BF.MADD: adds several items; one 1/0 each."""
        return self.execute_command("BF.MADD", key, *items)

    def exists(self, key: KeyT, item: EncodableT) -> Any:
        """BF.EXISTS: 1 if ``item`` may be in the filter, 0 if it surely is not."""
        return self.execute_command("BF.EXISTS", key, item)

    def mexists(self, key: KeyT, *items: EncodableT) -> Any:
        """BF.MEXISTS: BF.EXISTS for several items."""
        return self.execute_command("BF.MEXISTS", key, *items)

    def info(self, key: KeyT) -> Any:
        """BF.INFO: a ``BFInfo`` (capacity, size, filters, items, expansion)."""
        return self.execute_command("BF.INFO", key)

    def card(self, key: KeyT) -> Any:
        """BF.CARD: the number of items added."""
        return self.execute_command("BF.CARD", key)


class GeoCommands:
    """Geo commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEORADIUS, ..."""

    def execute_command(self, *args: Any, **options: Any) -> Any:  # pragma: no cover
        """Runs (or queues) one command; provided by the class mixing this in."""
        raise NotImplementedError

    def geoadd(
        self, name: KeyT, values: Sequence[EncodableT], nx: bool = False, xx: bool = False, ch: bool = False
    ) -> Any:
        """GEOADD: adds ``values`` (longitude, latitude, member triads); returns
        how many were added (or changed, with ``ch``)."""
        if nx and xx:
            raise DataError("GEOADD allows either 'nx' or 'xx', not both")
        if len(values) % 3 != 0:
            raise DataError("GEOADD requires places with lon, lat and name values")
        pieces: List[Any] = [name]
        if nx:
            pieces.append("NX")
        if xx:
            pieces.append("XX")
        if ch:
            pieces.append("CH")
        pieces.extend(values)
        return self.execute_command("GEOADD", *pieces)

    def geodist(self, name: KeyT, place1: EncodableT, place2: EncodableT, unit: Optional[str] = None) -> Any:
        """GEODIST: the distance between two members (``float``, in meters or
        ``unit``: m, km, mi, ft), or ``None`` when one is missing."""
        pieces: List[Any] = [name, place1, place2]
        if unit and unit not in ("m", "km", "mi", "ft"):
            raise DataError("GEODIST invalid unit")
        elif unit:
            pieces.append(unit)
        return self.execute_command("GEODIST", *pieces)

    def geohash(self, name: KeyT, *values: EncodableT) -> Any:
        """GEOHASH: an 11-character geohash ``str`` per member (``None`` when missing)."""
        return self.execute_command("GEOHASH", name, *values)

    def geopos(self, name: KeyT, *values: EncodableT) -> Any:
        """GEOPOS: a ``(longitude, latitude)`` tuple per member (``None`` when missing)."""
        return self.execute_command("GEOPOS", name, *values)

    def georadius(
        self,
        name: KeyT,
        longitude: float,
        latitude: float,
        radius: float,
        unit: Optional[str] = None,
        withdist: bool = False,
        withcoord: bool = False,
        withhash: bool = False,
        count: Optional[int] = None,
        sort: Optional[str] = None,
        store: Optional[KeyT] = None,
        store_dist: Optional[KeyT] = None,
        any: bool = False,
    ) -> Any:
        """GEORADIUS: the members within ``radius`` of a point (with their
        distance, coordinates, hash when asked), or the count stored at
        ``store`` / ``store_dist``."""
        return self._georadiusgeneric(
            "GEORADIUS", name, longitude, latitude, radius, unit=unit, withdist=withdist,
            withcoord=withcoord, withhash=withhash, count=count, sort=sort, store=store,
            store_dist=store_dist, any=any,
        )

    def georadiusbymember(
        self,
        name: KeyT,
        member: EncodableT,
        radius: float,
        unit: Optional[str] = None,
        withdist: bool = False,
        withcoord: bool = False,
        withhash: bool = False,
        count: Optional[int] = None,
        sort: Optional[str] = None,
        store: Optional[KeyT] = None,
        store_dist: Optional[KeyT] = None,
        any: bool = False,
    ) -> Any:
        """GEORADIUSBYMEMBER: GEORADIUS around a member of the index."""
        return self._georadiusgeneric(
            "GEORADIUSBYMEMBER", name, member, radius, unit=unit, withdist=withdist,
            withcoord=withcoord, withhash=withhash, count=count, sort=sort, store=store,
            store_dist=store_dist, any=any,
        )

    def _georadiusgeneric(self, command: str, *args: Any, **kwargs: Any) -> Any:
        pieces: List[Any] = list(args)
        if kwargs["unit"] and kwargs["unit"] not in ("m", "km", "mi", "ft"):
            raise DataError("GEORADIUS invalid unit")
        elif kwargs["unit"]:
            pieces.append(kwargs["unit"])
        else:
            pieces.append("m")
        if kwargs["any"] and kwargs["count"] is None:
            raise DataError("``any`` can't be provided without ``count``")
        for arg_name, word in (("withdist", "WITHDIST"), ("withcoord", "WITHCOORD"), ("withhash", "WITHHASH")):
            if kwargs[arg_name]:
                pieces.append(word)
        if kwargs["count"] is not None:
            pieces.extend(["COUNT", kwargs["count"]])
            if kwargs["any"]:
                pieces.append("ANY")
        if kwargs["sort"]:
            if kwargs["sort"] == "ASC":
                pieces.append("ASC")
            elif kwargs["sort"] == "DESC":
                pieces.append("DESC")
            else:
                raise DataError("GEORADIUS invalid sort")
        if kwargs["store"] and kwargs["store_dist"]:
            raise DataError("GEORADIUS store and store_dist can't be set together")
        if kwargs["store"]:
            pieces.extend([b"STORE", kwargs["store"]])
        if kwargs["store_dist"]:
            pieces.extend([b"STOREDIST", kwargs["store_dist"]])
        return self.execute_command(command, *pieces, **kwargs)

    def geosearch(
        self,
        name: KeyT,
        member: Optional[EncodableT] = None,
        longitude: Optional[float] = None,
        latitude: Optional[float] = None,
        unit: str = "m",
        radius: Optional[float] = None,
        width: Optional[float] = None,
        height: Optional[float] = None,
        sort: Optional[str] = None,
        count: Optional[int] = None,
        any: bool = False,
        withcoord: bool = False,
        withdist: bool = False,
        withhash: bool = False,
    ) -> Any:
        """GEOSEARCH: the members inside a circle (``radius``) or a box
        (``width`` x ``height``) around a member or a point."""
        return self._geosearchgeneric(
            "GEOSEARCH", name, member=member, longitude=longitude, latitude=latitude, unit=unit,
            radius=radius, width=width, height=height, sort=sort, count=count, any=any,
            withcoord=withcoord, withdist=withdist, withhash=withhash, store=None, store_dist=None,
        )

    def geosearchstore(
        self,
        dest: KeyT,
        name: KeyT,
        member: Optional[EncodableT] = None,
        longitude: Optional[float] = None,
        latitude: Optional[float] = None,
        unit: str = "m",
        radius: Optional[float] = None,
        width: Optional[float] = None,
        height: Optional[float] = None,
        sort: Optional[str] = None,
        count: Optional[int] = None,
        any: bool = False,
        storedist: bool = False,
    ) -> Any:
        """GEOSEARCHSTORE: GEOSEARCH stored at ``dest`` (scores: geohashes, or
        distances with ``storedist``); returns the count."""
        return self._geosearchgeneric(
            "GEOSEARCHSTORE", dest, name, member=member, longitude=longitude, latitude=latitude,
            unit=unit, radius=radius, width=width, height=height, sort=sort, count=count, any=any,
            withcoord=None, withdist=None, withhash=None, store=None, store_dist=storedist,
        )

    def _geosearchgeneric(self, command: str, *args: Any, **kwargs: Any) -> Any:
        pieces: List[Any] = list(args)
        if kwargs["member"] is None:
            if kwargs["longitude"] is None or kwargs["latitude"] is None:
                raise DataError("GEOSEARCH must have member or longitude and latitude")
        if kwargs["member"]:
            if kwargs["longitude"] or kwargs["latitude"]:
                raise DataError("GEOSEARCH member and longitude or latitude can't be set together")
            pieces.extend([b"FROMMEMBER", kwargs["member"]])
        if kwargs["longitude"] is not None and kwargs["latitude"] is not None:
            pieces.extend([b"FROMLONLAT", kwargs["longitude"], kwargs["latitude"]])
        if kwargs["radius"] is None:
            if kwargs["width"] is None or kwargs["height"] is None:
                raise DataError("GEOSEARCH must have radius or width and height")
        if kwargs["unit"] is None:
            raise DataError("GEOSEARCH must have unit")
        if kwargs["unit"].lower() not in ("m", "km", "mi", "ft"):
            raise DataError("GEOSEARCH invalid unit")
        if kwargs["radius"]:
            if kwargs["width"] or kwargs["height"]:
                raise DataError("GEOSEARCH radius and width or height can't be set together")
            pieces.extend([b"BYRADIUS", kwargs["radius"], kwargs["unit"]])
        if kwargs["width"] and kwargs["height"]:
            pieces.extend([b"BYBOX", kwargs["width"], kwargs["height"], kwargs["unit"]])
        if kwargs["sort"]:
            if kwargs["sort"].upper() == "ASC":
                pieces.append(b"ASC")
            elif kwargs["sort"].upper() == "DESC":
                pieces.append(b"DESC")
            else:
                raise DataError("GEOSEARCH invalid sort")
        if kwargs["count"]:
            pieces.extend([b"COUNT", kwargs["count"]])
            if kwargs["any"]:
                pieces.append(b"ANY")
        elif kwargs["any"]:
            raise DataError("GEOSEARCH ``any`` can't be provided without count")
        for arg_name, word in (
            ("withdist", b"WITHDIST"),
            ("withcoord", b"WITHCOORD"),
            ("withhash", b"WITHHASH"),
            ("store_dist", b"STOREDIST"),
        ):
            if kwargs[arg_name]:
                pieces.append(word)
        return self.execute_command(command, *pieces, **kwargs)


class Commands(
    StreamCommands,
    StringCommands,
    GenericCommands,
    ListCommands,
    HashCommands,
    SetCommands,
    SortedSetCommands,
    GeoCommands,
    ScriptCommands,
    ServerCommands,
):
    """Every command family, mixed together."""

    def bf(self) -> BloomCommands:
        """The bloom-filter commands (``db.bf().add(key, item)``), as redis-py's ``r.bf()``."""
        return BloomCommands(self)

