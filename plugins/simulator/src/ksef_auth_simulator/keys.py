"""The simulator's own "Ministerstwo Finansów" encryption keys and their certificates.

One RSA key pair per usage (``KsefTokenEncryption``, ``SymmetricKeyEncryption``), each with a
self-signed X.509 certificate ``CN=Ministerstwo Finansów``. RSA key generation is slow, so key
material is cached per process, keyed by (usage, generation): every Simulator in a test run
shares the same keys, while retiring/rotating stays per Simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ksef_auth_simulator.refs import iso

USAGES = ("KsefTokenEncryption", "SymmetricKeyEncryption")
_CACHE: dict[tuple[str, int], tuple[rsa.RSAPrivateKey, bytes]] = {}
_CACHE_LOCK = threading.Lock()


def _material(usage: str, generation: int) -> tuple[rsa.RSAPrivateKey, bytes]:
    with _CACHE_LOCK:
        cached = _CACHE.get((usage, generation))
        if cached is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                ]
            )
            start = dt.datetime(2025, 9, 29, 6, 0, 0, tzinfo=dt.UTC) + dt.timedelta(
                minutes=generation
            )
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(start + dt.timedelta(days=3 * 365))
                .sign(key, hashes.SHA256())
            )
            cached = (key, cert.public_bytes(serialization.Encoding.DER))
            _CACHE[(usage, generation)] = cached
        return cached


@dataclass
class PublicKeyEntry:
    usage: str
    generation: int
    private_key: rsa.RSAPrivateKey
    certificate_der: bytes
    retired: bool = False

    @functools.cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @functools.cached_property
    def certificate_id(self) -> str:
        return base64.b64encode(hashlib.sha256(self.certificate_der).digest()).decode("ascii")

    @functools.cached_property
    def public_key_id(self) -> str:
        spki = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def to_json(self) -> dict[str, object]:
        cert = self.certificate
        return {
            "certificate": base64.b64encode(self.certificate_der).decode("ascii"),
            "certificateId": self.certificate_id,
            "publicKeyId": self.public_key_id,
            "validFrom": iso(cert.not_valid_before_utc.timestamp()),
            "validTo": iso(cert.not_valid_after_utc.timestamp()),
            "usage": [self.usage],
        }


class KeyRing:
    """The keys one Simulator publishes; supports planned rotation and retirement."""

    def __init__(self, rotate: bool = False) -> None:
        self._lock = threading.Lock()
        self._entries: list[PublicKeyEntry] = []
        self._next: dict[str, int] = dict.fromkeys(USAGES, 0)
        for _ in range(2 if rotate else 1):
            self.rotate()

    def rotate(self) -> list[str]:
        """Add a new key per usage (the old ones stay listed); returns the new publicKeyIds."""
        added = []
        with self._lock:
            for usage in USAGES:
                generation = self._next[usage]
                self._next[usage] = generation + 1
                key, der = _material(usage, generation)
                entry = PublicKeyEntry(usage, generation, key, der)
                self._entries.append(entry)
                added.append(entry.public_key_id)
        return added

    def retire(self, public_key_id: str) -> None:
        """Emergency rotation: drop the key from the list; its id then gives 21470."""
        with self._lock:
            for entry in self._entries:
                if entry.public_key_id == public_key_id:
                    entry.retired = True
                    return
        raise KeyError(f"no key with publicKeyId {public_key_id!r}")

    def active(self, usage: str | None = None) -> list[PublicKeyEntry]:
        """Unretired keys, newest first."""
        with self._lock:
            entries = [e for e in self._entries if not e.retired]
        if usage is not None:
            entries = [e for e in entries if e.usage == usage]
        return sorted(entries, key=lambda e: e.generation, reverse=True)

    def listing(self) -> list[dict[str, object]]:
        return [e.to_json() for e in sorted(self.active(), key=lambda e: (e.usage, e.generation))]

    def decrypt_token(self, ciphertext: bytes, public_key_id: str | None) -> bytes:
        """RSA-OAEP (SHA-256, MGF1-SHA-256) with the named key or, if none named, any token key.

        Raises ``LookupError`` for an unknown/retired key id, ``ValueError`` when no key decrypts.
        """
        keys = self.active("KsefTokenEncryption")
        if public_key_id is not None:
            keys = [e for e in keys if e.public_key_id == public_key_id]
            if not keys:
                raise LookupError(public_key_id)
        oaep = padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        for entry in keys:
            try:
                return entry.private_key.decrypt(ciphertext, oaep)
            except ValueError:
                continue
        raise ValueError("no KsefTokenEncryption key decrypts this ciphertext")

    def knows(self, public_key_id: str) -> bool:
        return any(e.public_key_id == public_key_id for e in self.active("KsefTokenEncryption"))
