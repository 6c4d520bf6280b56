#!/usr/bin/env python3
"""FincasKV embedded in a Python process: no server, redis-py's methods.

    python examples/embedded.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import tempfile
import threading

import fincaskv


def main(path: str) -> None:
    # Open (or create) the database. Options mirror the server's configuration;
    # decode_responses=True returns str instead of bytes, as in redis-py.
    with fincaskv.DB(path, fsync="everysec", decode_responses=True) as db:
        # Strings, with expiry.
        db.set("greeting", "hello", ex=3600)
        print("greeting:", db.get("greeting"), "ttl:", db.ttl("greeting"))
        print("visits:", db.incr("visits"))

        # The redis-py return types: dicts, sets, (member, score) tuples.
        db.hset("user:1", mapping={"name": "Ada", "lang": "en"})
        print("user:1:", db.hgetall("user:1"))
        db.zadd("scores", {"ada": 42, "alan": 37.5})
        print("top:", db.zrange("scores", 0, -1, desc=True, withscores=True))
        db.sadd("tags", "kv", "redis", "bitcask")
        print("tags:", sorted(db.smembers("tags")))

        # A job queue between threads: BLPOP wakes up when another thread pushes.
        worker = threading.Thread(target=lambda: print("worker got:", db.blpop("jobs", timeout=10)))
        worker.start()
        db.rpush("jobs", "resize image 7")
        worker.join()

        # Atomic transaction (MULTI/EXEC) and atomic write batch.
        pipe = db.pipeline()
        pipe.incr("counter").incr("counter").get("counter")
        print("pipeline:", pipe.execute())
        with db.write_batch() as batch:
            for i in range(1000):
                batch.put(f"item:{i}", i)
        print("items:", len(db.keys("item:*")))

        # The dict face.
        db["colour"] = "blue"
        print("colour" in db, db["colour"], len(db))

        # Errors carry redis-py's names.
        try:
            db.lpush("colour", "x")
        except fincaskv.ResponseError as e:
            print("error:", e)

        db.sync()
        print("stats:", {k: v for k, v in db.stats().items() if k != "databases"})


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
