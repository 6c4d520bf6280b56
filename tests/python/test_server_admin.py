"""Server administration against the real binary: CONFIG REWRITE with a
config file, active expiry, merge (BGREWRITEAOF), SAVE, DEBUG, MEMORY USAGE,
and `fincaskv-server check`."""

from __future__ import annotations

import subprocess

import redis

from server_harness import server, server_bin, start_server, wait_for  # noqa: F401


def test_config_rewrite_round_trip(tmp_path):
    conf = tmp_path / "fincaskv.toml"
    conf.write_text('maxclients = 123\nslowlog-max-len = 5\n')
    srv = start_server(tmp_path, "--conf", str(conf))
    try:
        c = srv.client()
        assert c.config_get("maxclients") == {"maxclients": "123"}
        assert c.config_set("maxclients", 77) is True
        assert c.config_rewrite() in (True, b"OK")
        text = conf.read_text()
        assert "maxclients = 77\n" in text
        assert "slowlog-max-len = 5\n" in text
        # The rewritten file is a valid config: the binary starts from it.
        assert srv.stop() == 0
        again = start_server(tmp_path, "--conf", str(conf))
        try:
            assert again.client().config_get("maxclients") == {"maxclients": "77"}
        finally:
            again.stop()
    finally:
        srv.stop()


def test_bad_config_file_is_refused(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text("no-such-option = 1\n")
    out = subprocess.run([server_bin(), "--conf", str(conf)], capture_output=True, timeout=60)
    assert out.returncode == 2
    assert b"no-such-option" in out.stderr


def test_active_expiry_removes_keys_nobody_reads(server):
    c = server.client()
    for i in range(50):
        c.set(f"t{i}", "v", px=20)
    c.set("keep", "v")
    # No reads of the t* keys: only the 10 Hz active expiry can remove them.
    wait_for(lambda: c.info("keyspace").get("db0", {}).get("keys") == 1, "active expiry")
    assert c.get("keep") == b"v"


def test_bgrewriteaof_merges(server):
    c = server.client()
    for i in range(200):
        c.set("k", "x" * 100)
    before = int(c.info("persistence")["merges_completed"])
    assert c.bgrewriteaof() is True
    wait_for(lambda: int(c.info("persistence")["merges_completed"]) > before, "merge")
    assert c.get("k") == b"x" * 100


def test_save_debug_memory(server):
    c = server.client()
    c.set("k", "v" * 1000)
    assert c.save() is True
    assert c.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert c.execute_command("DEBUG", "SLEEP", "0") in (b"OK", "OK", True)
    usage = c.memory_usage("k")
    assert usage is not None and usage >= 1000
    assert c.memory_usage("missing") is None


def test_check_subcommand(tmp_path):
    srv = start_server(tmp_path)
    c = srv.client()
    c.set("a", 1)
    c.rpush("l", "x", "y")
    assert srv.stop() == 0
    out = subprocess.run([server_bin(), "check", str(srv.dir)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert b"OK (2 keys)" in out.stdout
    out = subprocess.run([server_bin(), "check", "--repair", str(srv.dir)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert b"repaired" in out.stdout
    out = subprocess.run([server_bin(), "check", str(tmp_path / "nope")], capture_output=True, timeout=60)
    assert out.returncode == 1


def test_idle_timeout_closes_clients(server):
    c = server.client()
    assert c.config_set("timeout", 1) is True
    raw = server.raw()
    raw.settimeout(10)
    # The idle client is closed by the server (EOF) after about a second.
    assert raw.recv(16) == b""
    assert c.config_set("timeout", 0) is True


def test_fsync_always_concurrent_writers(tmp_path):
    import signal
    import threading

    srv = start_server(tmp_path, "--fsync", "always")
    try:
        errors = []

        def writer(n):
            try:
                c = srv.client()
                for i in range(50):
                    c.set(f"w{n}:{i}", i)
                with c.pipeline(transaction=True) as p:
                    p.incr("total").incr("total")
                    p.execute()
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        c = srv.client()
        assert c.dbsize() == 8 * 50 + 1
        assert c.get("total") == b"16"
        assert c.info("persistence")["fsync"] == "always"
        # SIGINT stops it cleanly too.
        srv.proc.send_signal(signal.SIGINT)
        assert srv.proc.wait(timeout=30) == 0
    finally:
        srv.stop()
