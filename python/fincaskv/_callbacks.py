"""Response callbacks: raw replies -> the Python values redis-py returns.

The native module hands back replies as a RESP2 connection shows them to
redis-py (bytes, ints, lists, ``None``); these callbacks then shape them as
redis-py's RESP2 callbacks do (``SET`` -> ``True``/``None``, ``HGETALL`` ->
``dict``, ``ZRANGE ... WITHSCORES`` -> list of ``(member, score)`` tuples,
``INCRBYFLOAT`` -> ``float``, ...). Keys are upper-case command names; a
command without an entry returns its raw reply.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

Callback = Callable[..., Any]


def _str(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value


def bool_ok(response: Any, **options: Any) -> bool:
    """``+OK`` -> ``True``."""
    return _str(response) == "OK"


def to_bool(response: Any, **options: Any) -> bool:
    """An integer reply -> ``bool``."""
    return bool(response)


def to_float(response: Any, **options: Any) -> float:
    """A bulk number -> ``float``."""
    return float(response)


def float_or_none(response: Any, **options: Any) -> Any:
    """A bulk number or nil -> ``float`` or ``None``."""
    return None if response is None else float(response)


def pairs_to_dict(response: Any) -> Dict[Any, Any]:
    """``[k1, v1, k2, v2]`` -> ``{k1: v1, k2: v2}``."""
    if not response:
        return {}
    it = iter(response)
    return dict(zip(it, it))


def _score_cast(options: Dict[str, Any]) -> Callable[[Any], Any]:
    func = options.get("score_cast_func", float)
    if func is float:
        return float

    def cast(raw: Any) -> Any:
        # A custom function gets the raw score first (as redis-py does); a
        # score in exponent form that it cannot parse goes through float().
        try:
            return func(raw)
        except ValueError:
            return func(float(raw))

    return cast


def score_pairs(response: Any, **options: Any) -> Any:
    """Flat ``[member, score, ...]`` -> ``[(member, score), ...]`` when ``withscores``."""
    if not response or not options.get("withscores"):
        return response
    cast = _score_cast(options)
    it = iter(response)
    return list(zip(it, map(cast, it)))


def pop_score_pairs(response: Any, **options: Any) -> Any:
    """ZPOPMIN/ZPOPMAX: always ``[(member, score), ...]``."""
    if not response:
        return response
    cast = _score_cast(options)
    it = iter(response)
    return list(zip(it, map(cast, it)))


def rank_with_score(response: Any, **options: Any) -> Any:
    """ZRANK/ZREVRANK ``WITHSCORE`` -> ``[rank, score]``."""
    if not response or not options.get("withscore"):
        return response
    return [response[0], _score_cast(options)(response[1])]


def set_result(response: Any, **options: Any) -> Any:
    """SET: ``True``, ``None`` (NX/XX not met), or the old value with ``get=True``."""
    if options.get("get"):
        return response
    return response and _str(response) == "OK"


def zadd_result(response: Any, **options: Any) -> Any:
    """ZADD: the count, or the new score (``float``) with ``incr=True``."""
    if response is None:
        return None
    if options.get("as_score"):
        return float(response)
    return int(response)


def zmscore_result(response: Any, **options: Any) -> Any:
    """ZMSCORE -> list of ``float`` or ``None``."""
    return [None if s is None else float(s) for s in response]


def scan_result(response: Any, **options: Any) -> Any:
    """SCAN/SSCAN -> ``(cursor, items)``."""
    cursor, items = response
    return int(cursor), items


def hscan_result(response: Any, **options: Any) -> Any:
    """HSCAN -> ``(cursor, {field: value})`` (a list of fields with ``no_values``)."""
    cursor, items = response
    if options.get("no_values"):
        return int(cursor), items or []
    return int(cursor), pairs_to_dict(items)


def zscan_result(response: Any, **options: Any) -> Any:
    """ZSCAN -> ``(cursor, [(member, score), ...])``."""
    cursor, items = response
    cast = _score_cast(options)
    it = iter(items)
    return int(cursor), list(zip(it, map(cast, it)))


def to_set(response: Any, **options: Any) -> Any:
    """SMEMBERS, SINTER, ... -> ``set``."""
    return set(response) if response else set()


def blocking_pop(response: Any, **options: Any) -> Any:
    """BLPOP/BRPOP -> ``(key, value)`` or ``None``."""
    return tuple(response) if response else None


def blocking_zpop(response: Any, **options: Any) -> Any:
    """BZPOPMIN/BZPOPMAX -> ``(key, member, score)`` or ``None``."""
    return (response[0], response[1], float(response[2])) if response else None


def ping_result(response: Any, **options: Any) -> bool:
    """PING -> ``True``."""
    return _str(response) == "PONG"


def time_result(response: Any, **options: Any) -> Any:
    """TIME -> ``(seconds, microseconds)``."""
    return int(response[0]), int(response[1])


def hgetall_result(response: Any, **options: Any) -> Any:
    """HGETALL -> ``dict``."""
    return pairs_to_dict(response)


def bf_info(response: Any, **options: Any) -> Any:
    """BF.INFO -> ``BFInfo``."""
    from fincaskv.bloom import BFInfo

    return BFInfo(response)


def sort_result(response: Any, **options: Any) -> Any:
    """SORT with ``groups=n`` -> tuples of ``n`` values per element."""
    n = options.get("groups")
    if not response or not n or not isinstance(response, list):
        return response
    return list(zip(*[response[i::n] for i in range(n)]))


def geohash_result(response: Any, **options: Any) -> Any:
    """GEOHASH -> ``str`` geohashes (``None`` for missing members)."""
    return [_str(h) for h in response]


def geopos_result(response: Any, **options: Any) -> Any:
    """GEOPOS -> ``(longitude, latitude)`` float tuples (``None`` for missing members)."""
    return [(float(p[0]), float(p[1])) if p is not None else None for p in response]


def geosearch_result(response: Any, **options: Any) -> Any:
    """GEOSEARCH / GEORADIUS / GEORADIUSBYMEMBER -> members, or per member a
    list ``[member, dist (float), hash (int), (lon, lat)]`` of what was asked;
    the count when storing."""
    try:
        if options["store"] or options["store_dist"]:
            return response
    except KeyError:  # sent through execute_command without the method's options
        return response
    items = response if isinstance(response, list) else [response]
    if not (options["withdist"] or options["withcoord"] or options["withhash"]):
        return items
    casts: List[Callback] = [lambda x: x]
    if options["withdist"]:
        casts.append(float)
    if options["withhash"]:
        casts.append(int)
    if options["withcoord"]:
        casts.append(lambda ll: (float(ll[0]), float(ll[1])))
    return [[cast(v) for cast, v in zip(casts, item)] for item in items]


def script_result(response: Any, **options: Any) -> Any:
    """SCRIPT EXISTS -> list of ``bool``, SCRIPT LOAD -> ``str``, SCRIPT FLUSH
    -> ``True`` (redis-py's shapes); the method names the subcommand in
    ``options["script"]``."""
    sub = options.get("script")
    if sub == "EXISTS":
        return [bool(x) for x in response]
    if sub == "LOAD":
        return _str(response)
    if sub == "FLUSH":
        return bool_ok(response)
    return response


def function_result(response: Any, **options: Any) -> Any:
    """FUNCTION DELETE / FLUSH / RESTORE -> ``True``, STATS -> nested
    ``dict`` (as redis-py's default RESP3 client gives it); the other
    subcommands' replies as they are (LIST keeps redis-py's RESP2 shape, as
    redis-py does); the method names the subcommand in
    ``options["function"]``."""
    sub = options.get("function")
    if sub in ("DELETE", "FLUSH", "RESTORE"):
        return bool_ok(response)
    if sub == "STATS" and isinstance(response, list):
        # As redis-py's default (RESP3) client returns it: nested dicts.
        stats = pairs_to_dict(response)
        for key in (b"engines", "engines"):
            if key in stats:
                engines = pairs_to_dict(stats[key])
                stats[key] = {name: pairs_to_dict(counts) for name, counts in engines.items()}
        return stats
    return response


def _table() -> Dict[str, Callback]:
    table: Dict[str, Callback] = {}

    def each(names: str, cb: Callback) -> None:
        for name in names.split():
            table[name] = cb

    each(
        "COPY EXPIRE EXPIREAT HEXISTS HMSET MOVE MSETNX PERSIST PSETEX "
        "PEXPIRE PEXPIREAT RENAMENX SETEX SETNX SMOVE",
        to_bool,
    )
    each("HINCRBYFLOAT INCRBYFLOAT", to_float)
    each("FLUSHALL FLUSHDB LSET LTRIM MSET PFMERGE RENAME SELECT SWAPDB BF.RESERVE", bool_ok)
    each("BGREWRITEAOF BGSAVE", lambda r, **o: True)
    each("SDIFF SINTER SMEMBERS SUNION", to_set)
    each("ZINTER ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZUNION", score_pairs)
    each("ZPOPMAX ZPOPMIN", pop_score_pairs)
    each("ZRANK ZREVRANK", rank_with_score)
    each("GEODIST ZINCRBY ZSCORE", float_or_none)
    each("GEORADIUS GEORADIUSBYMEMBER GEOSEARCH", geosearch_result)
    each("BLPOP BRPOP", blocking_pop)
    each("BZPOPMAX BZPOPMIN", blocking_zpop)
    table.update(
        {
            "GEOHASH": geohash_result,
            "GEOPOS": geopos_result,
            "HGETALL": hgetall_result,
            "HSCAN": hscan_result,
            "PING": ping_result,
            "SET": set_result,
            "SORT": sort_result,
            "SCAN": scan_result,
            "SSCAN": scan_result,
            "TIME": time_result,
            "ZADD": zadd_result,
            "ZMSCORE": zmscore_result,
            "ZSCAN": zscan_result,
            "BF.INFO": bf_info,
            "SCRIPT": script_result,
            "FUNCTION": function_result,
        }
    )
    return table


def object_result(response: Any, **options: Any) -> Any:
    """OBJECT: IDLETIME / REFCOUNT / FREQ as int (or None), others raw."""
    if str(options.get("infotype", "")).lower() in ("idletime", "refcount", "freq"):
        return None if response is None else int(response)
    return response


def _with_streams(table: Dict[str, Callback]) -> Dict[str, Callback]:
    from fincaskv.streams import STREAM_CALLBACKS

    table.update(STREAM_CALLBACKS)
    table["OBJECT"] = object_result
    return table


RESPONSE_CALLBACKS: Dict[str, Callback] = _with_streams(_table())
"""Command name (upper case) -> callback; what ``DB.execute_command`` applies."""
