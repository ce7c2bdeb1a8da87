"""Third-party KSeF 2.0 clients (peers.toml) log in to our simulator through their own public API,
and the simulator says, from outside, that each login really happened.

Every row is one peer doing one thing: a KSeF-token login with a token the simulator issued; a
XAdES login signed by the peer's own signer with a self-signed seal or personal certificate made
here (RSA and EC), with a certificate the peer makes itself, with a key in a SoftHSM2 token
(PKCS#11); refresh, listing sessions, revoking the current one and another one; a KSeF token
the peer makes, uses and revokes; a KSeF certificate the peer enrolls and logs in with; a login
KSeF refuses; the KSeF hosts the peer knows. Each test uses a context (NIP) of its own, so the
simulator's counters for that context are the test's alone. A peer that does not offer a thing
skips that row; a peer's own bug is a strict xfail row (:data:`PEER_BUGS`) saying what it is.
"""

from __future__ import annotations

from typing import Any

import pytest
from peer_support import Peer, PeerFailed, PeerTimeout, SimulatorAdmin, SoftHsm, certificate

#: (peer, row) -> what is wrong in that peer (not in the simulator), and the exception it causes
PEER_BUGS: dict[tuple[str, str], tuple[str, type[BaseException]]] = {
    ("ksef", "refused"): (
        "ksef 0.2.8 polls a failed login (status 415/450) as if it were pending, once a second "
        "for 60 attempts, instead of stopping at the first final status (>= 400)",
        PeerTimeout,
    ),
    ("pyksef", "pkcs11"): (
        "pyksef 0.3.3's PKCS#11 keys (P11RSAPrivateKey, P11ECPrivateKey) do not implement "
        "__deepcopy__, abstract in the cryptography it gets (50.x), so none can be made",
        PeerFailed,
    ),
    ("ksef", "hosts"): (
        "ksef 0.2.8's Environment URLs end in /api/v2/ on the new hosts "
        "(https://api-test.ksef.mf.gov.pl/api/v2/); KSeF's API is at <host>/v2 (PROTOCOL.md 0.1)",
        AssertionError,
    ),
}

#: PROTOCOL.md 0.1: the API base of each environment
KSEF_HOSTS = {
    "TEST": "https://api-test.ksef.mf.gov.pl/v2",
    "DEMO": "https://api-demo.ksef.mf.gov.pl/v2",
    "PRODUCTION": "https://api.ksef.mf.gov.pl/v2",
}

OUTSIDER = "5265877635"  # a NIP no test logs in to

STATUS = "GET /auth/{referenceNumber}"
REDEEM = "POST /auth/token/redeem"


def known_bug(request: pytest.FixtureRequest, peer: Peer, row: str) -> None:
    bug = PEER_BUGS.get((peer.name, row))
    if bug is not None:
        reason, raises = bug
        request.applymarker(pytest.mark.xfail(reason=reason, raises=raises, strict=True))


def token_login(peer: Peer, simulator: SimulatorAdmin, nip: str) -> dict[str, Any]:
    token = simulator.issue_token(nip)
    got: dict[str, Any] = peer.offering("token_login").call("token_login", nip=nip, token=token)
    got["who"] = simulator.whoami(got["access"])
    got["ksef_token_reference"] = token.split("|")[0]
    return got


def logged_in_twice(peer: Peer, simulator: SimulatorAdmin, nip: str) -> list[dict[str, Any]]:
    """Two sessions of one context, by the peer's first login method that manages sessions."""
    peer.offering("sessions")
    if "token_login" in peer.offers:
        return [token_login(peer, simulator, nip) for _ in range(2)]
    cert, key = certificate("seal", nip)
    sessions = [peer.call("xades_login", nip=nip, cert_pem=cert, key_pem=key) for _ in range(2)]
    for session in sessions:
        session["who"] = simulator.whoami(session["access"])
    return sessions


