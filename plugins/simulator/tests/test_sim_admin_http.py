"""The /_sim endpoints mirror the in-process admin API."""

from __future__ import annotations

import httpx
from conftest import NIP, PESEL
from ksef_auth.nip import example_nips
from sim_client import bearer, start_token_auth, token_login, wait_status

from ksef_auth_simulator.server import RunningSimulator


def test_admin_over_http(ksef_simulator: RunningSimulator) -> None:
    root = ksef_simulator.root_url
    with httpx.Client(base_url=ksef_simulator.base_url) as http, httpx.Client(base_url=root) as adm:
        issued = adm.post("/_sim/tokens", json={"nip": NIP}).json()
        assert issued["token"].startswith(issued["referenceNumber"])
        tokens = token_login(http, issued["token"], NIP)
        assert adm.post("/_sim/tokens", json={"nip": NIP, "token": "seeded"}).status_code == 201
        token_login(http, "seeded", NIP)

        who = adm.get("/_sim/whoami", headers=bearer(tokens["accessToken"]["token"])).json()
        assert who["context"] == {"type": "Nip", "value": NIP}
        assert adm.get("/_sim/whoami").status_code == 401

        assert adm.post(f"/_sim/contexts/{NIP}/block").status_code == 204
        blocked = wait_status(http, start_token_auth(http, issued["token"], NIP).json())
        assert blocked["status"]["code"] == 480
        assert adm.delete(f"/_sim/contexts/{NIP}/block").status_code == 204

        assert adm.post("/_sim/tokens/revoke", json={"token": "seeded"}).status_code == 204
        assert adm.post("/_sim/pesel-links", json={"nip": NIP, "pesel": PESEL}).status_code == 204
        grant = {"nip": NIP, "fingerprint": "AB" * 32, "permissions": ["InvoiceRead"]}
        assert adm.post("/_sim/grants", json=grant).status_code == 204
        assert ksef_simulator.sim.permissions_for(NIP, "Fingerprint", "ab" * 32) == ["InvoiceRead"]

        rule = {"endpoint": "POST /auth/challenge", "status": 503, "times": 1}
        assert adm.post("/_sim/faults", json=rule).status_code == 201
        assert adm.get("/_sim/faults").json()[0]["status"] == 503
        assert http.post("/auth/challenge").status_code == 503
        assert adm.delete("/_sim/faults").status_code == 204
        assert adm.get("/_sim/faults").json() == []
        assert adm.post("/_sim/faults", json={"bogus": 1}).status_code == 400

        counters = adm.get("/_sim/counters").json()
        assert counters["endpoints"]["POST /auth/challenge"]["503"] == 1
        assert counters["events"]["logins_completed"] == 2
        assert counters["contexts"][NIP]["logins_completed"] == 2
        assert adm.post("/_sim/reset").status_code == 204
        assert adm.get("/_sim/counters").json()["events"] == {}

        keys = http.get("/security/public-key-certificates").json()
        added = adm.post("/_sim/keys/rotate").json()["added"]
        assert len(added) == 2
        assert len(http.get("/security/public-key-certificates").json()) == 4
        old = next(k["publicKeyId"] for k in keys if k["usage"] == ["KsefTokenEncryption"])
        assert adm.post("/_sim/keys/retire", json={"publicKeyId": old}).status_code == 204
        assert len(http.get("/security/public-key-certificates").json()) == 3
        assert adm.post("/_sim/keys/retire", json={"publicKeyId": old + "x"}).status_code == 400


def test_thousands_of_tokens_and_grants(ksef_simulator: RunningSimulator) -> None:
    """Bulk seeding for tests, benches and docs: one call per thousand contexts."""
    from ksef_auth.nip import is_valid_nip

    from ksef_auth_simulator.refs import KSEF_TOKEN

    nips = example_nips(3000)
    assert all(is_valid_nip(n) for n in nips)
    sim = ksef_simulator.sim
    tokens = sim.issue_ksef_tokens(nips)
    assert list(tokens) == nips and len(set(tokens.values())) == 3000
    for nip, token in tokens.items():
        match = KSEF_TOKEN.match(token)
        assert match and match.group("context") == nip and match.group("prefix") == "nip"
    root = ksef_simulator.root_url
    with httpx.Client(base_url=root) as adm, httpx.Client(base_url=ksef_simulator.base_url) as http:
        more = adm.post("/_sim/tokens", json={"nips": nips[:1000], "permissions": ["InvoiceRead"]})
        assert more.status_code == 201
        listing = more.json()["tokens"]
        assert [t["nip"] for t in listing] == nips[:1000]
        assert all(t["token"].startswith(t["referenceNumber"] + "|nip-") for t in listing)
        access = token_login(http, listing[7]["token"], nips[7])["accessToken"]["token"]
        who = adm.get("/_sim/whoami", headers=bearer(access)).json()
        assert who["context"] == {"type": "Nip", "value": nips[7]}
        assert who["permissions"] == ["InvoiceRead"]
        assert who["ksefTokenReference"] == listing[7]["referenceNumber"]

        grant = {
            "nips": nips,
            "identifierType": "Nip",
            "value": NIP,
            "permissions": ["InvoiceRead"],
        }
        assert adm.post("/_sim/grants", json=grant).status_code == 204
        assert sim.permissions_for(nips[-1], "Nip", NIP) == ["InvoiceRead"]
        assert adm.post("/_sim/grants", json={**grant, "nips": "x"}).status_code == 400
        assert adm.post("/_sim/grants", json={**grant, "identifierType": "X"}).status_code == 400
        assert adm.post("/_sim/tokens", json={}).status_code == 400
    assert sim.grant_in_contexts(nips[:10], "Fingerprint", "ab" * 32) == 10
    assert sim.permissions_for(nips[3], "Fingerprint", "AB" * 32) == ["InvoiceRead", "InvoiceWrite"]


def test_whoami_shape(ksef_simulator: RunningSimulator) -> None:
    sim = ksef_simulator.sim
    token = sim.issue_ksef_token(NIP)
    with httpx.Client(base_url=ksef_simulator.base_url) as http:
        access = token_login(http, token, NIP)["accessToken"]["token"]
    who = httpx.get(f"{ksef_simulator.root_url}/_sim/whoami", headers=bearer(access)).json()
    assert set(who) == {
        "context",
        "subject",
        "permissions",
        "authenticationMethod",
        "referenceNumber",
        "ksefTokenReference",
        "claims",
    }
    assert who["context"] == {"type": "Nip", "value": NIP}
    assert who["subject"] == {"subjectIdentifier": {"type": "Nip", "value": NIP}}
    assert who["authenticationMethod"] == "Token"
    assert who["ksefTokenReference"] == token.split("|")[0]
    assert who["claims"]["civ"] == NIP and who["claims"]["arn"] == who["referenceNumber"]
    assert sim.whoami(access) == who
    assert "Owner" not in who["permissions"] and "InvoiceWrite" in who["permissions"]
