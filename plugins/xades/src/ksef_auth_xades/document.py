"""The ``AuthTokenRequest`` document, its elements in the XSD's order.

::

    <AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.1">
      <Challenge/> <ContextIdentifier><Nip|InternalId|NipVatUe|PeppolId/></ContextIdentifier>
      <SubjectIdentifierType/> [<AuthorizationPolicy><AllowedIps>
        Ip4Address*, Ip4Range*, Ip4Mask* (at most 10 of each)</AllowedIps></AuthorizationPolicy>]
    </AuthTokenRequest>
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from lxml import etree

    from ksef_auth import ContextIdentifier

NAMESPACES = {
    "2.0": "http://ksef.mf.gov.pl/auth/token/2.0",
    "2.1": "http://ksef.mf.gov.pl/auth/token/2.1",
}
SUBJECT_IDENTIFIER_TYPES = ("certificateSubject", "certificateFingerprint")
MAX_PER_KIND = 10

SubjectIdentifierType = Literal["certificateSubject", "certificateFingerprint"]


@attrs.frozen
class AllowedIps:
    """An IP policy: IPv4 addresses, ranges ``a-b`` and masks ``a/n``, as KSeF spells them."""

    addresses: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> AllowedIps:
        """Sort ``1.2.3.4``, ``1.2.3.4-1.2.3.9`` and ``1.2.3.0/24`` into their kinds.

        Raises ``ValueError`` naming the item that is not an IPv4 address, range or mask.
        """
        addresses: list[str] = []
        ranges: list[str] = []
        masks: list[str] = []
        for item in items:
            text = str(item).strip()
            try:
                if "/" in text:
                    network = ipaddress.IPv4Network(text, strict=False)
                    address = ipaddress.IPv4Address(text.split("/")[0])
                    masks.append(f"{address}/{network.prefixlen}")
                elif "-" in text:
                    first, last = (ipaddress.IPv4Address(p.strip()) for p in text.split("-", 1))
                    if first > last:
                        raise ValueError("the range's first address is above its last")
                    ranges.append(f"{first}-{last}")
                else:
                    addresses.append(str(ipaddress.IPv4Address(text)))
            except ValueError as exc:
                raise ValueError(
                    f"allowed_ips: {text!r} is not an IPv4 address (1.2.3.4), range"
                    f" (1.2.3.4-1.2.3.9) or mask (1.2.3.0/24): {exc}"
                ) from None
        for name, values in (("addresses", addresses), ("ranges", ranges), ("masks", masks)):
            if len(values) > MAX_PER_KIND:
                raise ValueError(f"allowed_ips: KSeF takes at most {MAX_PER_KIND} {name}")
        return cls(tuple(addresses), tuple(ranges), tuple(masks))

    def __bool__(self) -> bool:
        return bool(self.addresses or self.ranges or self.masks)


def build_auth_token_request(
    *,
    challenge: str,
    context: ContextIdentifier,
    subject_identifier_type: SubjectIdentifierType = "certificateSubject",
    allowed_ips: AllowedIps | Sequence[str] = (),
    namespace: str = "2.1",
) -> etree._Element:
    """The unsigned ``AuthTokenRequest`` root element (compact: no whitespace text nodes)."""
    from lxml import etree

    if namespace not in NAMESPACES:
        raise ValueError(f"namespace must be one of {', '.join(NAMESPACES)}, got {namespace!r}")
    if subject_identifier_type not in SUBJECT_IDENTIFIER_TYPES:
        raise ValueError(
            f"subject identifier type must be one of {', '.join(SUBJECT_IDENTIFIER_TYPES)},"
            f" got {subject_identifier_type!r}"
        )
    if not isinstance(allowed_ips, AllowedIps):
        allowed_ips = AllowedIps.parse(allowed_ips)
    ns = NAMESPACES[namespace]

    def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{ns}}}{tag}")
        if text is not None:
            element.text = text
        return element

    root = etree.Element(f"{{{ns}}}AuthTokenRequest", nsmap={None: ns})
    sub(root, "Challenge", challenge)
    sub(sub(root, "ContextIdentifier"), context.type, context.value)
    sub(root, "SubjectIdentifierType", subject_identifier_type)
    if allowed_ips:
        ips = sub(sub(root, "AuthorizationPolicy"), "AllowedIps")
        for tag, values in (
            ("Ip4Address", allowed_ips.addresses),
            ("Ip4Range", allowed_ips.ranges),
            ("Ip4Mask", allowed_ips.masks),
        ):
            for value in values:
                sub(ips, tag, value)
    return root
