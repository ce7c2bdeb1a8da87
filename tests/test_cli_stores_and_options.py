"""Issue 14, items 5 and 7: store failures get the store's exit code (7) and doctor's "store"
line; profiles express real setups (``--credential NAME --opt key=value``, chains,
``--signer-opt``, ``--store-opt``), validated against the plugins' options. Subprocesses."""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")

NIP = "5261040828"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _table(home: Path, name: str) -> dict[str, Any]:
    return tomllib.loads((home / "profiles.toml").read_text())["strategy"][name]


def test_an_unwritable_file_store_fails_login_with_exit_7(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    pytest.importorskip("ksef_auth_file")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    made = run_cli(
        tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url, "--nip", NIP,
        "--token-env", "SHOP_TOKEN", "--store", "file", "--store-opt",
        f"path={blocker / 'sessions'}",
    )  # fmt: skip
    assert made.code == 0, made.err
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    login = run_cli(tmp_path, "login", "--json", SHOP_TOKEN=token)
    assert login.code == 7, login.out + login.err
    assert login.json()["error"]["type"] == "StoreError"
    assert "the session store cannot keep the session" in login.err
    assert "the new session was revoked again" in login.err
    events = ksef_simulator.sim.counters()["events"]
    assert events["sessions_revoked"] == events["logins_completed"] == 1  # nothing left open
    doctor = run_cli(tmp_path, "doctor", "--json", SHOP_TOKEN=token)
    checks = {c["name"]: c for c in doctor.json()["checks"]}
    assert checks["store"]["status"] == "fail"
    assert "certificate" not in checks  # a token profile has no certificate line
    assert "fix: check the store" in run_cli(tmp_path, "doctor", SHOP_TOKEN=token).out


def test_redis_down_at_start_exits_7(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_redis")
    made = run_cli(
        tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
        "--token-env", "SHOP_TOKEN", "--store", "redis",
        "--store-opt", f"url=redis://127.0.0.1:{closed_port()}/0",
        "--store-opt", "key=env:SHOP_STORE_KEY",
    )  # fmt: skip
    assert made.code == 0, made.err
    key = "A" * 43 + "="
    result = run_cli(tmp_path, "token", SHOP_TOKEN="x|y|z", SHOP_STORE_KEY=key)
    assert result.code == 7, result.err
    assert "unreachable" in result.err
    doctor = run_cli(tmp_path, "doctor", "--json", SHOP_TOKEN="x|y|z", SHOP_STORE_KEY=key)
    store = next(c for c in doctor.json()["checks"] if c["name"] == "store")
    assert store["status"] == "fail" and "unreachable" in store["message"]


def test_credential_options_signer_options_and_chains(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_vault")
    pytest.importorskip("ksef_auth_xades")
    pytest.importorskip("ksef_auth_testcert")
    vault = run_cli(
        tmp_path, "profile", "create", "erp", "--env", "test", "--nip", NIP,
        "--credential", "vault", "--opt", "name=client-{nip}", "--store", "memory",
    )  # fmt: skip
    assert vault.code == 0, vault.err
    assert _table(tmp_path, "erp")["credential"] == {"use": "vault", "name": "client-{nip}"}

    chain = run_cli(
        tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
        "--credential", "env", "--credential", "env", "--credential", "vault",
        "--opt", "1.var=KSEFPL_API_TOKEN", "--opt", "2.var=KSEF2_TOKEN", "--opt", "vault.name=shop",
        "--store", "memory",
    )  # fmt: skip
    assert chain.code == 0, chain.err
    assert _table(tmp_path, "shop")["credential"] == [
        {"use": "env", "var": "KSEFPL_API_TOKEN"},
        {"use": "env", "var": "KSEF2_TOKEN"},
        {"use": "vault", "name": "shop"},
    ]

    lab = run_cli(
        tmp_path, "profile", "create", "lab", "--env", "test", "--nip", NIP, "--test-cert",
        "--opt", "kind=personal", "--opt", "key_type=ec",
        "--signer-opt", "namespace=2.0",
        "--signer-opt", "subject_identifier=certificateFingerprint",
        "--signer-opt", "allowed_ips=10.0.0.1,10.0.0.0/24",
        "--signer-opt", "allow_other_context=true",
        "--store", "memory", "--json",
    )  # fmt: skip
    assert lab.code == 0, lab.err
    table = _table(tmp_path, "lab")
    assert table["credential"]["kind"] == "personal" and table["credential"]["key_type"] == "ec"
    assert table["signer"] == {
        "use": "xades",
        "namespace": "2.0",
        "subject_identifier": "certificateFingerprint",
        "allowed_ips": ["10.0.0.1", "10.0.0.0/24"],
        "allow_other_context": True,
    }
    shown = run_cli(tmp_path, "profile", "show", "lab", "--json").json()
    assert shown["signer"]["allow_other_context"] is True


def test_options_are_validated_against_the_plugin(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_vault")
    pytest.importorskip("ksef_auth_xades")
    pytest.importorskip("ksef_auth_testcert")
    unknown = run_cli(
        tmp_path, "profile", "create", "erp", "--env", "test", "--nip", NIP,
        "--credential", "vault", "--opt", "nmae=shop", "--store", "memory",
    )  # fmt: skip
    assert unknown.code == 2
    assert "'vault' has no option 'nmae'" in unknown.err and "did you mean name?" in unknown.err
    bad_value = run_cli(
        tmp_path, "profile", "create", "lab", "--env", "test", "--nip", NIP, "--test-cert",
        "--signer-opt", "namespace=3.0", "--store", "memory",
    )  # fmt: skip
    assert bad_value.code == 3, bad_value.err
    assert "namespace" in bad_value.err
    bad_bool = run_cli(
        tmp_path, "profile", "create", "lab", "--env", "test", "--nip", NIP, "--test-cert",
        "--signer-opt", "allow_other_context=maybe", "--store", "memory",
    )  # fmt: skip
    assert bad_bool.code == 2 and "is true or false" in bad_bool.err
    ambiguous = run_cli(
        tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
        "--credential", "env", "--credential", "env", "--opt", "env.var=X", "--store", "memory",
    )  # fmt: skip
    assert ambiguous.code == 2 and "N.KEY=VALUE" in ambiguous.err
    assert not (tmp_path / "profiles.toml").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_store_directory_fails_login_with_exit_7(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    pytest.importorskip("ksef_auth_file")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    made = run_cli(
        tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url, "--nip", NIP,
        "--token-env", "SHOP_TOKEN", "--store-opt", f"path={locked / 'sessions'}",
    )  # fmt: skip
    assert made.code == 0, made.err
    login = run_cli(tmp_path, "login", SHOP_TOKEN=ksef_simulator.sim.issue_ksef_token(NIP))
    assert login.code == 7, login.err
