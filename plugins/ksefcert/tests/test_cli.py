"""``ksef-auth cert ...`` in process (the real root command, so errors print as users see them):
enroll with a profile and keep the result, list, show, limits, revoke, renew, shorten, doctor."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import NIP, PASSWORD, PASSWORD_ENV, Cli


def enroll(cli: Cli, tmp_path: Path, *extra: str, name: str = "Serwer ERP") -> dict[str, Any]:
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", name, "--p12",
        str(tmp_path / "server.p12"), "--p12-password-env", PASSWORD_ENV, "--json", *extra,
    )  # fmt: skip
    return dict(json.loads(output[output.index("{") :]))


def test_enroll_makes_a_profile_that_logs_in_with_it(
    cli: Cli, tmp_path: Path, simulator: Any
) -> None:
    made = enroll(cli, tmp_path, "--make-profile", "server")
    assert made["profile"] == "server" and made["type"] == "Authentication"
    assert made["renewsItself"] is True
    assert made["credential"] == {
        "use": "pkcs12",
        "path": str(tmp_path / "server.p12"),
        "password": {"env": PASSWORD_ENV},
    }
    assert stat.S_IMODE((tmp_path / "server.p12").stat().st_mode) == 0o600
    profiles = (tmp_path / "profiles.toml").read_text()
    assert 'use = "ksef-certificate"' in profiles and PASSWORD not in profiles
    cli("login", "--profile", "server")
    assert list(simulator.sim.operations.values())[-1].method == "InternalCertificate"
    listed = json.loads(cli("cert", "list", "--profile", "server", "--json"))
    assert [item["serial"] for item in listed] == [made["serial"]]
    assert listed[0]["status"] == "Active" and listed[0]["subject"] == f"Nip:{NIP}"
    table = cli("cert", "list", "--profile", "seal")
    assert made["serial"] in table and "Serwer ERP" in table


def test_enroll_prints_the_profile_to_add_when_not_asked_to_save_one(
    cli: Cli, tmp_path: Path
) -> None:
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer ERP", "--rsa", "--p12",
        str(tmp_path / "rsa.p12"), "--p12-password-env", PASSWORD_ENV,
    )  # fmt: skip
    assert "enrollment " in output and "200" in output  # the progress lines
    assert "fingerprint:" in output and "[strategy.NAME]" in output
    assert 'use = "ksef-certificate"' in output and "renews itself" in output


OPENSSL = shutil.which("openssl")


def openssl(*args: str) -> str:
    done = subprocess.run([str(OPENSSL), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.skipif(OPENSSL is None, reason="no openssl command (Debian: apt-get install openssl)")
@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_openssl_verifies_the_csr_sent_and_the_certificate_issued(
    key: str, cli: Cli, tmp_path: Path, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PKCS#10 request ``cert enroll`` puts on the wire passes ``openssl req -verify``, and
    the certificate the simulator issues for it passes ``openssl verify`` against the
    simulator's CA (and fails against another)."""
    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    sent: list[bytes] = []
    send = httpx.Client.send

    def recording(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/certificates/enrollments"):
            sent.append(request.read())
        return send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", recording)
    made = enroll(cli, tmp_path, *(["--rsa"] if key == "rsa" else []))

    (body,) = sent
    (tmp_path / "request.der").write_bytes(base64.b64decode(json.loads(body)["csr"]))
    checked = openssl("req", "-in", str(tmp_path / "request.der"), "-inform", "DER", "-verify")
    assert "verify OK" in checked
    _, certificate, _ = pkcs12.load_key_and_certificates(
        (tmp_path / "server.p12").read_bytes(), PASSWORD.encode()
    )
    assert certificate is not None
    assert format(certificate.serial_number, "016X") == made["serial"].upper()
    pem = serialization.Encoding.PEM
    (tmp_path / "issued.pem").write_bytes(certificate.public_bytes(pem))
    ca = simulator.sim.ksef_certificates.ca.certificate
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    verified = openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "issued.pem"))
    assert verified.strip().endswith("OK")

    stranger = ec.generate_private_key(ec.SECP256R1())
    lookalike = (
        x509.CertificateBuilder()
        .subject_name(ca.subject)
        .issuer_name(ca.subject)
        .public_key(stranger.public_key())
        .serial_number(1)
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(stranger, ca.signature_hash_algorithm)  # type: ignore[arg-type]
    )
    (tmp_path / "lookalike.pem").write_bytes(lookalike.public_bytes(pem))
    with pytest.raises(AssertionError):
        openssl("verify", "-CAfile", str(tmp_path / "lookalike.pem"), str(tmp_path / "issued.pem"))


