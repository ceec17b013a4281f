"""Drives mini_redis with redis-py (Debian's python3-redis): every command, a pipeline and
pub/sub. Usage: redis_py_client.py PORT. Prints "ok" and exits 0, or fails with the
assertion that did not hold."""
import sys
import time

import redis


def main(port):
    r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    assert r.ping() is True
    assert r.echo("hi") == "hi"
    assert r.flushdb() is True
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True) is True and r.get("k") == "w"
    assert r.set("new", "x", xx=True) is None and r.exists("new") == 0
    assert r.set("t", "1", ex=100) is True and 99 <= r.ttl("t") <= 100
    assert r.set("p", "1", px=50000) is True and 49000 <= r.pttl("p") <= 50000
    assert r.persist("p") is True and r.pttl("p") == -1
    assert r.expire("k", 100) is True and r.ttl("k") == 100
    assert r.pexpire("k", 20) is True
    time.sleep(0.05)
    assert r.get("k") is None and r.ttl("k") == -2
    assert r.incr("n") == 1 and r.incr("n") == 2 and r.decr("n") == 1
    assert r.incrby("n", 41) == 42
    r.set("s", "text")
    try:
        r.incr("s")
        raise AssertionError("INCR of a string did not fail")
    except redis.ResponseError as e:
        assert "not an integer" in str(e)
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "zz") == ["1", "2", None]
    assert r.exists("a", "b", "zz") == 2
    assert r.delete("a", "b", "zz") == 2
    assert sorted(r.keys("*")) == sorted(["t", "p", "n", "s"])
    assert sorted(r.keys("?")) == sorted(["t", "p", "n", "s"])
    assert r.dbsize() == 4
    try:
        r.execute_command("NOSUCHCOMMAND", "x")
        raise AssertionError("an unknown command did not fail")
    except redis.ResponseError as e:
        assert str(e).startswith("unknown command 'NOSUCHCOMMAND'"), str(e)

    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.set(f"key:{i}", i)
    for i in range(1000):
        pipe.get(f"key:{i}")
    results = pipe.execute()
    assert results[:1000] == [True] * 1000
    assert results[1000:] == [str(i) for i in range(1000)]

    sub = r.pubsub()
    sub.subscribe("news")
    sub.psubscribe("n*")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    assert sub.get_message(timeout=5)["type"] == "psubscribe"
    assert r.publish("news", "hello") == 2
    got = [sub.get_message(timeout=5) for _ in range(2)]
    assert {m["type"] for m in got} == {"message", "pmessage"}, got
    assert all(m["data"] == "hello" and m["channel"] == "news" for m in got), got
    sub.unsubscribe("news")
    sub.punsubscribe("n*")
    sub.close()
    assert r.flushdb() is True and r.dbsize() == 0
    r.close()
    print("ok")


if __name__ == "__main__":
    main(int(sys.argv[1]))
