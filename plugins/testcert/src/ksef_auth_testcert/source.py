"""The ``test-certificate`` credential source: a self-signed seal or personal certificate.

Made once per identity (one per context NIP unless ``nip`` is set) and source instance (and
optionally kept in a directory, so that the same certificate
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
    CredentialRequest,
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
            " serialNumber TINPL-<NIP>). Defaults to the NIP of the login's context."
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
    _credentials: dict[str, CertificateCredential] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.pesel and self.kind == "seal":
            raise ValueError("a seal certificate carries no PESEL: set kind='personal'")

    # --- the CredentialSource contract ------------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Refuse DEMO and PRODUCTION, and a context without a NIP when none was given."""
        if not environment.accepts_test_certificates:
            raise ConfigError(f"{REFUSAL} (environment: {environment.name})")
        self._nip_for(context, error=ConfigError)

    def load(self, request: CredentialRequest) -> CertificateCredential:
        """The test certificate for the request's context (one per identity, kept while valid)."""
        if not request.environment.accepts_test_certificates:
            raise ConfigError(f"{REFUSAL} (environment: {request.environment.name})")
        nip = self._nip_for(request.context, error=CredentialError)
        identity = self.identity_for(nip)
        with self._lock:
            credential = self._credentials.get(identity)
            if credential is None or _expiring(credential.certificate):
                credential = self._credentials[identity] = self._obtain(nip, identity)
            return credential

    # --- internals ------------------------------------------------------------------------------

    def _nip_for(
        self, context: ContextIdentifier, *, error: type[ConfigError] | type[CredentialError]
    ) -> str | None:
        if self.nip is not None or (self.kind == "personal" and self.pesel):
            return self.nip
        if context.nip_part is None:
            raise error(f"the context {context} has no NIP: set nip for the test certificate")
        return context.nip_part

    def identity_for(self, nip: str | None) -> str:
        """``VATPL-<NIP>``, ``TINPL-<NIP>`` or ``PNOPL-<PESEL>``."""
        if self.kind == "personal" and self.pesel:
            return f"PNOPL-{self.pesel}"
        if nip is None:
            raise CredentialError("the test certificate needs a NIP: set nip")
        return f"{'VATPL' if self.kind == 'seal' else 'TINPL'}-{nip}"

    def _obtain(self, nip: str | None, identity: str) -> CertificateCredential:
        source = f"test-certificate:{self.kind}:{identity}"
        if self.directory is not None:
            stored = self._read_stored(identity)
            if stored is not None:
                return stored
        from ksef_auth_testcert.builder import make_test_certificate

        certificate, key = make_test_certificate(
            self.kind, nip=nip, pesel=self.pesel, key_type=self.key_type
        )
        if self.directory is not None:
            self._store(identity, certificate, key)
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

    def _paths(self, identity: str) -> tuple[Path, Path]:
        assert self.directory is not None
        stem = f"{self.kind}-{identity}-{self.key_type}"
        return self.directory / f"{stem}.cert.pem", self.directory / f"{stem}.key.pem"

    def _read_stored(self, identity: str) -> CertificateCredential | None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert_path, key_path = self._paths(identity)
        if not (cert_path.is_file() and key_path.is_file()):
            return None
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), self._password())
        except (OSError, ValueError, TypeError):
            return None  # damaged: make a new one
        if _expiring(certificate) or not _same_public_key(certificate, key.public_key()):
            return None
        source = f"test-certificate:{self.kind}:{identity}:{cert_path}"
        return CertificateCredential(certificate, LocalKey(key), source=source)

    def _store(self, identity: str, certificate: x509.Certificate, key: PrivateKeyTypes) -> None:
        from ksef_auth_testcert.files import certificate_pem, key_pem, write_private, write_public

        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            cert_path, key_path = self._paths(identity)
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
