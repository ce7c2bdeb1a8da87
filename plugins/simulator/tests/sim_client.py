"""The tests' own KSeF client: plain httpx + cryptography, written from the spec."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


def token_key(client: httpx.Client) -> tuple[Any, str]:
    keys = client.get("/security/public-key-certificates").json()
    entry = max(
        (k for k in keys if "KsefTokenEncryption" in k["usage"]), key=lambda k: k["validFrom"]
    )
    cert = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
    return cert.public_key(), entry["publicKeyId"]


def encrypt(public_key: Any, plaintext: str) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public_key.encrypt(plaintext.encode(), oaep)).decode()


def start_token_auth(
    client: httpx.Client,
    token: str,
    nip: str,
    *,
    context_type: str = "Nip",
    send_key_id: bool = True,
    policy: dict[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> httpx.Response:
    challenge = client.post("/auth/challenge").json()
    public_key, key_id = token_key(client)
    stamp = challenge["timestampMs"] if timestamp_ms is None else timestamp_ms
    body: dict[str, Any] = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": context_type, "value": nip},
        "encryptedToken": encrypt(public_key, f"{token}|{stamp}"),
    }
    if send_key_id:
        body["publicKeyId"] = key_id
    if policy is not None:
        body["authorizationPolicy"] = policy
    return client.post("/auth/ksef-token", json=body)


def wait_status(client: httpx.Client, init: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/auth/{init['referenceNumber']}", headers=headers).json()
        if status["status"]["code"] != 100 or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


def redeem(client: httpx.Client, init: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    return client.post("/auth/token/redeem", headers=headers)


def token_login(client: httpx.Client, token: str, nip: str, **kwargs: Any) -> dict[str, Any]:
    """Full login; returns the redeem body (accessToken, refreshToken)."""
    init = start_token_auth(client, token, nip, **kwargs)
    assert init.status_code == 202, init.text
    status = wait_status(client, init.json())
    assert status["status"]["code"] == 200, status
    response = redeem(client, init.json())
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def xades_login(client: httpx.Client, signed: bytes, query: str = "") -> httpx.Response:
    return client.post(
        f"/auth/xades-signature{query}",
        content=signed,
        headers={"Content-Type": "application/xml"},
    )


def ksef_error_code(response: httpx.Response) -> int:
    body = response.json()
    if "exception" in body:
        return body["exception"]["exceptionDetailList"][0]["exceptionCode"]
    return body["errors"][0]["code"]
