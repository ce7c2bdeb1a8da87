"""Checks on a ``POST /auth/xades-signature`` body, in the order KSeF reports them.

Safe parsing (no DTD, no entities, no network) -> locate the one ``AuthTokenRequest`` ->
XSD validation (2.1 schema; 2.0 documents are validated with their namespace mapped to 2.1,
because the published 2.0 XSD does not compile) with the signature removed -> exactly one
``ds:Signature`` -> XMLDSig verification -> the signed data must be that ``AuthTokenRequest``
(anti signature-wrapping) -> XAdES signing-certificate digest, when present.
"""

from __future__ import annotations

import base64
import copy
import functools
from dataclasses import dataclass
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from ksef_auth_simulator import xmldsig
from ksef_auth_simulator.errors import KsefError

NS20 = "http://ksef.mf.gov.pl/auth/token/2.0"
NS21 = "http://ksef.mf.gov.pl/auth/token/2.1"
XADES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")
_SIGNED_PROPS_TYPE = "http://uri.etsi.org/01903#SignedProperties"
DS_SIGNATURE = f"{{{xmldsig.DS}}}Signature"


@dataclass
class XadesRequest:
    namespace: str
    challenge: str
    context_type: str
    context_value: str
    subject_identifier_type: str
    allowed_ips: dict[str, list[str]] | None
    certificate: x509.Certificate
    extra_certificates: list[x509.Certificate]
    signature_method: str


