"""The fault matrix: every endpoint of the login flow under every fault, and what must happen.

The rows are the parameters of ``test_fault_matrix.py`` and the source of
``docs/reference/fault-matrix.md``; regenerate that page with::

    python core/tests/fault_matrix.py > docs/reference/fault-matrix.md

(a test fails when the page and the rows differ). Holds no tests and needs no pytest.

Every row runs over real loopback HTTP against the simulator (its fault rules), or through a
small loopback proxy (``loopback_proxy.py``) for what the simulator cannot do itself. The
client is configured as ``HTTP`` and ``LOGIN`` below say. Each row asserts the outcome, that it
came within ``bound`` seconds, and that no secret (the KSeF token, any access, refresh or
authentication token) appears in the error, its causes or the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: the client's http policy in every row (HttpPolicy fields)
HTTP: dict[str, float] = {
    "connect_timeout": 1.0,
    "read_timeout": 0.5,
    "attempts": 3,
    "base_delay": 0.02,
    "max_delay": 0.1,
    "max_retry_after": 5.0,
}
#: the login's deadline in every row (RefreshPolicy.poll_deadline), seconds
LOGIN_DEADLINE = 4.0

Phase = Literal["login", "refresh", "business"]


@dataclass(frozen=True)
class Row:
    endpoint: str  # "POST /auth/challenge", or "-" for the whole environment
    fault: str  # what goes wrong, in words
    expect: str  # "ok" or the error class the caller gets
    bound: float  # seconds the call may take at most
    what: str  # what the client does about it
    rules: tuple[dict[str, Any], ...] = ()  # simulator FaultRules (endpoint: the row's)
    phase: Phase = "login"  # the call under test: a login, a refresh, a business request
    via: str = "simulator"  # or "proxy", "silent server", "endless body", "scenario"
    min_time: float = 0.0  # the call takes at least this long (a wait that must happen)

    @property
    def id(self) -> str:
        text = f"{self.endpoint} {self.fault}".lower()
        return "-".join("".join(c if c.isalnum() else " " for c in text).split())


KEYS = "GET /security/public-key-certificates"
CHALLENGE = "POST /auth/challenge"
SUBMIT = "POST /auth/ksef-token"
POLL = "GET /auth/{referenceNumber}"
REDEEM = "POST /auth/token/redeem"
REFRESH = "POST /auth/token/refresh"
BUSINESS = "GET /auth/sessions"

FLOW = (KEYS, CHALLENGE, SUBMIT, POLL, REDEEM, REFRESH)
ONE_SHOT = (SUBMIT, REDEEM)


def _phase(endpoint: str) -> Phase:
    return "refresh" if endpoint == REFRESH else "login"


def _transient_rows() -> list[Row]:
    rows = []
    for endpoint in FLOW:
        one_shot = endpoint in ONE_SHOT
        phase = _phase(endpoint)
        again = (
            "starts over from a fresh challenge (the request may have been handled)"
            if one_shot
            else "retries the request"
        )
        rows += [
            Row(
                endpoint,
                "429 with Retry-After: 1",
                "ok",
                4.0,
                "waits Retry-After, then retries (nothing was handled); holds its pacer back",
                ({"status": 429, "retry_after": 1, "times": 1},),
                phase,
                min_time=1.0,
            ),
            Row(endpoint, "500", "ok", 3.0, again, ({"status": 500, "times": 1},), phase),
            Row(endpoint, "503", "ok", 3.0, again, ({"status": 503, "times": 1},), phase),
            Row(
                endpoint,
                "no answer within the read timeout",
                "ok",
                4.0,
                again,
                ({"delay": 1.0, "times": 1},),
                phase,
                min_time=0.5,
            ),
            Row(
                endpoint,
                "connection dropped before the request is handled",
                "ok",
                3.0,
                again,
                ({"drop": True, "times": 1},),
                phase,
            ),
            Row(
                endpoint,
                "connection dropped after the request was handled",
                "ok",
                3.0,
                again,
                ({"drop_after": True, "times": 1},),
                phase,
            ),
        ]
    return rows


def _garbage_rows() -> list[Row]:
    rows = []
    for endpoint in FLOW:
        for body, words in (
            ("html", "a captive portal's HTML page"),
            ("garbage", "bytes that are not JSON"),
            ("empty", "an empty body"),
            ("{}", "{}"),
        ):
            status = 202 if endpoint == SUBMIT else 200
            rows.append(
                Row(
                    endpoint,
                    f"HTTP {status} with {words}",
                    "ProtocolError",
                    2.0,
                    "a typed error naming the endpoint, the status and what was wrong;"
                    " the body is not repeated",
                    ({"body": body, "status": status, "times": 1},),
                    _phase(endpoint),
                )
            )
    return rows


def _status_rows() -> list[Row]:
    rows = [
        Row(
            POLL,
            "stuck at status 100",
            "PollTimeout",
            LOGIN_DEADLINE + 1.5,
            "polls, backing off, until the login's deadline",
            ({"stuck": True, "times": 1},),
            min_time=LOGIN_DEADLINE - 0.1,
        ),
        Row(
            POLL,
            "every status check slow (0.4 s) and stuck",
            "PollTimeout",
            LOGIN_DEADLINE + 1.5,
            "one deadline covers every poll and its wait",
            ({"stuck": True, "times": 1, "endpoint": SUBMIT}, {"delay": 0.4}),
            min_time=LOGIN_DEADLINE - 0.1,
        ),
        Row(
            POLL,
            "final status 550 once",
            "ok",
            3.0,
            "starts over from a fresh challenge",
            ({"auth_status": 550, "times": 1, "endpoint": SUBMIT},),
        ),
        Row(
            POLL,
            "final status 550 every time",
            "AuthenticationFailed",
            3.0,
            "starts over twice, then reports 550",
            ({"auth_status": 550, "endpoint": SUBMIT},),
        ),
    ]
    for code in (415, 425, 450, 460, 470, 480, 500):
        rows.append(
            Row(
                POLL,
                f"final status {code}",
                "AuthenticationFailed",
                2.0,
                "reports KSeF's status with what to do; 415-480 fail fast afterwards",
                ({"auth_status": code, "times": 1, "endpoint": SUBMIT},),
            )
        )
    return rows


def _scenario_rows() -> list[Row]:
    return [
        Row(
            SUBMIT,
            "answered twice by a middlebox (21111)",
            "ok",
            3.0,
            "starts over once with a fresh challenge",
            via="proxy",
        ),
        Row(
            REDEEM,
            "answered twice by a middlebox (21301)",
            "ok",
            3.0,
            "starts over once with a fresh challenge (never replays the redeem itself)",
            via="proxy",
        ),
        Row(
            REDEEM,
            "answered twice on every login",
            "KsefError",
            3.0,
            "starts over once only, then reports 21301",
            via="proxy",
        ),
        Row(
            REFRESH,
            "refresh after the session was revoked",
            "ok",
            3.0,
            "the refresh token is refused (SessionInvalid): logs in again",
            phase="refresh",
            via="scenario",
        ),
        Row(
            BUSINESS,
            "401 on a business call",
            "ok",
            3.0,
            "KsefAuth drops the token that got the 401 and replays once with a fresh one",
            ({"status": 401, "times": 1},),
            phase="business",
        ),
        Row(
            SUBMIT,
            "public key retired (21470)",
            "ok",
            3.0,
            "fetches the key list again and signs once more over a fresh challenge",
            via="scenario",
        ),
        Row(
            "-",
            "nothing listening (connection refused)",
            "TransportError",
            3.0,
            "retries with backoff, then reports that no answer came",
            via="silent server",
        ),
        Row(
            "-",
            "connections accepted, never answered",
            "TransportError",
            4.0,
            "each attempt ends at the read timeout; retries within the budget, then reports",
            via="silent server",
        ),
        Row(
            "-",
            "never answered, read timeout longer than the deadline",
            "DeadlineExceeded",
            LOGIN_DEADLINE + 1.5,
            "no attempt outlives the login's deadline",
            via="silent server",
            min_time=LOGIN_DEADLINE - 0.1,
        ),
        Row(
            "-",
            "a 200 whose body trickles in a byte at a time",
            "TransportError",
            4.0,
            "each attempt reads the body for at most `read_timeout` after its headers (a read"
            " timeout), retries within the budget, then reports that no answer came",
            via="endless body",
            min_time=2 * HTTP["read_timeout"],
        ),
        Row(
            "-",
            "a 200 whose body trickles in a byte at a time, read timeout longer than the deadline",
            "DeadlineExceeded",
            LOGIN_DEADLINE + 1.5,
            "reads a body only until the deadline (and within `read_timeout` of its headers),"
            " however steadily the bytes come",
            via="endless body",
            min_time=LOGIN_DEADLINE - 0.1,
        ),
        Row(
            "-",
            "a 200 whose body never ends (sent as fast as it is read)",
            "ProtocolError",
            3.0,
            "stops reading at 4 MB (decoded) and reports an answer too large for KSeF",
            via="endless body",
        ),
    ]


ROWS: list[Row] = _transient_rows() + _garbage_rows() + _status_rows() + _scenario_rows()


def markdown() -> str:
    """The docs page: one table row per matrix row."""
    http = ", ".join(f"`{k} = {v:g}`" for k, v in HTTP.items())
    lines = [
        "# Fault matrix",
        "",
        "<!-- generated from core/tests/fault_matrix.py: python core/tests/fault_matrix.py"
        " > docs/reference/fault-matrix.md -->",
        "",
        "What the client does when each endpoint of the login flow misbehaves. Every row is a"
        " test (`core/tests/test_fault_matrix.py`) over real loopback HTTP against the"
        " simulator's fault injection, or through a small loopback proxy, a silent server or"
        " a server whose body never ends, for what the simulator cannot inject. Each asserts"
        " the outcome, that it came within the time bound, and that no secret (the KSeF"
        " token, any access, refresh or authentication token) appears in the error, its"
        " causes or the log.",
        "",
        f"The client runs with `http = {{ {http[1:-1].replace('`, `', ', ')} }}` and a login"
        f" deadline (`refresh.poll_deadline`) of {LOGIN_DEADLINE:g} s. Outcome `ok` means the"
        " call returned a valid token (or a 200) after recovering by itself.",
        "",
        "| endpoint | fault | injected by | outcome | within | what the client does |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        outcome = "ok" if row.expect == "ok" else f"`{row.expect}`"
        endpoint = f"`{row.endpoint}`" if row.endpoint != "-" else "any"
        lines.append(
            f"| {endpoint} | {row.fault.replace('|', '/')} | {row.via} | {outcome} |"
            f" {row.bound:g} s | {row.what} |"
        )
    lines += ["", f"{len(ROWS)} rows.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
