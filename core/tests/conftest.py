from __future__ import annotations

import pytest

from ksef_auth.manager import PluginManager


@pytest.fixture
def manager() -> PluginManager:
    """A plugin manager with the installed env and memory plugins plus core's test plugin."""
    from . import plugin_fixtures

    pm = PluginManager(only="env,memory")
    pm.register(plugin_fixtures, name="fixtures")
    return pm
