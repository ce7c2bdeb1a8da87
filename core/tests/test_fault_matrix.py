"""The fault matrix (rows in ``fault_matrix.py``), over real loopback HTTP.

Each row gets a simulator of its own (so pacing penalties and key caches of one row never reach
another), a strategy configured as the matrix says, the fault, and one timed call.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ksef_auth
from ksef_auth import (
    ContextIdentifier,
    Environment,
    RefreshPolicy,
    Strategy,
)
from ksef_auth.flow import forget_public_keys
from ksef_auth.manager import PluginManager
from ksef_auth.transport import HttpPolicy
from ksef_auth_memory import MemoryStore
from ksef_auth_simulator import FaultRule, RunningSimulator
from ksef_auth_token import KsefTokenSigner

from .fault_matrix import HTTP, LOGIN_DEADLINE, REDEEM, ROWS, SUBMIT, Row, markdown
from .loopback_proxy import EndlessBodyServer, ReplayingProxy, SilentServer
from .test_flow_support import TokenSource, new_nip

JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.")
DOCS_PAGE = Path(__file__).parents[2] / "docs" / "reference" / "fault-matrix.md"


def strategy_for(base_url: str, token: str, nip: str, **http: float) -> Strategy:
    return Strategy(
        name="matrix",
        environment=Environment.of(base_url),
        context=ContextIdentifier.nip(nip),
        credential=TokenSource(token),
        signer=KsefTokenSigner(),
        store=MemoryStore(),
        refresh=RefreshPolicy(poll_deadline=LOGIN_DEADLINE),
        http=HttpPolicy(**{**HTTP, **http}),  # type: ignore[arg-type]
        manager=PluginManager(autoload=False),
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Case:
    """One row being run: the strategy, what to call, and the fault rules that must fire."""

    def __init__(self, row: Row, sim: RunningSimulator) -> None:
        self.row = row
        self.sim = sim
        self.nip = new_nip()
        self.token = sim.sim.issue_ksef_token(self.nip)
        self.rules: list[FaultRule] = []
        self.servers: list[ReplayingProxy | SilentServer | EndlessBodyServer] = []
        self.strategy = strategy_for(sim.base_url, self.token, self.nip)
        self.revoked: str | None = None

    def inject(self) -> None:
        for fields in self.row.rules:
            rule = FaultRule(**{"endpoint": self.row.endpoint, **fields})
            self.rules.append(self.sim.sim.add_fault(rule))

    def prepare(self) -> Callable[[], object]:
        """Set the row up; the call to time."""
        row = self.row
        if row.via == "proxy":
            times = None if "every" in row.fault else 1
            endpoint = SUBMIT if row.endpoint == SUBMIT else REDEEM
            proxy = ReplayingProxy(self.sim.root_url, twice=(endpoint,), times=times)
            self.servers.append(proxy)
            self.strategy = strategy_for(proxy.base_url, self.token, self.nip)
            return self.strategy.token
        if row.via == "silent server":
            if "refused" in row.fault:
                url = f"http://127.0.0.1:{closed_port()}/v2"
                return strategy_for(url, self.token, self.nip).token
            silent = SilentServer()
            self.servers.append(silent)
            http = {"read_timeout": 30.0} if "deadline" in row.fault else {}
            return strategy_for(silent.base_url, self.token, self.nip, **http).token
        if row.via == "endless body":
            endless = EndlessBodyServer("trickle" if "trickles" in row.fault else "flood")
            self.servers.append(endless)
            http = {"read_timeout": 30.0} if "deadline" in row.fault else {}
            return strategy_for(endless.base_url, self.token, self.nip, **http).token
        if row.via == "scenario" and "revoked" in row.fault:
            self.strategy.token()
            current = self.strategy.session.current()
            assert current is not None
            self.strategy.session.flow.revoke(current)  # KSeF forgets it; we do not yet
            self.revoked = current.reference_number
            return self.strategy.session.refresh
        if row.via == "scenario" and "retired" in row.fault:
            forget_public_keys()
            self.strategy.token()
            old = [k["publicKeyId"] for k in self.sim.sim.public_keys()]
            self.sim.sim.rotate_keys()
            for key_id in old:
                self.sim.sim.retire_key(str(key_id))
            return self.strategy.session.login
        if row.phase == "refresh":
            self.strategy.token()
            self.inject()
            return self.strategy.session.refresh
        if row.phase == "business":
            self.strategy.token()
            self.inject()

            def business() -> object:
                with self.strategy.client() as client:
                    response = client.get("/auth/sessions")
                assert response.status_code == 200, response.status_code
                return response

            return business
        self.inject()
        return self.strategy.token

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def case_sim(make_ksef_simulator: Callable[..., RunningSimulator]) -> Iterator[RunningSimulator]:
    yield make_ksef_simulator()


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault_matrix(
    row: Row, case_sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ksef_auth")
    case = Case(row, case_sim)
    try:
        call = case.prepare()
        started = time.monotonic()
        error: BaseException | None = None
        try:
            result = call()
        except ksef_auth.KsefAuthError as exc:
            error = exc
        elapsed = time.monotonic() - started
    finally:
        case.stop()

    if row.expect == "ok":
        assert error is None, f"expected success, got {type(error).__name__}: {error}"
        assert result is not None
    else:
        assert error is not None, f"expected {row.expect}, but the call succeeded"
        assert type(error).__name__ == row.expect, f"{type(error).__name__}: {error}"
    assert row.min_time <= elapsed <= row.bound, f"took {elapsed:.2f} s"
    for rule in case.rules:
        assert rule.fired >= 1, f"the fault {rule.to_dict()} never fired"
    for server in case.servers:
        if isinstance(server, ReplayingProxy):
            assert server.replayed >= 1, "the proxy never answered twice"
    if case.revoked is not None:  # a new login, not the revoked session
        current = case.strategy.session.current()
        assert current is not None and current.reference_number != case.revoked

    texts = [caplog.text]
    cause: BaseException | None = error
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    text = "\n".join(texts)
    assert case.token not in text and case.token.split("|")[-1] not in text
    assert not JWT.search(text), "a bearer token appears in the error or the log"
    if isinstance(error, ksef_auth.ProtocolError):
        assert error.endpoint and error.http_status and error.reason
        assert "<html" not in text.lower() and "wi-fi" not in text.lower()


def test_the_docs_page_is_generated_from_these_rows() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == markdown(), (
        "docs/reference/fault-matrix.md is stale: run"
        " python core/tests/fault_matrix.py > docs/reference/fault-matrix.md"
    )
