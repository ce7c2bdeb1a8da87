"""An enveloped XAdES-BES signature, built with lxml and signed through a ``KeyHandle``.

The private key is used only through :meth:`ksef_auth.keys.KeyHandle.sign`, so a hardware token
or a cloud KMS can sign as well as a key file. The shape is the one KSeF's C# SDK sends::

    <ds:Signature Id="Signature">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="(exclusive C14N)"/>
        <ds:SignatureMethod Algorithm="rsa-sha256 | ecdsa-sha256"/>
        <ds:Reference URI="">                       enveloped-signature, then C14N; SHA-256
        <ds:Reference URI="#SignedProperties" Type="http://uri.etsi.org/01903#SignedProperties">
      </ds:SignedInfo>
      <ds:SignatureValue/>                         RSA PKCS#1 v1.5, or ECDSA as raw R||S
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate/>...</ds:X509Data></ds:KeyInfo>
      <ds:Object><xades:QualifyingProperties Target="#Signature">
        <xades:SignedProperties Id="SignedProperties">
          SigningTime; SigningCertificate/Cert = SHA-256 CertDigest + IssuerSerial
      </xades:QualifyingProperties></ds:Object>
    </ds:Signature>

One canonicalization is used everywhere (SignedInfo and both references): exclusive C14N 1.0
without comments by default, inclusive C14N 1.0 on request. Exclusive C14N makes each digest
independent of the namespaces declared around the signed element, which is what lets a verifier
that re-parses the document (or moves the signature) reproduce them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ksef_auth import CertificateError

if TYPE_CHECKING:
    from cryptography import x509
    from lxml import etree

    from ksef_auth import KeyHandle

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
C14N_EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
SIGNATURE_ID = "Signature"
SIGNED_PROPERTIES_ID = "SignedProperties"

Canonicalization = Literal["exclusive", "inclusive"]


def canonicalize(element: etree._Element, method: Canonicalization) -> bytes:
    """C14N 1.0 (exclusive or inclusive) of ``element`` in its document, without comments."""
    from lxml import etree

    return etree.tostring(
        element, method="c14n", exclusive=method == "exclusive", with_comments=False
    )


def _digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signing_time(now: datetime | None = None) -> str:
    """xsd:dateTime in UTC, one minute in the past (as the C# SDK does, against clock skew)."""
    moment = (now or datetime.now(UTC)) - timedelta(minutes=1)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def der_to_raw_ecdsa(signature: bytes, key_size_bits: int) -> bytes:
    """Convert a DER ``ECDSA-Sig-Value`` to XML-DSig's ``R||S`` (each padded to the curve size)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    size = (key_size_bits + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _algorithm(certificate: x509.Certificate) -> tuple[str, int | None]:
    """(SignatureMethod URI, EC key size or None for RSA) for the certificate's key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSA_SHA256, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ECDSA_SHA256, public_key.curve.key_size
    raise CertificateError(
        f"the certificate {certificate.subject.rfc4514_string()} has a"
        f" {type(public_key).__name__} key; KSeF accepts only RSA and ECDSA signatures"
    )


def _check_signature(certificate: x509.Certificate, signature: bytes, data: bytes) -> None:
    """Verify what the key handle produced against the certificate: a key that does not belong
    to the certificate (or a misbehaving token) is caught here, not by KSeF."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise CertificateError(
            "the private key's signature does not verify with the certificate's public key:"
            f" the key does not belong to {certificate.subject.rfc4514_string()}"
        ) from None


def _sub(
    parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    from lxml import etree

    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attrib)
    if text is not None:
        element.text = text
    return element


def _reference(
    signed_info: etree._Element,
    uri: str,
    transforms: Sequence[str],
    digest: str,
    type_: str | None = None,
) -> None:
    attrib = {"URI": uri}
    if type_:
        attrib["Type"] = type_
    reference = _sub(signed_info, DS, "Reference", **attrib)
    holder = _sub(reference, DS, "Transforms")
    for algorithm in transforms:
        _sub(holder, DS, "Transform", Algorithm=algorithm)
    _sub(reference, DS, "DigestMethod", Algorithm=SHA256)
    _sub(reference, DS, "DigestValue", digest)


def sign_enveloped(
    root: etree._Element,
    certificate: x509.Certificate,
    key: KeyHandle,
    *,
    chain: Sequence[x509.Certificate] = (),
    c14n: Canonicalization = "exclusive",
    now: datetime | None = None,
) -> etree._Element:
    """Append an enveloped XAdES-BES ``ds:Signature`` to ``root`` and return it.

    ``root`` must not contain a signature yet and must carry no tail whitespace in its last
    child (build it compact). ``key`` signs the canonical SignedInfo; ``chain`` certificates
    follow the signing certificate in ``KeyInfo/X509Data``.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from lxml import etree

    method_uri = C14N_EXCLUSIVE if c14n == "exclusive" else C14N_INCLUSIVE
    signature_method, ec_bits = _algorithm(certificate)

    # The enveloped reference covers the document without its signature: digest it now, before
    # the signature is appended (the signature is the last child, with no surrounding text).
    document_digest = _digest(canonicalize(root, c14n))

    signature = etree.SubElement(root, f"{{{DS}}}Signature", {"Id": SIGNATURE_ID}, nsmap={"ds": DS})
    signed_info = _sub(signature, DS, "SignedInfo")
    signature_value = _sub(signature, DS, "SignatureValue")
    key_info = _sub(signature, DS, "KeyInfo")
    x509_data = _sub(key_info, DS, "X509Data")
    for cert in (certificate, *chain):
        _sub(x509_data, DS, "X509Certificate", _b64(cert.public_bytes(serialization.Encoding.DER)))

    obj = _sub(signature, DS, "Object")
    qualifying = etree.SubElement(
        obj,
        f"{{{XADES}}}QualifyingProperties",
        {"Target": f"#{SIGNATURE_ID}"},
        nsmap={"xades": XADES},
    )
    signed_properties = _sub(qualifying, XADES, "SignedProperties", Id=SIGNED_PROPERTIES_ID)
    signature_properties = _sub(signed_properties, XADES, "SignedSignatureProperties")
    _sub(signature_properties, XADES, "SigningTime", signing_time(now))
    cert_element = _sub(_sub(signature_properties, XADES, "SigningCertificate"), XADES, "Cert")
    cert_digest = _sub(cert_element, XADES, "CertDigest")
    _sub(cert_digest, DS, "DigestMethod", Algorithm=SHA256)
    _sub(cert_digest, DS, "DigestValue", _b64(certificate.fingerprint(hashes.SHA256())))
    issuer_serial = _sub(cert_element, XADES, "IssuerSerial")
    _sub(issuer_serial, DS, "X509IssuerName", certificate.issuer.rfc4514_string())
    _sub(issuer_serial, DS, "X509SerialNumber", str(certificate.serial_number))

    _sub(signed_info, DS, "CanonicalizationMethod", Algorithm=method_uri)
    _sub(signed_info, DS, "SignatureMethod", Algorithm=signature_method)
    _reference(signed_info, "", (ENVELOPED, method_uri), document_digest)
    _reference(
        signed_info,
        f"#{SIGNED_PROPERTIES_ID}",
        (method_uri,),
        _digest(canonicalize(signed_properties, c14n)),
        type_=SIGNED_PROPERTIES_TYPE,
    )

    to_sign = canonicalize(signed_info, c14n)
    raw = key.sign(to_sign, "sha256")
    _check_signature(certificate, raw, to_sign)
    if ec_bits is not None:
        raw = der_to_raw_ecdsa(raw, ec_bits)
    signature_value.text = _b64(raw)
    return signature
