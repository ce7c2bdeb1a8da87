"""pytest fixtures (registered through the ``pytest11`` entry point).

* ``ksef_simulator``: a fresh Simulator with fast test settings (rate limits off, a 0.05 s
  authentication delay) served over real loopback HTTP; yields the running handle
  (``.base_url``, ``.root_url``, ``.sim``).
* ``make_ksef_simulator``: ``make_ksef_simulator(**SimulatorConfig kwargs)`` -> running handle;
  every simulator made is stopped at teardown.
* ``ksef_simulator_app``: a Simulator (same fast settings) for in-process use:
  ``httpx.Client(transport=httpx.ASGITransport(app=sim.app), base_url="http://ksef/v2")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the simulator itself loads only when a fixture is used
    from ksef_auth_simulator.config import SimulatorConfig
    from ksef_auth_simulator.server import RunningSimulator
    from ksef_auth_simulator.simulator import Simulator

FAST_SETTINGS: dict[str, Any] = {"rate_limits": False, "auth_delay": 0.05}


def fast_config(**overrides: Any) -> SimulatorConfig:
    from ksef_auth_simulator.config import SimulatorConfig

    return SimulatorConfig(**{**FAST_SETTINGS, **overrides})


@pytest.fixture
def make_ksef_simulator() -> Iterator[Callable[..., RunningSimulator]]:
    from ksef_auth_simulator.server import serve
    from ksef_auth_simulator.simulator import Simulator

    started: list[RunningSimulator] = []

    def make(**overrides: Any) -> RunningSimulator:
        running = serve(Simulator(fast_config(**overrides)))
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def ksef_simulator(make_ksef_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    return make_ksef_simulator()


@pytest.fixture
def ksef_simulator_app() -> Simulator:
    from ksef_auth_simulator.simulator import Simulator

    return Simulator(fast_config())
