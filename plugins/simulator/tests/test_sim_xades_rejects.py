"""Bad XAdES submissions get the KSeF code for what is wrong with them."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from conftest import NIP, OTHER_NIP, PESEL
from lxml import etree
from sim_certificates import chain_pems
from sim_client import ksef_error_code, wait_status, xades_login
from sim_signing import DS, EXC, NS20, Signer, auth_request_xml, hand_sign, signxml_sign

from ksef_auth_simulator import Simulator, SimulatorConfig
from ksef_auth_simulator.certs import fingerprint


def _challenge(client: httpx.Client) -> str:
    return client.post("/auth/challenge").json()["challenge"]


def _code(client: httpx.Client, body: bytes, query: str = "") -> int:
    response = xades_login(client, body, query)
    assert response.status_code == 400, response.text
    return ksef_error_code(response)


def _final(client: httpx.Client, body: bytes, query: str = "") -> dict:
    response = xades_login(client, body, query)
    assert response.status_code == 202, response.text
    return wait_status(client, response.json())["status"]


def test_tampered_document(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    tampered = signed.replace(f"<Nip>{NIP}</Nip>".encode(), f"<Nip>{OTHER_NIP}</Nip>".encode())
    response = xades_login(client, tampered)
    assert ksef_error_code(response) == 9105
    assert "skrótu" in response.json()["exception"]["exceptionDetailList"][0]["details"][0]


def test_wrong_key(client: httpx.Client, seal: Signer, rsa_key2) -> None:
    forged = Signer(rsa_key2, seal.cert)
    signed = hand_sign(auth_request_xml(_challenge(client)), forged)
    assert _code(client, signed) == 9105


def test_tampered_signed_properties(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    tampered = signed.replace(b"<xades:SigningTime>20", b"<xades:SigningTime>19")
    assert _code(client, tampered) == 9105


def test_signxml_exclusive_xades_pitfall(client: httpx.Client, seal: Signer) -> None:
    """CLIENTS.md: signxml's stock XAdESSigner with exclusive C14N makes digests that do not
    verify on its internal references; a faithful verifier rejects them."""
    signed = signxml_sign(auth_request_xml(_challenge(client)), seal, c14n=EXC)
    assert _code(client, signed) == 9105


def test_wrapping_signed_copy_hidden_in_object(client: httpx.Client, seal: Signer) -> None:
    """XSW: the signed original (Id=Doc1) is moved into a ds:Object, an evil root takes over."""
    signed = etree.fromstring(
        hand_sign(auth_request_xml(_challenge(client), root_id="Doc1"), seal, doc_uri="#Doc1")
    )
    signature = signed.find(f"{{{DS}}}Signature")
    signed.remove(signature)
    evil = etree.fromstring(auth_request_xml(_challenge(client), OTHER_NIP))
    wrapper = etree.SubElement(signature, f"{{{DS}}}Object")
    wrapper.append(signed)
    evil.append(signature)
    assert _code(client, etree.tostring(evil)) == 9101


def test_wrapping_duplicate_id(client: httpx.Client, seal: Signer) -> None:
    signed = etree.fromstring(
        hand_sign(auth_request_xml(_challenge(client), root_id="Doc1"), seal, doc_uri="#Doc1")
    )
    etree.SubElement(signed.find(f"{{{DS}}}Signature"), f"{{{DS}}}Object", Id="Doc1")
    assert _code(client, etree.tostring(signed)) == 9105


def test_reference_not_covering_request(client: httpx.Client, seal: Signer) -> None:
    """Only SignedProperties/KeyInfo are signed: the request itself is not covered."""
    signed = etree.fromstring(hand_sign(auth_request_xml(_challenge(client)), seal))
    signed_info = signed.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo")
    doc_ref = signed_info.find(f"{{{DS}}}Reference")
    signed_info.remove(doc_ref)
    # re-sign SignedInfo without the document reference, with the same key
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    data = etree.tostring(signed_info, method="c14n")
    value = seal.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    signed.find(f"{{{DS}}}Signature/{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    response = xades_login(client, etree.tostring(signed))
    assert ksef_error_code(response) == 9105
    assert "AuthTokenRequest" in response.text


def test_xpath_transform_excluding_content(client: httpx.Client, seal: Signer) -> None:
    """A transform that leaves the Challenge unsigned does not count as signing the request."""
    expr = "not(ancestor-or-self::ds:Signature) and not(ancestor-or-self::t:Challenge)"
    signed = hand_sign(
        auth_request_xml(_challenge(client)),
        seal,
        doc_transform="xpath",
        xpath=expr,
        digest_without=("Challenge",),
    )
    assert _code(client, signed) == 9105


def test_xxe_rejected(client: httpx.Client) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>&x;'
        b"</Challenge></AuthTokenRequest>"
    )
    assert _code(client, body) == 9101


def test_entity_bomb_rejected(client: httpx.Client) -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><r>&l9;</r>'.encode()
    started = time.monotonic()
    assert _code(client, body) == 9101
    assert time.monotonic() - started < 1.0


def test_utf16_doctype_rejected(client: httpx.Client) -> None:
    body = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'
    assert _code(client, body.encode("utf-16")) == 9101


def test_no_signature(client: httpx.Client) -> None:
    assert _code(client, auth_request_xml(_challenge(client))) == 9102


def test_two_signatures(client: httpx.Client, seal: Signer) -> None:
    once = hand_sign(auth_request_xml(_challenge(client)), seal, xades=False)
    twice = hand_sign(once, seal, doc_transform="xpath", xades=False)
    assert _code(client, twice) == 9103


def test_unreadable(client: httpx.Client) -> None:
    assert _code(client, b"this is not xml") == 21001
    assert _code(client, b"") == 21001


def test_bad_encoding(client: httpx.Client) -> None:
    body = b'<?xml version="1.0" encoding="utf-8"?><AuthTokenRequest>\xff\xfe</AuthTokenRequest>'
    assert _code(client, body) == 21217


def test_wrong_content_type(client: httpx.Client, seal: Signer) -> None:
    response = client.post(
        "/auth/xades-signature", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/problem+json")


def test_xsd_violation(client: httpx.Client, seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client), subject_type="somethingElse")
    response = xades_login(client, hand_sign(doc, seal))
    assert ksef_error_code(response) == 21401
    assert "SubjectIdentifierType" in response.text


def test_not_an_auth_request(client: httpx.Client) -> None:
    assert _code(client, b'<Other xmlns="urn:x"/>') == 21401


def test_unknown_challenge(client: httpx.Client, seal: Signer) -> None:
    doc = auth_request_xml("20250625-CR-20F5EE4000-DA48AE4124-46")
    assert _code(client, hand_sign(doc, seal)) == 21111


def test_challenge_single_use(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    assert xades_login(client, signed).status_code == 202
    assert _code(client, signed) == 21111


def test_challenge_expires() -> None:
    from conftest import SyncASGI

    sim = Simulator(SimulatorConfig(rate_limits=False, challenge_ttl=0.05))
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        challenge = _challenge(client)
        time.sleep(0.1)
        body = {
            "challenge": challenge,
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": base64.b64encode(b"x" * 256).decode(),
        }
        assert ksef_error_code(client.post("/auth/ksef-token", json=body)) == 21111


def test_unparseable_certificate(client: httpx.Client, seal: Signer) -> None:
    signed = etree.fromstring(hand_sign(auth_request_xml(_challenge(client)), seal))
    cert_el = signed.find(f".//{{{DS}}}X509Certificate")
    cert_el.text = base64.b64encode(b"not a certificate").decode()
    assert _code(client, etree.tostring(signed)) == 21115


def test_weak_rsa_key(client: httpx.Client, weak_seal: Signer) -> None:
    """RSA below 2048 bits is a certificate problem: 21115 (chosen over 9105)."""
    assert _code(client, hand_sign(auth_request_xml(_challenge(client)), weak_seal)) == 21115


def test_subject_without_identifier(client: httpx.Client, anonymous: Signer) -> None:
    assert _code(client, hand_sign(auth_request_xml(_challenge(client)), anonymous)) == 21117


def test_bad_nip_checksum(client: httpx.Client, seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client), "5261040829")
    assert _code(client, hand_sign(doc, seal)) == 21405


def test_expired_certificate_460(client: httpx.Client, expired_seal: Signer) -> None:
    status = _final(client, hand_sign(auth_request_xml(_challenge(client)), expired_seal))
    assert status["code"] == 460
    assert status["details"] == ["Nieważny certyfikat"]


def test_untrusted_chain_460(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    status = _final(client, signed, "?verifyCertificateChain=true")
    assert status == {
        "code": 460,
        "description": "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
        "details": ["Niezaufany łańcuch certyfikatów"],
    }


def test_trusted_chain(ca: Signer, ca_issued_seal: Signer) -> None:
    from conftest import SyncASGI

    sim = Simulator(SimulatorConfig(rate_limits=False, trusted_ca_pems=chain_pems([ca.cert])))
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        signed = hand_sign(auth_request_xml(_challenge(client)), ca_issued_seal)
        assert _final(client, signed, "?verifyCertificateChain=true")["code"] == 200
        signed = hand_sign(auth_request_xml(_challenge(client)), ca_issued_seal)
        assert _final(client, signed, "?verifyCertificateChain=false")["code"] == 200


def test_self_signed_accepted_without_chain_check(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    assert _final(client, signed, "?verifyCertificateChain=false")["code"] == 200


def test_bad_verify_flag(client: httpx.Client, seal: Signer) -> None:
    signed = hand_sign(auth_request_xml(_challenge(client)), seal)
    assert _code(client, signed, "?verifyCertificateChain=maybe") == 21405


def test_not_owner_415(client: httpx.Client, seal: Signer) -> None:
    status = _final(client, hand_sign(auth_request_xml(_challenge(client), OTHER_NIP), seal))
    assert status["code"] == 415
    assert status["details"] == ["Brak przypisanych uprawnień"]


def test_fingerprint_grant(client: httpx.Client, sim: Simulator, anonymous: Signer) -> None:
    doc = auth_request_xml(_challenge(client), subject_type="certificateFingerprint")
    assert _final(client, hand_sign(doc, anonymous))["code"] == 415
    sim.grant_fingerprint(NIP, fingerprint(anonymous.cert))
    doc = auth_request_xml(_challenge(client), subject_type="certificateFingerprint")
    assert _final(client, hand_sign(doc, anonymous))["code"] == 200


def test_linked_pesel(client: httpx.Client, sim: Simulator, person_pesel: Signer) -> None:
    assert (
        _final(client, hand_sign(auth_request_xml(_challenge(client)), person_pesel))["code"] == 415
    )
    sim.link_pesel(NIP, PESEL)
    assert (
        _final(client, hand_sign(auth_request_xml(_challenge(client)), person_pesel))["code"] == 200
    )


def test_deceased_470(client: httpx.Client, sim: Simulator, person_pesel: Signer) -> None:
    sim.link_pesel(NIP, PESEL, deceased=True)
    status = _final(client, hand_sign(auth_request_xml(_challenge(client)), person_pesel))
    assert status["code"] == 470


def test_blocked_context_480(client: httpx.Client, sim: Simulator, seal: Signer) -> None:
    sim.block_context(NIP)
    status = _final(client, hand_sign(auth_request_xml(_challenge(client)), seal))
    assert status["code"] == 480
    sim.unblock_context(NIP)
    assert _final(client, hand_sign(auth_request_xml(_challenge(client)), seal))["code"] == 200


def test_require_xades_switch(seal: Signer) -> None:
    from conftest import SyncASGI

    sim = Simulator(SimulatorConfig(rate_limits=False, require_xades=True))
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        plain = hand_sign(auth_request_xml(_challenge(client)), seal, xades=False)
        assert _code(client, plain) == 9105
        assert _final(client, hand_sign(auth_request_xml(_challenge(client)), seal))["code"] == 200


@pytest.mark.parametrize("namespace", [NS20])
def test_ip_policy_in_xml_is_validated(client: httpx.Client, seal: Signer, namespace: str) -> None:
    doc = auth_request_xml(_challenge(client), allowed_ips=["300.1.1.1"], namespace=namespace)
    assert _code(client, hand_sign(doc, seal)) == 21401
