"""``ksef-auth profile`` and ``ksef-auth nip``, each run in a subprocess."""

from __future__ import annotations

import stat
from pathlib import Path

from cli_support import run_cli

import ksef_auth

NIP = "5261040828"


def test_profile_lifecycle(tmp_path: Path) -> None:
    made = run_cli(
        tmp_path, "profile", "create", "lab", "--env", "test", "--nip", "526-104-08-28",
        "--test-cert", "--store", "memory",
    )  # fmt: skip
    assert made.code == 0, made.err
    assert "created profile lab" in made.out
    second = run_cli(
        tmp_path, "profile", "create", "shop", "--env", "production", "--nip", NIP,
        "--credential", "env", "--store", "memory", "--json",
    )  # fmt: skip
    assert second.code == 0, second.err
    assert second.json()["base_url"] == "https://api.ksef.mf.gov.pl/v2"

    path = tmp_path / "profiles.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f'directory = "{tmp_path / "test-certificates"}"' in path.read_text()
    assert ksef_auth.config.load(path, check=False).names() == ["lab", "shop"]

    listed = run_cli(tmp_path, "profile", "list", "--json").json()
    assert listed["current"] == "lab"
    assert [p["name"] for p in listed["profiles"]] == ["lab", "shop"]

    assert run_cli(tmp_path, "profile", "use", "shop").code == 0
    assert run_cli(tmp_path, "profile", "current").out.strip() == "shop"
    assert run_cli(tmp_path, "profile", "current", KSEF2_PROFILE="lab").out.strip() == "lab"
    shown = run_cli(tmp_path, "profile", "show", "--json").json()
    assert shown["profile"] == "shop" and shown["nip"] == NIP

    assert run_cli(tmp_path, "profile", "delete", "shop").code == 0
    assert run_cli(tmp_path, "profile", "current").out.strip() == "lab"


def test_unknown_profile_is_a_configuration_error(tmp_path: Path) -> None:
    run_cli(tmp_path, "profile", "create", "a", "--env", "test", "--nip", NIP,
            "--test-cert", "--store", "memory")  # fmt: skip
    result = run_cli(tmp_path, "profile", "show", "nope")
    assert result.code == 3
    assert "no profile named 'nope' (profiles: a)" in result.err


def test_create_refuses_bad_input(tmp_path: Path) -> None:
    bad_nip = run_cli(tmp_path, "profile", "create", "x", "--env", "test", "--nip", "5261040829",
                      "--test-cert")  # fmt: skip
    assert bad_nip.code == 2
    assert "check digit is 9, the checksum gives 8" in bad_nip.err
    two = run_cli(tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP,
                  "--test-cert", "--token-env", "T")  # fmt: skip
    assert two.code == 2
    assert "exactly one of" in two.err
    prod_test_cert = run_cli(tmp_path, "profile", "create", "x", "--env", "production",
                             "--nip", NIP, "--test-cert")  # fmt: skip
    assert prod_test_cert.code == 2
    assert "only on test" in prod_test_cert.err
    missing_plugin = run_cli(tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP,
                             "--credential", "no-such-source", "--store", "memory")  # fmt: skip
    assert missing_plugin.code == 3
    assert "no credential source named 'no-such-source'" in missing_plugin.err
    assert not (tmp_path / "profiles.toml").exists()


def test_nip_check(tmp_path: Path) -> None:
    ok = run_cli(tmp_path, "nip", "check", "526-104-08-28", "PL5261040828")
    assert ok.code == 0
    assert ok.out.splitlines() == ["ok       5261040828", "ok       5261040828"]
    bad = run_cli(tmp_path, "nip", "check", NIP, "5261040829", "--json")
    assert bad.code == 1
    rows = bad.json()
    assert [r["valid"] for r in rows] == [True, False]
    assert "check digit is 9" in rows[1]["error"]
