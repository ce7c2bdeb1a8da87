"""``ksef-auth cert new-test``: files, modes, passwords, and no key material on screen."""

from __future__ import annotations

import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

import ksef_auth_testcert

NIP = "5265877635"
PESEL = "44051401359"


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("ksef-auth")
    ksef_auth_testcert.ksef_auth_register_commands(cli=group)
    return group


def run(cli: click.Group, *args: str, **kwargs) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["cert", "new-test", *args], **kwargs)
    return result.exit_code, result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_seal_with_password_from_variable(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run(
        cli,
        "--nip", NIP, "--ec", "--out", str(out), "--p12-password-env", "P12_PW",
        env={"P12_PW": "s3cret"},
    )  # fmt: skip
    assert code == 0, output
    certificate = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    fingerprint = certificate.fingerprint(hashes.SHA256())
    assert fingerprint.hex().upper() in output
    assert str(out / "cert.pem") in output and str(out / "cert.p12") in output
    assert mode(out / "key.pem") == 0o600 and mode(out / "cert.p12") == 0o600
    key, p12_cert, _ = pkcs12.load_key_and_certificates((out / "cert.p12").read_bytes(), b"s3cret")
    assert p12_cert == certificate
    key_text = (out / "key.pem").read_text()
    body = "".join(key_text.splitlines()[1:-1])
    assert body[:32] not in output and "PRIVATE KEY" not in output
    assert "s3cret" not in output
    assert key_text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key is not None and serialization.load_pem_private_key(key_text.encode(), b"s3cret")


def test_personal_with_pesel_unencrypted_p12(cli, tmp_path: Path) -> None:
    code, output = run(cli, "--pesel", PESEL, "--ec", "--out", str(tmp_path), "--p12-no-password")
    assert code == 0, output
    certificate = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    serial = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert serial[0].value == f"PNOPL-{PESEL}"
    assert pkcs12.load_key_and_certificates((tmp_path / "cert.p12").read_bytes(), None)[0]
    assert "no password" in output


def test_password_prompt(cli, tmp_path: Path) -> None:
    code, output = run(cli, "--nip", NIP, "--ec", "--out", str(tmp_path), input="pw\npw\n")
    assert code == 0, output
    assert pkcs12.load_key_and_certificates((tmp_path / "cert.p12").read_bytes(), b"pw")[0]


def test_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    args = ("--nip", NIP, "--ec", "--out", str(tmp_path), "--p12-no-password")
    assert run(cli, *args)[0] == 0
    code, output = run(cli, *args)
    assert code != 0 and "already exist" in output and "--force" in output
    assert run(cli, *args, "--force")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ec",), "a seal needs --nip"),
        (("--nip", "1234567890"), "NIP 1234567890 is invalid"),
        (("--nip", NIP, "--p12-password-env", "NOPE_UNSET_VAR"), "NOPE_UNSET_VAR is not set"),
        (("--nip", NIP, "--p12-password-env", "X", "--p12-no-password"), "exclude each other"),
    ],
)
def test_usage_errors(cli, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, output = run(cli, *args, "--out", str(tmp_path))
    assert code != 0 and message in output


def test_joins_an_existing_cert_group() -> None:
    group = click.Group("ksef-auth")
    existing = click.Group("cert")
    group.add_command(existing)
    ksef_auth_testcert.ksef_auth_register_commands(cli=group)
    assert group.commands["cert"] is existing and "new-test" in existing.commands
