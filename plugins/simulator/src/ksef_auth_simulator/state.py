"""The records the simulator keeps: challenges, authentication operations, KSeF tokens."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

STATUS_DESCRIPTIONS: dict[int, str] = {
    100: "Uwierzytelnianie w toku",
    200: "Uwierzytelnianie zakończone sukcesem",
    415: "Uwierzytelnianie zakończone niepowodzeniem",
    425: "Uwierzytelnienie unieważnione",
    450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
    460: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
    470: "Uwierzytelnianie zakończone niepowodzeniem",
    480: "Uwierzytelnienie zablokowane",
    500: "Nieznany błąd",
    550: "Operacja została anulowana przez system",
}
DEFAULT_DETAILS: dict[int, list[str]] = {
    415: ["Brak przypisanych uprawnień"],
    425: ["Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika"],
    470: ["Próba wykorzystania metod autoryzacyjnych osoby zmarłej"],
    480: [
        "Podejrzenie incydentu bezpieczeństwa. Skontaktuj się z Ministerstwem Finansów przez"
        " formularz zgłoszeniowy."
    ],
    550: ["Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie"],
}
#: authenticationMethod -> (category, code, displayName); codes other than
#: xades.qualified-seal are UNVERIFIED
METHODS: dict[str, tuple[str, str, str]] = {
    "Token": ("Token", "token.ksef", "Token KSeF"),
    "QualifiedSeal": ("XadesSignature", "xades.qualified-seal", "Pieczęć kwalifikowana"),
    "QualifiedSignature": ("XadesSignature", "xades.qualified-signature", "Podpis kwalifikowany"),
}
OWNER_PERMISSIONS = [
    "InvoiceRead",
    "InvoiceWrite",
    "CredentialsRead",
    "CredentialsManage",
    "SubunitManage",
    "EnforcementOperations",
    "Introspection",
    "CollectiveIdentifierManage",
]


@dataclass
class Challenge:
    value: str
    ticks: int
    ms: int
    expires: float
    client_ip: str


@dataclass
class Operation:
    """One authentication operation (``AU`` number) and, once redeemed, its session."""

    ref: str
    start: float
    method: str
    context_type: str
    context_value: str
    subject: dict[str, object]
    permissions: list[str]
    outcome: int
    outcome_details: list[str]
    ready_at: float
    expires: float
    client_ip: str
    allowed_ips: dict[str, list[str]] | None = None
    ksef_token_ref: str | None = None
    stuck: bool = False
    redeemed: bool = False
    last_refresh: float | None = None
    refresh_valid_until: float | None = None
    revoked: bool = False
    method_info: tuple[str, str, str] | None = None

    def status(self, now: float) -> tuple[int, list[str]]:
        if self.revoked:
            return 425, DEFAULT_DETAILS[425]
        if self.stuck or now < self.ready_at:
            return 100, []
        return self.outcome, self.outcome_details

    @property
    def info(self) -> dict[str, str]:
        category, code, display = self.method_info or METHODS[self.method]
        return {"category": category, "code": code, "displayName": display}


@dataclass
class KsefTokenRecord:
    ref: str
    secret: str = field(repr=False)
    context_type: str
    context_value: str
    author_type: str
    author_value: str
    description: str
    permissions: list[str]
    created: float
    active_from: float
    revoked: bool = False
    last_use: float | None = None

    def status(self, now: float) -> str:
        if self.revoked:
            return "Revoked"
        return "Active" if now >= self.active_from else "Pending"


def ip_allowed(ip: str, policy: dict[str, list[str]] | None) -> bool:
    """Does ``ip`` satisfy an ``AllowedIps`` policy (addresses, ranges ``a-b``, CIDR masks)?"""
    if not policy or not any(policy.get(k) for k in ("ip4Addresses", "ip4Ranges", "ip4Masks")):
        return True
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    if ip in (policy.get("ip4Addresses") or []):
        return True
    for item in policy.get("ip4Ranges") or []:
        low, _, high = item.partition("-")
        try:
            if ipaddress.IPv4Address(low) <= addr <= ipaddress.IPv4Address(high):
                return True
        except (ValueError, TypeError):
            continue
    for item in policy.get("ip4Masks") or []:
        try:
            if addr in ipaddress.ip_network(item, strict=False):
                return True
        except (ValueError, TypeError):
            continue
    return False
