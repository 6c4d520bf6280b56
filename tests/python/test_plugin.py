"""The pytest plugin: registered through ``pytest11``; its fixtures work."""

from __future__ import annotations

import pytest
import redis

import fincaskv


def test_plugin_is_registered(request: pytest.FixtureRequest) -> None:
    plugin = request.config.pluginmanager.get_plugin("fincaskv")
    assert plugin is not None
    assert plugin.__name__ == "fincaskv.pytest_plugin"


def test_fincaskv_db_fixture_is_an_empty_open_db(fincaskv_db: fincaskv.DB) -> None:
    assert isinstance(fincaskv_db, fincaskv.DB)
    assert not fincaskv_db.closed
    assert fincaskv_db.dbsize() == 0
    fincaskv_db.set("k", "v")
    assert fincaskv_db["k"] == b"v"


def test_fincaskv_db_fixture_is_fresh_per_test(fincaskv_db: fincaskv.DB) -> None:
    assert "k" not in fincaskv_db
