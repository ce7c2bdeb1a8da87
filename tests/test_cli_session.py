"""``login``, ``token``, ``status``, ``sessions``, ``logout`` and ``doctor``, each in a subprocess,
against the simulator. Sessions persist in the encrypted file store between processes."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_testcert")
pytest.importorskip("ksef_auth_xades")
pytest.importorskip("ksef_auth_file")

NIP = "5261040828"


def _events(running: Any) -> dict[str, int]:
    return running.sim.counters()["events"]


def _test_cert_profile(home: Path, url: str, name: str = "lab") -> None:
    made = run_cli(home, "profile", "create", name, "--env", url, "--nip", NIP, "--test-cert")
    assert made.code == 0, made.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.shows_secret("ksef-auth token prints the access token: that is what it is for")
def test_token_after_login_reuses_the_session_in_another_process(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    _test_cert_profile(tmp_path, ksef_simulator.base_url)

    login = run_cli(tmp_path, "login", "--json")
    assert login.code == 0, login.err
    info = login.json()
    assert info["state"] == "active" and info["reused"] is False
    assert info["method"] == "xades" and info["store"] == "file"  # plugin names, not classes
    assert _events(ksef_simulator)["logins_completed"] == 1

    first, second = run_cli(tmp_path, "token"), run_cli(tmp_path, "token")
    assert first.code == 0 and second.code == 0, first.err + second.err
    assert first.out == second.out
    assert first.out.count("\n") == 1 and first.out.startswith("eyJ")  # the token, alone
    assert _events(ksef_simulator)["logins_completed"] == 1  # no new login: reused from the file
    assert _events(ksef_simulator)["challenges"] == 1

    again = run_cli(tmp_path, "login", "--json").json()
    assert again["reused"] is True

    status = run_cli(tmp_path, "status", "--json").json()
    assert status["state"] == "active"
    assert status["reference_number"] == info["reference_number"]
    assert first.out.strip() not in run_cli(tmp_path, "status").out  # never the token

    listed = run_cli(tmp_path, "sessions", "--json").json()["sessions"]
    assert [s["current"] for s in listed] == [True]
    assert listed[0]["reference_number"] == info["reference_number"]

    out = run_cli(tmp_path, "logout")
    assert out.code == 0, out.err
    assert f"session {info['reference_number']} revoked" in out.out
    assert _events(ksef_simulator)["sessions_revoked"] == 1
    assert run_cli(tmp_path, "status", "--json").json()["state"] == "none"
    assert run_cli(tmp_path, "logout").out.strip() == "no session to log out"


def test_doctor_all_green_then_red_when_ksef_is_unreachable(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    _test_cert_profile(tmp_path, ksef_simulator.base_url)
    report = run_cli(tmp_path, "doctor", "--json")
    assert report.code == 0, report.out + report.err
    checks = {c["name"]: c["status"] for c in report.json()["checks"]}
    for name in ("nip", "environment", "plugins", "credential", "certificate", "store"):
        assert checks[name] == "ok", report.out
    assert checks["challenge"] == checks["login"] == "ok"
    assert checks["tls"] == "ok"  # plain http to loopback: nothing to check

    url = f"http://127.0.0.1:{closed_port()}/v2"
    _test_cert_profile(tmp_path, url, name="down")
    red = run_cli(tmp_path, "doctor", "--profile", "down")
    assert red.code == 1
    lines = {line.split()[1]: line for line in red.out.splitlines()[1:]}
    assert lines["tcp"].startswith("FAIL")
    assert "cannot connect to 127.0.0.1" in lines["tcp"] and "fix:" in lines["tcp"]
    assert lines["login"].startswith("skip") and lines["credential"].startswith("ok")


def test_unreachable_ksef_exits_6(tmp_path: Path) -> None:
    _test_cert_profile(tmp_path, f"http://127.0.0.1:{closed_port()}/v2")
    result = run_cli(tmp_path, "token")
    assert result.code == 6
    assert result.out == ""
    assert "no answer from http://127.0.0.1:" in result.err
    assert "check the network and try again" in result.err


def test_unknown_profile_exits_3(tmp_path: Path) -> None:
    _test_cert_profile(tmp_path, "http://127.0.0.1:1/v2")
    for command in ("login", "token", "status", "logout", "doctor"):
        result = run_cli(tmp_path, command, "--profile", "nope")
        assert result.code == 3, (command, result.err)
        assert "no profile named 'nope' (profiles: lab)" in result.err


def test_missing_variable_is_reported_with_its_name(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_token")
    made = run_cli(tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
                   "--token-env", "ACME_KSEF_TOKEN")  # fmt: skip
    assert made.code == 0, made.err
    assert "ACME_KSEF_TOKEN" in made.err  # a note: not set yet
    result = run_cli(tmp_path, "token")
    assert result.code == 3
    assert "environment variable ACME_KSEF_TOKEN is not set" in result.err
    doctor = run_cli(tmp_path, "doctor", "--json")
    assert doctor.code == 1
    credential = next(c for c in doctor.json()["checks"] if c["name"] == "credential")
    assert credential["status"] == "fail" and "ACME_KSEF_TOKEN" in credential["message"]


def _seal_files(directory: Path, nip: str, days: int) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test sp. z o.o."),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Test seal"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "seal.cert.pem", directory / "seal.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)  # a key open to other users is refused (ksef_auth.files)
    return cert_path, key_path


def test_doctor_warns_before_a_certificate_expires(tmp_path: Path, ksef_simulator: Any) -> None:
    pytest.importorskip("ksef_auth_pem")
    cert, key = _seal_files(tmp_path, NIP, days=10)
    made = run_cli(tmp_path, "profile", "create", "pem", "--env", ksef_simulator.base_url,
                   "--nip", NIP, "--pem", str(cert), str(key))  # fmt: skip
    assert made.code == 0, made.err
    report = run_cli(tmp_path, "doctor", "--json")
    assert report.code == 0, report.out  # a warning is not a failure
    checks = {c["name"]: c for c in report.json()["checks"]}
    assert checks["certificate"]["status"] == "warn"
    assert "expires in 9 days" in checks["certificate"]["message"]
    assert f"NIP {NIP} matches" in checks["certificate"]["message"]
    assert checks["login"]["status"] == "ok"
