"""ksef-auth-simulator: a faithful local simulator of the KSeF 2.0 authentication API.

    from ksef_auth_simulator import Simulator, SimulatorConfig, FaultRule, serve

    sim = Simulator(SimulatorConfig(auth_delay=0.05))
    token = sim.issue_ksef_token("5261040828")
    with serve(sim) as running:
        ...  # talk to running.base_url ("http://127.0.0.1:PORT/v2")

Names load on first use, so importing the package (or its pytest plugin) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ksef_auth_simulator.config import SimulatorConfig
    from ksef_auth_simulator.faults import FaultRule
    from ksef_auth_simulator.server import RunningSimulator, serve
    from ksef_auth_simulator.simulator import Simulator

_EXPORTS = {
    "FaultRule": "ksef_auth_simulator.faults",
    "RunningSimulator": "ksef_auth_simulator.server",
    "Simulator": "ksef_auth_simulator.simulator",
    "SimulatorConfig": "ksef_auth_simulator.config",
    "serve": "ksef_auth_simulator.server",
}
__all__ = ["FaultRule", "RunningSimulator", "Simulator", "SimulatorConfig", "serve"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ksef_auth_simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
