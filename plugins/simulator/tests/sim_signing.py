"""Test-side signers: independent client-like code that builds signed AuthTokenRequests.

Two independent routes: signxml (as real Python clients do) and a hand-built XMLDSig/XAdES
signer written here with lxml + cryptography (enveloped and enveloping forms, RSA PKCS#1 v1.5,
RSA-PSS, ECDSA, any C14N, the XPath-filter transform). Nothing here is shared with the simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS20 = "http://ksef.mf.gov.pl/auth/token/2.0"
NS21 = "http://ksef.mf.gov.pl/auth/token/2.1"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N10_COMMENTS = C14N10 + "#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_COMMENTS = EXC + "WithComments"
ENVELOPED = DS + "enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"

DIGEST_URIS = {
    "sha1": DS + "sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
    "sha3-256": "http://www.w3.org/2007/05/xmldsig-more#sha3-256",
    "sha3-512": "http://www.w3.org/2007/05/xmldsig-more#sha3-512",
}
HASHES = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3-256": hashes.SHA3_256,
    "sha3-512": hashes.SHA3_512,
}


def auth_request_xml(
    challenge: str,
    nip: str = "5261040828",
    *,
    namespace: str = NS20,
    subject_type: str = "certificateSubject",
    context_tag: str = "Nip",
    allowed_ips: list[str] | None = None,
    root_id: str | None = None,
) -> bytes:
    policy = ""
    if allowed_ips:
        items = "".join(f"<Ip4Address>{ip}</Ip4Address>" for ip in allowed_ips)
        policy = f"<AuthorizationPolicy><AllowedIps>{items}</AllowedIps></AuthorizationPolicy>"
    id_attr = f' Id="{root_id}"' if root_id else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<AuthTokenRequest xmlns="{namespace}"{id_attr}>'
        f"<Challenge>{challenge}</Challenge>"
        f"<ContextIdentifier><{context_tag}>{nip}</{context_tag}></ContextIdentifier>"
        f"<SubjectIdentifierType>{subject_type}</SubjectIdentifierType>{policy}"
        "</AuthTokenRequest>"
    ).encode()


@dataclass
class Signer:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _c14n(node: etree._Element | etree._ElementTree, alg: str) -> bytes:
    exclusive = alg.startswith(EXC)
    comments = alg.endswith("WithComments")
    return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=comments)


def _digest(data: bytes, name: str) -> str:
    h = hashlib.new(name.replace("-", "_") if name.startswith("sha3") else name, data)
    return base64.b64encode(h.digest()).decode()


def _sign_bytes(signer: Signer, data: bytes, method: str, hash_name: str) -> tuple[str, bytes]:
    algorithm = HASHES[hash_name]()
    more01 = "http://www.w3.org/2001/04/xmldsig-more#"
    more07 = "http://www.w3.org/2007/05/xmldsig-more#"
    if method == "pkcs1":
        assert isinstance(signer.key, rsa.RSAPrivateKey)
        uri = DS + "rsa-sha1" if hash_name == "sha1" else f"{more01}rsa-{hash_name}"
        return uri, signer.key.sign(data, padding.PKCS1v15(), algorithm)
    if method == "pss":
        assert isinstance(signer.key, rsa.RSAPrivateKey)
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        return f"{more07}{hash_name}-rsa-MGF1", signer.key.sign(data, pss, algorithm)
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(signer.key.sign(data, ec.ECDSA(algorithm)))
    size = (signer.key.curve.key_size + 7) // 8
    uri = f"{more01}ecdsa-{hash_name}"
    if hash_name.startswith("sha3-"):
        uri = f"http://www.w3.org/2021/04/xmldsig-more#ecdsa-{hash_name}"
    return uri, r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def hand_sign(
    document: bytes,
    signer: Signer,
    *,
    form: str = "enveloped",
    c14n: str = C14N10,
    ref_c14n: str | None = EXC,
    doc_transform: str | None = "enveloped",
    method: str = "pkcs1",
    hash_name: str = "sha256",
    digest: str = "sha256",
    xades: bool = True,
    keyinfo_reference: bool = False,
    doc_uri: str = "",
    extra_certs: list[x509.Certificate] | None = None,
    xpath: str = "not(ancestor-or-self::ds:Signature)",
    digest_without: tuple[str, ...] = (),
) -> bytes:
    """Sign ``document`` (an AuthTokenRequest) by hand; return the serialized signed XML."""
    request = etree.fromstring(document)
    ds = f"{{{DS}}}"
    signature = etree.Element(ds + "Signature", nsmap={"ds": DS}, Id="Signature")
    signed_info = _sub(signature, ds + "SignedInfo")
    _sub(signed_info, ds + "CanonicalizationMethod", Algorithm=c14n)
    sig_method = _sub(signed_info, ds + "SignatureMethod")
    doc_ref = _sub(
        signed_info, ds + "Reference", URI=doc_uri if form == "enveloped" else "#Object1"
    )
    transforms = _sub(doc_ref, ds + "Transforms")
    if form == "enveloped" and doc_transform == "enveloped":
        _sub(transforms, ds + "Transform", Algorithm=ENVELOPED)
    elif form == "enveloped" and doc_transform == "xpath":
        t = _sub(transforms, ds + "Transform", Algorithm=XPATH)
        xp = etree.SubElement(t, ds + "XPath", nsmap={"ds": DS, "t": request.nsmap[None]})
        xp.text = xpath
    if ref_c14n:
        _sub(transforms, ds + "Transform", Algorithm=ref_c14n)
    if not len(transforms):
        doc_ref.remove(transforms)
    _sub(doc_ref, ds + "DigestMethod", Algorithm=DIGEST_URIS[digest])
    doc_digest = _sub(doc_ref, ds + "DigestValue")
    value_el = _sub(signature, ds + "SignatureValue")
    key_info = _sub(signature, ds + "KeyInfo", Id="KeyInfo")
    x509_data = _sub(key_info, ds + "X509Data")
    for cert in [signer.cert, *(extra_certs or [])]:
        der = cert.public_bytes(serialization.Encoding.DER)
        _sub(x509_data, ds + "X509Certificate", base64.b64encode(der).decode())
    obj = None
    if form == "enveloping":
        obj = _sub(signature, ds + "Object", Id="Object1")
        obj.append(request)
    props = None
    if xades:
        qp_obj = _sub(signature, ds + "Object")
        qp = etree.SubElement(
            qp_obj, f"{{{XADES}}}QualifyingProperties", nsmap={"xades": XADES}, Target="#Signature"
        )
        props = _sub(qp, f"{{{XADES}}}SignedProperties", Id="SignedProperties")
        ssp = _sub(props, f"{{{XADES}}}SignedSignatureProperties")
        when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        _sub(ssp, f"{{{XADES}}}SigningTime", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        cert_el = _sub(_sub(ssp, f"{{{XADES}}}SigningCertificate"), f"{{{XADES}}}Cert")
        cd = _sub(cert_el, f"{{{XADES}}}CertDigest")
        _sub(cd, ds + "DigestMethod", Algorithm=DIGEST_URIS["sha256"])
        _sub(cd, ds + "DigestValue", _digest(signer.der, "sha256"))
        serial = _sub(cert_el, f"{{{XADES}}}IssuerSerial")
        _sub(serial, ds + "X509IssuerName", signer.cert.issuer.rfc4514_string())
        _sub(serial, ds + "X509SerialNumber", str(signer.cert.serial_number))
    if form == "enveloped":
        if doc_transform is None:
            raise ValueError("an enveloped signature needs a transform that removes it")
        digested = etree.fromstring(etree.tostring(request))
        for local in digest_without:
            for el in list(digested.iter(f"{{*}}{local}")):
                el.getparent().remove(el)
        root_c14n = _c14n(digested.getroottree(), ref_c14n or C14N10)
        request.append(signature)
        doc_digest.text = _digest(root_c14n, digest)
    else:
        assert obj is not None
        doc_digest.text = _digest(_c14n(obj, ref_c14n or C14N10), digest)
    extra_refs = []
    if props is not None:
        extra_refs.append(
            ("#SignedProperties", props, "http://uri.etsi.org/01903#SignedProperties")
        )
    if keyinfo_reference:
        extra_refs.append(("#KeyInfo", key_info, None))
    for uri, node, typ in extra_refs:
        ref = _sub(signed_info, ds + "Reference", URI=uri)
        if typ:
            ref.set("Type", typ)
        _sub(_sub(ref, ds + "Transforms"), ds + "Transform", Algorithm=ref_c14n or C14N10)
        _sub(ref, ds + "DigestMethod", Algorithm=DIGEST_URIS[digest])
        _sub(ref, ds + "DigestValue", _digest(_c14n(node, ref_c14n or C14N10), digest))
    uri, value = None, b""
    # the SignatureMethod URI is part of SignedInfo: fix it before canonicalizing
    probe_uri, _ = _sign_bytes(signer, b"probe", method, hash_name)
    sig_method.set("Algorithm", probe_uri)
    uri, value = _sign_bytes(signer, _c14n(signed_info, c14n), method, hash_name)
    assert uri == probe_uri
    value_el.text = base64.b64encode(value).decode()
    root = request if form == "enveloped" else signature
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def signxml_sign(
    document: bytes,
    signer: Signer,
    *,
    c14n: str = C14N11,
    xades: bool = True,
    signature_algorithm: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
) -> bytes:
    """Sign with signxml (enveloped), as the Python client libraries in CLIENTS.md do."""
    from signxml import XMLSigner
    from signxml.xades import XAdESSigner

    cls = XAdESSigner if xades else XMLSigner
    sx = cls(signature_algorithm=signature_algorithm, digest_algorithm=digest, c14n_algorithm=c14n)
    key_pem = signer.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = signer.cert.public_bytes(serialization.Encoding.PEM)
    signed = sx.sign(etree.fromstring(document), key=key_pem, cert=[cert_pem.decode()])
    return etree.tostring(signed, xml_declaration=True, encoding="utf-8")