@functools.cache
def _schema() -> etree.XMLSchema:
    """The 2.1 XSD, with ``^``/``$`` around the NipVatUe and PeppolId patterns read as anchors.

    XSD regexes have no anchors: libxml2 takes a trailing ``$`` literally, so as published no
    NipVatUe or PeppolId value could ever be valid. The real service (.NET) evidently accepts
    them; the simulator strips the two characters (UNVERIFIED: .NET's exact behaviour).
    """
    path = resources.files("ksef_auth_simulator") / "spec" / "schemat_auth_v2-1.xsd"
    doc = etree.fromstring(path.read_bytes())
    for pattern in doc.iter("{http://www.w3.org/2001/XMLSchema}pattern"):
        value = pattern.get("value", "")
        pattern.set("value", value.removeprefix("^").removesuffix("$"))
    return etree.XMLSchema(doc)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse(body: bytes) -> etree._ElementTree:
    """Parse untrusted XML: any DOCTYPE (hence any entity) is refused with 9101."""
    if not body.strip():
        raise KsefError(21001, ["Pusta treść żądania."])
    head = body[:4096]
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in body.upper():
        raise KsefError(9101, ["Deklaracje DOCTYPE i encje nie są dozwolone."])
    try:
        tree = etree.fromstring(body, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "ncoding" in text or "UTF-8" in text or "Char 0x" in text:
            raise KsefError(21217, [text]) from exc
        raise KsefError(21001, [text]) from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise KsefError(9101, ["Deklaracje DOCTYPE i encje nie są dozwolone."])
    return tree


def _locate_request(root: etree._Element) -> etree._Element:
    found = [el for el in root.iter(f"{{{NS20}}}AuthTokenRequest", f"{{{NS21}}}AuthTokenRequest")]
    if not found:
        raise KsefError(
            21401,
            [f"Element główny {root.tag} nie jest oczekiwanym elementem AuthTokenRequest."],
        )
    if len(found) > 1:
        raise KsefError(9101, ["Dokument zawiera więcej niż jeden element AuthTokenRequest."])
    request = found[0]
    parent = request.getparent()
    enveloping = (
        parent is not None
        and parent.tag == f"{{{xmldsig.DS}}}Object"
        and parent.getparent() is root
        and root.tag == DS_SIGNATURE
    )
    if request is not root and not enveloping:
        raise KsefError(
            9101, ["AuthTokenRequest musi być korzeniem dokumentu lub treścią ds:Object."]
        )
    return request


def validate_schema(request: etree._Element) -> None:
    """XSD-validate a copy with signatures and the signing anchor ``Id`` removed -> 21401."""
    doc = copy.deepcopy(request)
    for sig in doc.findall(DS_SIGNATURE):
        doc.remove(sig)
    for attr in ("Id", "ID", "id"):
        doc.attrib.pop(attr, None)
    if doc.tag.startswith(f"{{{NS20}}}"):
        for el in doc.iter():
            if isinstance(el.tag, str) and el.tag.startswith(f"{{{NS20}}}"):
                el.tag = f"{{{NS21}}}" + el.tag[len(NS20) + 2 :]
        etree.cleanup_namespaces(doc)
    schema = _schema()
    if not schema.validate(doc):
        messages = [f"{e.message} (linia {e.line})" for e in schema.error_log]
        raise KsefError(21401, messages or ["Dokument nie jest zgodny ze schemą."])


def _covers(ref: xmldsig.Reference, request: etree._Element) -> bool:
    """The reference signs ``request`` entirely: it contains it and removes only signatures."""
    if ref.node is None or ref.octets_transform:
        return False
    if ref.node is not request and not any(a is ref.node for a in request.iterancestors()):
        return False
    return all(excluded.tag == DS_SIGNATURE for excluded in ref.excluded)


def _check_xades(
    signature: etree._Element, verified: xmldsig.VerifiedSignature, strict: bool
) -> None:
    props = [el for ns in XADES for el in signature.iter(f"{{{ns}}}SignedProperties")]
    if not props:
        if strict:
            raise KsefError(9105, ["Brak właściwości kwalifikowanych XAdES (SignedProperties)."])
        return
    signed_nodes = {id(r.node) for r in verified.references}
    if not all(id(p) in signed_nodes for p in props):
        raise KsefError(9105, ["Element SignedProperties nie jest objęty podpisem."])
    der = verified.certificate.public_bytes(serialization.Encoding.DER)
    digests = []
    for ns in XADES:
        digests += props[0].findall(f".//{{{ns}}}CertDigest")
    if not digests:
        if strict:
            raise KsefError(9105, ["Brak SigningCertificate w SignedProperties."])
        return
    for cert_digest in digests:
        method = cert_digest.find("ds:DigestMethod", xmldsig.NS)
        value = cert_digest.find("ds:DigestValue", xmldsig.NS)
        name = xmldsig.DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if name is None or value is None:
            continue
        from cryptography.hazmat.primitives import hashes

        h = hashes.Hash(xmldsig._HASHES[name]())
        h.update(der)
        try:
            expected = base64.b64decode("".join((value.text or "").split()))
        except ValueError:
            continue
        if h.finalize() == expected:
            return
    raise KsefError(9105, ["Skrót certyfikatu w SigningCertificate nie odpowiada certyfikatowi."])


def _text(request: etree._Element, ns: str, path: str) -> str:
    el = request.find(path.replace("t:", f"{{{ns}}}"))
    return (el.text or "").strip() if el is not None else ""


def check(body: bytes, *, require_xades: bool = False) -> XadesRequest:
    """Run every synchronous check; raise ``KsefError`` with the KSeF code of the first failure."""
    tree = parse(body)
    root = tree.getroot()
    request = _locate_request(root)
    validate_schema(request)
    signatures = list(root.iter(DS_SIGNATURE))
    if not signatures:
        raise KsefError(9102, ["Dokument nie zawiera podpisu."])
    if len(signatures) > 1:
        raise KsefError(9103, [f"Dokument zawiera {len(signatures)} podpisy."])
    signature = signatures[0]
    try:
        verified = xmldsig.verify(signature)
    except xmldsig.CertificateError as exc:
        raise KsefError(21115, [str(exc)]) from exc
    except xmldsig.SignatureError as exc:
        raise KsefError(9105, [str(exc)]) from exc
    if not any(_covers(ref, request) for ref in verified.references):
        raise KsefError(9105, ["Podpis nie obejmuje elementu AuthTokenRequest."])
    _check_xades(signature, verified, require_xades)
    ns = request.tag[1 : request.tag.index("}")]
    context = request.find(f"{{{ns}}}ContextIdentifier")
    context_el = next(iter(context)) if context is not None and len(context) else None
    ctx_type = etree.QName(context_el).localname if context_el is not None else ""
    allowed: dict[str, list[str]] | None = None
    ips = request.find(f"{{{ns}}}AuthorizationPolicy/{{{ns}}}AllowedIps")
    if ips is not None:
        allowed = {"ip4Addresses": [], "ip4Ranges": [], "ip4Masks": []}
        for el in ips:
            key = {"Ip4Address": "ip4Addresses", "Ip4Range": "ip4Ranges", "Ip4Mask": "ip4Masks"}
            name = etree.QName(el).localname
            if name in key:
                allowed[key[name]].append((el.text or "").strip())
    return XadesRequest(
        namespace=ns,
        challenge=_text(request, ns, "t:Challenge"),
        context_type=ctx_type,
        context_value=(context_el.text or "").strip() if context_el is not None else "",
        subject_identifier_type=_text(request, ns, "t:SubjectIdentifierType"),
        allowed_ips=allowed,
        certificate=verified.certificate,
        extra_certificates=verified.extra_certificates,
        signature_method=verified.signature_method,
    )
