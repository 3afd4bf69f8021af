"""The suite's own safety net: one hung test fails on its own instead of stalling CI for its 90 minutes."""

from __future__ import annotations

import pytest


def test_every_test_runs_under_a_timeout_of_at_most_a_few_minutes(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert 0 < float(pytestconfig.getini("timeout")) <= 300
