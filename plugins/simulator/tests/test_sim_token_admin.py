"""KSeF token management: POST/GET/DELETE /tokens."""

from __future__ import annotations

import time

import httpx
from conftest import NIP, OTHER_NIP, SyncASGI, fast
from sim_client import bearer, ksef_error_code, start_token_auth, token_login, wait_status

from ksef_auth_simulator import Simulator
from ksef_auth_simulator.refs import is_reference


def _owner(client: httpx.Client, sim: Simulator) -> str:
    return token_login(client, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]


def test_generate_list_read_revoke(client: httpx.Client, sim: Simulator) -> None:
    access = _owner(client, sim)
    body = {"permissions": ["InvoiceRead", "InvoiceWrite"], "description": "Sklep internetowy"}
    created = client.post("/tokens", json=body, headers=bearer(access))
    assert created.status_code == 202
    ref, secret = created.json()["referenceNumber"], created.json()["token"]
    assert is_reference(ref, "EC")
    prefix, context, tail = secret.split("|")
    assert prefix == ref and context == f"nip-{NIP}" and len(tail) == 64 and tail == tail.lower()
    status = client.get(f"/tokens/{ref}", headers=bearer(access)).json()
    assert status["status"] == "Active" and status["requestedPermissions"] == body["permissions"]
    # the new token logs in, with its own permissions
    new_access = token_login(client, secret, NIP)["accessToken"]["token"]
    assert client.get("/auth/sessions", headers=bearer(new_access)).status_code == 200
    listing = client.get("/tokens?status=Active", headers=bearer(access)).json()
    assert ref in [t["referenceNumber"] for t in listing["tokens"]]
    assert client.get(f"/tokens/{ref}", headers=bearer(access)).json()["lastUseDate"]
    assert client.delete(f"/tokens/{ref}", headers=bearer(access)).status_code == 204
    assert client.get(f"/tokens/{ref}", headers=bearer(access)).json()["status"] == "Revoked"
    revoked = client.get("/tokens?status=Revoked", headers=bearer(access)).json()["tokens"]
    assert [t["referenceNumber"] for t in revoked] == [ref]
    failed = wait_status(client, start_token_auth(client, secret, NIP).json())
    assert failed["status"]["code"] == 450


def test_pending_then_active() -> None:
    sim = Simulator(fast(token_activation_delay=0.15))
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        access = _owner(client, sim)
        created = client.post(
            "/tokens",
            json={"permissions": [], "description": "pending one"},
            headers=bearer(access),
        ).json()
        ref = created["referenceNumber"]
        assert client.get(f"/tokens/{ref}", headers=bearer(access)).json()["status"] == "Pending"
        time.sleep(0.2)
        assert client.get(f"/tokens/{ref}", headers=bearer(access)).json()["status"] == "Active"


def test_validation_and_permissions(client: httpx.Client, sim: Simulator) -> None:
    access = _owner(client, sim)
    for body in ({"permissions": ["Nope"], "description": "abcdef"}, {"permissions": []}, []):
        response = client.post("/tokens", json=body, headers=bearer(access))
        assert ksef_error_code(response) == 21405
    limited = token_login(client, sim.issue_ksef_token(NIP, ["InvoiceRead"]), NIP)
    response = client.post(
        "/tokens",
        json={"permissions": ["InvoiceRead"], "description": "abcdef"},
        headers=bearer(limited["accessToken"]["token"]),
    )
    assert response.status_code == 403 and response.json()["reasonCode"] == "missing-permissions"
    manager = token_login(client, sim.issue_ksef_token(NIP, ["CredentialsManage"]), NIP)
    response = client.post(
        "/tokens",
        json={"permissions": ["InvoiceWrite"], "description": "abcdef"},
        headers=bearer(manager["accessToken"]["token"]),
    )
    assert ksef_error_code(response) == 26001
    assert client.post("/tokens", json={}).status_code == 401


def test_query_filters_and_paging(client: httpx.Client, sim: Simulator) -> None:
    access = _owner(client, sim)
    for i in range(11):
        client.post(
            "/tokens",
            json={"permissions": ["InvoiceRead"], "description": f"token numer {i}"},
            headers=bearer(access),
        )
    first = client.get("/tokens", headers=bearer(access)).json()
    assert len(first["tokens"]) == 10 and first["continuationToken"]
    rest = client.get(
        "/tokens", headers={**bearer(access), "x-continuation-token": first["continuationToken"]}
    ).json()
    assert len(rest["tokens"]) == 2  # 11 + the issued one
    assert "continuationToken" not in rest
    found = client.get("/tokens?description=numer 1", headers=bearer(access)).json()["tokens"]
    assert {t["description"] for t in found} == {"token numer 1", "token numer 10"}
    bad = client.get("/tokens?status=Weird", headers=bearer(access))
    assert ksef_error_code(bad) == 21405
    bad = client.get("/tokens", headers={**bearer(access), "x-continuation-token": "bad"})
    assert ksef_error_code(bad) == 21418


def test_tokens_of_another_context_invisible(client: httpx.Client, sim: Simulator) -> None:
    other_ref = sim.issue_ksef_token(OTHER_NIP).split("|")[0]
    access = _owner(client, sim)
    assert ksef_error_code(client.get(f"/tokens/{other_ref}", headers=bearer(access))) == 21405


def _xades_access(client: httpx.Client, signer, doc: bytes) -> str:
    from sim_client import redeem, xades_login
    from sim_signing import hand_sign

    init = xades_login(client, hand_sign(doc, signer))
    assert init.status_code == 202, init.text
    assert wait_status(client, init.json())["status"]["code"] == 200
    return redeem(client, init.json()).json()["accessToken"]["token"]


def test_26002_context_type_not_allowed(client: httpx.Client, seal) -> None:
    from sim_signing import auth_request_xml

    challenge = client.post("/auth/challenge").json()["challenge"]
    doc = auth_request_xml(challenge, f"{NIP}-ATU12345678", context_tag="NipVatUe")
    access = _xades_access(client, seal, doc)
    response = client.post(
        "/tokens",
        json={"permissions": ["InvoiceRead"], "description": "abcdef"},
        headers=bearer(access),
    )
    assert ksef_error_code(response) == 26002


def test_internal_id_context_token(client: httpx.Client, seal) -> None:
    from sim_signing import auth_request_xml

    challenge = client.post("/auth/challenge").json()["challenge"]
    internal = f"{NIP}-12345"
    access = _xades_access(
        client, seal, auth_request_xml(challenge, internal, context_tag="InternalId")
    )
    created = client.post(
        "/tokens",
        json={"permissions": ["InvoiceRead"], "description": "abcdef"},
        headers=bearer(access),
    ).json()
    assert f"|internalId-{internal}|" in created["token"]
    tokens = token_login(client, created["token"], internal, context_type="InternalId")
    assert tokens["accessToken"]["token"]


def test_xades_ip_policy_enforced(client: httpx.Client, seal) -> None:
    from sim_signing import auth_request_xml

    challenge = client.post("/auth/challenge").json()["challenge"]
    access = _xades_access(client, seal, auth_request_xml(challenge, allowed_ips=["10.9.9.9"]))
    response = client.get("/auth/sessions", headers=bearer(access))
    assert response.status_code == 403 and response.json()["reasonCode"] == "ip-not-allowed"
