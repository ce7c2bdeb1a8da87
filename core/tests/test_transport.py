"""The transport under the flow: pacing, deadlines, against the simulator over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    DeadlineExceeded,
    Environment,
    KsefToken,
    SessionEvent,
    hookimpl,
    load,
    system_warnings,
)
from ksef_auth.flow import LoginFlow, forget_public_keys
from ksef_auth.manager import PluginManager
from ksef_auth.pacing import LocalRateLimiter, Pacer, Rate
from ksef_auth.polling import PollSchedule, VerificationTimes
from ksef_auth.transport import HttpPolicy, RetryPolicy, Transport, error_from_response
from ksef_auth_simulator import FaultRule, RunningSimulator
from ksef_auth_token import KsefTokenSigner

from .test_flow_support import EndpointDelta, make_strategy, new_nip, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


class RecordingLimiter(LocalRateLimiter):
    """A real local limiter that also records what it was asked."""

    def __init__(self) -> None:
        super().__init__(margin=0.0)
        self.reserved: list[tuple[str, float]] = []
        self.penalized: list[tuple[str, float]] = []

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        self.reserved.append((key, max_wait))
        return super().reserve(key, rates, max_wait)

    def penalize(self, key: str, seconds: float) -> None:
        self.penalized.append((key, seconds))
        super().penalize(key, seconds)


def paced_flow(sim: RunningSimulator, pacer: Pacer, **kwargs: object) -> LoginFlow:
    environment = Environment.of(sim.base_url)
    transport = Transport(environment, pacer=pacer, retry=RetryPolicy(base_delay=0.01))
    return LoginFlow(environment, KsefTokenSigner(), transport=transport, **kwargs)  # type: ignore[arg-type]


def issued(sim: RunningSimulator) -> tuple[ContextIdentifier, KsefToken]:
    nip = new_nip()
    return ContextIdentifier.nip(nip), KsefToken(sim.sim.issue_ksef_token(nip))


def test_every_request_of_a_login_is_paced_within_the_login_deadline(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    forget_public_keys()
    limiter = RecordingLimiter()
    flow = paced_flow(sim, Pacer(limiter), poll_deadline=30.0)
    tokens = flow.login(credential, context)
    flow.list_sessions(tokens)
    base = sim.base_url
    keys = [key for key, _ in limiter.reserved]
    assert keys[:3] == [
        f"{base}|GET /security/public-key-certificates",
        f"{base}|POST /auth/challenge",
        f"{base}|POST /auth/ksef-token",
    ]
    assert f"{base}|GET /auth/{{referenceNumber}}" in keys
    assert f"{base}|POST /auth/token/redeem" in keys
    # a protected operation is counted per (context, IP): the login's context is passed down
    assert keys[-1] == f"{base}|GET /auth/sessions|{context}"
    login_waits = [wait for key, wait in limiter.reserved[:-1]]
    assert all(0 < wait <= 30.0 for wait in login_waits)  # bounded by what the deadline leaves


def test_a_429_holds_everyone_sharing_the_limiter_back(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    rule = FaultRule(endpoint="POST /auth/challenge", status=429, retry_after=1, times=1)
    sim.sim.add_fault(rule)
    limiter = RecordingLimiter()
    started = time.monotonic()
    paced_flow(sim, Pacer(limiter)).login(credential, context)
    assert limiter.penalized == [(f"{sim.base_url}|POST /auth/challenge", 1.0)]
    assert time.monotonic() - started >= 1.0  # the retry waited for Retry-After


def test_a_pacer_wait_beyond_the_deadline_sends_nothing(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    limiter = LocalRateLimiter(margin=0.0)
    limiter.penalize(f"{sim.base_url}|POST /auth/challenge", 60.0)  # someone got a 429
    flow = paced_flow(sim, Pacer(limiter), poll_deadline=0.5)
    delta = EndpointDelta(sim)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="rate limit"):
        flow.login(credential, context)
    assert time.monotonic() - started < 0.5  # refused at once, not after waiting
    assert delta("POST /auth/challenge") == 0


# --- how long and how hard: HttpPolicy ------------------------------------------------------------


def test_http_policy_from_the_environment_and_the_strategy_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF_AUTH_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("KSEF_AUTH_READ_TIMEOUT", "7")
    monkeypatch.setenv("KSEF_AUTH_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("KSEF_T", "t")
    path = tmp_path / "s.toml"
    path.write_text(
        '[defaults]\nenvironment = "http://127.0.0.1:9/v2"\nsigner = "plain"\n'
        'credential = { use = "env", var = "KSEF_T" }\n'
        '[strategy.a]\ncontext = "5261040828"\n'
        '[strategy.b]\ncontext = "5261040828"\nhttp = { read_timeout = 3, attempts = 1 }\n'
    )
    config = load(path, manager=_manager())
    a, b = config.strategy("a").http, config.strategy("b").http
    assert (a.connect_timeout, a.read_timeout, a.attempts) == (2.5, 7.0, 2)
    assert (b.connect_timeout, b.read_timeout, b.attempts) == (2.5, 3.0, 1)  # the file wins
    transport = config.strategy("b").session.flow.transport
    assert transport.policy is b


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("KSEF_AUTH_READ_TIMEOUT", "soon", "a number of seconds"),
        ("KSEF_AUTH_READ_TIMEOUT", "nan", "more than 0"),
        ("KSEF_AUTH_CONNECT_TIMEOUT", "-1", "more than 0"),
        ("KSEF_AUTH_RETRY_ATTEMPTS", "2.5", "a whole number"),
        ("KSEF_AUTH_RETRY_ATTEMPTS", "0", "from 1 to 10"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=reason) as info:
        HttpPolicy.from_env()
    assert info.value.key == variable and info.value.source == "environment"


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('{ read_timeout = "soon" }', "number"),
        ("{ read_timeout = inf }", "finite"),
        ("{ read_timeout = 7200 }", "at most 3600"),
        ("{ attempts = true }", "integer"),
        ("{ attempts = 11 }", "from 1 to 10"),
        ("{ retries = 3 }", "unknown http option"),
    ],
)
def test_a_bad_http_table_names_the_file_and_key(tmp_path: Path, table: str, reason: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[strategy.a]\nenvironment = "http://127.0.0.1:9/v2"\nsigner = "plain"\n'
        'context = "5261040828"\ncredential = { use = "env", var = "X" }\n'
        f"http = {table}\n"
    )
    with pytest.raises(ConfigError, match=reason) as info:
        load(path, manager=_manager(), check=False)
    assert str(path) in str(info.value) and "strategy.a.http" in str(info.value)


def _manager() -> PluginManager:
    from . import plugin_fixtures

    manager = PluginManager(only="env,memory")
    manager.register(plugin_fixtures, name="fixtures")
    return manager


def test_each_attempt_gets_the_policys_timeouts_clamped_by_the_deadline() -> None:
    policy = HttpPolicy(connect_timeout=2.0, read_timeout=8.0)
    assert policy.timeout(None) == httpx.Timeout(8.0, connect=2.0, pool=2.0)
    assert policy.timeout(0.5) == httpx.Timeout(0.5, connect=0.5, pool=0.5)


# --- error bodies that are not KSeF's -------------------------------------------------------------


def test_an_html_error_page_is_described_not_repeated() -> None:
    page = b"<html><body>Proxy error. Your request: Authorization: Bearer s3cr3t</body></html>"
    response = httpx.Response(502, content=page, headers={"Content-Type": "text/html"})
    error = error_from_response(response, "getting a challenge")
    assert "s3cr3t" not in str(error) and "<html" not in str(error)
    assert "an HTML page (" in str(error) and "HTTP 502" in str(error)


def test_tokens_quoted_in_ksef_words_are_masked() -> None:
    token = "20250101-EC-1111111111-2222222222-33|nip-5261040828|" + "ab" * 32
    body = {"exception": {"exceptionDetailList": [{"exceptionCode": 21405, "details": [token]}]}}
    error = error_from_response(httpx.Response(400, json=body), "submitting")
    assert token not in str(error) and "ab" * 32 not in str(error)
    assert "<ksef-token>" in str(error)


# --- X-System-Warning -----------------------------------------------------------------------------


def test_system_warnings_are_parsed_kept_and_new_ones_reported() -> None:
    system_warnings.clear()
    base = "https://ksef.example.com/v2"
    header = "[W001]: Pole X bedzie wymagane | [W002]: Stara wersja schematu"
    assert system_warnings.parse(header) == [
        ("W001", "Pole X bedzie wymagane"),
        ("W002", "Stara wersja schematu"),
    ]
    assert system_warnings.parse("plain text\x00 warning") == [(None, "plain text warning")]
    first = system_warnings.record(base, header, "POST /auth/challenge")
    assert [w.code for w in first] == ["W001", "W002"]
    assert system_warnings.record(base, "[W001]: Pole X bedzie wymagane", "GET /x") == []
    recent = system_warnings.recent(base)
    assert [w.code for w in recent] == ["W001", "W002"]  # the most recently seen first
    assert recent[0].count == 2 and recent[0].endpoint == "POST /auth/challenge"
    assert str(recent[0]) == "[W001] Pole X bedzie wymagane"
    for n in range(system_warnings.KEEP + 5):
        system_warnings.record(base, f"[N{n}]: m", "GET /x")
    assert len(system_warnings.recent(base)) == system_warnings.KEEP
    system_warnings.clear()


class WarningRecorder:
    def __init__(self) -> None:
        self.events: list[SessionEvent] = []

    @hookimpl
    def ksef_auth_system_warning(self, event: SessionEvent) -> None:
        self.events.append(event)


def test_a_system_warning_is_logged_once_observed_once_and_kept(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    system_warnings.clear()
    caplog.set_level(logging.WARNING, logger="ksef_auth.transport")
    manager = PluginManager(autoload=False)
    recorder = WarningRecorder()
    manager.register(recorder, name="recorder")
    warning = "[KSEF-W42]: Naglowek X-Foo bedzie wymagany od 2027-01-01"
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/challenge", warning=warning))
    strategy = make_strategy(sim, manager=manager)
    strategy.token()
    strategy.session.login()  # a second login: the same warning again
    manager.observers.flush()
    assert caplog.text.count("KSEF-W42") == 1
    assert [e.name for e in recorder.events] == ["system_warning"]
    assert recorder.events[0].detail == "[KSEF-W42] Naglowek X-Foo bedzie wymagany od 2027-01-01"
    (kept,) = system_warnings.recent(sim.base_url)
    assert (kept.code, kept.count, kept.endpoint) == ("KSEF-W42", 2, "POST /auth/challenge")
    system_warnings.clear()


def test_the_simulator_echoes_x_test_system_warning_as_test_does(sim: RunningSimulator) -> None:
    system_warnings.clear()
    transport = Transport(Environment.of(sim.base_url))
    transport.request(
        "POST",
        "/auth/challenge",
        action="getting a challenge",
        headers={"X-Test-System-Warning": "[T1]: a test warning"},
    )
    assert [str(w) for w in system_warnings.recent(sim.base_url)] == ["[T1] a test warning"]
    system_warnings.clear()


# --- polling where verification usually ends ------------------------------------------------------


def test_polling_learns_where_verification_ends(
    make_ksef_simulator: Callable[..., RunningSimulator],
) -> None:
    slow = make_ksef_simulator(auth_delay=0.3)
    learned = VerificationTimes()
    environment = Environment.of(slow.base_url)
    flow = LoginFlow(environment, KsefTokenSigner(), learned=learned)
    context, credential = issued(slow)
    flow.login(credential, context)  # nothing learned yet: polls every 0.05 s, growing
    typical = learned.typical(environment.base_url, "ksef-token")
    assert typical is not None and 0.25 <= typical <= 1.5
    delta = EndpointDelta(slow)
    for _ in range(6):
        flow.login(credential, context)
    polls = delta("GET /auth/{referenceNumber}")
    assert polls <= 2 * 6  # at most two status checks per login on average


def test_a_configured_first_delay_is_kept() -> None:
    schedule = PollSchedule(typical=2.0, first_delay=0.5, interval=0.1, interval_max=0.3)
    assert [round(next(schedule), 3) for _ in range(5)] == [0.5, 0.1, 0.15, 0.225, 0.3]
    learned = PollSchedule(typical=2.0, first_delay=None, interval=0.1, interval_max=0.3)
    assert next(learned) == pytest.approx(1.8)
    fresh = PollSchedule(typical=None, first_delay=None, interval=0.1, interval_max=0.3)
    assert next(fresh) == 0.1
