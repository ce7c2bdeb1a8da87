"""Helpers shared by the engine's tests (flow, session, httpx auth, race). Holds no tests.

The simulator runs over real loopback HTTP (``ksef_auth_simulator.serve``); nothing here fakes
KSeF. A module-scoped simulator is shared by the tests of one module, each test using fresh
NIPs, so its per-context counters belong to that test alone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ksef_auth import (
    ContextIdentifier,
    Credential,
    Environment,
    KsefToken,
    RefreshPolicy,
    SessionEvent,
    Strategy,
    hookimpl,
)
from ksef_auth.manager import PluginManager

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_memory")
pytest.importorskip("ksef_auth_token")

from ksef_auth_memory import MemoryStore  # noqa: E402
from ksef_auth_simulator import RunningSimulator, Simulator, serve  # noqa: E402
from ksef_auth_simulator.pytest_plugin import fast_config  # noqa: E402
from ksef_auth_token import KsefTokenSigner  # noqa: E402

_rng = random.Random()
_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def new_nip() -> str:
    """A random NIP with a valid check digit."""
    while True:
        digits = [_rng.randint(1, 9), _rng.randint(1, 9)] + [_rng.randint(0, 9) for _ in range(7)]
        check = sum(w * d for w, d in zip(_WEIGHTS, digits, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


class TokenSource:
    """A credential source over a token string the test can swap (rotation)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.loads = 0

    def load(self, request: object) -> Credential:
        self.loads += 1
        return KsefToken(self.token)


class Recorder:
    """An observer plugin that records every event."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self.errors: list[Exception] = []

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    @hookimpl
    def ksef_auth_login_started(self, event: SessionEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_session_opened(self, event: SessionEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_session_refreshed(self, event: SessionEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_session_expired(self, event: SessionEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_session_revoked(self, event: SessionEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_authentication_failed(self, event: SessionEvent, error: Exception) -> None:
        self.events.append(event)
        self.errors.append(error)


def recording_manager() -> tuple[PluginManager, Recorder]:
    manager = PluginManager(autoload=False)
    recorder = Recorder()
    manager.register(recorder, name="recorder")
    return manager, recorder


def make_strategy(
    running: RunningSimulator,
    nip: str | None = None,
    *,
    token: str | None = None,
    source: Any = None,
    signer: Any = None,
    store: Any = None,
    policy: RefreshPolicy | None = None,
    manager: PluginManager | None = None,
) -> Strategy:
    nip = nip or new_nip()
    if source is None:
        source = TokenSource(token or running.sim.issue_ksef_token(nip))
    return Strategy(
        name="test",
        environment=Environment.of(running.base_url),
        context=ContextIdentifier.nip(nip),
        credential=source,
        signer=signer or KsefTokenSigner(),
        store=store if store is not None else MemoryStore(),
        refresh=policy or RefreshPolicy(),
        manager=manager or PluginManager(autoload=False),
    )


def context_counts(running: RunningSimulator, nip: str) -> dict[str, int]:
    return dict(settled(running)["contexts"].get(nip, {}))


class EndpointDelta:
    """Calls per endpoint (and status) since this object was made: ``delta("POST /x", "200")``."""

    def __init__(self, running: RunningSimulator) -> None:
        self.running = running
        self.before = running.sim.counters()["endpoints"]

    def __call__(self, endpoint: str, status: str = "calls") -> int:
        now = settled(self.running)["endpoints"].get(endpoint, {}).get(status, 0)
        return int(now - self.before.get(endpoint, {}).get(status, 0))


def settled(running: RunningSimulator) -> dict[str, Any]:
    """The simulator's counters once they stop moving: it counts a request after sending the
    response, so a client can read them a moment before its last request is counted."""
    previous = running.sim.counters()
    for _ in range(25):
        time.sleep(0.01)
        current = running.sim.counters()
        if current == previous:
            return current
        previous = current
    return previous


def simulator_fixtures(**config: Any) -> tuple[Any, Any]:
    """Fixtures for a test module: ``sim``, one simulator shared by the module's tests (fast
    settings plus ``config``; use fresh NIPs per test), its fault rules cleared after each test.

    Use as ``_shared, _sim = simulator_fixtures()`` at module level."""

    @pytest.fixture(scope="module", name="shared_sim")
    def shared() -> Iterator[RunningSimulator]:
        running = serve(Simulator(fast_config(**config)))
        try:
            yield running
        finally:
            running.stop()

    @pytest.fixture(name="sim")
    def per_test(shared_sim: RunningSimulator) -> Iterator[RunningSimulator]:
        yield shared_sim
        shared_sim.sim.clear_faults()

    return shared, per_test
