"""The KSeF certificate endpoints (tag "Certyfikaty"), called with a strategy's own session.

:class:`CertificatesClient` takes a logged-in :class:`ksef_auth.Strategy`: every request carries
the strategy's current access token (``strategy.token()``: cached, refreshed or logged in as
needed) and is paced under KSeF's limits like the strategy's logins. Enrolling needs a strategy
that logs in with a XAdES signature (a qualified seal or signature, or a KSeF certificate).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from ksef_auth.errors import ConfigError, DeadlineExceeded, KsefError
from ksef_auth.pacing import pacer_for
from ksef_auth.secret import Secret
from ksef_auth.transport import Transport, error_from_response
from ksef_auth_ksefcert.errors import EnrollmentRejected, hint
from ksef_auth_ksefcert.records import (
    CertificateInfo,
    CertificateType,
    EnrollmentData,
    EnrollmentStatus,
    Limits,
    RetrievedCertificate,
    RevocationReason,
)

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth import Strategy

log = logging.getLogger("ksef_auth.ksefcert")

Progress = Callable[[EnrollmentStatus, float], None]
"""Called after each status poll with the status and the seconds waited so far."""


class CertificatesClient:
    """KSeF certificates of the subject ``strategy`` logs in as."""

    def __init__(self, strategy: Strategy, *, transport: Transport | None = None) -> None:
        self.strategy = strategy
        self.transport = transport or Transport(
            strategy.environment, pacer=pacer_for(strategy.store)
        )
        self.poll_interval = 0.1
        self.poll_interval_max = 2.0
        self._sleep = time.sleep

    # --- plumbing -------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        ok: Iterable[int] = (200,),
        error: type[KsefError] = KsefError,
    ) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode("utf-8")
        response = self.transport.request(
            method,
            path,
            action=action,
            bearer=Secret(self.strategy.token()),
            content=content,
            content_type="application/json" if content is not None else None,
            params=params,
            context=self.strategy.context,
            replay="unsent" if method == "POST" and path.endswith("/enrollments") else "always",
        )
        if response.status_code in tuple(ok):
            return response
        failure = error_from_response(response, action, cls=error)
        advice = hint(failure.code) if response.status_code == 400 else ""
        if advice and type(failure) in (KsefError, error):
            raise error(
                f"{failure}. {advice}",
                http_status=failure.http_status,
                code=failure.code,
                description=failure.description,
                details=failure.details,
                trace_id=failure.trace_id,
            )
        raise failure

    # --- the endpoints --------------------------------------------------------------------------

    def limits(self) -> Limits:
        """``GET /certificates/limits``."""
        action = "reading the certificate limits"
        return Limits.from_json(self._call("GET", "/certificates/limits", action).json())

    def enrollment_data(self) -> EnrollmentData:
        """``GET /certificates/enrollments/data``: the subject the CSR must carry."""
        action = "reading the enrollment data"
        body = self._call(
            "GET", "/certificates/enrollments/data", action, error=EnrollmentRejected
        ).json()
        try:
            return EnrollmentData.from_json(body)
        except (ValueError, AttributeError) as exc:
            raise KsefError(f"{action}: KSeF's answer is not enrollment data ({exc})") from None

    def submit(
        self,
        name: str,
        certificate_type: CertificateType,
        request: x509.CertificateSigningRequest,
        *,
        valid_from: datetime | None = None,
    ) -> str:
        """``POST /certificates/enrollments``: the enrollment's reference number."""
        import base64

        from cryptography.hazmat.primitives import serialization

        body: dict[str, Any] = {
            "certificateName": name,
            "certificateType": certificate_type,
            "csr": base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode(),
        }
        if valid_from is not None:
            body["validFrom"] = valid_from.isoformat()
        action = f"enrolling certificate {name!r} ({certificate_type})"
        response = self._call(
            "POST",
            "/certificates/enrollments",
            action,
            body=body,
            ok=(202,),
            error=EnrollmentRejected,
        )
        return str(response.json()["referenceNumber"])

    def status(self, reference: str) -> EnrollmentStatus:
        """``GET /certificates/enrollments/{ref}``."""
        action = f"checking enrollment {reference}"
        body = self._call("GET", f"/certificates/enrollments/{reference}", action).json()
        return EnrollmentStatus.from_json(reference, body)

    def wait(
        self, reference: str, *, deadline: float = 120.0, progress: Progress | None = None
    ) -> str:
        """Poll the enrollment until it is processed; its certificate's serial number.

        Raises :class:`EnrollmentRejected` (rejected, failed or cancelled) or
        :class:`~ksef_auth.errors.DeadlineExceeded` (still in progress after ``deadline`` s).
        """
        started = time.monotonic()
        interval = self.poll_interval
        while True:
            status = self.status(reference)
            waited = time.monotonic() - started
            if progress is not None:
                progress(status, waited)
            if status.code == 200 and status.serial:
                return status.serial
            if status.done:
                details = f" [{'; '.join(status.details)}]" if status.details else ""
                again = " Try again." if status.code in (500, 550) else ""
                raise EnrollmentRejected(
                    f"enrollment {reference} ended with status {status.code}:"
                    f" {status.description}{details}.{again}",
                    http_status=200,
                    code=status.code,
                    description=status.description,
                    details=status.details,
                )
            if waited >= deadline:
                raise DeadlineExceeded(
                    f"enrollment {reference} was still in progress after {deadline:g} s; KSeF"
                    f" keeps it 30 days: check later with `ksef-auth cert show --enrollment"
                    f" {reference}`"
                )
            self._sleep(min(interval, max(deadline - waited, 0.0)))
            interval = min(interval * 1.6, self.poll_interval_max)

    def retrieve(self, serials: Iterable[str]) -> list[RetrievedCertificate]:
        """``POST /certificates/retrieve`` (up to 10 at a time; more are fetched in turns)."""
        wanted = list(dict.fromkeys(serials))
        found: list[RetrievedCertificate] = []
        for start in range(0, len(wanted), 10):
            chunk = wanted[start : start + 10]
            action = f"retrieving certificate(s) {', '.join(chunk)}"
            body = self._call(
                "POST", "/certificates/retrieve", action, body={"certificateSerialNumbers": chunk}
            ).json()
            found += [RetrievedCertificate.from_json(i) for i in body.get("certificates") or []]
        return found

    def query(
        self,
        *,
        serial: str | None = None,
        name: str | None = None,
        certificate_type: CertificateType | None = None,
        status: str | None = None,
        expires_after: datetime | None = None,
        page_size: int = 50,
    ) -> list[CertificateInfo]:
        """``POST /certificates/query``, every page: the subject's certificates, newest first."""
        criteria: dict[str, Any] = {}
        for key, value in (
            ("certificateSerialNumber", serial),
            ("name", name),
            ("type", certificate_type),
            ("status", status),
        ):
            if value is not None:
                criteria[key] = value
        if expires_after is not None:
            criteria["expiresAfter"] = expires_after.isoformat()
        found: list[CertificateInfo] = []
        page = 0
        while True:
            response = self._call(
                "POST",
                "/certificates/query",
                "listing certificates",
                body=criteria,
                params={"pageSize": str(page_size), "pageOffset": str(page)},
            ).json()
            found += [CertificateInfo.from_json(i) for i in response.get("certificates") or []]
            if not response.get("hasMore"):
                return found
            page += 1

    def find(self, serial: str) -> CertificateInfo | None:
        """The metadata of one certificate (None when KSeF does not list it)."""
        return next(iter(self.query(serial=serial)), None)

    def revoke(self, serial: str, reason: RevocationReason = "Unspecified") -> None:
        """``POST /certificates/{serial}/revoke``: it can no longer log in."""
        self._call(
            "POST",
            f"/certificates/{serial}/revoke",
            f"revoking certificate {serial}",
            body={"revocationReason": reason},
            ok=(200, 204),
        )

    def shorten(self, serial: str, valid_to: datetime) -> None:
        """``PUT /testdata/certificates/{serial}``: end a certificate earlier (TEST only)."""
        environment = self.strategy.environment
        if not environment.accepts_test_certificates:
            raise ConfigError(
                f"test data can be changed only on TEST or a simulator, not on {environment.name}"
            )
        self._call(
            "PUT",
            f"/testdata/certificates/{serial}",
            f"shortening the validity of certificate {serial}",
            body={"validTo": valid_to.isoformat()},
        )