def test_enroll_through_a_named_key_store(cli: Cli, tmp_path: Path, simulator: Any) -> None:
    path = tmp_path / "kept.p12"
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Z magazynu kluczy", "--key-store",
        "pkcs12-file", "-O", f"path={path}", "-O", f"password=env:{PASSWORD_ENV}", "--json",
    )  # fmt: skip
    made = json.loads(output[output.index("{") :])
    assert made["keptIn"] == "key store pkcs12-file" and path.is_file()
    refused = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Z magazynu kluczy", "--key-store",
        "pkcs12-file", "-O", f"path={tmp_path / 'x.p12'}", "-O", f"password={PASSWORD}",
        code=2,
    )  # fmt: skip
    assert "env:VARIABLE or file:PATH" in refused


def test_usage_errors(cli: Cli, tmp_path: Path, simulator: Any) -> None:
    out = cli("cert", "enroll", "--profile", "seal", "--name", "Serwer ERP", code=2)
    assert "--p12 FILE or --key-store NAME" in out
    out = cli("cert", "enroll", "--profile", "seal", "--name", "abc", "--p12", "x.p12", code=2)
    assert "5-100" in out
    out = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer ERP", "--p12", "x.p12",
        "--p12-password-env", "KSEFCERT_UNSET_VARIABLE", code=2,
    )  # fmt: skip
    assert "KSEFCERT_UNSET_VARIABLE" in out and "not set" in out
    token = simulator.sim.issue_ksef_token(NIP)
    cli.env["KSEFCERT_CLI_TOKEN"] = token
    cli(
        "profile", "create", "tok", "--env", simulator.base_url, "--nip", NIP, "--token-env",
        "KSEFCERT_CLI_TOKEN", "--store", "memory",
    )  # fmt: skip
    out = cli(
        "cert", "enroll", "--profile", "tok", "--name", "Serwer ERP", "--p12", "x.p12", code=2
    )
    assert "25002" in out and "XAdES" in out and token not in out
    out = cli("cert", "revoke", "0123456789ABCDEF", "--profile", "tok", "--yes", code=2)
    assert "only after a certificate login" in out and token not in out
    out = cli("cert", "renew", "--profile", "seal", code=2)
    assert "does not log in with a ksef-certificate" in out
    sent = len(simulator.sim.operations)
    for args in (
        ("show", "ZZZ"),
        ("revoke", "12345", "--yes"),
        ("shorten", "G" * 16, "--days-left", "1"),
    ):
        out = cli("cert", *args, "--profile", "seal", code=2)
        assert "16 hexadecimal digits" in out, out
    out = cli("cert", "show", "--enrollment", "nope", "--profile", "seal", code=2)
    assert "not an enrollment reference number" in out
    assert len(simulator.sim.operations) == sent  # refused before any login