def test_ksef_token_login(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    got = token_login(peer, simulator, nip)

    who = got["who"]
    assert who["context"] == {"type": "Nip", "value": nip}
    assert who["authenticationMethod"] == "Token"
    assert who["ksefTokenReference"] == got["ksef_token_reference"]
    seen = simulator.counters(nip)
    assert seen["endpoints"]["POST /auth/ksef-token"] == {"calls": 1, "202": 1}
    assert seen["endpoints"][STATUS]["calls"] == seen["endpoints"][STATUS]["200"] >= 1
    assert seen["endpoints"][REDEEM] == {"calls": 1, "200": 1}
    assert seen["events"]["logins_completed"] == 1


@pytest.mark.parametrize(
    ("kind", "key_type", "method"),
    [
        ("seal", "rsa", "QualifiedSeal"),
        ("seal", "ec", "QualifiedSeal"),
        ("person", "rsa", "QualifiedSignature"),
        ("person", "ec", "QualifiedSignature"),
    ],
)
def test_xades_login_with_its_own_signer(
    peer: Peer, simulator: SimulatorAdmin, nip: str, kind: str, key_type: str, method: str
) -> None:
    cert, key = certificate(kind, nip, key_type)
    got = peer.offering("xades_login").call("xades_login", nip=nip, cert_pem=cert, key_pem=key)

    who = simulator.whoami(got["access"])
    assert who["context"] == {"type": "Nip", "value": nip}
    assert who["authenticationMethod"] == method
    assert who["subject"]["subjectIdentifier"] == {"type": "Nip", "value": nip}
    seen = simulator.counters(nip)
    assert seen["endpoints"]["POST /auth/xades-signature"] == {"calls": 1, "202": 1}
    assert seen["endpoints"][STATUS]["calls"] == seen["endpoints"][STATUS]["200"] >= 1
    assert seen["endpoints"][REDEEM] == {"calls": 1, "200": 1}
    assert seen["events"]["logins_completed"] == 1


def test_xades_login_with_a_certificate_the_peer_makes(
    peer: Peer, simulator: SimulatorAdmin, nip: str
) -> None:
    """A peer that makes TEST certificates of its own logs in with one."""
    got = peer.offering("own_certificate_login").call("own_certificate_login", nip=nip)

    who = simulator.whoami(got["access"])
    assert who["context"] == {"type": "Nip", "value": nip}
    assert who["subject"]["subjectIdentifier"] == {"type": "Nip", "value": nip}
    assert simulator.counters(nip)["events"]["logins_completed"] == 1


def test_xades_login_with_a_key_in_a_pkcs11_token(
    request: pytest.FixtureRequest, peer: Peer, simulator: SimulatorAdmin, nip: str
) -> None:
    """The seal's key sits in a SoftHSM2 token; the peer signs through PKCS#11."""
    peer.offering("pkcs11_login")
    softhsm: SoftHsm = request.getfixturevalue("softhsm")
    known_bug(request, peer, "pkcs11")
    cert, key = certificate("seal", nip)
    softhsm.import_key(key, label=f"seal-{nip}")

    got = peer.call(
        "pkcs11_login",
        nip=nip,
        cert_pem=cert,
        module=softhsm.module,
        token_label=softhsm.label,
        pin=softhsm.pin,
        key_label=f"seal-{nip}",
        config=str(softhsm.config),
    )

    who = simulator.whoami(got["access"])
    assert who["context"] == {"type": "Nip", "value": nip}
    assert who["authenticationMethod"] == "QualifiedSeal"
    assert simulator.counters(nip)["events"]["logins_completed"] == 1


def test_refresh(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    got = token_login(peer.offering("refresh"), simulator, nip)

    refreshed = peer.call("refresh", session=got["session"])

    assert refreshed["access"] != got["access"]
    assert simulator.whoami(refreshed["access"])["referenceNumber"] == got["who"]["referenceNumber"]
    seen = simulator.counters(nip)
    assert seen["endpoints"]["POST /auth/token/refresh"] == {"calls": 1, "200": 1}
    assert seen["events"]["refreshes"] == 1


def test_list_sessions(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    first, second = logged_in_twice(peer, simulator, nip)

    listed = peer.call("sessions", session=second["session"])

    current = {s["referenceNumber"]: s["isCurrent"] for s in listed}
    assert current == {
        first["who"]["referenceNumber"]: False,
        second["who"]["referenceNumber"]: True,
    }
    assert simulator.counters(nip)["endpoints"]["GET /auth/sessions"] == {"calls": 1, "200": 1}


def test_revoke_the_current_session(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    first, second = logged_in_twice(peer.offering("revoke_current"), simulator, nip)

    peer.call("revoke_current", session=first["session"])

    refused = simulator.refresh(first["refresh"])
    assert refused.status_code == 400 and "21301" in refused.text, refused.text
    assert simulator.refresh(second["refresh"]).status_code == 200
    seen = simulator.counters(nip)
    assert seen["endpoints"]["DELETE /auth/sessions/current"] == {"calls": 1, "204": 1}
    assert seen["events"]["sessions_revoked"] == 1
    listed = peer.call("sessions", session=second["session"])
    assert [s["referenceNumber"] for s in listed] == [second["who"]["referenceNumber"]]


def test_revoke_another_session(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    first, second = logged_in_twice(peer.offering("revoke"), simulator, nip)

    peer.call("revoke", session=second["session"], reference=first["who"]["referenceNumber"])

    assert simulator.refresh(first["refresh"]).status_code == 400
    assert simulator.refresh(second["refresh"]).status_code == 200
    seen = simulator.counters(nip)
    assert seen["endpoints"]["DELETE /auth/sessions/{referenceNumber}"] == {"calls": 1, "204": 1}
    assert seen["events"]["sessions_revoked"] == 1


def test_a_ksef_token_the_peer_makes(peer: Peer, simulator: SimulatorAdmin, nip: str) -> None:
    """After a XAdES login the peer makes a KSeF token (``POST /tokens``), logs in with it,
    revokes it (``DELETE /tokens/{ref}``), and is refused when it tries it again."""
    peer.offering("generate_token")
    cert, key = certificate("seal", nip)
    owner = peer.call("xades_login", nip=nip, cert_pem=cert, key_pem=key)

    made = peer.call(
        "generate_token",
        session=owner["session"],
        description="Token zrobiony przez peera",
        permissions=["InvoiceRead", "InvoiceWrite"],
    )
    assert made["token"].startswith(f"{made['reference']}|nip-{nip}|")
    got = peer.call("token_login", nip=nip, token=made["token"])
    who = simulator.whoami(got["access"])
    assert who["authenticationMethod"] == "Token"
    assert who["ksefTokenReference"] == made["reference"]
    assert set(who["permissions"]) == {"InvoiceRead", "InvoiceWrite"}

    peer.call("revoke_token", session=owner["session"], reference=made["reference"])
    assert peer.call("token_status", session=owner["session"], reference=made["reference"]) in (
        "revoked",
        "Revoked",
    )
    with pytest.raises(PeerFailed):
        peer.call("token_login", nip=nip, token=made["token"], timeout=8)
    seen = simulator.counters(nip)
    assert seen["endpoints"]["POST /tokens"] == {"calls": 1, "202": 1}
    assert seen["endpoints"]["DELETE /tokens/{referenceNumber}"] == {"calls": 1, "204": 1}
    assert seen["events"]["logins_failed"] == 1


def test_a_ksef_certificate_the_peer_enrolls(
    peer: Peer, simulator: SimulatorAdmin, nip: str
) -> None:
    """After a XAdES login with a seal the peer enrolls a KSeF certificate (enrollment data, a
    CSR, enroll, status, retrieve) and logs in with it: the simulator sees its own certificate."""
    peer.offering("enroll_certificate")
    cert, key = certificate("seal", nip)
    owner = peer.call("xades_login", nip=nip, cert_pem=cert, key_pem=key)

    enrolled = peer.call("enroll_certificate", session=owner["session"], name="Certyfikat peera")
    got = peer.call(
        "xades_login", nip=nip, cert_pem=enrolled["cert_pem"], key_pem=enrolled["key_pem"]
    )

    who = simulator.whoami(got["access"])
    assert who["context"] == {"type": "Nip", "value": nip}
    assert who["authenticationMethod"] == "InternalCertificate"
    seen = simulator.counters(nip)
    assert seen["endpoints"]["POST /certificates/enrollments"] == {"calls": 1, "202": 1}
    assert seen["endpoints"]["POST /certificates/retrieve"] == {"calls": 1, "200": 1}
    assert seen["events"]["logins_completed"] == 2


def test_a_refused_login_is_reported(
    request: pytest.FixtureRequest, peer: Peer, simulator: SimulatorAdmin, nip: str
) -> None:
    """A personal certificate of another NIP has no permission in this context: the status ends
    at 415, and the peer must say so at once rather than poll on or hand out tokens."""
    known_bug(request, peer, "refused")
    cert, key = certificate("person", OUTSIDER, "rsa")
    peer.offering("xades_login")

    with pytest.raises(PeerFailed):
        peer.call("xades_login", nip=nip, cert_pem=cert, key_pem=key, timeout=8)

    seen = simulator.counters(nip)
    assert seen["events"]["logins_failed"] == 1
    assert REDEEM not in seen["endpoints"]


def test_a_revoked_ksef_token_is_reported(
    request: pytest.FixtureRequest, peer: Peer, simulator: SimulatorAdmin, nip: str
) -> None:
    known_bug(request, peer, "refused")
    token = simulator.issue_token(nip)
    simulator.revoke_token(token)
    peer.offering("token_login")

    with pytest.raises(PeerFailed):
        peer.call("token_login", nip=nip, token=token, timeout=8)

    seen = simulator.counters(nip)
    assert seen["events"]["logins_failed"] == 1
    assert REDEEM not in seen["endpoints"]


def test_knows_the_ksef_hosts(request: pytest.FixtureRequest, peer: Peer) -> None:
    """Not through the simulator: the API base URL the peer uses for each environment when not
    pointed elsewhere, against PROTOCOL.md's table."""
    known_bug(request, peer, "hosts")
    hosts = peer.offering("environments").call("environments")

    assert {name: url.rstrip("/") for name, url in hosts.items()} == {
        name: KSEF_HOSTS[name] for name in hosts
    }
