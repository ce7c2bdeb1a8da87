"""Fixtures for the peer tests: our simulator on loopback, seen only from outside (its KSeF API
and its ``/_sim`` admin routes over HTTP), and each third-party client of peers.toml driven in a
subprocess with its own virtualenv's Python (peers/install.py made them; see peers/drivers/).

A peer that is not installed skips its rows with one reason, which pytest's summary prints once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from peer_support import CATALOG, HERE, Peer, SimulatorAdmin, SoftHsm

from ksef_auth.nip import example_nips
from ksef_auth_simulator import Simulator, SimulatorConfig, serve

INSTALLED = Path(
    os.environ.get("KSEF_PEERS_INSTALLED") or HERE.parent / "build" / "peers" / "installed.json"
)


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorAdmin]:
    """Published rate limits on; a login stays at status 100 for 0.2 s, so every peer polls."""
    sim = Simulator(SimulatorConfig(auth_delay=0.2))
    with serve(sim) as running:
        admin = SimulatorAdmin(running.root_url)
        yield admin
        admin.http.close()


def _installed() -> dict[str, dict[str, str]]:
    if not INSTALLED.is_file():
        return {}
    record: dict[str, dict[str, str]] = json.loads(INSTALLED.read_text())
    return record


@pytest.fixture(scope="session", params=sorted(CATALOG))
def peer(
    request: pytest.FixtureRequest,
    simulator: SimulatorAdmin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Peer]:
    name: str = request.param
    installed = _installed().get(name)
    if installed is None:
        pytest.skip(f"peer {name}: not installed (python peers/install.py, or nox -s peers)")
    if "skip" in installed:
        pytest.skip(f"peer {name}: {installed['skip']}")
    url = simulator.root_url if CATALOG[name]["url"] == "root" else simulator.base_url
    logs = tmp_path_factory.mktemp(f"peer-{name}") / "stderr.log"
    driven = Peer(name, installed["python"], url, logs)
    yield driven
    driven.stop()


_NIPS = iter(example_nips(10_000, start=4242))


@pytest.fixture
def nip() -> str:
    """A context no other test uses, so its counters are this test's alone."""
    return next(_NIPS)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A SoftHSM2 token for the peers that sign through PKCS#11 (skips where SoftHSM2 is not)."""
    return SoftHsm(tmp_path_factory.mktemp("softhsm"))
