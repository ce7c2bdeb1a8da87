"""``ksef-auth login --contexts clients.txt`` for 1,000 NIPs against the simulator with the
published per-operation limits, run as a user would (a subprocess): progress shown, one JSON
line per context, 0 x 429; a second run makes no login; bad lines are errors of their own.

The simulator's ``--rate-limit-scale`` keeps CI short (``KSEF_BULK_SCALE``, default 4); ``nox -s
bulk`` runs the same test at scale 1, the limits KSeF publishes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

from ksef_auth.nip import example_nips

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_file")

SCALE = float(os.environ.get("KSEF_BULK_SCALE", "4"))
COUNT = int(os.environ.get("KSEF_BULK_COUNT", "1000"))
SHARE = os.environ.get("KSEF_BULK_SHARE", "0.9")


@pytest.fixture
def limited(make_ksef_simulator: Any) -> Any:
    return make_ksef_simulator(rate_limits=True, rate_limit_scale=SCALE, auth_delay=0.0)


def firm_profile(home: Path, sim: Any, nip: str) -> None:
    out = run_cli(
        home,
        "profile",
        "create",
        "firm",
        "--env",
        sim.base_url,
        "--nip",
        nip,
        "--token-env",
        "KSEF_TOKEN_{nip}",
        "--store",
        "file",
    )
    assert out.code == 0, out.err


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
def test_login_contexts_file_for_a_thousand_nips(tmp_path: Path, limited: Any) -> None:
    nips = example_nips(COUNT, start=50_000)
    tokens = limited.sim.issue_ksef_tokens(nips)
    clients = tmp_path / "clients.txt"
    clients.write_text("# the firm's clients\n" + "\n".join(nips) + "\n")
    firm_profile(tmp_path, limited, nips[0])
    env = {f"KSEF_TOKEN_{nip}": token for nip, token in tokens.items()}
    args = ("--contexts", str(clients), "--rate-limit-scale", str(SCALE), "--share", SHARE)

    first = run_cli(tmp_path, "login", *args, "--json", "--progress", timeout=900, **env)
    assert first.code == 0, first.err[-2000:]
    results = lines(first.out)
    summary = results.pop()
    assert summary["summary"] is True and summary["contexts"] == COUNT
    assert summary["ok"] == COUNT and summary["error"] == 0 and summary["rate_limited"] == 0
    assert sorted(r["nip"] for r in results) == sorted(nips)
    assert {r["status"] for r in results} == {"ok"}
    assert all(r["where"].endswith(f"clients.txt:{nips.index(r['nip']) + 2}") for r in results)
    assert all(r["reference_number"].startswith("20") for r in results)
    assert f"[{COUNT}/{COUNT}] ok {COUNT}  reused 0  failed 0" in first.err  # progress
    counters = limited.sim.counters()
    assert counters["events"].get("rate_limited", 0) == 0  # 0 x 429 at KSeF's side
    assert counters["events"]["logins_completed"] == COUNT
    every = first.out + first.err
    assert not any(token in every for token in list(tokens.values())[:50])

    second = run_cli(tmp_path, "login", *args, "--json", timeout=900, **env)
    assert second.code == 0, second.err[-2000:]
    again = lines(second.out)
    assert again.pop()["reused"] == COUNT
    assert {r["status"] for r in again} == {"reused"}
    assert limited.sim.counters()["events"]["logins_completed"] == COUNT  # rerun = 0 logins

    text = run_cli(tmp_path, "login", *args, timeout=900, **env)
    assert text.code == 0
    assert text.out.startswith(f"{COUNT} contexts: 0 logged in, {COUNT} reused, 0 failed")


def test_bad_lines_are_errors_of_their_own(tmp_path: Path, limited: Any) -> None:
    nips = example_nips(5, start=90_000)
    tokens = limited.sim.issue_ksef_tokens(nips)
    clients = tmp_path / "clients.csv"
    rows = ["name;nip", *(f"client {i};{nip}" for i, nip in enumerate(nips))]
    rows[2:2] = ["typo;5261040827", "short;12345"]
    rows.append("twice;" + nips[0])
    clients.write_text("\n".join(rows) + "\n")
    firm_profile(tmp_path, limited, nips[0])
    env = {f"KSEF_TOKEN_{nip}": token for nip, token in tokens.items()}
    out = run_cli(tmp_path, "login", "--contexts", str(clients), "--json", **env)
    assert out.code == 3, out.err  # the failures are all configuration errors
    results = lines(out.out)
    summary = results.pop()
    assert (summary["ok"], summary["error"]) == (5, 3)
    failed = [r for r in results if r["status"] == "error"]
    assert [r["where"].rsplit(":", 1)[1] for r in failed] == ["3", "4", "9"]
    assert all(r["error"] == "ConfigError" and r["context"] is None for r in failed)
    assert "check digit is 7" in failed[0]["message"]
    text = run_cli(tmp_path, "login", "--contexts", str(clients), **env)
    assert text.code == 3
    assert text.out.startswith("8 contexts: 0 logged in, 5 reused, 3 failed")
    assert f"{clients}:3: ConfigError: NIP 5261040827 is invalid" in text.err


def test_all_serves_the_strategy_contexts_and_logout_all_ends_them(
    tmp_path: Path, limited: Any
) -> None:
    nips = example_nips(4, start=95_000)
    tokens = limited.sim.issue_ksef_tokens(nips)
    firm_profile(tmp_path, limited, nips[0])
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(profiles.read_text() + f"contexts = {json.dumps(nips[1:])}\n")
    env = {f"KSEF_TOKEN_{nip}": token for nip, token in tokens.items()}
    out = run_cli(tmp_path, "login", "--all", "--json", **env)
    assert out.code == 0, out.err
    assert sorted(r["nip"] for r in lines(out.out)[:-1]) == sorted(nips)
    listed = run_cli(tmp_path, "sessions", "--all", "--json", **env)
    assert listed.code == 0, listed.err
    rows = lines(listed.out)[:-1]
    assert {len(r["sessions"]) for r in rows} == {1} and {r["status"] for r in rows} == {"reused"}
    ended = run_cli(tmp_path, "logout", "--all", "--json", **env)
    assert ended.code == 0, ended.err
    assert {len(r["revoked"]) for r in lines(ended.out)[:-1]} == {1}
    for nip in nips:
        assert limited.sim.counters(context=nip)["events"]["sessions_revoked"] == 1
    usage = run_cli(tmp_path, "login", "--all", "--contexts", "x.txt", **env)
    assert usage.code == 2 and "not both" in usage.err
