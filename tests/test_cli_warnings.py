"""KSeF's X-System-Warning, shown by ``login`` (stderr, and ``--json``) and ``doctor`` (a line of
its own), in subprocesses against the simulator answering with one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")

NIP = "5261040828"
WARNING = "[W-2027]: token logins without context binding will be refused from 2027-01-01"


def test_login_and_doctor_show_system_warnings(tmp_path: Path, ksef_simulator: Any) -> None:
    from ksef_auth_simulator import FaultRule

    ksef_simulator.sim.add_fault(FaultRule(endpoint="POST /auth/challenge", warning=WARNING))
    made = run_cli(tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url,
                   "--nip", NIP, "--token-env", "SHOP_TOKEN", "--store", "memory")  # fmt: skip
    assert made.code == 0, made.err
    token = ksef_simulator.sim.issue_ksef_token(NIP)

    login = run_cli(tmp_path, "login", SHOP_TOKEN=token)
    assert login.code == 0, login.err
    assert "KSeF warns" in login.err and "[W-2027] token logins without context binding" in (
        login.err
    )
    as_json = run_cli(tmp_path, "login", "--json", SHOP_TOKEN=token).json()
    assert as_json["system_warnings"][0]["code"] == "W-2027"
    assert as_json["system_warnings"][0]["endpoint"] == "POST /auth/challenge"

    doctor = run_cli(tmp_path, "doctor", "--json", SHOP_TOKEN=token)
    assert doctor.code == 0, doctor.out  # a warning is not a failure
    system = next(c for c in doctor.json()["checks"] if c["name"] == "system")
    assert system["status"] == "warn" and "[W-2027] token logins" in system["message"]


def test_no_warning_no_line(tmp_path: Path, ksef_simulator: Any) -> None:
    run_cli(tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url,
            "--nip", NIP, "--token-env", "SHOP_TOKEN", "--store", "memory")  # fmt: skip
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    doctor = run_cli(tmp_path, "doctor", "--json", SHOP_TOKEN=token).json()
    assert "system" not in [c["name"] for c in doctor["checks"]]
    assert run_cli(tmp_path, "login", "--json", SHOP_TOKEN=token).json()["system_warnings"] == []
