"""The whole life of a KSeF certificate, each step through the ``ksef-auth`` command in a process
of its own against the simulator on loopback:

XAdES login with a test seal -> enroll (EC and RSA) -> retrieve -> kept encrypted -> log in with
it (InternalCertificate) -> list -> validity shortened -> renewed unattended by exactly one of 4
processes sharing the session store (the other 3 see the successor) -> the old one revoked -> a
login with it fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import NIP, PASSWORD, PASSWORD_ENV
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

WORKER = Path(__file__).with_name("renewal_worker.py")


def sandbox(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSEF2_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        KSEF2_CONFIG=str(home / "profiles.toml"),
        NO_COLOR="1",
        PYTHONWARNINGS="ignore",
    )
    env[PASSWORD_ENV] = PASSWORD
    return env


class Shell:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = sandbox(home)

    def __call__(self, *args: str, code: int = 0) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "ksef_auth.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == code, f"ksef-auth {' '.join(args)}: {proc.returncode}\n{output}"
        assert PASSWORD not in output and "Traceback" not in output
        return proc.stdout if code == 0 else output

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))


def methods(simulator: Any) -> list[str]:
    return [op.method for op in simulator.sim.operations.values()]


def test_a_ksef_certificate_from_seal_to_unattended_renewal(simulator: Any, tmp_path: Path) -> None:
    ksef = Shell(tmp_path)
    url = simulator.base_url
    ksef("profile", "create", "seal", "--env", url, "--nip", NIP, "--test-cert", "--store", "file")
    ksef("login", "--profile", "seal")
    assert methods(simulator) == ["QualifiedSeal"]

    # enroll, EC and RSA, each kept in an encrypted PKCS#12 file, each with a profile
    made = {}
    for kind, flag in (("ec", "--ec"), ("rsa", "--rsa")):
        made[kind] = ksef.json(
            "cert", "enroll", "--profile", "seal", "--name", f"Serwer {kind.upper()}", flag,
            "--p12", str(tmp_path / f"{kind}.p12"), "--p12-password-env", PASSWORD_ENV,
            "--make-profile", f"server-{kind}",
        )  # fmt: skip
    ec_serial, rsa_serial = made["ec"]["serial"], made["rsa"]["serial"]

    # retrieve: what KSeF returns is what was kept, and the file opens only with the password
    for kind, serial in (("ec", ec_serial), ("rsa", rsa_serial)):
        shown = ksef.json("cert", "show", serial, "--profile", "seal")
        returned = x509.load_pem_x509_certificate(shown["certificate"].encode())
        data = (tmp_path / f"{kind}.p12").read_bytes()
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(data, b"")
        _, kept, _ = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
        assert kept == returned

    # log in with each (InternalCertificate), and list them
    for kind in ("ec", "rsa"):
        ksef("login", "--profile", f"server-{kind}", "--force")
    assert methods(simulator)[-2:] == ["InternalCertificate", "InternalCertificate"]
    listed = ksef.json("cert", "list", "--profile", "server-ec")
    assert {item["serial"] for item in listed} == {ec_serial, rsa_serial}
    assert {item["status"] for item in listed} == {"Active"}

    # KSeF ends the EC certificate in 10 days: inside the 60-day renewal margin
    shutil.copy(tmp_path / "ec.p12", tmp_path / "old-ec.p12")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    ksef("cert", "shorten", ec_serial, "--valid-to", soon, "--profile", "seal")

    # four processes sharing the profiles file, the PKCS#12 file and the file session store
    go = tmp_path / "go"
    old_fingerprint = made["ec"]["fingerprint"]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(tmp_path / "profiles.toml"),
                "server-ec",
                str(go),
                old_fingerprint,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ksef.env,
        )  # fmt: skip
        for _ in range(4)
    ]
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert PASSWORD not in out + err
        results.append(json.loads(out.strip().splitlines()[-1]))
    renewers = [r for r in results if r["renewed"]]
    assert len(renewers) == 1, results
    new_serial = renewers[0]["renewed"][0]
    new_fingerprints = {r["fingerprint"] for r in results}
    assert len(new_fingerprints) == 1 and old_fingerprint not in new_fingerprints  # all see it
    issued = simulator.sim.ksef_certificates.issued
    assert set(issued) == {ec_serial, rsa_serial, new_serial}  # exactly one renewal
    assert issued[new_serial].name == "Serwer EC"
    assert renewers[0]["expiring"] == [ec_serial]

    # the successor logs in; the old one is revoked; a login with the old one fails
    ksef("login", "--profile", "server-ec", "--force")
    assert list(simulator.sim.ksef_certificates.logins.values())[-1] == new_serial
    ksef("cert", "revoke", ec_serial, "--profile", "server-ec", "--yes")
    ksef(
        "profile", "create", "old", "--env", url, "--nip", NIP, "--p12",
        str(tmp_path / "old-ec.p12"), "--p12-password-env", PASSWORD_ENV, "--store", "memory",
    )  # fmt: skip
    failed = ksef("login", "--profile", "old", "--force", code=5)
    assert "460" in failed and "Certyfikat odwołany" in failed
    statuses = {i["serial"]: i["status"] for i in ksef.json("cert", "list", "--profile", "seal")}
    assert statuses == {ec_serial: "Revoked", rsa_serial: "Active", new_serial: "Active"}
