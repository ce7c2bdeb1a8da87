"""An independent XML-Signature (XMLDSig core) verifier: lxml canonicalization + cryptography.

It shares nothing with any signing code. Supported, as KSeF lists them:

* references: ``URI=""`` (whole document, comments dropped), ``#id`` (an element whose ``Id``,
  ``ID``, ``id`` or ``xml:id`` attribute is unique in the document), ``#xpointer(/)`` and
  ``#xpointer(id('x'))`` (comments kept); external URIs are refused (no detached signatures);
* transforms: enveloped-signature, XPath filter (evaluated per element; the usual
  ``not(ancestor-or-self::ds:Signature)`` included), XPath Filter 2.0 ``subtract``, base64,
  C14N 1.0, C14N 1.1 and exclusive C14N, each with or without comments. C14N 1.1 is computed
  with the 1.0 algorithm: the two differ only for ``xml:id``/``xml:base`` on document subsets,
  which AuthTokenRequest documents never carry;
* signature methods: RSA PKCS#1 v1.5 and RSA-PSS (``xmldsig-more#<hash>-rsa-MGF1``, ``#rsa-pss``;
  any salt length), ECDSA with the raw ``R||S`` value; SHA-1, SHA-2 and SHA-3 digests.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"ds": DS}
_C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: algorithm URI -> (exclusive, with_comments)
C14N_METHODS: dict[str, tuple[bool, bool]] = {
    _C14N10: (False, False),
    _C14N10 + "#WithComments": (False, True),
    _C14N11: (False, False),
    _C14N11 + "#WithComments": (False, True),
    _EXC: (True, False),
    _EXC + "WithComments": (True, True),
}
ENVELOPED = DS + "enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH2 = "http://www.w3.org/2002/06/xmldsig-filter2"
BASE64 = DS + "base64"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256,
    "sha3-384": hashes.SHA3_384,
    "sha3-512": hashes.SHA3_512,
}
DIGESTS: dict[str, str] = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    **{
        f"http://www.w3.org/2007/05/xmldsig-more#sha3-{n}": f"sha3-{n}"
        for n in (224, 256, 384, 512)
    },
}
_MORE01 = "http://www.w3.org/2001/04/xmldsig-more#"
_MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
_MORE21 = "http://www.w3.org/2021/04/xmldsig-more#"
#: signature method URI -> (key family, padding kind, hash name)
SIGNATURES: dict[str, tuple[str, str, str]] = {DS + "rsa-sha1": ("rsa", "pkcs1", "sha1")}
for _h in ("sha1", "sha224", "sha256", "sha384", "sha512"):
    SIGNATURES[f"{_MORE01}rsa-{_h}"] = ("rsa", "pkcs1", _h)
    SIGNATURES[f"{_MORE01}ecdsa-{_h}"] = ("ec", "ecdsa", _h)
    SIGNATURES[f"{_MORE07}{_h}-rsa-MGF1"] = ("rsa", "pss", _h)
for _n in (224, 256, 384, 512):
    SIGNATURES[f"{_MORE07}sha3-{_n}-rsa-MGF1"] = ("rsa", "pss", f"sha3-{_n}")
    SIGNATURES[f"{_MORE07}rsa-sha3-{_n}"] = ("rsa", "pkcs1", f"sha3-{_n}")
    SIGNATURES[f"{_MORE21}ecdsa-sha3-{_n}"] = ("ec", "ecdsa", f"sha3-{_n}")
    SIGNATURES[f"{_MORE07}ecdsa-sha3-{_n}"] = ("ec", "ecdsa", f"sha3-{_n}")
RSA_PSS_PARAMS = f"{_MORE07}rsa-pss"


class SignatureError(Exception):
    """The signature does not verify or uses something unsupported (KSeF 9105)."""


class CertificateError(Exception):
    """The signer's certificate is missing, unreadable or too weak (KSeF 21115)."""


