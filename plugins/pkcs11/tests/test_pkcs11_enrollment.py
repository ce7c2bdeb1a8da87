"""A KSeF certificate whose key never leaves the token: ksefcert's enrollment with the pkcs11
key store against the simulator (which issues the certificate), then XAdES logins with it, in
Python and through ``ksef-auth cert enroll --key-store pkcs11``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hsm_support import NIP, PIN, SoftHsm

import ksef_auth

pytest.importorskip("ksef_auth_ksefcert")
pytest.importorskip("ksef_auth_testcert")

from ksef_auth_ksefcert import CertificatesClient, enroll  # noqa: E402
from ksef_auth_pkcs11 import Pkcs11Key, Pkcs11KeyStore  # noqa: E402


@pytest.fixture
def simulator(make_ksef_simulator: Any) -> Any:
    from ksef_auth_simulator.ksef_certificates import CertificateSettings

    return make_ksef_simulator(certificates=CertificateSettings(enrollment_delay=0.05))


def strategy(base_url: str, credential: dict[str, Any]) -> ksef_auth.Strategy:
    config = {
        "strategy": {
            "s": {
                "environment": base_url,
                "context": NIP,
                "credential": credential,
                "signer": "xades",
                "store": "memory",
            }
        }
    }
    return ksef_auth.load(config).strategy("s")


def seal(base_url: str) -> ksef_auth.Strategy:
    """The qualified seal of the firm (a test seal here), which authorizes the enrollment."""
    return strategy(base_url, {"use": "test-certificate", "nip": NIP})


def last_method(simulator: Any) -> str:
    return str(list(simulator.sim.operations.values())[-1].method)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_enroll_with_a_key_made_on_the_token_then_log_in(
    simulator: Any, store: Pkcs11KeyStore, algorithm: str
) -> None:
    client = CertificatesClient(seal(simulator.base_url))
    enrolled = enroll(client, store, name="Serwer ERP", algorithm=algorithm)
    table = enrolled.credential
    assert table["use"] == "pkcs11" and table["label"] == "Serwer ERP"
    assert table["pin"] == {"env": "TEST_TOKEN_PIN"} and PIN not in repr(table)
    assert enrolled.certificate.issuer == simulator.sim.ksef_certificates.ca.certificate.subject
    server = strategy(simulator.base_url, table)
    assert server.token()
    assert last_method(simulator) == "InternalCertificate"
    credential = server.load_credential()
    assert isinstance(credential.key, Pkcs11Key)  # type: ignore[union-attr]
    assert credential.certificate == enrolled.certificate  # type: ignore[union-attr]


def test_cert_enroll_cli_with_the_pkcs11_key_store(
    simulator: Any, softhsm: SoftHsm, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in softhsm.env.items() if not k.startswith(("KSEF2_", "KSEF_AUTH_"))}
    env.update(
        KSEF2_CONFIG=str(tmp_path / "profiles.toml"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        TOKEN_PIN=PIN,
        NO_COLOR="1",
    )

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "ksef_auth.cli", *args],
            env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert PIN not in output and "Traceback" not in output
        assert result.returncode == 0, output
        return result.stdout

    cli(
        "profile", "create", "seal", "--env", simulator.base_url, "--nip", NIP, "--test-cert",
        "--store", "memory",
    )  # fmt: skip
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer HSM", "--key-store", "pkcs11",
        "-O", f"module={softhsm.module}", "-O", f"token_label={token}", "-O", "pin=env:TOKEN_PIN",
        "--json",
    )  # fmt: skip
    made = json.loads(output[output.index("{") :])
    assert made["credential"]["use"] == "pkcs11"
    assert made["credential"]["pin"] == {"env": "TOKEN_PIN"}
    assert made["renewsItself"] is False  # a key on a token is not renewed unattended
    monkeypatch.setenv("TOKEN_PIN", PIN)
    assert strategy(simulator.base_url, made["credential"]).token()
    assert last_method(simulator) == "InternalCertificate"
    said = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer HSM 2", "--key-store", "pkcs11",
        "-O", f"module={softhsm.module}", "-O", f"token_label={token}", "-O", "pin=env:TOKEN_PIN",
        "--make-profile", "hsm",
    )  # fmt: skip
    assert "profile:     hsm (logs in with it)\n" in said
    assert "renewal:     not unattended for a key in key store pkcs11" in said
