"""SoftHSM2 for the tests: a private token directory, tokens made with softhsm2-util, keys
generated on them or imported, certificates written beside them; and the card simulator (a
PKCS#11 module in front of SoftHSM2 that locks PINs and can be pulled out)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NIP = "5261040828"
PIN = "Tok3n-PIN-4711"
"""The user PIN of every test token: no message, log, repr or output may contain it."""
SO_PIN = "SO-PIN-0815-secret"
WRONG_PIN = "Wr0ng-PIN-9999"

NOT_INSTALLED = (
    "SoftHSM2 is not installed, so the pkcs11 tests did not run (apt-get install softhsm2;"
    " python3 -m nox -s 'plugin(pkcs11)' installs it and runs them)"
)

MODULE_CANDIDATES = (
    os.environ.get("SOFTHSM2_MODULE", ""),
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def find_softhsm() -> tuple[str, str] | None:
    """(the module, softhsm2-util) when SoftHSM2 is installed here."""
    module = next((m for m in MODULE_CANDIDATES if m and Path(m).is_file()), None)
    util = shutil.which("softhsm2-util")
    return (module, util) if module and util else None


def seal_subject(nip: str = NIP, name: str = "Firma Testowa") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )


class LocalCa:
    """A local CA issuing certificates for public keys that live on tokens."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ksef-auth test CA")])
        self.certificate = self._build(self.name, self.key.public_key(), ca=True, days=365)

    def _build(
        self, subject: x509.Name, public_key: Any, *, ca: bool, days: float
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(
        self, public_key: Any, subject: x509.Name | None = None, days: float = 30
    ) -> x509.Certificate:
        return self._build(subject or seal_subject(), public_key, ca=False, days=days)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


class SoftHsm:
    """SoftHSM2 with its tokens in ``folder`` (``SOFTHSM2_CONF`` points there)."""

    def __init__(self, module: str, util: str, folder: Path) -> None:
        self.module = module
        self.util = util
        self.folder = folder
        (folder / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf = folder / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {folder / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [self.util, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"softhsm2-util {args[0]} failed: {result.stdout} {result.stderr}")
        return result.stdout

    def new_token(self, prefix: str = "t") -> str:
        """A new initialized token with a unique label (PIN and SO PIN as above)."""
        label = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.run("--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN)
        return label

    def delete_token(self, label: str) -> None:
        self.run("--delete-token", "--token", label)

    def import_key(self, label: str, key: Any, *, key_label: str, key_id: bytes) -> None:
        """Import a software key (PKCS#8 PEM) onto the token, as an HSM's owner does with an
        existing seal's key."""
        path = self.folder / f"import-{uuid.uuid4().hex}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        try:
            self.run(
                "--import",
                str(path),
                "--token",
                label,
                "--label",
                key_label,
                "--id",
                key_id.hex(),
                "--pin",
                PIN,
            )
        finally:
            path.unlink()


def software_key(algorithm: str) -> Any:
    if algorithm == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