@dataclass
class Reference:
    uri: str
    node: etree._Element | None  # the dereferenced element; for URI="" the document root
    whole_document: bool
    excluded: list[etree._Element] = field(default_factory=list)
    octets_transform: bool = False  # a base64 transform turned the node-set into bytes
    type: str | None = None


@dataclass
class VerifiedSignature:
    certificate: x509.Certificate
    extra_certificates: list[x509.Certificate]
    references: list[Reference]
    signature_method: str


def _child(el: etree._Element, name: str) -> etree._Element:
    found = el.find(f"ds:{name}", NS)
    if found is None:
        raise SignatureError(f"Brak elementu ds:{name}.")
    return found


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{what} nie jest poprawnym base64.") from exc


@contextlib.contextmanager
def _detached(elements: list[etree._Element]) -> Iterator[None]:
    """Temporarily take elements out of their tree, keeping the text that follows them."""
    saved = []
    for el in elements:
        parent = el.getparent()
        if parent is None:
            continue
        index = parent.index(el)
        tail = el.tail
        previous = el.getprevious()
        if tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
        el.tail = None
        parent.remove(el)
        saved.append((parent, index, el, tail, previous))
    try:
        yield
    finally:
        for parent, index, el, tail, previous in reversed(saved):
            if tail:
                if previous is not None:
                    previous.tail = (previous.tail or "")[: len(previous.tail or "") - len(tail)]
                else:
                    parent.text = (parent.text or "")[: len(parent.text or "") - len(tail)]
            el.tail = tail
            parent.insert(index, el)


def canonicalize(
    node: etree._Element,
    method: str,
    *,
    whole_document: bool = False,
    excluded: list[etree._Element] | None = None,
    keep_comments: bool = True,
    prefixes: list[str] | None = None,
) -> bytes:
    """Canonical bytes of ``node`` (or its whole document) minus ``excluded`` subtrees."""
    if method not in C14N_METHODS:
        raise SignatureError(f"Nieobsługiwana kanonikalizacja {method}.")
    exclusive, with_comments = C14N_METHODS[method]
    target: etree._Element | etree._ElementTree = node.getroottree() if whole_document else node
    with _detached(excluded or []):
        return etree.tostring(
            target,
            method="c14n",
            exclusive=exclusive,
            with_comments=with_comments and keep_comments,
            inclusive_ns_prefixes=prefixes if exclusive and prefixes else None,
        )


def _prefix_list(el: etree._Element) -> list[str] | None:
    for child in el:
        if isinstance(child.tag, str) and child.tag.endswith("}InclusiveNamespaces"):
            return [p for p in (child.get("PrefixList") or "").split() if p != "#default"]
    return None


def _find_id(root: etree._Element, ident: str) -> etree._Element:
    xml_id = "{http://www.w3.org/XML/1998/namespace}id"
    hits = [
        el
        for el in root.iter()
        if isinstance(el.tag, str)
        and ident in (el.get("Id"), el.get("ID"), el.get("id"), el.get(xml_id))
    ]
    if len(hits) != 1:
        raise SignatureError(
            f"Identyfikator '{ident}' wskazuje {len(hits)} elementów (wymagany dokładnie jeden)."
        )
    return hits[0]


def _excluded_by_xpath(node: etree._Element, xpath_el: etree._Element) -> list[etree._Element]:
    expr = (xpath_el.text or "").strip()
    namespaces = {k: v for k, v in xpath_el.nsmap.items() if k}
    try:
        test = etree.XPath(f"boolean({expr})", namespaces=namespaces)
    except etree.XPathError as exc:
        raise SignatureError(f"Nieobsługiwane wyrażenie XPath: {expr}") from exc
    out: list[etree._Element] = []
    skip: set[etree._Element] = set()
    for el in node.iter():
        if not isinstance(el.tag, str) or el in skip:
            continue
        try:
            keep = bool(test(el))
        except etree.XPathError as exc:
            raise SignatureError(f"Nieobsługiwane wyrażenie XPath: {expr}") from exc
        if not keep:
            out.append(el)
            skip.update(el.iter())
    return out


