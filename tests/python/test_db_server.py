"""``fincaskv.Server`` (the RESP server inside this process), its pytest
fixture, and ``python -m fincaskv``."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

import fincaskv
from conftest import free_port


def test_redis_py_can_connect_at_once(tmp_path: Path) -> None:
    with fincaskv.Server(tmp_path / "srv", port=0) as server:
        assert server.running
        assert server.port > 0 and server.address == ("127.0.0.1", server.port)
        r = redis.Redis(port=server.port)
        assert r.ping() is True
        assert r.set("k", "v") is True
        assert r.get("k") == b"v"
        assert r.rpush("l", "a", "b") == 2
        assert r.lrange("l", 0, -1) == [b"a", b"b"]
        r.close()
    assert not server.running
    # The directory is released and the data is there.
    with fincaskv.DB(tmp_path / "srv") as db:
        assert db.get("k") == b"v"


def test_options_and_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "fincaskv.toml"
    conf.write_text('requirepass = "secret"\ndatabases = 4\n')
    with fincaskv.Server(tmp_path / "srv", conf=conf, fsync="always", maxclients=50) as server:
        with redis.Redis(port=server.port) as anon, pytest.raises(redis.AuthenticationError):
            anon.ping()
        r = server.client(password="secret")
        assert r.config_get("databases") == {"databases": "4"}
        assert r.config_get("maxclients") == {"maxclients": "50"}
        r.close()


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(fincaskv.DataError):
        fincaskv.Server(tmp_path / "a", fsync="sometimes")
    with pytest.raises(fincaskv.DataError):
        fincaskv.Server(tmp_path / "b", no_such_option=1)


def test_directory_held_by_a_db_is_refused(tmp_path: Path) -> None:
    with fincaskv.DB(tmp_path / "d"):
        with pytest.raises(fincaskv.LockedError):
            fincaskv.Server(tmp_path / "d")


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(fincaskv.ConnectionError, match="cannot listen"):
            fincaskv.Server(tmp_path / "d", port=s.getsockname()[1])


def test_shutdown_command_stops_the_server(tmp_path: Path) -> None:
    server = fincaskv.Server(tmp_path / "srv")
    r = server.client()
    r.set("k", "v")
    r.shutdown()  # redis-py swallows the closed connection that follows
    r.close()
    assert server.wait(60)
    assert not server.running
    server.stop()
    r.close()


def test_fincaskv_server_fixture(fincaskv_server: fincaskv.Server) -> None:
    r = redis.Redis(port=fincaskv_server.port)
    assert r.dbsize() == 0
    r.rpush("l", 1, 2)
    assert r.lrange("l", 0, -1) == [b"1", b"2"]
    r.close()


def test_python_dash_m_runs_the_server(tmp_path: Path) -> None:
    # A port free a moment ago may be taken by another program before the
    # server binds it (other test suites share the machine): then try another.
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fincaskv", "--port", str(port), "--dir", str(tmp_path / "srv")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line:
            break
        _, err = proc.communicate(timeout=60)
        assert "cannot listen" in err, err
    try:
        assert proc.stdout is not None
        assert f"listening on 127.0.0.1:{port}" in line, line
        r = redis.Redis(port=port)
        assert r.set("k", "v") is True
        r.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with fincaskv.DB(tmp_path / "srv") as db:
        assert db.get("k") == b"v"


def test_console_script_is_installed() -> None:
    import shutil

    script = shutil.which("fincaskv-server", path=str(Path(sys.executable).parent))
    assert script is not None
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert fincaskv.__version__ in out.stdout


def test_embedded_and_served_answers_agree(tmp_path: Path, fincaskv_db: fincaskv.DB) -> None:
    """The same redis-py calls on fincaskv.DB and on redis-py talking to
    fincaskv.Server give the same results (one engine, two doors)."""
    from differential import run_both
    from test_db_differential import ERRORS, KEYS, LISTS, STRINGS

    with fincaskv.Server(tmp_path / "srv") as server:
        r = server.client()
        for calls in (STRINGS, KEYS, LISTS, ERRORS):
            fincaskv_db.flushall()
            r.flushall()
            run_both(fincaskv_db, r, calls)
        r.close()


def test_stop_closes_the_clients_it_made(tmp_path: Path) -> None:
    server = fincaskv.Server(tmp_path / "srv")
    c = server.client()
    assert c.ping() is True
    pool = c.connection_pool
    assert pool._created_connections == 1
    server.stop()
    # redis-py's close() disconnects and drops every pooled connection.
    assert pool._created_connections == 0 or all(conn._sock is None for conn in pool._available_connections)


def test_keyspace_notifications_from_an_option_or_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "fincaskv.toml"
    # `n` (new keys) is kept although CONFIG GET shows the string as "AKE".
    conf.write_text('notify-keyspace-events = "KEAn"\n')
    for kwargs in ({"conf": conf}, {"notify_keyspace_events": "KEAn"}):
        with fincaskv.Server(tmp_path / "srv", **kwargs) as server:
            r = server.client()
            assert r.config_get("notify-keyspace-events") == {"notify-keyspace-events": "AKE"}
            r.set("l", "x")
            ps = r.pubsub()
            ps.psubscribe("__keyevent@0__:*")
            assert ps.get_message(timeout=10)["type"] == "psubscribe"
            r.delete("l")
            r.rpush("l", "a")
            got = [ps.get_message(timeout=10) for _ in range(3)]
            assert [(m["channel"], m["data"]) for m in got] == [
                (b"__keyevent@0__:del", b"l"),
                (b"__keyevent@0__:new", b"l"),
                (b"__keyevent@0__:rpush", b"l"),
            ]
            ps.close()
            r.close()
    with pytest.raises(fincaskv.DataError, match="Invalid event class character"):
        fincaskv.Server(tmp_path / "bad", notify_keyspace_events="KEZ")
    conf.write_text('notify-keyspace-events = "Z"\n')
    with pytest.raises(fincaskv.DataError, match="Invalid event class character"):
        fincaskv.Server(tmp_path / "bad", conf=conf)
