"""``ksef-auth pkcs11 list`` in a real subprocess: what is on the token, never a PIN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from hsm_support import PIN, SO_PIN, WRONG_PIN, SoftHsm


def run(
    softhsm: SoftHsm, *args: str, code: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in softhsm.env.items() if not k.startswith("KSEF_AUTH_")}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", "pkcs11", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert PIN not in output and SO_PIN not in output and WRONG_PIN not in output
    assert "Traceback" not in output
    assert result.returncode == code, (result.returncode, output)
    return result


@pytest.fixture
def enrolled(enroll: Any) -> dict[str, Any]:
    enroll("rsa-2048", label="rsa-seal")
    return enroll("ec-p256", label="ec-seal")


def test_list_without_a_pin_shows_public_objects(
    softhsm: SoftHsm, enrolled: dict[str, Any]
) -> None:
    out = run(softhsm, "list", "--module", softhsm.module).stdout
    assert f"token {enrolled['token_label']!r}" in out and "login required" in out
    assert "public objects only" in out
    assert "certificate 'ec-seal'" in out and "VATPL-5261040828" in out
    assert (
        "public key 'ec-seal'" in out
        and "private key" not in out.split(enrolled["token_label"])[1].split("slot ")[0]
    )


def test_list_with_the_pin_shows_private_keys_and_their_flags(
    softhsm: SoftHsm, enrolled: dict[str, Any]
) -> None:
    label = enrolled["token_label"]
    out = run(
        softhsm,
        "list",
        "--module",
        softhsm.module,
        "--token",
        label,
        "--pin-env",
        "PIN_VAR",
        PIN_VAR=PIN,
    ).stdout
    assert f"private key 'ec-seal' id {enrolled['id']}: EC secp256r1 [sensitive, sign]" in out
    assert "private key 'rsa-seal'" in out and "RSA 2048 bits" in out
    assert "extractable" not in out  # flags that are off are not shown
    assert "key 'ec-seal'" in out  # the certificate names its key


def test_list_as_json(softhsm: SoftHsm, enrolled: dict[str, Any]) -> None:
    label = enrolled["token_label"]
    report = json.loads(
        run(
            softhsm,
            "list",
            "--json",
            "--token",
            label,
            "--pin-env",
            "PIN_VAR",
            PIN_VAR=PIN,
            KSEF_AUTH_PKCS11_MODULE=softhsm.module,
        ).stdout
    )
    token = next(s["token"] for s in report["slots"] if (s["token"] or {}).get("label") == label)
    assert token["logged_in"] is True
    keys = {(k["label"], "sensitive" in k): k for k in token["keys"]}
    private = keys[("ec-seal", True)]
    assert private["sensitive"] is True and private["extractable"] is False
    assert private["curve"] == "secp256r1"
    assert {c["label"] for c in token["certificates"]} >= {"ec-seal", "rsa-seal"}


def test_a_wrong_pin_exits_4(softhsm: SoftHsm, enrolled: dict[str, Any]) -> None:
    result = run(
        softhsm,
        "list",
        "--module",
        softhsm.module,
        "--token",
        enrolled["token_label"],
        "--pin-env",
        "PIN_VAR",
        code=4,
        PIN_VAR=WRONG_PIN,
    )
    assert "refused the PIN from environment variable PIN_VAR" in result.stderr


def test_usage_and_missing_module(softhsm: SoftHsm, tmp_path: Any) -> None:
    result = run(softhsm, "list", "--module", softhsm.module, "--pin-env", "X", code=2)
    assert "needs --token" in result.stderr
    result = run(softhsm, "list", code=4)
    assert "no PKCS#11 module is set" in result.stderr
    result = run(softhsm, "list", "--module", str(tmp_path / "none.so"), code=4)
    assert "does not exist here" in result.stderr


def test_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", "pkcs11", "list", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    ).stdout
    assert "--pin-env" in out and "--json" in out
