"""ksef-auth-simulator: a faithful local simulator of the KSeF 2.0 authentication API.

from ksef_auth_simulator import Simulator, SimulatorConfig, FaultRule, serve

sim = Simulator(SimulatorConfig(auth_delay=0.05))
token = sim.issue_ksef_token("5261040828")
with serve(sim) as running:
    ...  # talk to running.base_url ("http://127.0.0.1:PORT/v2")
"""

from __future__ import annotations

from ksef_auth_simulator.config import SimulatorConfig
from ksef_auth_simulator.faults import FaultRule
from ksef_auth_simulator.server import RunningSimulator, serve
from ksef_auth_simulator.simulator import Simulator

__all__ = ["FaultRule", "RunningSimulator", "Simulator", "SimulatorConfig", "serve"]
