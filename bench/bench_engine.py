"""What the auth engine costs, as ratios measured in one run. Not a test; run it and read it.

    python bench/bench_engine.py [--logins 30] [--requests 400] [--reads 1000000]

(a) the cached-token path, ``strategy.token()``, against a bare dictionary read;
(b) a full login through the engine (``SessionManager.login()``: credential, challenge, RSA-OAEP,
    submit, poll, redeem, store) against the same protocol replayed with plain httpx calls on one
    client with the public key already at hand (the floor);
(c) GET requests through ``KsefAuth`` against the same requests with a static bearer header.

The simulator runs in its own process (``python -m ksef_auth_simulator``, rate limits off, no
authentication delay), on loopback, so it does not share this process's GIL. Runs are
interleaved in blocks, and medians reported, to keep drift out of the ratios.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ksef_auth import ContextIdentifier, Environment, KsefToken, Strategy
from ksef_auth.manager import PluginManager
from ksef_auth_memory import MemoryStore
from ksef_auth_token import KsefTokenSigner

NIP_LOGIN = "5261040828"
NIP_REQUESTS = "7010002139"
TOKENS = {
    nip: f"20250101-EC-0000000000-0000000000-00|nip-{nip}|{'ab' * 32}"
    for nip in (NIP_LOGIN, NIP_REQUESTS)
}


class Source:
    def __init__(self, token: str) -> None:
        self.token = token

    def load(self, request: object) -> KsefToken:
        return KsefToken(self.token)


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    seeds = [arg for nip, token in TOKENS.items() for arg in ("--seed-token", f"{nip}={token}")]
    process = subprocess.Popen(
        [sys.executable, "-m", "ksef_auth_simulator", "--no-rate-limits", *seeds],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        process.kill()
        raise SystemExit(f"the simulator did not start (printed {base_url!r})")
    return process, base_url


def strategy_for(base_url: str, nip: str) -> Strategy:
    return Strategy(
        name=f"bench-{nip}",
        environment=Environment.of(base_url),
        context=ContextIdentifier.nip(nip),
        credential=Source(TOKENS[nip]),
        signer=KsefTokenSigner(),
        store=MemoryStore(),
        manager=PluginManager(autoload=False),
    )


# --- (a) --------------------------------------------------------------------------------------


def bench_cached(strategy: Strategy, reads: int) -> tuple[float, float]:
    strategy.token()
    table = {"access": strategy.token()}
    ours = min(timeit.repeat(strategy.token, number=reads, repeat=5)) / reads
    floor = min(timeit.repeat(lambda: table["access"], number=reads, repeat=5)) / reads
    return ours, floor


# --- (b) --------------------------------------------------------------------------------------


def plain_login(client: httpx.Client, token: str, nip: str, key: tuple[object, str]) -> str:
    public_key, key_id = key
    challenge = client.post("/auth/challenge").json()
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    plain = f"{token}|{challenge['timestampMs']}".encode()
    encrypted = base64.b64encode(public_key.encrypt(plain, oaep)).decode()  # type: ignore[attr-defined]
    init = client.post(
        "/auth/ksef-token",
        json={
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": "Nip", "value": nip},
            "encryptedToken": encrypted,
            "publicKeyId": key_id,
        },
    ).json()
    bearer = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    while (
        client.get(f"/auth/{init['referenceNumber']}", headers=bearer).json()["status"]["code"]
        == 100
    ):
        time.sleep(0.01)
    tokens = client.post("/auth/token/redeem", headers=bearer).json()
    return str(tokens["accessToken"]["token"])


def token_key(client: httpx.Client) -> tuple[object, str]:
    for item in client.get("/security/public-key-certificates").json():
        if "KsefTokenEncryption" in item["usage"]:
            cert = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
            return cert.public_key(), item["publicKeyId"]
    raise SystemExit("the simulator lists no KsefTokenEncryption key")


def interleaved(
    ours: Callable[[], object], floor: Callable[[], object], n: int, block: int
) -> tuple[float, float]:
    ours_t: list[float] = []
    floor_t: list[float] = []
    done = 0
    while done < n:
        size = min(block, n - done)
        for fn, sink in ((ours, ours_t), (floor, floor_t)):
            for _ in range(size):
                t0 = time.perf_counter()
                fn()
                sink.append(time.perf_counter() - t0)
        done += size
    return statistics.median(ours_t), statistics.median(floor_t)


def bench_login(base_url: str, strategy: Strategy, logins: int) -> tuple[float, float]:
    session = strategy.session
    with httpx.Client(base_url=base_url) as client:
        key = token_key(client)
        session.login()  # warm: shared client, key cache
        plain_login(client, TOKENS[NIP_LOGIN], NIP_LOGIN, key)
        return interleaved(
            session.login, lambda: plain_login(client, TOKENS[NIP_LOGIN], NIP_LOGIN, key), logins, 5
        )


# --- (c) --------------------------------------------------------------------------------------


def bench_requests(base_url: str, strategy: Strategy, requests: int) -> tuple[float, float]:
    auth = strategy.httpx_auth()
    static = {"Authorization": f"Bearer {auth.token()}"}
    with (
        httpx.Client(base_url=auth.base_url, auth=auth) as ours,
        httpx.Client(base_url=base_url, headers=static) as plain,
    ):
        for client in (ours, plain):
            assert client.get("/auth/sessions").status_code == 200
        return interleaved(
            lambda: ours.get("/auth/sessions"), lambda: plain.get("/auth/sessions"), requests, 50
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--reads", type=int, default=1_000_000)
    args = parser.parse_args()

    process, base_url = start_simulator()
    try:
        started = time.perf_counter()
        login_strategy = strategy_for(base_url, NIP_LOGIN)
        request_strategy = strategy_for(base_url, NIP_REQUESTS)
        a = bench_cached(request_strategy, args.reads)
        b = bench_login(base_url, login_strategy, args.logins)
        c = bench_requests(base_url, request_strategy, args.requests)
        wall = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)

    rows = [
        ("(a) cached token: strategy.token() vs dict read", a, 1e9, "ns"),
        ("(b) full login: engine vs plain httpx replay", b, 1e3, "ms"),
        ("(c) GET via KsefAuth vs static bearer header", c, 1e6, "us"),
    ]
    print(f"ksef-auth engine benchmark (simulator on loopback, {wall:.1f} s)")
    print(f"{'case':<50} {'ours':>10} {'floor':>10} {'ratio':>7}")
    for name, (ours, floor), scale, unit in rows:
        print(
            f"{name:<50} {ours * scale:>7.1f} {unit} {floor * scale:>7.1f} {unit}"
            f" {ours / floor:>6.2f}x"
        )
    print(
        f"(a) {args.reads:,} reads x 5 (best); (b) median of {args.logins} logins each;"
        f" (c) median of {args.requests} requests each"
    )


if __name__ == "__main__":
    main()