def test_show_revoke_limits_shorten_and_renew(cli: Cli, tmp_path: Path, simulator: Any) -> None:
    made = enroll(cli, tmp_path, "--make-profile", "server")
    serial = made["serial"]
    shown = json.loads(cli("cert", "show", serial, "--profile", "server", "--json"))
    assert shown["fingerprint"] == made["fingerprint"]
    assert shown["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    cli("cert", "show", serial, "--profile", "server", "--pem", str(tmp_path / "c.pem"))
    assert (tmp_path / "c.pem").read_text() == shown["certificate"]
    limits = json.loads(cli("cert", "limits", "--profile", "seal", "--json"))
    assert limits["certificate"]["remaining"] == 99 and limits["canRequest"] is True
    assert "can enroll:   yes" in cli("cert", "limits", "--profile", "seal")
    assert "not due" in cli("cert", "renew", "--profile", "server")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    assert "now ends" in cli("cert", "shorten", serial, "--valid-to", soon, "--profile", "seal")
    renewed = cli("cert", "renew", "--profile", "server")  # due now: 10 days < 60
    assert renewed.startswith("renewed: ") and str(tmp_path / "server.p12") in renewed
    revoked = cli(
        "cert", "revoke", serial, "--profile", "server", "--yes", "--reason", "superseded"
    )
    assert f"revoked {serial} (Superseded)" in revoked
    statuses = json.loads(cli("cert", "list", "--profile", "seal", "--json", "--status", "Revoked"))
    assert [item["serial"] for item in statuses] == [serial]
    cli("login", "--profile", "server", "--force")  # the successor logs in
    again = cli("cert", "revoke", serial, "--profile", "seal", "--yes", code=5)
    assert "25009" in again and "already revoked" in again
    aborted = cli("cert", "revoke", "0123456789ABCDEF", "--profile", "seal", input="n\n", code=1)
    assert "Aborted" in aborted


def test_a_wrong_pkcs12_password_is_reported_without_it(
    cli: Cli, tmp_path: Path, env: dict[str, str]
) -> None:
    enroll(cli, tmp_path, "--make-profile", "server")
    cli.env[PASSWORD_ENV] = "Not-The-Password"
    out = cli("login", "--profile", "server", code=3)
    assert "wrong password" in out and PASSWORD_ENV in out and "Not-The-Password" not in out


def test_doctor_says_when_it_renews_itself(cli: Cli, tmp_path: Path) -> None:
    enroll(cli, tmp_path, "--make-profile", "server")
    report = json.loads(cli("doctor", "--profile", "server", "--json"))
    check = next(c for c in report["checks"] if c["name"] == "certificate")
    assert check["status"] == "ok", check
    assert "renews itself from" in check["message"]
    login = next(c for c in report["checks"] if c["name"] == "login")
    assert login["status"] == "ok"


def test_a_certificate_kept_in_the_vault_renews_in_place(
    cli: Cli, tmp_path: Path, simulator: Any
) -> None:
    from ksef_auth_vault import Vault

    vault_file = tmp_path / "vault.json"
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer ERP", "--key-store", "vault",
        "-O", f"path={vault_file}", "--make-profile", "server", "--json",
    )  # fmt: skip
    made = json.loads(output[output.index("{") :])
    assert made["credential"] == {"use": "vault", "name": "serwer-erp", "path": str(vault_file)}
    profiles = (tmp_path / "profiles.toml").read_text()
    assert 'vault = "serwer-erp"' in profiles and 'use = "ksef-certificate"' in profiles
    cli("login", "--profile", "server")
    assert list(simulator.sim.operations.values())[-1].method == "InternalCertificate"
    renewed = cli("cert", "renew", "--profile", "server", "--force")
    assert "vault entry 'serwer-erp'" in renewed
    kept = Vault(vault_file).load("serwer-erp")
    serial = f"{kept.certificate.serial_number:016X}"  # type: ignore[union-attr]
    assert serial != made["serial"] and serial in renewed
    cli("login", "--profile", "server", "--force")
    assert list(simulator.sim.ksef_certificates.logins.values())[-1] == serial


def test_doctor_warns_30_days_before_the_end(cli: Cli, tmp_path: Path, simulator: Any) -> None:
    simulator.sim.ksef_certificates.settings.validity = 20 * 86400.0
    enroll(cli, tmp_path, "--make-profile", "server")
    report = json.loads(cli("doctor", "--profile", "server", "--json", code=0))
    check = next(c for c in report["checks"] if c["name"] == "certificate")
    assert check["status"] == "warn", check
    assert "expires in 19 days" in check["message"]
    assert "its renewal is due since" in check["message"]
