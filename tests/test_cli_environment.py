"""Issue 14, item 4: the CLI works from the environment alone (KSEF2_ENV, KSEF2_NIP,
KSEF2_TOKEN; no profile), and a ksef2-cli config in KSEF2_CONFIG is read, never clobbered.
Each command in a subprocess, against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")

NIP = "5261040828"

KSEF2_CLI_CONFIG = """\
# ksef2-cli local profiles
active_profile = "prod-token"

[profiles.prod-token]
environment = "{url}"
nip = "5261040828"

[profiles.prod-token.auth]
type = "token"
token_env = "KSEF2_TOKEN"

[profiles.seal]
environment = "test"
nip = "5261040828"

[profiles.seal.auth]
type = "xades_p12"
p12 = "~/seal.p12"
p12_password_env = "KSEF2_P12_PASSWORD"
"""


@pytest.mark.shows_secret("ksef-auth token prints the access token: that is what it is for")
def test_no_profile_and_ksef2_variables_work(tmp_path: Path, ksef_simulator: Any) -> None:
    env = {
        "KSEF2_ENV": ksef_simulator.base_url,
        "KSEF2_NIP": NIP,
        "KSEF2_TOKEN": ksef_simulator.sim.issue_ksef_token(NIP),
    }
    login = run_cli(tmp_path, "login", "--json", **env)
    assert login.code == 0, login.err
    assert login.json()["profile"] == "env" and login.json()["context"] == f"Nip:{NIP}"
    first, second = run_cli(tmp_path, "token", **env), run_cli(tmp_path, "token", **env)
    assert first.code == 0 and first.out == second.out and first.out.startswith("eyJ")
    assert ksef_simulator.sim.counters()["events"]["logins_completed"] == 1  # kept between runs
    status = run_cli(tmp_path, "status", "--json", **env).json()
    assert status["state"] == "active"
    doctor = run_cli(tmp_path, "doctor", **env)
    assert doctor.code == 0, doctor.out
    assert doctor.out.startswith("the environment (KSEF2_ENV, KSEF2_NIP, KSEF2_TOKEN")
    shown = run_cli(tmp_path, "env", "--json", **env).json()
    assert shown["uses"] == "the environment alone (KSEF2_NIP is set)"
    token_row = next(v for v in shown["variables"] if v["name"] == "KSEF2_TOKEN")
    assert token_row["value"] == "(set)"
    assert env["KSEF2_TOKEN"] not in run_cli(tmp_path, "env", **env).out
    assert not (tmp_path / "profiles.toml").exists()


def test_environment_mistakes_name_the_variables(tmp_path: Path) -> None:
    no_token = run_cli(tmp_path, "token", KSEF2_NIP=NIP)
    assert no_token.code == 3
    assert "KSEF2_NIP is set but no credential is: export KSEF2_TOKEN" in no_token.err
    bad_nip = run_cli(tmp_path, "token", KSEF2_NIP="5261040829", KSEF2_TOKEN="x|y|z")
    assert bad_nip.code == 3 and "5261040829 is invalid" in bad_nip.err
    nothing = run_cli(tmp_path, "status")
    assert nothing.code == 3 and "export KSEF2_NIP=NIP KSEF2_TOKEN=" in nothing.err


def test_a_ksef2_cli_config_is_read_and_never_clobbered(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    config = tmp_path / "ksef2" / "config.toml"
    config.parent.mkdir()
    config.write_text(KSEF2_CLI_CONFIG.format(url=ksef_simulator.base_url))
    before = config.read_bytes()
    env = {"KSEF2_CONFIG": str(config), "KSEF2_TOKEN": ksef_simulator.sim.issue_ksef_token(NIP)}

    listed = run_cli(tmp_path, "profile", "list", "--json", **env)
    assert listed.code == 0, listed.err
    report = listed.json()
    assert report["format"] == "ksef2-cli" and report["current"] == "prod-token"
    assert [p["name"] for p in report["profiles"]] == ["prod-token", "seal"]
    seal = report["profiles"][1]
    assert seal["credential"]["use"] == "pkcs12"
    assert seal["credential"]["password"] == {"env": "KSEF2_P12_PASSWORD"}

    login = run_cli(tmp_path, "login", "--json", **env)
    assert login.code == 0, login.err
    assert login.json()["profile"] == "prod-token"

    for args in (
        ("profile", "create", "x", "--env", "test", "--nip", NIP, "--token-env", "T"),
        ("profile", "use", "seal"),
        ("profile", "delete", "seal"),
    ):
        refused = run_cli(tmp_path, *args, **env)
        assert refused.code == 3, (args, refused.err)
        assert "this is a ksef2-cli config: ksef-auth uses its profiles but never changes" in (
            refused.err
        )
    assert config.read_bytes() == before
