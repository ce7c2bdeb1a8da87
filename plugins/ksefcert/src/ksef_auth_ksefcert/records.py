"""What KSeF answers about KSeF certificates, as frozen value types (no secret in any of them)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ksef_auth.model import parse_timestamp

if TYPE_CHECKING:
    from cryptography import x509

CertificateType = Literal["Authentication", "Offline"]
CERTIFICATE_TYPES: tuple[CertificateType, ...] = ("Authentication", "Offline")
Status = Literal["Active", "Blocked", "Revoked", "Expired"]
RevocationReason = Literal["Unspecified", "Superseded", "KeyCompromise"]
REVOCATION_REASONS: tuple[RevocationReason, ...] = ("Unspecified", "Superseded", "KeyCompromise")


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


@attrs.frozen
class Limit:
    limit: int
    remaining: int


@attrs.frozen
class Limits:
    """``GET /certificates/limits``: may the subject enroll, and how many are left."""

    can_request: bool
    enrollment: Limit
    certificate: Limit

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Limits:
        def limit(name: str) -> Limit:
            part = body.get(name) or {}
            return Limit(int(part.get("limit", 0)), int(part.get("remaining", 0)))

        return cls(bool(body.get("canRequest")), limit("enrollment"), limit("certificate"))


#: enrollment data field -> the subject attribute it becomes, in KSeF's order (its OID table)
SUBJECT_FIELDS: tuple[tuple[str, str], ...] = (
    ("commonName", "2.5.4.3"),
    ("surname", "2.5.4.4"),
    ("serialNumber", "2.5.4.5"),
    ("countryName", "2.5.4.6"),
    ("organizationName", "2.5.4.10"),
    ("givenName", "2.5.4.42"),
    ("uniqueIdentifier", "2.5.4.45"),
    ("organizationIdentifier", "2.5.4.97"),
)


@attrs.frozen
class EnrollmentData:
    """``GET /certificates/enrollments/data``: the subject a CSR must carry, exactly."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> EnrollmentData:
        known = dict(SUBJECT_FIELDS)
        values: list[tuple[str, str]] = []
        for name, value in body.items():
            if value is None:
                continue
            if name not in known:
                raise ValueError(f"unknown enrollment data field {name!r}")
            for item in value if isinstance(value, list) else [value]:  # givenName may repeat
                values.append((name, str(item)))
        return cls(tuple(values))

    def subject(self) -> x509.Name:
        """The X.509 subject: one attribute per field, in KSeF's table order."""
        from cryptography import x509

        oids = dict(SUBJECT_FIELDS)
        order = [name for name, _ in SUBJECT_FIELDS]
        ordered = sorted(self.fields, key=lambda item: order.index(item[0]))
        return x509.Name(
            [x509.NameAttribute(x509.ObjectIdentifier(oids[n]), v) for n, v in ordered]
        )

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n == name), None)


@attrs.frozen
class EnrollmentStatus:
    """``GET /certificates/enrollments/{ref}``: 100 in progress, 200 issued (``serial``), 400
    rejected, 500 failed, 550 cancelled (try again)."""

    reference: str
    code: int
    description: str
    details: tuple[str, ...] = ()
    serial: str | None = None
    requested: datetime | None = None

    @classmethod
    def from_json(cls, reference: str, body: Mapping[str, Any]) -> EnrollmentStatus:
        status = body.get("status") or {}
        return cls(
            reference=reference,
            code=int(status.get("code", 0)),
            description=str(status.get("description") or ""),
            details=tuple(str(d) for d in status.get("details") or ()),
            serial=body.get("certificateSerialNumber"),
            requested=_time(body.get("requestDate")),
        )

    @property
    def done(self) -> bool:
        return self.code != 100


@attrs.frozen
class CertificateInfo:
    """One entry of ``POST /certificates/query``: a certificate's metadata."""

    serial: str
    name: str
    type: str
    common_name: str
    status: str
    subject_type: str
    subject_value: str
    valid_from: datetime
    valid_to: datetime
    requested: datetime | None
    last_use: datetime | None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> CertificateInfo:
        subject = item.get("subjectIdentifier") or {}
        valid_from, valid_to = _time(item.get("validFrom")), _time(item.get("validTo"))
        if valid_from is None or valid_to is None:
            raise ValueError("a certificate entry without validFrom/validTo")
        return cls(
            serial=str(item["certificateSerialNumber"]),
            name=str(item.get("name", "")),
            type=str(item.get("type", "")),
            common_name=str(item.get("commonName", "")),
            status=str(item.get("status", "")),
            subject_type=str(subject.get("type", "")),
            subject_value=str(subject.get("value", "")),
            valid_from=valid_from,
            valid_to=valid_to,
            requested=_time(item.get("requestDate")),
            last_use=_time(item.get("lastUseDate")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "name": self.name,
            "type": self.type,
            "commonName": self.common_name,
            "status": self.status,
            "subject": f"{self.subject_type}:{self.subject_value}",
            "validFrom": self.valid_from.isoformat(),
            "validTo": self.valid_to.isoformat(),
            "requested": self.requested.isoformat() if self.requested else None,
            "lastUse": self.last_use.isoformat() if self.last_use else None,
        }


@attrs.frozen
class RetrievedCertificate:
    """One entry of ``POST /certificates/retrieve``: the certificate itself."""

    serial: str
    name: str
    type: str
    der: bytes = attrs.field(repr=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> RetrievedCertificate:
        return cls(
            serial=str(item["certificateSerialNumber"]),
            name=str(item.get("certificateName", "")),
            type=str(item.get("certificateType", "")),
            der=base64.b64decode(str(item["certificate"]), validate=True),
        )

    def certificate(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_der_x509_certificate(self.der)


def serial_of(certificate: x509.Certificate) -> str:
    """KSeF's form of a certificate's serial number: 16 uppercase hex digits."""
    return f"{certificate.serial_number:016X}"
