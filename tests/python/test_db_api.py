"""The API surface: ``fincaskv.DB`` methods have redis-py's names and parameters."""

from __future__ import annotations

import inspect
from typing import List

import redis

import fincaskv
import fincaskv.aio
from fincaskv.commands import Commands

# Parameters that redis-py has and FincasKV leaves out on purpose, per method:
# options of Redis versions after 7.0 that the server does not implement.
ALLOWED_MISSING = {
    "set": {"ifeq", "ifne", "ifdeq", "ifdne"},
}


def command_methods() -> List[str]:
    return sorted(
        name for name, value in inspect.getmembers(Commands) if not name.startswith("_") and callable(value)
    )


def params(func: object) -> List[str]:
    sig = inspect.signature(func)  # type: ignore[arg-type]
    return [p.name for p in sig.parameters.values() if p.name != "self"]


def test_every_command_method_exists_in_redis_py_with_the_same_parameters() -> None:
    checked = 0
    for name in command_methods():
        theirs = getattr(redis.Redis, name, None)
        if theirs is None or name == "execute_command":
            continue
        mine = getattr(fincaskv.DB, name)
        missing = ALLOWED_MISSING.get(name, set())
        theirs_params = [p for p in params(theirs) if p not in missing]
        assert params(mine) == theirs_params, f"{name}: fincaskv {params(mine)} != redis-py {theirs_params}"
        checked += 1
    assert checked > 140


def test_command_families_are_covered() -> None:
    names = set(command_methods())
    for expected in ["get", "set", "incrbyfloat", "delete", "expire", "scan_iter", "lpush", "blpop",
                     "lmove", "hset", "hgetall", "hscan_iter", "sadd", "sinter", "sscan_iter", "zadd",
                     "zrange", "zpopmin", "bzpopmin", "zunionstore", "zscan_iter", "dbsize", "flushdb", "bf"]:
        assert expected in names


def test_every_public_name_has_a_docstring() -> None:
    for name in fincaskv.__all__:
        obj = getattr(fincaskv, name)
        if not isinstance(obj, str):
            assert obj.__doc__, name
    for name in command_methods():
        assert getattr(fincaskv.DB, name).__doc__, name
        assert getattr(fincaskv.aio.DB, name).__doc__, name


def test_async_db_mirrors_every_command() -> None:
    for name in command_methods():
        if name in ("bf", "bitfield", "register_script"):  # return builders; their calls are awaitable
            continue
        method = getattr(fincaskv.aio.DB, name)
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name


def test_version_matches_native_module() -> None:
    from fincaskv import _native

    assert fincaskv.__version__ == _native.__version__
    assert fincaskv.__version__.count(".") == 2


def test_native_stubs_match_the_built_module(tmp_path: object) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fincaskv._native", "--mypy-config-file", "/dev/null"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_type_checks(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    # By package name, as a user's type checker finds the installed package (py.typed).
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", os.path.join(str(tmp_path), "cache"), "-p", "fincaskv"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_program_passes_mypy_strict(tmp_path: object) -> None:
    """A program using DB, aio, Server and the cluster helpers type-checks
    with `mypy --strict` against the installed package."""
    import os
    import subprocess
    import sys

    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typed", "sample.py")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", os.path.join(str(tmp_path), "cache"), sample],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
