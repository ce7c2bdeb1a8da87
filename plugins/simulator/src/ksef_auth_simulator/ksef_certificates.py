"""KSeF certificates (tag "Certyfikaty"): limits, enrollment data, enrollments, issued certificates.

The rules (API 2.9.0, unchanged since 2.3.0):

* certificates belong to the *authenticated subject* (the NIP, PESEL or fingerprint read from the
  credential that logged in), not to the context: an accounting office's certificate is its own;
* ``GET /certificates/enrollments/data`` is derived from the certificate that logged in (25001
  after a KSeF-token login); a KSeF certificate's own login gives back the data it was issued for,
  so a KSeF certificate may enroll its successor;
* ``POST /certificates/enrollments`` only after a XAdES login (25002), within the subject's limits
  (25006 requests, 25007 active certificates), with a CSR that passes :mod:`.csr`; it is
  processed asynchronously (status 100 for ``certificate_enrollment_delay`` seconds, then 200 with
  the serial number, or 400 when the key was certified for another subject or the limit was
  reached meanwhile); the status is kept 30 days, then 410;
* a certificate is ``Active`` from ``validFrom`` until ``validTo`` (2 years), then ``Expired``;
  ``Revoked`` after ``POST /certificates/{serial}/revoke``; ``PUT /testdata/certificates/{serial}``
  moves ``validTo`` earlier (the record changes, the certificate's bytes do not);
* an ``Authentication`` certificate logs in through XAdES and is reported as
  ``InternalCertificate``; a revoked, expired or not yet valid one ends in 460, an ``Offline`` one
  is refused at once (21115).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ksef_auth_simulator import csr
from ksef_auth_simulator.certs import CertificateIdentity, fingerprint
from ksef_auth_simulator.errors import KsefError, forbidden, gone
from ksef_auth_simulator.ksef_ca import CertificateType, IssuingCA
from ksef_auth_simulator.refs import iso, new_reference
from ksef_auth_simulator.state import Operation

DAY = 86400.0
STATUS_KEPT = 30 * DAY
#: (enrollments, active certificates) per subject identifier type, as KSeF publishes them
PUBLISHED_LIMITS: dict[str, tuple[int, int]] = {
    "Nip": (300, 100),
    "Pesel": (12, 6),
    "Fingerprint": (12, 6),
}
#: enrollment data field -> subject attribute OID (KSeF's table, certyfikaty-KSeF.md)
DATA_OIDS: dict[str, str] = {
    "commonName": "2.5.4.3",
    "surname": "2.5.4.4",
    "serialNumber": "2.5.4.5",
    "countryName": "2.5.4.6",
    "organizationName": "2.5.4.10",
    "givenName": "2.5.4.42",
    "uniqueIdentifier": "2.5.4.45",
    "organizationIdentifier": "2.5.4.97",
}
ENROLLMENT_STATUS = {
    100: "Wniosek przyjęty do realizacji",
    200: "Wniosek obsłużony (certyfikat wygenerowany)",
    400: "Wniosek odrzucony",
}
_NAME = re.compile(r"^[a-zA-Z0-9_\-\ ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]+$")
_SERIAL = re.compile(r"^[0-9A-F]{16}$")
_TYPES = ("Authentication", "Offline")
_STATUSES = ("Active", "Blocked", "Revoked", "Expired")
_REASONS = ("Unspecified", "Superseded", "KeyCompromise")
INTERNAL_METHOD_INFO = ("XadesSignature", "xades.internal-certificate", "Certyfikat KSeF")


@dataclass
class CertificateSettings:
    """The KSeF-certificate knobs of a simulator (``SimulatorConfig.certificates``).

    ``enrollment_limit`` / ``certificate_limit`` replace the published per-subject limits (NIP
    300/100, PESEL and fingerprint 12/6) when set; ``validity`` is the lifetime of an issued
    certificate in seconds (KSeF: 2 years); ``enrollment_delay`` how long an enrollment reports
    status 100 before it is processed.
    """

    enrollment_delay: float = 0.0
    validity: float = 730 * DAY
    enrollment_limit: int | None = None
    certificate_limit: int | None = None

    def __post_init__(self) -> None:
        if self.enrollment_delay < 0 or self.validity <= 0:
            raise ValueError("enrollment_delay must be >= 0 and validity > 0 seconds")

    def limits(self, subject_type: str) -> tuple[int, int]:
        enrollments, active = PUBLISHED_LIMITS.get(subject_type, PUBLISHED_LIMITS["Fingerprint"])
        if self.enrollment_limit is not None:
            enrollments = self.enrollment_limit
        if self.certificate_limit is not None:
            active = self.certificate_limit
        return enrollments, active


Subject = tuple[str, str]  # (Nip | Pesel | Fingerprint, value)


@dataclass
class Enrollment:
    """One ``POST /certificates/enrollments`` (reference number ``EH``)."""

    ref: str
    subject: Subject
    requested: float
    ready_at: float
    name: str
    certificate_type: CertificateType
    request: csr.CheckedRequest
    data: dict[str, str]
    valid_from: float | None
    code: int = 100
    details: list[str] = field(default_factory=list)
    serial: str | None = None


@dataclass
class IssuedCertificate:
    """A certificate KSeF issued: the record behind its serial number."""

    serial: str
    subject: Subject
    data: dict[str, str]
    name: str
    certificate_type: CertificateType
    der: bytes = field(repr=False)
    public_key_der: bytes = field(repr=False)
    requested: float
    valid_from: float
    valid_to: float
    revoked: bool = False
    revocation_reason: str | None = None
    last_use: float | None = None

    def status(self, now: float) -> str:
        if self.revoked:
            return "Revoked"
        return "Expired" if now >= self.valid_to else "Active"

    def active_or_pending(self, now: float) -> bool:
        """Counts against the active-certificate limit (a future ``validFrom`` counts too)."""
        return not self.revoked and now < self.valid_to


@dataclass
class InternalLogin:
    """A XAdES login with a KSeF certificate, as :func:`auth_flow.init_xades` sees it."""

    record: IssuedCertificate
    identity: CertificateIdentity
    method: str = "InternalCertificate"

    def problem(self, now: float) -> str | None:
        """Why the login ends in 460 (revoked, expired, not yet valid), or None."""
        if self.record.revoked:
            return "Certyfikat odwołany"
        if not self.record.valid_from <= now < self.record.valid_to:
            return "Nieważny certyfikat"
        return None

    def used_by(self, op: Operation, now: float) -> None:
        """The operation logs in with this certificate: its method info and last use."""
        op.method_info = INTERNAL_METHOD_INFO
        self.record.last_use = now


class KsefCertificates:
    """Every KSeF certificate and enrollment of one simulator, and the rules that govern them."""

    def __init__(self, settings: CertificateSettings) -> None:
        self.settings = settings
        self.ca = IssuingCA()
        self.lock = threading.RLock()
        self.enrollments: dict[str, Enrollment] = {}
        self.issued: dict[str, IssuedCertificate] = {}
        self.logins: dict[str, str] = {}  # AU reference -> serial of the KSeF certificate
        self._unique_ids: dict[Subject, str] = {}

    # -- who is asking ---------------------------------------------------------------------
    @staticmethod
    def subject_of(op: Operation) -> Subject:
        ident = op.subject.get("subjectIdentifier")
        if isinstance(ident, dict):
            return str(ident.get("type")), str(ident.get("value"))
        return "Nip", op.context_value.split("-", 1)[0]

    def data_for(self, op: Operation) -> dict[str, str]:
        """The enrollment data: the subject attributes of the certificate that logged in."""
        if op.method == "Token":
            raise KsefError(25001, [])
        serial = self.logins.get(op.ref)
        if serial is not None:
            return dict(self.issued[serial].data)
        subject = self.subject_of(op)
        details = {k: str(v) for k, v in op.subject.items() if isinstance(v, str) and v}
        data = {k: details[k] for k in DATA_OIDS if k in details}
        if subject[0] == "Nip" and "organizationIdentifier" in data:
            data["organizationIdentifier"] = f"VATPL-{subject[1]}"
        elif subject[0] == "Nip" and "serialNumber" in data:
            data["serialNumber"] = f"TINPL-{subject[1]}"
        elif subject[0] == "Pesel":
            data["serialNumber"] = f"PNOPL-{subject[1]}"
        if "commonName" not in data or "countryName" not in data:
            raise KsefError(25001, ["Certyfikat nie zawiera nazwy powszechnej i kodu kraju."])
        with self.lock:
            data["uniqueIdentifier"] = self._unique_ids.setdefault(subject, str(uuid.uuid4()))
        return data

    # -- limits ------------------------------------------------------------------------------
    def limits(self, op: Operation, now: float) -> dict[str, Any]:
        subject = self.subject_of(op)
        enrollment_limit, certificate_limit = self.settings.limits(subject[0])
        with self.lock:
            made = sum(1 for e in self.enrollments.values() if e.subject == subject)
            active = sum(
                1 for c in self.issued.values() if c.subject == subject and c.active_or_pending(now)
            )
        enrollment_left = max(enrollment_limit - made, 0)
        certificate_left = max(certificate_limit - active, 0)
        return {
            "canRequest": op.method != "Token" and enrollment_left > 0 and certificate_left > 0,
            "enrollment": {"limit": enrollment_limit, "remaining": enrollment_left},
            "certificate": {"limit": certificate_limit, "remaining": certificate_left},
        }

    # -- enrollment --------------------------------------------------------------------------
    def enroll(self, op: Operation, body: object, now: float) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
        missing = [k for k in ("certificateName", "certificateType", "csr") if k not in body]
        if missing:
            raise KsefError(21405, [f"Brak wymaganego pola {m}." for m in missing])
        name = body["certificateName"]
        if not isinstance(name, str) or not 5 <= len(name) <= 100 or not _NAME.match(name):
            raise KsefError(
                21405, ["certificateName: od 5 do 100 liter, cyfr, spacji, '_' lub '-'."]
            )
        kind = body["certificateType"]
        if kind not in _TYPES:
            raise KsefError(21405, ["certificateType: Authentication lub Offline."])
        valid_from = body.get("validFrom")
        start = None if valid_from is None else parse_time(valid_from, "validFrom")
        if op.method == "Token":
            raise KsefError(25002, [])
        data = self.data_for(op)
        limits = self.limits(op, now)
        if limits["enrollment"]["remaining"] <= 0:
            raise KsefError(25006, [])
        if limits["certificate"]["remaining"] <= 0:
            raise KsefError(25007, [])
        checked = csr.check(body["csr"], [(DATA_OIDS[k], v) for k, v in data.items()])
        enrollment = Enrollment(
            ref=new_reference("EH", now),
            subject=self.subject_of(op),
            requested=now,
            ready_at=now + self.settings.enrollment_delay,
            name=name,
            certificate_type=kind,
            request=checked,
            data=data,
            valid_from=start,
        )
        with self.lock:
            self.enrollments[enrollment.ref] = enrollment
        return {"referenceNumber": enrollment.ref, "timestamp": iso(now)}

    def _process(self, enrollment: Enrollment, now: float) -> None:
        """Issue the certificate once the enrollment is due (called under ``self.lock``)."""
        if enrollment.code != 100 or now < enrollment.ready_at:
            return
        spki = _spki(enrollment.request)
        taken = any(
            c.public_key_der == spki and c.subject != enrollment.subject
            for c in self.issued.values()
        )
        active = sum(
            1
            for c in self.issued.values()
            if c.subject == enrollment.subject and c.active_or_pending(now)
        )
        if taken:
            enrollment.code = 400
            enrollment.details = ["Klucz publiczny został już certyfikowany przez inny podmiot."]
            return
        if active >= self.settings.limits(enrollment.subject[0])[1]:
            enrollment.code = 400
            enrollment.details = ["Osiągnięto dopuszczalny limit posiadanych certyfikatów."]
            return
        serial = _new_serial(self.issued)
        start = max(enrollment.valid_from or now, now)
        end = start + self.settings.validity
        certificate = self.ca.issue(
            subject=enrollment.request.subject,
            public_key=enrollment.request.public_key,
            serial=int(serial, 16),
            not_before=_utc(start),
            not_after=_utc(end),
            certificate_type=enrollment.certificate_type,
        )
        self.issued[serial] = IssuedCertificate(
            serial=serial,
            subject=enrollment.subject,
            data=dict(enrollment.data),
            name=enrollment.name,
            certificate_type=enrollment.certificate_type,
            der=certificate.public_bytes(serialization.Encoding.DER),
            public_key_der=spki,
            requested=enrollment.requested,
            valid_from=start,
            valid_to=end,
        )
        enrollment.code, enrollment.serial = 200, serial

    def status(self, op: Operation, ref: str, now: float) -> dict[str, Any]:
        if not isinstance(ref, str) or len(ref) != 36:
            raise KsefError(21405, ["referenceNumber musi mieć 36 znaków."])
        with self.lock:
            enrollment = self.enrollments.get(ref)
            if enrollment is None or enrollment.subject != self.subject_of(op):
                raise KsefError(25005, [])
            if now >= enrollment.requested + STATUS_KEPT:
                raise gone()
            self._process(enrollment, now)
            status: dict[str, Any] = {
                "code": enrollment.code,
                "description": ENROLLMENT_STATUS[enrollment.code],
            }
            if enrollment.details:
                status["details"] = list(enrollment.details)
            body: dict[str, Any] = {"requestDate": iso(enrollment.requested), "status": status}
            if enrollment.serial is not None:
                body["certificateSerialNumber"] = enrollment.serial
        return body

    # -- issued certificates -----------------------------------------------------------------
    def retrieve(self, op: Operation, body: object) -> dict[str, Any]:
        if not isinstance(body, dict) or "certificateSerialNumbers" not in body:
            raise KsefError(21405, ["Brak wymaganego pola certificateSerialNumbers."])
        serials = body["certificateSerialNumbers"]
        if not isinstance(serials, list) or not 1 <= len(serials) <= 10:
            raise KsefError(21405, ["certificateSerialNumbers: od 1 do 10 numerów."])
        for serial in serials:
            _check_serial(serial)
        subject = self.subject_of(op)
        with self.lock:
            found = [self.issued.get(s) for s in dict.fromkeys(serials)]
        return {
            "certificates": [
                {
                    "certificate": _b64(c.der),
                    "certificateName": c.name,
                    "certificateSerialNumber": c.serial,
                    "certificateType": c.certificate_type,
                }
                for c in found
                if c is not None and c.subject == subject
            ]
        }

    def query(self, op: Operation, params: Any, body: object, now: float) -> dict[str, Any]:
        size = _int_param(params.get("pageSize"), "pageSize", 10, 10, 50)
        offset = _int_param(params.get("pageOffset"), "pageOffset", 0, 0, None)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
        serial = body.get("certificateSerialNumber")
        if serial is not None:
            _check_serial(serial)
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise KsefError(21405, ["name: oczekiwano tekstu."])
        kind = body.get("type")
        if kind is not None and kind not in _TYPES:
            raise KsefError(21405, ["type: Authentication lub Offline."])
        wanted_status = body.get("status")
        if wanted_status is not None and wanted_status not in _STATUSES:
            raise KsefError(21405, ["status: Active, Blocked, Revoked lub Expired."])
        raw_after = body.get("expiresAfter")
        after = None if raw_after is None else parse_time(raw_after, "expiresAfter")
        subject = self.subject_of(op)
        with self.lock:
            records = [c for c in self.issued.values() if c.subject == subject]
        records = [
            c
            for c in records
            if (serial is None or c.serial == serial)
            and (name is None or name.lower() in c.name.lower())
            and (kind is None or c.certificate_type == kind)
            and (wanted_status is None or c.status(now) == wanted_status)
            and (after is None or c.valid_to > after)
        ]
        records.sort(key=lambda c: c.requested, reverse=True)
        chunk = records[offset * size : (offset + 1) * size]
        return {
            "certificates": [_list_item(c, now) for c in chunk],
            "hasMore": (offset + 1) * size < len(records),
        }

    def revoke(self, op: Operation, serial: str, body: object, now: float) -> None:
        if op.method == "Token":
            raise forbidden(
                "auth-method-not-allowed",
                "Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
                security={"authenticationMethodCategory": "Token"},
            )
        _check_serial(serial)
        reason = body.get("revocationReason") if isinstance(body, dict) else None
        if body is not None and not isinstance(body, dict):
            raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
        if reason is not None and reason not in _REASONS:
            raise KsefError(21405, ["revocationReason: Unspecified, Superseded lub KeyCompromise."])
        with self.lock:
            record = self._own(op, serial)
            if record.status(now) != "Active":
                raise KsefError(25009, [])
            record.revoked = True
            record.revocation_reason = reason or "Unspecified"

    def shorten(self, op: Operation, serial: str, body: object, now: float) -> None:
        """``PUT /testdata/certificates/{serial}``: ``validTo`` moves earlier (TEST only)."""
        _check_serial(serial)
        if not isinstance(body, dict) or "validTo" not in body:
            raise KsefError(21405, ["Brak wymaganego pola validTo."])
        valid_to = parse_time(body["validTo"], "validTo")
        with self.lock:
            record = self._own(op, serial)
            if valid_to > record.valid_to:
                raise KsefError(
                    21405, ["validTo: nowa data ważności nie może być późniejsza niż obecna."]
                )
            record.valid_to = valid_to

    def _own(self, op: Operation, serial: str) -> IssuedCertificate:
        record = self.issued.get(serial)
        if record is None or record.subject != self.subject_of(op):
            raise KsefError(25008, [])
        return record

    # -- logging in with a KSeF certificate -----------------------------------------------------
    def recognize(self, certificate: x509.Certificate) -> InternalLogin | None:
        """The KSeF certificate behind ``certificate`` (issued by this simulator), or None."""
        serial = f"{certificate.serial_number:016X}"
        with self.lock:
            record = self.issued.get(serial)
        if record is None or record.der != certificate.public_bytes(serialization.Encoding.DER):
            return None
        if not self.ca.signed(certificate):
            return None
        if record.certificate_type != "Authentication":
            raise KsefError(21115, ["Certyfikat KSeF typu Offline nie służy do uwierzytelnienia."])
        kind, value = record.subject
        identity = CertificateIdentity(
            identifier_type=kind,
            identifier=value,
            fingerprint=fingerprint(certificate),
            is_seal="organizationIdentifier" in record.data,
            subject_details={k: v for k, v in record.data.items() if k != "uniqueIdentifier"},
        )
        return InternalLogin(record, identity)

    def note_login(self, op: Operation, login: InternalLogin, now: float) -> None:
        login.used_by(op, now)
        with self.lock:
            self.logins[op.ref] = login.record.serial

    # -- the simulator's own admin API ----------------------------------------------------------
    def revoke_serial(self, serial: str, reason: str = "KeyCompromise") -> None:
        """Revoke a certificate directly (tests)."""
        with self.lock:
            record = self.issued[serial]
            record.revoked, record.revocation_reason = True, reason

    def find(self, serial: str) -> IssuedCertificate | None:
        with self.lock:
            return self.issued.get(serial)


def _list_item(record: IssuedCertificate, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "certificateSerialNumber": record.serial,
        "name": record.name,
        "type": record.certificate_type,
        "commonName": record.data.get("commonName", ""),
        "status": record.status(now),
        "subjectIdentifier": {"type": record.subject[0], "value": record.subject[1]},
        "validFrom": iso(record.valid_from),
        "validTo": iso(record.valid_to),
        "requestDate": iso(record.requested),
    }
    if record.last_use is not None:
        item["lastUseDate"] = iso(record.last_use)
    return item


def _spki(request: csr.CheckedRequest) -> bytes:
    return request.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _new_serial(taken: dict[str, IssuedCertificate]) -> str:
    while True:  # 16 hex digits, the first never 0 (a positive 64-bit integer)
        serial = f"{secrets.randbits(60) | (1 << 60):016X}"
        if serial not in taken:
            return serial


def _check_serial(serial: object) -> None:
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        raise KsefError(21405, [f"Numer seryjny {serial!r}: 16 cyfr szesnastkowych (A-F)."])


def _int_param(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise KsefError(21405, [f"{name} musi być liczbą całkowitą."]) from exc
    if value < low or (high is not None and value > high):
        limit = f"od {low} do {high}" if high is not None else f"co najmniej {low}"
        raise KsefError(21405, [f"{name}: wartość {limit}."])
    return value


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def parse_time(value: object, name: str) -> float:
    """An ISO-8601 date-time (up to 7 fractional digits) as seconds since the epoch."""
    match = _STAMP.match(value) if isinstance(value, str) else None
    if match is None:
        raise KsefError(21405, [f"{name}: oczekiwano daty i czasu ISO 8601."])
    fraction = (match.group(2) or ".0")[:7]
    zone = match.group(3) or "+00:00"
    zone = "+00:00" if zone == "Z" else zone
    try:
        moment = dt.datetime.fromisoformat(match.group(1) + fraction + zone)
    except ValueError as exc:
        raise KsefError(21405, [f"{name}: nieprawidłowa data."]) from exc
    return moment.timestamp()


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


__all__ = ["CertificateSettings", "Enrollment", "IssuedCertificate", "KsefCertificates"]
