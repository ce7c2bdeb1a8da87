"""What the peer tests share: a third-party client driven in a subprocess (:class:`Peer`), the
simulator seen only from outside (:class:`SimulatorAdmin`), and self-signed test certificates.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
CATALOG: dict[str, dict[str, str]] = tomllib.loads((HERE / "peers.toml").read_text())
START_TIMEOUT = 120.0  # a peer's first answer waits for its imports, on a busy machine
CALL_TIMEOUT = 60.0


class PeerFailed(AssertionError):
    """The peer raised: ``error`` is its exception, ``Type: message``."""

    def __init__(self, peer: str, op: str, error: str) -> None:
        super().__init__(f"{peer} {op}: {error}")
        self.error = error


class PeerTimeout(AssertionError):
    """The peer did not answer in time (it was stopped; the next call starts it again)."""


class Peer:
    """One third-party client in its own interpreter, answering ``call(op, **args)``."""

    def __init__(self, name: str, python: str, url: str, logs: Path) -> None:
        self.name = name
        self._command = [python, str(HERE / "drivers" / CATALOG[name]["driver"]), url]
        self._logs = logs
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._answers: queue.Queue[str | None] = queue.Queue()
        described = self.call("describe", timeout=START_TIMEOUT)
        self.version: str = described["version"]
        self.offers: set[str] = set(described["offers"])

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self.stop()
            self._answers = queue.Queue()
            self._stderr = self._logs.open("a")
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                cwd=self._logs.parent,
            )
            threading.Thread(
                target=self._read, args=(self._process, self._answers), daemon=True
            ).start()
        return self._process

    @staticmethod
    def _read(process: subprocess.Popen[str], answers: queue.Queue[str | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            answers.put(line)
        answers.put(None)

    def call(self, op: str, timeout: float = CALL_TIMEOUT, **args: Any) -> Any:
        """The peer's answer to ``op``; :class:`PeerFailed` if it raised."""
        process = self._start()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        process.stdin.flush()
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.stop(kill=True)
            raise PeerTimeout(f"{self.name} did not answer {op} within {timeout:g} s") from None
        if line is None:
            raise AssertionError(f"{self.name}'s driver exited; its stderr:\n{self.stderr_tail()}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise PeerFailed(self.name, op, answer["error"])
        return answer["result"]

    def offering(self, op: str) -> Peer:
        if op not in self.offers:
            pytest.skip(f"{self.name} {self.version} offers no {op.replace('_', ' ')}")
        return self

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(self._logs.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, kill: bool = False) -> None:
        """Close its stdin (the driver then exits), or kill it (stuck in a call)."""
        process, self._process = self._process, None
        if process is not None:
            if kill:
                process.kill()
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class SimulatorAdmin:
    """The served simulator, used only over HTTP: its KSeF API and its ``/_sim`` routes."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url
        self.base_url = f"{root_url}/v2"
        self.http = httpx.Client(base_url=root_url, timeout=30)

    def issue_token(self, nip: str) -> str:
        answer = self.http.post("/_sim/tokens", json={"nip": nip})
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token

    def revoke_token(self, token: str) -> None:
        self.http.post("/_sim/tokens/revoke", json={"token": token}).raise_for_status()

    def whoami(self, access_token: str) -> dict[str, Any]:
        answer = self.http.get("/_sim/whoami", headers={"Authorization": f"Bearer {access_token}"})
        assert answer.status_code == 200, f"the simulator refused the access token: {answer.text}"
        who: dict[str, Any] = answer.json()
        return who

    def counters(self, nip: str) -> dict[str, Any]:
        """That context's events and its requests per operation and status."""
        seen: dict[str, Any] = self.http.get("/_sim/counters", params={"context": nip}).json()
        return seen

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post(
            "/v2/auth/token/refresh", headers={"Authorization": f"Bearer {refresh_token}"}
        )


_KEYS: dict[str, Any] = {}
_SERIALS = itertools.count(1)


def certificate(kind: str, nip: str, key_type: str = "rsa") -> tuple[str, str]:
    """A self-signed test certificate (PEM) and its PKCS#8 key (PEM), as KSeF's TEST accepts:
    ``seal`` (organizationIdentifier VATPL-<NIP>) or ``person`` (serialNumber TINPL-<NIP>)."""
    if key_type not in _KEYS:
        _KEYS[key_type] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if key_type == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
    key = _KEYS[key_type]
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")]
    if kind == "seal":
        attributes += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Firma {nip} sp. z o.o."),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Pieczęć {nip}"),
        ]
    else:
        attributes += [
            x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
            x509.NameAttribute(NameOID.SURNAME, "Kowalski"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINPL-{nip}"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Jan Kowalski"),
        ]
    subject = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1000 + next(_SERIALS))
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class SoftHsm:
    """A SoftHSM2 token in a directory of its own (its config file is ``config``)."""

    label = "peers"
    pin = "1234"

    def __init__(self, directory: Path) -> None:
        util = shutil.which("softhsm2-util")
        module = next((m for m in SOFTHSM_MODULES if Path(m).is_file()), None)
        if util is None or module is None:
            pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2; .ci/run does)")
        self.util, self.module = util, module
        (directory / "tokens").mkdir()
        self.config = directory / "softhsm2.conf"
        self.config.write_text(f"directories.tokendir = {directory / 'tokens'}\n")
        self._run("--init-token", "--free", "--label", self.label, "--so-pin", "5678")
        self._keys = itertools.count(1)

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [self.util, *args, "--pin", self.pin],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SOFTHSM2_CONF": str(self.config)},
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def import_key(self, key_pem: str, label: str) -> None:
        """Put a PKCS#8 key into the token (the test then forgets where it came from)."""
        pem = self.config.parent / f"{label}.pem"
        pem.touch(mode=0o600)
        pem.write_text(key_pem)
        try:
            number = f"{next(self._keys):04x}"
            self._run("--import", str(pem), "--token", self.label, "--label", label, "--id", number)
        finally:
            pem.unlink()
