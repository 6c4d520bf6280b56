"""Pub/Sub and blocking pops through redis-py 8.1 against the real binary."""

from __future__ import annotations

import threading

import pytest
import redis

from server_harness import server, r, wait_for  # noqa: F401


def blocked_clients(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_publish(server, protocol):
    sub = server.client(protocol=protocol).pubsub()
    pub = server.client()
    sub.subscribe("news")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    sub.psubscribe("n*")
    assert sub.get_message(timeout=5)["type"] == "psubscribe"
    assert pub.publish("news", "hello") == 2
    got = [sub.get_message(timeout=5) for _ in range(2)]
    kinds = sorted((m["type"], m["channel"], m["data"]) for m in got)
    assert kinds == [("message", b"news", b"hello"), ("pmessage", b"news", b"hello")]
    assert pub.pubsub_numsub("news", "other") == [(b"news", 1), (b"other", 0)]
    assert pub.pubsub_numpat() == 1
    assert b"news" in pub.pubsub_channels()
    sub.unsubscribe("news")
    sub.punsubscribe("n*")
    wait_for(lambda: pub.pubsub_numpat() == 0, "punsubscribe")
    assert pub.publish("news", "nobody") == 0
    sub.close()


def test_resp3_subscriber_can_run_commands(server):
    client = server.client()
    sub = client.pubsub()
    sub.subscribe("c")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    # RESP3 allows ordinary commands on a subscribed connection.
    sub.connection.send_command("SET", "from-subscriber", "1")
    assert sub.connection.read_response() == b"OK"
    assert client.get("from-subscriber") == b"1"
    client.publish("c", "x")
    msg = None
    for _ in range(5):
        msg = sub.get_message(timeout=5)
        if msg and msg["type"] == "message":
            break
    assert msg and msg["data"] == b"x"
    sub.close()


def test_blpop_woken_by_other_client(server, r):
    results = []

    def waiter():
        c = server.client()
        results.append(c.blpop(["q1", "q2"], timeout=0))

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: blocked_clients(r) == 1, "client to block")
    assert r.rpush("q2", "v") == 1
    t.join(timeout=10)
    assert not t.is_alive()
    assert results == [[b"q2", b"v"]] or results == [(b"q2", b"v")]


def test_blocking_first_come_first_served(server, r):
    order = []
    threads = []
    for i in range(3):
        def waiter(i=i):
            c = server.client()
            order.append((i, c.blpop("fifo", timeout=0)[1]))

        t = threading.Thread(target=waiter)
        t.start()
        threads.append(t)
        wait_for(lambda: blocked_clients(r) == i + 1, f"client {i} to block")
    r.rpush("fifo", "a", "b", "c")
    for t in threads:
        t.join(timeout=10)
    assert sorted(order) == [(0, b"a"), (1, b"b"), (2, b"c")]


def test_fractional_timeout_returns_nil(r):
    assert r.blpop("empty", timeout=0.05) is None
    assert r.brpop("empty", timeout=0.05) is None
    assert r.blmove("empty", "dst", 0.05, "LEFT", "RIGHT") is None
    assert r.brpoplpush("empty", "dst", 0.05) is None


def test_negative_timeout_is_an_error(r):
    with pytest.raises(redis.exceptions.ResponseError, match="timeout is negative"):
        r.blpop("k", timeout=-1)


def test_blmove_and_blmpop_woken(server, r):
    results = []

    def waiter():
        c = server.client()
        results.append(c.blmove("src", "dst", 0, "LEFT", "RIGHT"))
        results.append(c.blmpop(0, 2, "a", "b", direction="LEFT"))

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: blocked_clients(r) == 1, "blmove to block")
    r.rpush("src", "x")
    wait_for(lambda: blocked_clients(r) == 1 and len(results) == 1, "blmpop to block")
    r.rpush("b", "y")
    t.join(timeout=10)
    assert results[0] == b"x"
    assert results[1] in ([b"b", [b"y"]], [b"b", (b"y",)])
    assert r.lrange("dst", 0, -1) == [b"x"]


def test_exec_wakes_blocked_client(server, r):
    results = []

    def waiter():
        results.append(server.client().blpop("tx", timeout=0))

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: blocked_clients(r) == 1, "client to block")
    with r.pipeline(transaction=True) as p:
        p.set("other", 1).lpush("tx", "from-exec")
        p.execute()
    t.join(timeout=10)
    assert results and results[0][1] == b"from-exec"


def test_blpop_inside_multi_does_not_block(r):
    with r.pipeline(transaction=True) as p:
        p.blpop("nothing", timeout=0)
        assert p.execute() == [None]
