"""Every signature shape from CLIENTS.md (and more) verifies; identity and owner rules apply."""

from __future__ import annotations

import httpx
import pytest
from sim_client import wait_status, xades_login
from sim_signing import (
    C14N10,
    C14N10_COMMENTS,
    C14N11,
    EXC,
    EXC_COMMENTS,
    NS20,
    NS21,
    Signer,
    auth_request_xml,
    hand_sign,
    signxml_sign,
)


def _challenge(client: httpx.Client) -> str:
    return client.post("/auth/challenge").json()["challenge"]


def _accepts(client: httpx.Client, signed: bytes) -> dict:
    response = xades_login(client, signed)
    assert response.status_code == 202, response.text
    status = wait_status(client, response.json())
    assert status["status"]["code"] == 200, status
    return status


@pytest.mark.parametrize("c14n", [C14N10, C14N11])
@pytest.mark.parametrize("namespace", [NS20, NS21])
def test_signxml_xades(client: httpx.Client, seal: Signer, c14n: str, namespace: str) -> None:
    doc = auth_request_xml(_challenge(client), namespace=namespace)
    status = _accepts(client, signxml_sign(doc, seal, c14n=c14n))
    assert status["authenticationMethod"] == "QualifiedSeal"
    assert status["authenticationMethodInfo"]["code"] == "xades.qualified-seal"


@pytest.mark.parametrize("c14n", [C14N10, C14N11, EXC])
def test_signxml_plain_xmldsig(client: httpx.Client, seal: Signer, c14n: str) -> None:
    doc = auth_request_xml(_challenge(client))
    _accepts(client, signxml_sign(doc, seal, c14n=c14n, xades=False))


@pytest.mark.parametrize(
    "alg",
    [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    ],
)
def test_signxml_rsa_algorithms(client: httpx.Client, seal: Signer, alg: str) -> None:
    doc = auth_request_xml(_challenge(client))
    _accepts(client, signxml_sign(doc, seal, signature_algorithm=alg))


def test_signxml_ecdsa(client: httpx.Client, ec_seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client))
    alg = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    _accepts(client, signxml_sign(doc, ec_seal, signature_algorithm=alg))


@pytest.mark.parametrize("c14n", [C14N10, C14N10_COMMENTS, C14N11, EXC, EXC_COMMENTS])
@pytest.mark.parametrize("doc_transform", ["enveloped", "xpath"])
def test_hand_built_enveloped(
    client: httpx.Client, seal: Signer, c14n: str, doc_transform: str
) -> None:
    doc = auth_request_xml(_challenge(client))
    signed = hand_sign(doc, seal, c14n=c14n, ref_c14n=c14n, doc_transform=doc_transform)
    _accepts(client, signed)


def test_hand_built_three_references_like_clients(client: httpx.Client, seal: Signer) -> None:
    """Document + KeyInfo + SignedProperties, C14N 1.1 (first row of CLIENTS.md)."""
    doc = auth_request_xml(_challenge(client))
    signed = hand_sign(doc, seal, c14n=C14N11, ref_c14n=C14N11, keyinfo_reference=True)
    _accepts(client, signed)


def test_hand_built_enveloping(client: httpx.Client, seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client), namespace=NS21)
    _accepts(client, hand_sign(doc, seal, form="enveloping", ref_c14n=EXC))


def test_hand_built_enveloping_ecdsa_sha3(client: httpx.Client, ec_seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client))
    signed = hand_sign(
        doc, ec_seal, form="enveloping", method="ecdsa", hash_name="sha3-256", digest="sha3-256"
    )
    _accepts(client, signed)


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_hand_built_rsa_pss(client: httpx.Client, seal: Signer, hash_name: str) -> None:
    doc = auth_request_xml(_challenge(client))
    _accepts(client, hand_sign(doc, seal, method="pss", hash_name=hash_name, digest="sha512"))


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha384", "sha512"])
def test_hand_built_pkcs1_hashes(client: httpx.Client, seal: Signer, hash_name: str) -> None:
    doc = auth_request_xml(_challenge(client))
    _accepts(client, hand_sign(doc, seal, hash_name=hash_name, digest="sha1"))


def test_hand_built_ecdsa_enveloped(client: httpx.Client, ec_seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client))
    _accepts(client, hand_sign(doc, ec_seal, method="ecdsa", hash_name="sha384"))


def test_root_id_reference(client: httpx.Client, seal: Signer) -> None:
    doc = auth_request_xml(_challenge(client), root_id="Doc1")
    _accepts(client, hand_sign(doc, seal, doc_uri="#Doc1"))


def test_personal_certificate_with_nip(client: httpx.Client, person_nip: Signer) -> None:
    doc = auth_request_xml(_challenge(client))
    status = _accepts(client, hand_sign(doc, person_nip))
    assert status["authenticationMethod"] == "QualifiedSignature"
