"""The SoftHSM2 recipe of docs/guide/hardware-keys.md, run as written: its shell lines (with the
test's SoftHSM2 folder), then its strategy file logging in to the simulator."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hsm_support import PIN, SO_PIN, LocalCa, SoftHsm

import ksef_auth

PAGE = Path(__file__).resolve().parents[3] / "docs" / "guide" / "hardware-keys.md"


def recipe(name: str) -> str:
    if not PAGE.is_file():
        pytest.skip(f"{PAGE} is not here (tests run from a checkout)")
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- recipe: {name} -->\n```\w+\n(.*?)^```", text, re.DOTALL | re.M)
    assert match, f"no recipe {name!r} in {PAGE}"
    return match.group(1)


def test_the_softhsm2_recipe(
    softhsm: SoftHsm, ca: LocalCa, make_ksef_simulator: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "seal-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "seal.pem").write_bytes(
        ca.issue(key.public_key()).public_bytes(serialization.Encoding.PEM)
    )
    env = {**softhsm.env, "KSEF_TOKEN_PIN": PIN, "KSEF_TOKEN_SO_PIN": SO_PIN}
    listing = ""
    for line in recipe("softhsm-setup").splitlines():
        command = line.split("#")[0].strip()
        if not command.startswith(("softhsm2-util", "ksef-auth")):
            continue  # installing, exporting the PINs: done by the test's set-up
        command = command.replace("/usr/lib/softhsm/libsofthsm2.so", softhsm.module)
        command = command.replace("softhsm2-util", shlex.quote(softhsm.util), 1)
        command = command.replace("ksef-auth", f"{shlex.quote(sys.executable)} -m ksef_auth.cli", 1)
        result = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, (command, output)
        assert PIN not in output and SO_PIN not in output
        listing += result.stdout
    assert (
        "private key 'seal' id 5e41: EC secp256r1 [sensitive, sign]" in listing
    )  # as the page says

    simulator = make_ksef_simulator(require_xades=True, trusted_ca_pems=[ca.pem])
    strategy_file = recipe("softhsm-strategy")
    strategy_file = strategy_file.replace(
        'environment = "test"', f'environment = "{simulator.base_url}"'
    )
    strategy_file = strategy_file.replace("/usr/lib/softhsm/libsofthsm2.so", softhsm.module)
    (tmp_path / "ksef-auth.toml").write_text(strategy_file)
    monkeypatch.setenv("KSEF_TOKEN_PIN", PIN)
    assert ksef_auth.load(tmp_path / "ksef-auth.toml").strategy("seal").token()
