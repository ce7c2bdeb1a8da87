"""The simulator's own certification authority: it signs the KSeF certificates it issues.

KSeF issues its certificates from the Ministry of Finance's CA; the simulator has one of its own,
an EC P-256 key made on first use (per Simulator), with a self-signed CA certificate. A
certificate this CA signed, with a serial number the simulator recorded, is a KSeF certificate:
it logs in as ``InternalCertificate`` (see :mod:`ksef_auth_simulator.ksef_certificates`).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

CertificateType = Literal["Authentication", "Offline"]

CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Symulator KSeF - Centrum Certyfikacji"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów (symulator)"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
    ]
)


class IssuingCA:
    """Signs KSeF certificates. Thread-safe; the key is made on the first :meth:`issue`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._certificate: x509.Certificate | None = None

    def _ensure(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        with self._lock:
            if self._key is None or self._certificate is None:
                key = ec.generate_private_key(ec.SECP256R1())
                now = dt.datetime.now(dt.UTC)
                self._certificate = (
                    x509.CertificateBuilder()
                    .subject_name(CA_NAME)
                    .issuer_name(CA_NAME)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=3650))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(
                        x509.KeyUsage(
                            digital_signature=False,
                            content_commitment=False,
                            key_encipherment=False,
                            data_encipherment=False,
                            key_agreement=False,
                            key_cert_sign=True,
                            crl_sign=True,
                            encipher_only=False,
                            decipher_only=False,
                        ),
                        critical=True,
                    )
                    .add_extension(
                        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                    )
                    .sign(key, hashes.SHA256())
                )
                self._key = key
            return self._key, self._certificate

    @property
    def certificate(self) -> x509.Certificate:
        return self._ensure()[1]

    def issue(
        self,
        *,
        subject: x509.Name,
        public_key: CertificatePublicKeyTypes,
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
        certificate_type: CertificateType,
    ) -> x509.Certificate:
        """A certificate for ``public_key``: keyUsage digitalSignature (Authentication) or
        nonRepudiation (Offline), as KSeF issues them."""
        key, ca = self._ensure()
        authentication = certificate_type == "Authentication"
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=authentication,
                    content_commitment=not authentication,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )

    def signed(self, certificate: x509.Certificate) -> bool:
        """True when this CA signed ``certificate`` (False before it issued anything)."""
        with self._lock:
            ca = self._certificate
        if ca is None or certificate.issuer != ca.subject:
            return False
        try:
            certificate.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
