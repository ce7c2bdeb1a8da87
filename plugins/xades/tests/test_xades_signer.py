"""The signer as the core sees it: options, registration, Submission."""

from __future__ import annotations

import pytest
from lxml import etree
from xades_support import CHALLENGE, NIP

import ksef_auth_xades
from ksef_auth import ContextIdentifier, Environment, KsefToken, PluginManager, SignRequest
from ksef_auth.components import Signer
from ksef_auth.errors import CredentialError
from ksef_auth_xades import XadesSigner
from ksef_auth_xades.document import AllowedIps


def request_for(credential, context=None) -> SignRequest:
    return SignRequest(
        challenge=CHALLENGE,
        context=context or ContextIdentifier.nip(NIP),
        credential=credential,
        environment=Environment.of("test"),
    )


def test_is_a_signer() -> None:
    signer = XadesSigner()
    assert isinstance(signer, Signer)
    assert (signer.method, signer.challenge_path) == ("xades", "/auth/challenge")


def test_registered_with_options() -> None:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_xades, name="xades")
    registration = manager.get("signer", "xades")
    names = [o.name for o in registration.options]
    assert names == [
        "namespace",
        "subject_identifier",
        "allowed_ips",
        "verify_certificate_chain",
        "allow_other_context",
    ]
    assert all(o.help for o in registration.options)
    assert registration.option("namespace").default == "2.1"


@pytest.mark.parametrize(("flag", "value"), [(False, "false"), (True, "true")])
def test_submission(flag: bool, value: str, rsa_seal) -> None:
    submission = XadesSigner(verify_certificate_chain=flag).sign(request_for(rsa_seal))
    assert submission.path == "/auth/xades-signature"
    assert submission.content_type == "application/xml"
    assert submission.params == {"verifyCertificateChain": value}
    assert submission.kind == "operation"
    assert submission.content.startswith(b"<?xml")
    root = etree.fromstring(submission.content)
    assert root.tag == "{http://ksef.mf.gov.pl/auth/token/2.1}AuthTokenRequest"
    assert root.findtext("{*}Challenge") == CHALLENGE.challenge


def test_namespace_20_and_fingerprint(rsa_seal) -> None:
    signer = XadesSigner(namespace="2.0", subject_identifier="certificateFingerprint")
    root = etree.fromstring(signer.sign(request_for(rsa_seal)).content)
    assert root.tag == "{http://ksef.mf.gov.pl/auth/token/2.0}AuthTokenRequest"
    assert root.findtext("{*}SubjectIdentifierType") == "certificateFingerprint"


def test_allowed_ips_in_xsd_order(rsa_seal) -> None:
    signer = XadesSigner(allowed_ips="10.0.0.0/8, 1.1.1.1-1.1.1.9 192.168.0.1")
    root = etree.fromstring(signer.sign(request_for(rsa_seal)).content)
    children = root.find("{*}AuthorizationPolicy/{*}AllowedIps")
    assert [(etree.QName(c).localname, c.text) for c in children] == [
        ("Ip4Address", "192.168.0.1"),
        ("Ip4Range", "1.1.1.1-1.1.1.9"),
        ("Ip4Mask", "10.0.0.0/8"),
    ]


def test_no_policy_without_ips(rsa_seal) -> None:
    root = etree.fromstring(XadesSigner().sign(request_for(rsa_seal)).content)
    assert root.find("{*}AuthorizationPolicy") is None


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["300.1.1.1"], "'300.1.1.1' is not an IPv4 address"),
        (["1.1.1.9-1.1.1.1"], "first address is above its last"),
        (["::1"], "is not an IPv4"),
        (["10.0.0.0/33"], "is not an IPv4"),
        ([f"10.0.0.{i}" for i in range(11)], "at most 10 addresses"),
    ],
)
def test_bad_ips(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        XadesSigner(allowed_ips=items)
    with pytest.raises(ValueError, match=message):
        AllowedIps.parse(items)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="namespace"):
        XadesSigner(namespace="3.0")
    with pytest.raises(ValueError, match="subject_identifier"):
        XadesSigner(subject_identifier="certificate")  # type: ignore[arg-type]


def test_token_credential_refused() -> None:
    with pytest.raises(CredentialError, match="needs a certificate"):
        XadesSigner().sign(request_for(KsefToken("x" * 20)))
