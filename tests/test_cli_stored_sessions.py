"""Issue 14, item 3: ``sessions`` never logs in on its own; ``status``, ``logout``, ``sessions``
and ``sessions revoke REF`` work on the stored session without the secret (after a rotation,
or with the variable unset); non-current sessions are revoked with DELETE /auth/sessions/{ref}.
Each command in a subprocess, against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_file")

NIP = "5261040828"


def _events(running: Any) -> dict[str, int]:
    return dict(running.sim.counters()["events"])


def _shop(home: Path, url: str) -> None:
    made = run_cli(home, "profile", "create", "shop", "--env", url, "--nip", NIP,
                   "--token-env", "SHOP_TOKEN")  # fmt: skip
    assert made.code == 0, made.err


def test_sessions_never_logs_in_silently(tmp_path: Path, ksef_simulator: Any) -> None:
    _shop(tmp_path, ksef_simulator.base_url)
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    listed = run_cli(tmp_path, "sessions", "--json", SHOP_TOKEN=token)
    assert listed.code == 8, listed.err
    assert listed.json()["error"]["type"] == "NoSession"
    assert "ksef-auth login --profile shop" in listed.err
    assert _events(ksef_simulator).get("logins_completed", 0) == 0

    assert run_cli(tmp_path, "login", SHOP_TOKEN=token).code == 0
    assert run_cli(tmp_path, "logout", SHOP_TOKEN=token).code == 0
    after = run_cli(tmp_path, "sessions", SHOP_TOKEN=token)  # right after logout: no new login
    assert after.code == 8
    assert _events(ksef_simulator)["logins_completed"] == 1

    explicit = run_cli(tmp_path, "sessions", "--login", "--json", SHOP_TOKEN=token)
    assert explicit.code == 0, explicit.err
    assert [s["current"] for s in explicit.json()["sessions"]] == [True]
    assert _events(ksef_simulator)["logins_completed"] == 2


def test_status_and_logout_work_without_the_secret(tmp_path: Path, ksef_simulator: Any) -> None:
    _shop(tmp_path, ksef_simulator.base_url)
    old = ksef_simulator.sim.issue_ksef_token(NIP)
    login = run_cli(tmp_path, "login", "--json", SHOP_TOKEN=old)
    assert login.code == 0, login.err
    reference = login.json()["reference_number"]

    # the variable unset: the session is still seen, listed and revoked
    status = run_cli(tmp_path, "status", "--json")
    assert status.code == 0, status.err
    assert status.json()["state"] == "active"
    assert status.json()["reference_number"] == reference
    listed = run_cli(tmp_path, "sessions", "--json")
    assert listed.code == 0, listed.err
    assert [s["reference_number"] for s in listed.json()["sessions"]] == [reference]
    out = run_cli(tmp_path, "logout")
    assert out.code == 0, out.err
    assert f"session {reference} revoked" in out.out
    assert _events(ksef_simulator)["sessions_revoked"] == 1
    assert run_cli(tmp_path, "status", "--json").json()["state"] == "none"


def test_after_a_rotation_the_old_session_is_still_found(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    _shop(tmp_path, ksef_simulator.base_url)
    old, new = ksef_simulator.sim.issue_ksef_token(NIP), ksef_simulator.sim.issue_ksef_token(NIP)
    first = run_cli(tmp_path, "login", "--json", SHOP_TOKEN=old).json()["reference_number"]
    rotated = run_cli(tmp_path, "status", "--json", SHOP_TOKEN=new)
    assert rotated.json()["reference_number"] == first  # the rotated token is not needed to see it
    second = run_cli(tmp_path, "login", "--json", SHOP_TOKEN=new).json()["reference_number"]
    assert second != first
    sessions = run_cli(tmp_path, "sessions", "--json", SHOP_TOKEN=new).json()["sessions"]
    assert {s["reference_number"] for s in sessions} == {first, second}

    # the old, non-current session is revoked by reference, authorized by the current one
    revoked = run_cli(tmp_path, "sessions", "revoke", first, "--json")
    assert revoked.code == 0, revoked.err
    assert revoked.json() == {"profile": "shop", "revoked": first, "current": False}
    left = run_cli(tmp_path, "sessions", "--json").json()["sessions"]
    assert [s["reference_number"] for s in left] == [second]

    # revoking the current one by reference is a logout
    own = run_cli(tmp_path, "sessions", "revoke", second)
    assert own.code == 0 and "logged out" in own.out
    assert run_cli(tmp_path, "status", "--json").json()["state"] == "none"


def test_sessions_revoke_without_a_session_exits_8(tmp_path: Path, ksef_simulator: Any) -> None:
    _shop(tmp_path, ksef_simulator.base_url)
    result = run_cli(tmp_path, "sessions", "revoke", "20251010-AU-19F5E39000-39B5B182BA-B8")
    assert result.code == 8
    assert "no session of Nip:5261040828" in result.err


def test_two_profiles_of_one_context_keep_their_own_sessions(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    pytest.importorskip("ksef_auth_testcert")
    _shop(tmp_path, ksef_simulator.base_url)
    made = run_cli(tmp_path, "profile", "create", "lab", "--env", ksef_simulator.base_url,
                   "--nip", NIP, "--test-cert")  # fmt: skip
    assert made.code == 0, made.err
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    shop = run_cli(tmp_path, "login", "--profile", "shop", "--json", SHOP_TOKEN=token).json()
    lab = run_cli(tmp_path, "status", "--profile", "lab", "--json").json()
    assert lab["state"] == "none"  # shop's session is not lab's
    assert run_cli(tmp_path, "logout", "--profile", "lab").out.strip() == "no session to log out"
    again = run_cli(tmp_path, "status", "--profile", "shop", "--json").json()
    assert again["reference_number"] == shop["reference_number"]
