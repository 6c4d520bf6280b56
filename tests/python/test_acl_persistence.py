"""ACL users that outlive the server (aclfile, ACL SAVE / LOAD), the default
user and requirepass, ACL LOG / GENPASS / HELP, CLIENT KILL USER, and the
connections of deleted or reloaded users: side by side with a redis-server
7.0 started with its own aclfile, replies compared byte for byte (the two
file paths are replaced by one placeholder first)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from server_harness import free_port, start_server
from test_server_differential import cmd, exchange, read_reply

FIRST = "user alice on >pw ~k* +get\n"


class Pair:
    """Our server and redis-server, each with its own aclfile of the same
    contents."""

    def __init__(self, tmp: Path, contents: str) -> None:
        self.ours_file = tmp / "ours" / "users.acl"
        self.redis_file = tmp / "them" / "users.acl"
        for f in (self.ours_file, self.redis_file):
            f.parent.mkdir()
            f.write_text(contents)
        self.ours = start_server(tmp, "--aclfile", str(self.ours_file))
        self.redis_port = free_port()
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (scripts/test.sh installs it)"
        self.redis = subprocess.Popen(
            [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.redis_file.parent),
             "--aclfile", str(self.redis_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=1).close()
                break
            except OSError:
                assert self.redis.poll() is None, "redis-server exited at start"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def write(self, contents: str) -> None:
        self.ours_file.write_text(contents)
        self.redis_file.write_text(contents)

    def same(self, script: list[bytes]) -> list[bytes]:
        """Runs `script` on one connection to each; every reply must be
        equal once the file paths are replaced. Returns our replies."""
        ours = exchange(self.ours.port, script)
        theirs = exchange(self.redis_port, script)
        for req, a, b in zip(script, ours, theirs):
            a = a.replace(str(self.ours_file).encode(), b"<aclfile>")
            b = b.replace(str(self.redis_file).encode(), b"<aclfile>")
            assert a == b, f"{req!r}: ours {a!r}, redis {b!r}"
        return ours

    def close(self) -> None:
        self.ours.stop()
        self.redis.terminate()
        self.redis.wait(timeout=30)


@pytest.fixture
def pair(tmp_path: Path):
    p = Pair(tmp_path, FIRST)
    yield p
    p.close()


def test_aclfile_load_save_and_errors_same_bytes_as_redis(pair: Pair) -> None:
    pair.same([
        cmd("ACL", "LIST"),
        cmd("CONFIG", "GET", "aclfile"),
        cmd("ACL", "SETUSER", "bob", "on", ">b", "~*", "&*", "+@all", "-flushall"),
        cmd("ACL", "SETUSER", "carl", "off", "#" + "ab" * 32, "resetchannels", "~x", "+@read"),
        cmd("ACL", "SAVE"),
        cmd("ACL", "SAVE", "extra"),
        cmd("ACL", "LOAD", "extra"),
    ])
    assert pair.ours_file.read_text() == pair.redis_file.read_text()
    assert "user bob on #" in pair.ours_file.read_text()
    bad_files = [
        "# a comment\nuser bob on\n",
        "user bob on\nuser bob off\n",
        "user bob on +nosuch -nosuch2 >x\nuser carl on\nfoo bar\n",
        "user\n",
        "user dan on \"unbalanced\n",
        "user eve on ~a allkeys ~b +@nosuch\n",
        "user fay on #abc >x\n",
    ]
    for text in bad_files:
        pair.write(text)
        pair.same([cmd("ACL", "LOAD"), cmd("ACL", "LIST")])
    # A good file replaces every user; a default it does not name is the
    # fresh server's (no password).
    pair.write("\n  user zed on nopass ~* +@all  \r\n\nuser b@d off\n")
    pair.same([cmd("ACL", "LOAD"), cmd("ACL", "LIST"), cmd("ACL", "USERS")])
    # A file that gives default a password: new connections must AUTH.
    pair.write("user default on >dpw ~* &* +@all\nuser zed on nopass ~* +@all\n")
    pair.same([cmd("ACL", "LOAD"), cmd("ACL", "WHOAMI"), cmd("ACL", "LIST")])
    pair.same([cmd("PING"), cmd("AUTH", "dpw"), cmd("ACL", "WHOAMI"), cmd("AUTH", "zed", "any"),
               cmd("ACL", "WHOAMI")])
    pair.write("user default on nopass ~* &* +@all\n")
    pair.same([cmd("AUTH", "dpw"), cmd("ACL", "LOAD"), cmd("PING")])
    pair.same([cmd("PING"), cmd("AUTH", "x"), cmd("AUTH", "default", "x")])


def test_requirepass_sets_the_default_users_password_as_redis(pair: Pair) -> None:
    pair.same([
        cmd("CONFIG", "SET", "requirepass", "sec"),
        cmd("ACL", "LIST"),
        cmd("CONFIG", "GET", "requirepass"),
        cmd("ACL", "SETUSER", "default", ">other", "#" + "cd" * 32),
        cmd("ACL", "GETUSER", "default"),
        cmd("CONFIG", "GET", "requirepass"),
    ])
    pair.same([cmd("PING"), cmd("AUTH", "sec"), cmd("AUTH", "other"), cmd("ACL", "WHOAMI"),
               cmd("ACL", "SETUSER", "default", "<other", "!" + "cd" * 32),
               cmd("ACL", "LIST"), cmd("CONFIG", "SET", "requirepass", ""),
               cmd("ACL", "LIST"), cmd("CONFIG", "GET", "requirepass")])
    pair.same([cmd("PING"), cmd("AUTH", "x"), cmd("ACL", "SETUSER", "default", "off")])
    pair.same([cmd("PING"), cmd("AUTH", "default", "x"), cmd("HELLO", "2", "AUTH", "default", "x")])


def _log(port: int) -> list[dict]:
    """ACL LOG through redis-py, without the two fields that depend on
    time and on the connection (checked for shape only)."""
    entries = redis.Redis(port=port).acl_log()
    out = []
    for e in entries:
        assert isinstance(e["age-seconds"], float) and 0 <= e["age-seconds"] < 60, e
        info = e["client-info"]
        user = info["user"] if isinstance(info, dict) else info.split(" user=")[1].split(" ")[0]
        assert user == (e["username"] if e["reason"] != "auth" else "default"), e
        out.append({k: v for k, v in e.items() if k not in ("age-seconds", "client-info")})
    return out


def test_acl_log_same_as_redis(pair: Pair) -> None:
    script = [
        cmd("ACL", "LOG", "RESET"),
        cmd("ACL", "LOG"),
        cmd("AUTH", "alice", "nope"),
        cmd("HELLO", "2", "AUTH", "bob", "y"),
        cmd("auth", "alice", "nope"),
        cmd("AUTH", "alice", "pw"),
        cmd("GET", "x"),
        cmd("SET", "k", "1"),
        cmd("GET", "k"),
        cmd("SET", "k", "1"),
        cmd("CONFIG", "GET", "maxclients"),
    ]
    pair.same(script)
    ours, theirs = _log(pair.ours.port), _log(pair.redis_port)
    assert ours == theirs, (ours, theirs)
    # AUTH and auth are two objects; the two SETs one entry counted twice.
    assert [(e["reason"], e["object"], e["count"]) for e in ours] == [
        ("command", "config|get", 1), ("command", "set", 2), ("key", "x", 1),
        ("auth", "auth", 1), ("auth", "HELLO", 1), ("auth", "AUTH", 1)], ours
    for port in (pair.ours.port, pair.redis_port):
        entries = redis.Redis(port=port).acl_log(2)
        assert [e["object"] for e in entries] == ["config|get", "set"], entries
        assert b" cmd=config|get " in exchange(port, [cmd("ACL", "LOG", "1")])[0]
    pair.same([cmd("ACL", "LOG", "-1"), cmd("ACL", "LOG", "x"), cmd("ACL", "LOG", "0"),
               cmd("ACL", "LOG", "1", "2")])
    # MULTI: a refusal while queueing is logged in the multi context.
    pair.same([cmd("ACL", "SETUSER", "m", "on", "nopass", "~*", "+multi", "+exec", "+get"),
               cmd("AUTH", "m", "x"), cmd("MULTI"), cmd("SET", "k", "v"), cmd("EXEC")])
    assert _log(pair.ours.port)[0] == _log(pair.redis_port)[0]
    assert _log(pair.ours.port)[0]["context"] == "multi"
    pair.same([cmd("CONFIG", "SET", "acllog-max-len", "2"), cmd("AUTH", "a", "b"), cmd("AUTH", "c", "d"),
               cmd("CONFIG", "GET", "acllog-max-len")])
    assert _log(pair.ours.port) == _log(pair.redis_port)
    assert len(_log(pair.ours.port)) == 2
    pair.same([cmd("ACL", "LOG", "RESET"), cmd("ACL", "LOG")])


def test_genpass_and_help_as_redis(pair: Pair) -> None:
    pair.same([cmd("ACL", "HELP"), cmd("ACL", "GENPASS", "0"), cmd("ACL", "GENPASS", "4097"),
               cmd("ACL", "GENPASS", "x"), cmd("ACL", "GENPASS", "-5"), cmd("ACL", "GENPASS", "1", "2"),
               cmd("ACL", "HELP", "x"), cmd("ACL", "CAT", "a", "b"), cmd("ACL", "LOG", "1", "2"),
               cmd("ACL", "LIST", "x")])
    ours, theirs = redis.Redis(port=pair.ours.port), redis.Redis(port=pair.redis_port)
    for bits in (None, 1, 4, 5, 255, 256, 4096):
        args = () if bits is None else (bits,)
        a, b = ours.acl_genpass(*args), theirs.acl_genpass(*args)
        assert len(a) == len(b) and all(c in "0123456789abcdef" for c in a), (bits, a, b)
    assert ours.acl_genpass() != ours.acl_genpass()


def _closed(s: socket.socket) -> bool:
    """Whether the server closed `s` (within 2 s: a kill may land just
    after the command that asked for it returned)."""
    deadline = time.monotonic() + 2
    while True:
        try:
            s.sendall(cmd("PING"))
            reply = read_reply(s)
        except OSError:
            return True
        if reply.endswith(b"<EOF>"):
            return True
        assert reply == b"+PONG\r\n", reply
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_deleted_and_reloaded_users_lose_their_connections(pair: Pair) -> None:
    for port in (pair.ours.port, pair.redis_port):
        admin = redis.Redis(port=port)
        admin.acl_setuser("bob", enabled=True, passwords=["+b"], commands=["+@all"], keys=["*"])
        conns = {}
        for name, pw in (("bob", "b"), ("alice", "pw"), ("default", "x")):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(cmd("AUTH", name, pw))
            assert read_reply(s) == b"+OK\r\n"
            conns[name] = s
        assert [c["user"] for c in admin.client_list()].count("bob") == 1
        assert admin.acl_deluser("bob") == 1
        assert _closed(conns["bob"]), port
        s = conns["alice"]
        s.sendall(cmd("GET", "k"))
        assert read_reply(s) == b"$-1\r\n"
        # ACL LOAD makes every user new: only default's connections stay.
        assert admin.acl_load() is True
        assert _closed(conns["alice"]), port
        assert not _closed(conns["default"]), port
        with pytest.raises(redis.ResponseError, match="No such user 'nobody'"):
            admin.execute_command("CLIENT", "KILL", "USER", "nobody")
        assert admin.execute_command("CLIENT", "KILL", "USER", "default", "SKIPME", "yes") >= 1
        for s in conns.values():
            s.close()


def test_users_survive_a_restart_through_the_aclfile(tmp_path: Path) -> None:
    acl = tmp_path / "users.acl"
    acl.write_text(FIRST)
    srv = start_server(tmp_path, "--aclfile", str(acl))
    c = srv.client()
    c.acl_setuser("bob", enabled=True, passwords=["+b"], commands=["+@all", "-flushall"], keys=["*"])
    c.config_set("requirepass", "sec")
    before = srv.client(password="sec").acl_list()
    assert srv.client(password="sec").acl_save() is True
    data = srv.dir
    srv.stop()
    srv = start_server(tmp_path, "--aclfile", str(acl), data=data)
    try:
        admin = srv.client(password="sec")
        assert admin.acl_list() == before
        assert srv.client(username="bob", password="b").ping() is True
        with pytest.raises(redis.exceptions.AuthenticationError):
            srv.client().ping()
        assert srv.client(username="alice", password="pw").get("k1") is None
    finally:
        srv.stop()


@pytest.mark.parametrize("contents", [None, "user bob on +nosuch\n", "bob on\n"])
def test_a_bad_aclfile_stops_the_start_with_redis_message(tmp_path: Path, contents: str | None) -> None:
    acl = tmp_path / "users.acl"
    if contents is not None:
        acl.write_text(contents)
    with pytest.raises(RuntimeError) as ours:
        start_server(tmp_path, "--aclfile", str(acl))
    expected = {
        None: "Error loading ACLs, opening file",
        "user bob on +nosuch\n": "Error in applying operation '+nosuch': Unknown command or category name in ACL",
        "bob on\n": ":1 should start with user keyword followed by the username",
    }[contents]
    assert expected in str(ours.value)


def test_users_in_the_config_file_and_config_rewrite(tmp_path: Path) -> None:
    """Without an aclfile, users live in the config file as Redis's `user`
    lines: read at start (a default not named keeps requirepass), written
    by CONFIG REWRITE; both kinds of users at once stop the start."""
    conf = tmp_path / "fincaskv.toml"
    conf.write_text('requirepass = "sec"\nuser = ["alice on >pw ~k* +get"]\n')
    srv = start_server(tmp_path, "--conf", str(conf))
    try:
        assert srv.client(username="alice", password="pw").get("k1") is None
        admin = srv.client(password="sec")
        admin.acl_setuser("bob", enabled=True, passwords=["+b"], commands=["+@all"], keys=["*"])
        before = admin.acl_list()
        assert admin.config_rewrite() in (True, b"OK")
        assert 'user = [\n    "alice on #' in conf.read_text()
    finally:
        srv.stop()
    srv = start_server(tmp_path, "--conf", str(conf), data=srv.dir)
    try:
        assert srv.client(password="sec").acl_list() == before
        assert srv.client(username="bob", password="b").ping() is True
    finally:
        srv.stop()
    acl = tmp_path / "users.acl"
    acl.write_text(FIRST)
    with pytest.raises(RuntimeError, match="users defined in redis.conf and at the same setting an ACL file"):
        start_server(tmp_path, "--conf", str(conf), "--aclfile", str(acl))
    conf.write_text('user = ["carl on +nosuch"]\n')
    with pytest.raises(RuntimeError, match="Error in applying operation '\\+nosuch'"):
        start_server(tmp_path, "--conf", str(conf))