def _excluded_by_filter2(node: etree._Element, transform: etree._Element) -> list[etree._Element]:
    out: list[etree._Element] = []
    for xp in transform.findall(f"{{{XPATH2}}}XPath"):
        if xp.get("Filter") != "subtract":
            raise SignatureError("XPath Filter 2.0: obsługiwany jest tylko filtr 'subtract'.")
        namespaces = {k: v for k, v in xp.nsmap.items() if k}
        try:
            hits = node.xpath((xp.text or "").strip(), namespaces=namespaces)
        except etree.XPathError as exc:
            raise SignatureError("Nieobsługiwane wyrażenie XPath Filter 2.0.") from exc
        out.extend(h for h in hits if isinstance(h, etree._Element))
    return out


def _reference_digest(
    ref_el: etree._Element, signature: etree._Element
) -> tuple[Reference, bytes, str]:
    uri = ref_el.get("URI")
    if uri is None:
        raise SignatureError("Referencja bez atrybutu URI nie jest obsługiwana.")
    root = signature.getroottree().getroot()
    keep_comments = False
    whole = False
    if uri == "":
        node, whole = root, True
    elif uri == "#xpointer(/)":
        node, whole, keep_comments = root, True, True
    elif uri.startswith("#xpointer(id(") and uri.endswith("))"):
        node, keep_comments = _find_id(root, uri[13:-2].strip("'\"")), True
    elif uri.startswith("#"):
        node = _find_id(root, uri[1:])
    else:
        raise SignatureError(f"Referencja zewnętrzna '{uri}' nie jest dozwolona.")
    ref = Reference(uri=uri, node=node, whole_document=whole, type=ref_el.get("Type"))
    data: bytes | None = None
    transforms = ref_el.find("ds:Transforms", NS)
    for transform in [] if transforms is None else transforms.findall("ds:Transform", NS):
        alg = transform.get("Algorithm", "")
        if data is not None and alg not in C14N_METHODS:
            raise SignatureError(f"Transformacja {alg} po zamianie na bajty nie jest obsługiwana.")
        if alg == ENVELOPED:
            ref.excluded.append(signature)
        elif alg == XPATH:
            xpath_el = transform.find("ds:XPath", NS)
            if xpath_el is None:
                raise SignatureError("Transformacja XPath bez wyrażenia.")
            with _detached(ref.excluded):
                ref.excluded.extend(_excluded_by_xpath(node, xpath_el))
        elif alg == XPATH2:
            with _detached(ref.excluded):
                ref.excluded.extend(_excluded_by_filter2(node, transform))
        elif alg == BASE64:
            with _detached(ref.excluded):
                text = "".join(node.itertext())
            data = _b64(text, "Dane transformacji base64")
            ref.octets_transform = True
        elif alg in C14N_METHODS:
            if data is None:
                data = canonicalize(
                    node,
                    alg,
                    whole_document=whole,
                    excluded=ref.excluded,
                    keep_comments=keep_comments,
                    prefixes=_prefix_list(transform),
                )
        else:
            raise SignatureError(f"Nieobsługiwana transformacja {alg}.")
    if data is None:
        data = canonicalize(node, _C14N10, whole_document=whole, excluded=ref.excluded)
    method_el = _child(ref_el, "DigestMethod")
    name = DIGESTS.get(method_el.get("Algorithm", ""))
    if name is None:
        raise SignatureError(f"Nieobsługiwany algorytm skrótu {method_el.get('Algorithm')}.")
    digest = hashes.Hash(_HASHES[name]())
    digest.update(data)
    return ref, digest.finalize(), (_child(ref_el, "DigestValue").text or "")


