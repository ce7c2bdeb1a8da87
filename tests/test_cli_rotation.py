"""Issue 17 from the command line: ``profile rotate``, ``status``/``doctor`` saying which
credential made the session and each one's state, ``sessions`` marking them, ``logout
--credential secondary``. Each command in a subprocess, against the simulator; no token in
any output or file (the secret guard watches every output, and the profiles file is read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_file")

NIP = "5261040828"


@pytest.fixture
def sim(make_ksef_simulator: Callable[..., Any]) -> Any:
    return make_ksef_simulator(token_activation_delay=3600.0)


def _logins_by(sim: Any, token: str) -> float | None:
    return sim.sim.tokens_by_secret[token].last_use


def _rotating_shop(home: Path, sim: Any) -> tuple[dict[str, str], str, str]:
    old = sim.sim.issue_ksef_token(NIP)
    new = sim.sim.issue_ksef_token(NIP, active=False)  # Pending: KSeF answers 450
    env = {"OLD_TOKEN": old, "NEW_TOKEN": new}
    made = run_cli(home, "profile", "create", "shop", "--env", sim.base_url, "--nip", NIP,
                   "--token-env", "OLD_TOKEN")  # fmt: skip
    assert made.code == 0, made.err
    assert run_cli(home, "login", **env).code == 0
    rotated = run_cli(home, "profile", "rotate", "shop", "--token-env", "NEW_TOKEN", **env)
    assert rotated.code == 0, rotated.err
    return env, old, new


def test_a_pending_primary_falls_back_and_the_cli_says_which_credential(
    tmp_path: Path, sim: Any
) -> None:
    env, old, new = _rotating_shop(tmp_path, sim)
    assert run_cli(tmp_path, "login", **env).code == 0  # the old session, still valid
    forced = run_cli(tmp_path, "login", "--force", "--json", **env)
    assert forced.code == 0, forced.err  # the primary refused (450): the secondary logged in
    assert "primary credential" in forced.err and "not usable" in forced.err
    assert (
        _logins_by(sim, new) is None
        or sim.sim.tokens_by_secret[new].status(sim.sim.now()) == "Pending"
    )

    status = run_cli(tmp_path, "status", "--json", **env).json()
    assert status["credential"] == "secondary"
    states = {c["role"]: c for c in status["credentials"]}
    assert states["secondary"]["session"] == forced.json()["reference_number"]
    assert states["primary"]["session"] is None
    text = run_cli(tmp_path, "status", **env).out
    assert "secondary (the session's)" in text
    assert "KSeF refused the primary then" in text

    doctor = run_cli(tmp_path, "doctor", "--json", **env)
    assert doctor.code == 0, doctor.out  # a refused primary is a warning, the secondary works
    checks = {c["name"]: c for c in doctor.json()["checks"]}
    assert checks["login"]["status"] == "warn" and "450" in checks["login"]["message"]
    assert checks["secondary"]["status"] == "ok"
    assert "came from the secondary" in checks["session"]["message"]

    # KSeF activates the new token: a login uses it, and sessions are marked by credential
    sim.sim.tokens_by_secret[new].active_from = sim.sim.now()
    again = run_cli(tmp_path, "login", "--force", "--json", **env)
    assert again.code == 0, again.err
    assert _logins_by(sim, new) is not None
    assert run_cli(tmp_path, "status", "--json", **env).json()["credential"] == "primary"
    listed = run_cli(tmp_path, "sessions", "--json", **env).json()["sessions"]
    marks = {s["reference_number"]: s["credential"] for s in listed}
    assert marks[again.json()["reference_number"]] == "primary"
    assert marks[forced.json()["reference_number"]] == "secondary"

    # the old credential's sessions ended, the old token revoked: nothing fails
    out = run_cli(tmp_path, "logout", "--credential", "secondary", "--json", **env)
    assert out.code == 0, out.err
    assert out.json()["revoked"] == forced.json()["reference_number"]
    listed = run_cli(tmp_path, "sessions", "--json", **env).json()["sessions"]
    assert forced.json()["reference_number"] not in {s["reference_number"] for s in listed}
    sim.sim.revoke_ksef_token(old)
    assert run_cli(tmp_path, "login", **env).code == 0
    assert run_cli(tmp_path, "logout", "--credential", "secondary", **env).out.startswith(
        "no session of the secondary credential"
    )

    finished = run_cli(tmp_path, "profile", "rotate", "shop", "--finish", "--json", **env)
    assert finished.json()["credential"] == {"use": "env", "var": "NEW_TOKEN"}
    assert run_cli(tmp_path, "login", **env).code == 0
    profiles = (tmp_path / "profiles.toml").read_text()
    assert old not in profiles and new not in profiles


def test_a_cli_in_a_loop_does_not_try_the_refused_primary_each_time(
    tmp_path: Path, sim: Any
) -> None:
    """The latest session came from the secondary lately (another process fell back): a new
    process uses it without a login with the primary before the backoff ends."""
    env, _, new = _rotating_shop(tmp_path, sim)
    assert run_cli(tmp_path, "login", "--force", **env).code == 0  # falls back
    before = dict(sim.sim.counters()["events"])
    for _ in range(3):
        assert run_cli(tmp_path, "login", **env).code == 0
    after = dict(sim.sim.counters()["events"])
    assert after.get("logins_started", 0) == before.get("logins_started", 0)
    assert after.get("logins_completed", 0) == before.get("logins_completed", 0)


def test_logout_credential_needs_a_rotation_and_rotate_refuses_nonsense(
    tmp_path: Path, sim: Any
) -> None:
    token = sim.sim.issue_ksef_token(NIP)
    made = run_cli(tmp_path, "profile", "create", "shop", "--env", sim.base_url, "--nip", NIP,
                   "--token-env", "SHOP_TOKEN")  # fmt: skip
    assert made.code == 0
    out = run_cli(tmp_path, "logout", "--credential", "secondary", "--json", SHOP_TOKEN=token)
    assert out.code == 3 and "only a rotation" in out.json()["error"]["message"]
    finish = run_cli(tmp_path, "profile", "rotate", "shop", "--finish")
    assert finish.code == 2 and "not rotating" in finish.err
    pasted = run_cli(tmp_path, "profile", "rotate", "shop", "--token-env", token)
    assert pasted.code == 2  # a token pasted where a variable's name belongs: refused, unsaid
    assert token not in (tmp_path / "profiles.toml").read_text()
