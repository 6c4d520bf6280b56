"""redis-cli and redis-benchmark (Redis 7.0 tools) against the real binary."""

from __future__ import annotations

import subprocess

from server_harness import server  # noqa: F401


def run(*args: str, input: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout, check=False)


def test_redis_cli_ping(server):
    out = run("redis-cli", "-p", str(server.port), "ping")
    assert out.returncode == 0
    assert out.stdout == b"PONG\n"


def test_redis_cli_piped_session(server):
    session = b"SET greeting hello\nGET greeting\nINCR counter\nINCR counter\nLPUSH l a b c\nLRANGE l 0 -1\nDEL greeting\nGET greeting\n"
    out = run("redis-cli", "-p", str(server.port), input=session)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split("\n") == [
        "OK", "hello", "1", "2", "3", "c", "b", "a", "1", "", "",
    ]


def test_redis_cli_resp3_and_errors(server):
    out = run("redis-cli", "-3", "-p", str(server.port), "hello", "3")
    assert out.returncode == 0
    assert b"proto" in out.stdout
    out = run("redis-cli", "-p", str(server.port), "nosuchcommand", "x")
    assert b"ERR unknown command 'nosuchcommand'" in out.stdout


def test_redis_cli_pipe_mode(server):
    proto = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len(b"k%d" % i), i) for i in range(1000)
    )
    out = run("redis-cli", "-p", str(server.port), "--pipe", input=proto)
    assert out.returncode == 0, out.stdout + out.stderr
    assert b"errors: 0, replies: 1000" in out.stdout
    assert run("redis-cli", "-p", str(server.port), "dbsize").stdout == b"1000\n"
