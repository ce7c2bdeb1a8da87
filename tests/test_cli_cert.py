"""``ksef-auth cert show FILE``: PEM, DER and PKCS#12 files described (subject, identity,
validity, fingerprint, key type), never key material; and the ``cert`` group is core's, for
plugins to add to. Subprocesses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from cli_support import run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

NIP = "5261040828"
PASSWORD = "p12-secret-password"


def _certificate(key: object, subject: list[x509.NameAttribute], days: int) -> x509.Certificate:
    name = x509.Name(subject)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(0x1234ABCD)
        .not_valid_before(now - timedelta(days=10))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )


@pytest.fixture
def seal(tmp_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test sp. z o.o."),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{NIP}"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Test seal"),
    ]
    return _certificate(key, subject, 100), key


def _key_text(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip


def test_pem_with_key_shows_identity_and_never_the_key(tmp_path: Path, seal) -> None:
    certificate, key = seal
    path = tmp_path / "seal.pem"
    path.write_text(certificate.public_bytes(serialization.Encoding.PEM).decode() + _key_text(key))
    result = run_cli(tmp_path, "cert", "show", str(path))
    assert result.code == 0, result.err
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
    assert f"{path}: PEM, 1 certificate, a private key (EC P-256)" in result.out
    assert f"identity:    NIP {NIP} (from organizationIdentifier)" in result.out
    assert f"fingerprint: {fingerprint}" in result.out
    assert "itself (self-signed)" in result.out and "days left" in result.out
    assert "digitalSignature, nonRepudiation" in result.out
    body = "".join(_key_text(key).splitlines()[1:-1])
    assert body[:40] not in result.out and "PRIVATE KEY" not in result.out


def test_der_and_pkcs12_and_json(tmp_path: Path, seal) -> None:
    certificate, key = seal
    der = tmp_path / "seal.cer"
    der.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    shown = run_cli(tmp_path, "cert", "show", str(der), "--json")
    assert shown.code == 0, shown.err
    report = shown.json()
    assert report["format"] == "DER" and report["private_key"] is None
    assert report["certificates"][0]["identity"] == {
        "kind": "NIP", "value": NIP, "from": "organizationIdentifier"
    }  # fmt: skip
    assert report["certificates"][0]["key"] == "EC P-256"

    p12 = tmp_path / "seal.p12"
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(b"seal", key, certificate, None, encryption)
    )
    locked = run_cli(tmp_path, "cert", "show", str(p12))
    assert locked.code == 4
    assert "password-protected" in locked.err and "--password-env VAR" in locked.err
    opened = run_cli(tmp_path, "cert", "show", str(p12), "--password-env", "SEAL_PASSWORD",
                     "--json", SEAL_PASSWORD=PASSWORD)  # fmt: skip
    assert opened.code == 0, opened.err
    assert opened.json()["private_key"] == {"present": True, "encrypted": True, "type": "EC P-256"}
    assert PASSWORD not in opened.out + opened.err
    wrong = run_cli(tmp_path, "cert", "show", str(p12), "--password-env", "SEAL_PASSWORD",
                    SEAL_PASSWORD="nope")  # fmt: skip
    assert wrong.code == 4 and "wrong password" in wrong.err and "nope" not in wrong.err


def test_personal_rsa_and_expired(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = [
        x509.NameAttribute(NameOID.COMMON_NAME, "Jan Kowalski"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-44051401359"),
    ]
    certificate = _certificate(key, subject, -1)
    path = tmp_path / "person.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    report = run_cli(tmp_path, "cert", "show", str(path), "--json").json()
    item = report["certificates"][0]
    assert item["identity"] == {"kind": "PESEL", "value": "44051401359", "from": "serialNumber"}
    assert item["key"] == "RSA 2048" and item["validity"] == "expired"


def test_not_a_certificate(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = run_cli(tmp_path, "cert", "show", str(path))
    assert result.code == 4 and "is not a PKCS#12 file" in result.err


def test_plugins_add_to_the_core_cert_group() -> None:
    from ksef_auth.cli import build, group

    root = build()
    cert = group(root, "cert")
    assert "show" in cert.commands
    pytest.importorskip("ksef_auth_testcert")
    assert "new-test" in cert.commands  # the testcert plugin's
    bare = click.Group("ksef-auth")
    assert "show" in group(bare, "cert").commands
    with pytest.raises(LookupError, match="no command group 'nope'"):
        group(bare, "nope")


def test_a_plugins_show_takes_what_is_not_a_file(tmp_path: Path, seal) -> None:
    from click.testing import CliRunner

    from ksef_auth.cli.cert import CertGroup, show

    @click.command("show")
    @click.argument("serial")
    def remote(serial: str) -> None:
        click.echo(f"KSeF's record of {serial}")

    group = CertGroup("cert")
    group.add_command(show)
    group.add_command(remote)  # a plugin's, added later
    assert group.commands["show"] is show
    certificate, _ = seal
    path = tmp_path / "seal.cer"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    runner = CliRunner()
    assert "DER, 1 certificate" in runner.invoke(group, ["show", str(path)]).output
    assert "KSeF's record of 0123ABCD" in runner.invoke(group, ["show", "0123ABCD"]).output
