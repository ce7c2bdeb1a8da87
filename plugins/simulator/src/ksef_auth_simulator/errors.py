"""KSeF's two error dialects, and the exception the simulator raises to produce them.

* legacy (default for 400/429): ``{"exception": {"exceptionDetailList": [...], ...}}`` and
  ``{"status": {"code": 429, ...}}``, ``application/json``;
* RFC 7807 problem details (``application/problem+json``) when the request carries
  ``X-Error-Format: problem-details``; 401, 403 and 410 are always problem details.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

DESCRIPTIONS: dict[int, str] = {
    9101: "Nieprawidłowy dokument.",
    9102: "Brak podpisu.",
    9103: "Przekroczona liczba dozwolonych podpisów.",
    9105: "Nieprawidłowy podpis.",
    21001: "Nieczytelna treść.",
    21111: "Nieprawidłowe wyzwanie autoryzacyjne.",
    21115: "Nieprawidłowy certyfikat.",
    21117: "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
    21217: "Nieprawidłowe kodowanie znaków.",
    21301: "Brak autoryzacji.",
    21304: "Brak uwierzytelnienia.",
    21308: "Próba wykorzystania metod autoryzacyjnych osoby zmarłej.",
    21401: "Dokument nie jest zgodny ze schemą (xsd).",
    21405: "Błąd walidacji danych wejściowych.",
    21406: "Konflikt podpisu i typu uwierzytelnienia.",
    21418: "Przekazany token kontynuacji ma nieprawidłowy format.",
    21470: "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
    25001: "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
    25002: "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu"
    " uwierzytelnienia.",
    25003: "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
    25004: "Niepoprawny format CSR lub niepoprawny podpis CSR.",
    25005: "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
    25006: "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
    25007: "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
    25008: "Certyfikat o podanym numerze seryjnym nie istnieje.",
    25009: "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany lub"
    " nieważny.",
    25010: "Nieprawidłowy typ lub długość klucza.",
    25011: "Nieprawidłowy algorytm podpisu CSR.",
    26001: "Nie można nadać tokenowi uprawnień których nie posiadasz.",
    26002: "Nie można wygenerować tokena dla obecnego typu kontekstu.",
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

PROBLEM = "application/problem+json"


class SimulatorError(Exception):
    """Root of everything the simulator turns into an HTTP error response."""

    status: int

    def body(self, problem: bool, instance: str, now: str) -> tuple[dict[str, Any], str]:
        """The JSON body and its content type, in the requested dialect."""
        raise NotImplementedError


@dataclass(eq=False)
class KsefError(SimulatorError):
    """A 400 with one KSeF exception code (``exceptionCode`` / ``errors[].code``)."""

    code: int
    details: list[str] = field(default_factory=list)
    status: int = 400

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.code}: {DESCRIPTIONS.get(self.code, '')} {self.details}")

    def body(self, problem: bool, instance: str, now: str) -> tuple[dict[str, Any], str]:
        description = DESCRIPTIONS.get(self.code, "Błąd.")
        if problem:
            return {
                "title": TITLES.get(self.status, "Bad Request"),
                "status": self.status,
                "instance": instance,
                "detail": "Żądanie jest nieprawidłowe.",
                "errors": [
                    {"code": self.code, "description": description, "details": self.details}
                ],
                "timestamp": now,
                "traceId": secrets.token_hex(16),
            }, PROBLEM
        trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
        return {
            "exception": {
                "exceptionDetailList": [
                    {
                        "exceptionCode": self.code,
                        "exceptionDescription": description,
                        "details": self.details,
                    }
                ],
                "referenceNumber": None,
                "serviceCode": trace,
                "serviceCtx": "srvSIMUL",
                "serviceName": "Undefined",
                "timestamp": now,
            }
        }, "application/json"


@dataclass(eq=False)
class ProblemError(SimulatorError):
    """A problem-details-only error: 401, 403 (with ``reasonCode``), 410, 415..."""

    status: int
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status}: {self.detail}")

    def body(self, problem: bool, instance: str, now: str) -> tuple[dict[str, Any], str]:
        payload: dict[str, Any] = {
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "timestamp": now,
            "traceId": secrets.token_hex(16),
        }
        payload.update(self.extra)
        return payload, PROBLEM


def unauthorized(detail: str = "Wymagane jest uwierzytelnienie.") -> ProblemError:
    return ProblemError(401, detail)


def forbidden(reason: str, detail: str, **security: Any) -> ProblemError:
    """403 ``ForbiddenProblemDetails``; ``security`` holds the data the reason code carries
    (``clientIp`` for ``ip-not-allowed``, ``incidentId`` and ``clientIp`` for
    ``security-service-blocked``...)."""
    extra: dict[str, Any] = {"reasonCode": reason}
    if security:
        extra["security"] = security
    return ProblemError(403, detail, extra)


def gone() -> ProblemError:
    return ProblemError(410, "Operacja wygasła i nie jest już dostępna.")


@dataclass(eq=False)
class TooManyRequests(SimulatorError):
    """429 with ``Retry-After`` (seconds), in either dialect."""

    retry_after: int
    limit_text: str = ""
    status: int = 429

    def __post_init__(self) -> None:
        Exception.__init__(self, f"429 retry after {self.retry_after}s")

    @property
    def detail(self) -> str:
        prefix = f"Przekroczono limit {self.limit_text}. " if self.limit_text else ""
        return f"{prefix}Spróbuj ponownie po {self.retry_after} sekundach."

    def body(self, problem: bool, instance: str, now: str) -> tuple[dict[str, Any], str]:
        if problem:
            return {
                "title": "Too Many Requests",
                "status": 429,
                "instance": instance,
                "detail": self.detail,
                "timestamp": now,
                "traceId": secrets.token_hex(16),
            }, PROBLEM
        return {
            "status": {"code": 429, "description": "Too Many Requests", "details": [self.detail]}
        }, "application/json"


@dataclass(eq=False)
class ServerError(SimulatorError):
    """An injected 5xx, in the legacy shape KSeF used for its transient 500s."""

    status: int = 500

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status}")

    def body(self, problem: bool, instance: str, now: str) -> tuple[dict[str, Any], str]:
        if problem:
            return {
                "title": TITLES.get(self.status, "Error"),
                "status": self.status,
                "detail": "Wystąpił nieoczekiwany błąd.",
                "instance": instance,
                "timestamp": now,
                "traceId": secrets.token_hex(16),
            }, PROBLEM
        return {
            "exception": {
                "exceptionDetailList": [
                    {
                        "exceptionCode": self.status,
                        "exceptionDescription": "Wystąpił nieoczekiwany błąd.",
                        "details": [],
                    }
                ],
                "serviceCode": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
                "timestamp": now,
            }
        }, "application/json"
