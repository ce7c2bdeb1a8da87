"""The ``test-certificate`` credential source: a self-signed seal or personal certificate.

Made once per source instance (and optionally kept in a directory, so that the same certificate
and fingerprint survive restarts). Accepted only by KSeF's TEST environment and by local
simulators: :meth:`TestCertificateSource.check` refuses DEMO and PRODUCTION before any login.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    ConfigError,
    ContextIdentifier,
    CredentialError,
    Environment,
    LocalKey,
    SecretRef,
)
from ksef_auth.nip import normalize_nip, normalize_pesel

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

REFUSAL = (
    "test certificates are self-signed and accepted only on TEST or a local simulator;"
    " use a qualified certificate (pem or pkcs12) for demo/production"
)
_RENEW_BEFORE = timedelta(days=1)


def _optional_nip(value: str | None) -> str | None:
    return None if value is None or str(value).strip() == "" else normalize_nip(str(value))


def _optional_pesel(value: str | None) -> str | None:
    return None if value is None or str(value).strip() == "" else normalize_pesel(str(value))


def _optional_path(value: str | Path | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value).expanduser()


@attrs.define(eq=False)
class TestCertificateSource:
    """A self-signed KSeF test certificate (seal or personal), for TEST and local simulators."""

    __test__ = False  # not a pytest test class, despite the name

    nip: str | None = attrs.field(
        default=None,
        converter=_optional_nip,
        metadata={
            "help": "NIP in the certificate (seal: organizationIdentifier VATPL-<NIP>; personal:"
            " serialNumber TINPL-<NIP>). Defaults to the strategy's context NIP."
        },
    )
    pesel: str | None = attrs.field(
        default=None,
        converter=_optional_pesel,
        metadata={"help": "PESEL for a personal certificate (serialNumber PNOPL-<PESEL>)."},
    )
    kind: Literal["seal", "personal"] = attrs.field(
        default="seal",
        validator=attrs.validators.in_(("seal", "personal")),
        metadata={"help": "seal (company seal, VATPL-<NIP>) or personal (TINPL-/PNOPL-)."},
    )
    key_type: Literal["rsa", "ec"] = attrs.field(
        default="rsa",
        validator=attrs.validators.in_(("rsa", "ec")),
        metadata={"help": "rsa (RSA-2048) or ec (ECDSA P-256)."},
    )
    directory: Path | None = attrs.field(
        default=None,
        converter=_optional_path,
        metadata={
            "help": "Keep the certificate and key (0600) here and reuse them across runs;"
            " unset: a new certificate per process.",
            "path": True,
        },
    )
    password: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "help": "With directory: the password that keeps the stored key encrypted"
            " (default: a random one generated once into directory/key.secret, 0600).",
            "secret": True,
        },
    )
    _credential: CertificateCredential | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.pesel and self.kind == "seal":
            raise ValueError("a seal certificate carries no PESEL: set kind='personal'")

    # --- the CredentialSource contract ------------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Refuse DEMO and PRODUCTION; take the NIP from the context when none was given."""
        if not environment.accepts_test_certificates:
            raise ConfigError(f"{REFUSAL} (environment: {environment.name})")
        if self.nip is None and not (self.kind == "personal" and self.pesel):
            if context.nip_part is None:
                raise ConfigError(
                    f"the context {context} has no NIP: set nip for the test certificate"
                )
            self.nip = context.nip_part

    def load(self) -> CertificateCredential:
        with self._lock:
            if self._credential is None or _expiring(self._credential.certificate):
                self._credential = self._obtain()
            return self._credential

    # --- internals ------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """``VATPL-<NIP>``, ``TINPL-<NIP>`` or ``PNOPL-<PESEL>``."""
        if self.kind == "personal" and self.pesel:
            return f"PNOPL-{self.pesel}"
        if self.nip is None:
            raise CredentialError(
                "the test certificate needs a NIP: set nip, or run the strategy's check() so it"
                " takes the context NIP"
            )
        return f"{'VATPL' if self.kind == 'seal' else 'TINPL'}-{self.nip}"

    def _obtain(self) -> CertificateCredential:
        identity = self.identity
        source = f"test-certificate:{self.kind}:{identity}"
        if self.directory is not None:
            stored = self._read_stored()
            if stored is not None:
                return stored
        from ksef_auth_testcert.builder import make_test_certificate

        certificate, key = make_test_certificate(
            self.kind, nip=self.nip, pesel=self.pesel, key_type=self.key_type
        )
        if self.directory is not None:
            self._store(certificate, key)
        return CertificateCredential(certificate, LocalKey(key), source=source)

    def _password(self) -> bytes:
        """The key's password: the configured one, or one generated once beside the key (as
        the file store keeps its key: a copy of the key file alone is useless)."""
        if self.password is not None:
            return self.password.get().reveal().encode()
        assert self.directory is not None
        import secrets

        from ksef_auth.files import create_private_once

        secret_file = self.directory / "key.secret"
        create_private_once(secret_file, secrets.token_urlsafe(32))  # no-op when it exists
        return secret_file.read_text(encoding="ascii").strip().encode()

    def _paths(self) -> tuple[Path, Path]:
        assert self.directory is not None
        stem = f"{self.kind}-{self.identity}-{self.key_type}"
        return self.directory / f"{stem}.cert.pem", self.directory / f"{stem}.key.pem"

    def _read_stored(self) -> CertificateCredential | None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert_path, key_path = self._paths()
        if not (cert_path.is_file() and key_path.is_file()):
            return None
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), self._password())
        except (OSError, ValueError, TypeError):
            return None  # damaged: make a new one
        if _expiring(certificate) or not _same_public_key(certificate, key.public_key()):
            return None
        source = f"test-certificate:{self.kind}:{self.identity}:{cert_path}"
        return CertificateCredential(certificate, LocalKey(key), source=source)

    def _store(self, certificate: x509.Certificate, key: PrivateKeyTypes) -> None:
        from ksef_auth_testcert.files import certificate_pem, key_pem, write_private, write_public

        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            cert_path, key_path = self._paths()
            write_private(key_path, key_pem(key, self._password()))
            write_public(cert_path, certificate_pem(certificate))
        except OSError as exc:
            raise CredentialError(
                f"cannot keep the test certificate in {self.directory}: {exc.strerror};"
                " fix the directory's permissions or unset directory"
            ) from None


def _expiring(certificate: x509.Certificate) -> bool:
    return certificate.not_valid_after_utc - datetime.now(UTC) < _RENEW_BEFORE


def _same_public_key(certificate: x509.Certificate, public_key: PublicKeyTypes) -> bool:
    from cryptography.hazmat.primitives import serialization

    def der(key: PublicKeyTypes) -> bytes:
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return der(certificate.public_key()) == der(public_key)
