"""The signed AuthTokenRequest: XSD-valid without its signature, verified by independent code."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from xades_support import CHALLENGE, NIP

from ksef_auth import CertificateCredential, CertificateError, ContextIdentifier, LocalKey
from ksef_auth_xades.document import build_auth_token_request
from ksef_auth_xades.signature import DS, XADES, der_to_raw_ecdsa, sign_enveloped

HERE = Path(__file__).parent
SCHEMA_21 = HERE / "schemat_auth_v2-1.xsd"


def signed(credential: CertificateCredential, c14n: str = "exclusive", **kwargs) -> bytes:
    root = build_auth_token_request(
        challenge=CHALLENGE.challenge, context=ContextIdentifier.nip(NIP), **kwargs
    )
    sign_enveloped(root, credential.certificate, credential.key, chain=credential.chain, c14n=c14n)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def without_signature(document: bytes) -> etree._Element:
    root = etree.fromstring(document)
    for signature in root.findall(f"{{{DS}}}Signature"):
        root.remove(signature)
    return root


def cert_pem(credential: CertificateCredential) -> bytes:
    return credential.certificate.public_bytes(serialization.Encoding.PEM)


# --- independent verification: signxml -----------------------------------------------------------


def signxml_verify(document: bytes, credential: CertificateCredential) -> None:
    from signxml import SignatureConfiguration, SignatureMethod
    from signxml.xades import XAdESVerifier

    methods = frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256})
    config = SignatureConfiguration(expect_references=2, signature_methods=methods)
    results = XAdESVerifier().verify(document, x509_cert=cert_pem(credential), expect_config=config)
    uris = {r.signed_xml.tag for r in results if r.signed_xml is not None}
    assert any(tag.endswith("AuthTokenRequest") for tag in uris)
    assert any(tag.endswith("SignedProperties") for tag in uris)


@pytest.mark.parametrize("c14n", ["exclusive", "inclusive"])
@pytest.mark.parametrize("fixture", ["rsa_seal", "ec_seal", "ec_personal", "ca_issued"])
def test_signxml_verifies(fixture: str, c14n: str, request: pytest.FixtureRequest) -> None:
    credential = request.getfixturevalue(fixture)
    signxml_verify(signed(credential, c14n), credential)


@pytest.mark.parametrize("namespace", ["2.0", "2.1"])
def test_signxml_verifies_both_namespaces_with_ips(namespace: str, rsa_seal) -> None:
    document = signed(
        rsa_seal, namespace=namespace, allowed_ips=["10.0.0.1", "10.0.1.0/24", "10.0.2.1-10.0.2.9"]
    )
    signxml_verify(document, rsa_seal)


def test_tampered_document_fails_signxml(rsa_seal) -> None:
    from signxml.exceptions import InvalidDigest, InvalidSignature

    document = signed(rsa_seal).replace(NIP.encode(), b"1234563218")
    with pytest.raises((InvalidDigest, InvalidSignature)):
        signxml_verify(document, rsa_seal)


# --- independent verification: xmlsec (libxmlsec1), when installed ------------------------------


@pytest.mark.parametrize("c14n", ["exclusive", "inclusive"])
@pytest.mark.parametrize("fixture", ["rsa_seal", "ec_seal"])
def test_xmlsec_verifies(fixture: str, c14n: str, request: pytest.FixtureRequest) -> None:
    xmlsec = pytest.importorskip("xmlsec")
    credential = request.getfixturevalue(fixture)
    root = etree.fromstring(signed(credential, c14n))
    xmlsec.tree.add_ids(root, ["Id"])
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        cert_pem(credential), xmlsec.constants.KeyDataFormatCertPem
    )
    context.verify(node)  # raises xmlsec.Error when a digest or the signature is wrong


# --- independent verification: the xmlsec1 command (Debian's xmlsec1, libxmlsec1 over OpenSSL) ---

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None, reason="no xmlsec1 command (Debian: apt-get install xmlsec1; .ci/run does)"
)


def xmlsec1_verify(document: bytes, trusted: list[bytes], tmp_path: Path) -> str:
    """``xmlsec1 --verify`` of ``document``, the key taken from its own KeyInfo certificate and
    that certificate's chain checked up to ``trusted`` (PEM); its report, or AssertionError."""
    (tmp_path / "request.xml").write_bytes(document)
    command = [str(XMLSEC1), "--verify", "--id-attr:Id", f"{XADES}:SignedProperties"]
    for n, pem in enumerate(trusted):
        (tmp_path / f"trusted{n}.pem").write_bytes(pem)
        command += ["--trusted-pem", str(tmp_path / f"trusted{n}.pem")]
    done = subprocess.run(
        [*command, str(tmp_path / "request.xml")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@needs_xmlsec1
@pytest.mark.parametrize("namespace", ["2.0", "2.1"])
@pytest.mark.parametrize("c14n", ["exclusive", "inclusive"])
@pytest.mark.parametrize("fixture", ["rsa_seal", "ec_seal", "ec_personal"])
def test_xmlsec1_verifies(
    fixture: str, c14n: str, namespace: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    credential = request.getfixturevalue(fixture)
    document = signed(credential, c14n, namespace=namespace, allowed_ips=["10.0.0.1"])
    report = xmlsec1_verify(document, [cert_pem(credential)], tmp_path)
    assert "SignedInfo References (ok/all): 2/2" in report  # the document and SignedProperties


@needs_xmlsec1
def test_xmlsec1_verifies_the_chain_in_key_info(ca_issued, tmp_path: Path) -> None:
    """Only the CA is trusted: xmlsec1 finds the leaf and its issuer in KeyInfo."""
    ca = ca_issued.chain[0].public_bytes(serialization.Encoding.PEM)
    report = xmlsec1_verify(signed(ca_issued), [ca], tmp_path)
    assert "SignedInfo References (ok/all): 2/2" in report


@needs_xmlsec1
@pytest.mark.parametrize("where", ["document", "signed properties"])
def test_xmlsec1_rejects_a_tampered_request(where: str, rsa_seal, tmp_path: Path) -> None:
    document = signed(rsa_seal)
    if where == "document":
        document = document.replace(NIP.encode(), b"1234563218")
    else:
        document = document.replace(b"<xades:SigningTime>", b"<xades:SigningTime>1")
    assert document != signed(rsa_seal) or where == "document"
    with pytest.raises(AssertionError, match="(?i)fail|invalid"):
        xmlsec1_verify(document, [cert_pem(rsa_seal)], tmp_path)


# --- the document itself ------------------------------------------------------------------------


def anchorless_schema() -> etree.XMLSchema:
    """The 2.1 XSD with the ``^``/``$`` of its NipVatUe and PeppolId patterns removed: XSD regexes
    have no anchors, so libxml2 reads them as literal characters and no value can match (KSeF's
    .NET validator treats them as anchors)."""
    text = SCHEMA_21.read_text(encoding="utf-8")
    text = text.replace('value="^P[A-Z]', 'value="P[A-Z]').replace(')$"/>', ')"/>')
    text = text.replace('[0-9]{6}$"/>', '[0-9]{6}"/>')
    return etree.XMLSchema(etree.fromstring(text.encode()))


def test_valid_against_xsd_without_signature(rsa_seal) -> None:
    """The official 2.1 XSD, by libxml2 (lxml) and by xmlschema (an XSD processor of its own)."""
    import xmlschema

    schema = etree.XMLSchema(etree.parse(str(SCHEMA_21)))
    document = signed(rsa_seal, allowed_ips=["1.2.3.4", "5.6.7.0/24", "8.8.8.1-8.8.8.8"])
    root = without_signature(document)
    schema.assertValid(root)
    xmlschema.XMLSchema(str(SCHEMA_21)).validate(etree.tostring(root).decode())


@pytest.mark.parametrize(
    "context",
    [
        ContextIdentifier.nip(NIP),
        ContextIdentifier.internal_id(f"{NIP}-12345"),
        ContextIdentifier.nip_vat_ue(f"{NIP}-DE123456789"),
        ContextIdentifier.peppol_id("PPL123456"),
    ],
)
def test_context_types_valid_against_xsd(context: ContextIdentifier, rsa_seal) -> None:
    schema = anchorless_schema()
    root = build_auth_token_request(challenge=CHALLENGE.challenge, context=context)
    assert root.find(f".//{{*}}{context.type}").text == context.value
    sign_enveloped(root, rsa_seal.certificate, rsa_seal.key)
    schema.assertValid(without_signature(etree.tostring(root)))


def test_xades_shape(ec_seal) -> None:
    root = etree.fromstring(signed(ec_seal))
    ns = {"ds": DS, "xades": XADES}
    signature = root.find("ds:Signature", ns)
    assert signature is not None and signature.get("Id") == "Signature"
    assert root[-1] is signature  # enveloped: the last child
    references = signature.findall("ds:SignedInfo/ds:Reference", ns)
    assert [r.get("URI") for r in references] == ["", "#SignedProperties"]
    assert references[1].get("Type") == "http://uri.etsi.org/01903#SignedProperties"
    transforms = [
        t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", ns)
    ]
    assert transforms == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", ns).get("Algorithm")
    assert method == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=ns))
    assert len(value) == 64  # raw R||S for P-256, not DER
    properties = signature.find("ds:Object/xades:QualifyingProperties", ns)
    assert properties.get("Target") == "#Signature"
    signed_properties = properties.find("xades:SignedProperties", ns)
    assert signed_properties.get("Id") == "SignedProperties"
    assert signed_properties.findtext(".//xades:SigningTime", namespaces=ns).endswith("Z")
    cert = signed_properties.find(".//xades:SigningCertificate/xades:Cert", ns)
    assert cert.findtext("xades:IssuerSerial/ds:X509SerialNumber", namespaces=ns) == str(
        ec_seal.certificate.serial_number
    )
    certificates = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", ns)
    assert len(certificates) == 1


def test_rsa_signature_method(rsa_seal) -> None:
    root = etree.fromstring(signed(rsa_seal))
    method = root.find(f".//{{{DS}}}SignatureMethod").get("Algorithm")
    assert method == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def test_chain_follows_leaf_in_key_info(ca_issued) -> None:
    root = etree.fromstring(signed(ca_issued))
    values = [e.text for e in root.iter(f"{{{DS}}}X509Certificate")]
    der = [base64.b64decode(v) for v in values]
    assert der[0] == ca_issued.certificate.public_bytes(serialization.Encoding.DER)
    assert der[1] == ca_issued.chain[0].public_bytes(serialization.Encoding.DER)


def test_der_to_raw_pads_short_integers() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    raw = der_to_raw_ecdsa(encode_dss_signature(5, 7), 521)
    assert len(raw) == 132 and raw[65] == 5 and raw[-1] == 7


def test_mismatched_key_is_caught_before_sending(rsa_seal, ec_key) -> None:
    wrong = CertificateCredential(rsa_seal.certificate, LocalKey(ec_key))
    root = build_auth_token_request(
        challenge=CHALLENGE.challenge, context=ContextIdentifier.nip(NIP)
    )
    with pytest.raises(CertificateError, match="does not belong"):
        sign_enveloped(root, wrong.certificate, wrong.key)


class OnlySigns:
    """A KeyHandle that is not a LocalKey (a stand-in for an HSM or cloud KMS plugin)."""

    def __init__(self, key) -> None:
        self._key = LocalKey(key)
        self.calls = 0

    def public_key(self):
        return self._key.public_key()

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        self.calls += 1
        return self._key.sign(data, hash_name)

    @property
    def description(self) -> str:
        return "remote " + self._key.description


def test_any_key_handle_signs(rsa_seal, rsa_key) -> None:
    handle = OnlySigns(rsa_key)
    credential = CertificateCredential(rsa_seal.certificate, handle)
    document = signed(credential)
    assert handle.calls == 1
    signxml_verify(document, credential)