def _load_certificates(
    signature: etree._Element,
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    elements = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    if not elements:
        raise CertificateError("Brak certyfikatu X.509 w KeyInfo.")
    certs = []
    for el in elements:
        try:
            der = base64.b64decode("".join((el.text or "").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise CertificateError("Nie można odczytać certyfikatu.") from exc
    issuers = {c.issuer.rfc4514_string() for c in certs if c.issuer != c.subject}
    leaves = [c for c in certs if c.subject.rfc4514_string() not in issuers or len(certs) == 1]
    leaf = leaves[0] if leaves else certs[0]
    return leaf, [c for c in certs if c is not leaf]


def check_key_strength(cert: x509.Certificate) -> None:
    """RSA keys must have >= 2048 bits, EC curves >= 256 bits (KSeF's rule) -> 21115."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError) as exc:
        raise CertificateError("Nieobsługiwany klucz publiczny certyfikatu.") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CertificateError(
                f"Klucz RSA ma {key.key_size} bitów (wymagane co najmniej 2048)."
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < 256:
            raise CertificateError(f"Krzywa EC ma {key.curve.key_size} bitów (wymagane >= 256).")
    else:
        raise CertificateError("Obsługiwane są tylko klucze RSA i EC.")


def _pss_hash(method_el: etree._Element) -> str:
    digest = method_el.find(f"{{{_MORE07}}}RSAPSSParams/ds:DigestMethod", NS)
    if digest is None:
        return "sha256"
    name = DIGESTS.get(digest.get("Algorithm", ""))
    if name is None:
        raise SignatureError("Nieobsługiwany skrót w RSAPSSParams.")
    return name


def _verify_value(
    cert: x509.Certificate, method_el: etree._Element, value: bytes, data: bytes
) -> None:
    uri = method_el.get("Algorithm", "")
    if uri == RSA_PSS_PARAMS:
        family, kind, hash_name = "rsa", "pss", _pss_hash(method_el)
    elif uri in SIGNATURES:
        family, kind, hash_name = SIGNATURES[uri]
    else:
        raise SignatureError(f"Nieobsługiwany algorytm podpisu {uri}.")
    algorithm = _HASHES[hash_name]()
    key = cert.public_key()
    try:
        if family == "rsa":
            if not isinstance(key, rsa.RSAPublicKey):
                raise SignatureError("Algorytm podpisu RSA, a klucz certyfikatu nie jest RSA.")
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if kind == "pkcs1"
                else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
            )
            key.verify(value, data, pad, algorithm)
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SignatureError("Algorytm podpisu ECDSA, a klucz certyfikatu nie jest EC.")
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureError("Wartość podpisu ECDSA musi mieć postać R||S.")
            der = encode_dss_signature(
                int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            )
            key.verify(der, data, ec.ECDSA(algorithm))
    except InvalidSignature as exc:
        raise SignatureError("Podpis zweryfikowany negatywnie.") from exc


def verify(signature: etree._Element) -> VerifiedSignature:
    """Verify one ``ds:Signature`` element in place (its document is restored afterwards)."""
    signed_info = _child(signature, "SignedInfo")
    c14n = _child(signed_info, "CanonicalizationMethod")
    method_el = _child(signed_info, "SignatureMethod")
    ref_elements = signed_info.findall("ds:Reference", NS)
    if not ref_elements:
        raise SignatureError("SignedInfo nie zawiera referencji.")
    cert, extra = _load_certificates(signature)
    check_key_strength(cert)
    value = _b64(_child(signature, "SignatureValue").text, "SignatureValue")
    references = []
    for ref_el in ref_elements:
        ref, actual, expected = _reference_digest(ref_el, signature)
        if _b64(expected, "DigestValue") != actual:
            raise SignatureError(
                f"Nieprawidłowa wartość skrótu dla referencji wskazującej na element '{ref.uri}'."
            )
        references.append(ref)
    data = canonicalize(
        signed_info, c14n.get("Algorithm", ""), prefixes=_prefix_list(c14n), keep_comments=True
    )
    _verify_value(cert, method_el, value, data)
    return VerifiedSignature(cert, extra, references, method_el.get("Algorithm", ""))
