"""Logins per second of the KSeF auth simulator, with its per-operation rate limits off and on,
each against bare round trips to the same server in the same run. Not a test; run it and read
the table.

    python bench/simulator_throughput.py [--logins 2000] [--seconds 20] [--processes 2]
                                         [--threads 8] [--contexts 1000] [--rounds 2]
                                         [--quick] [--json PATH]

Two simulators run in processes of their own (``python -m ksef_auth_simulator``): one with the
rate limits off, one with them on and ``--rate-limit-scale 1000`` (every operation counted per
IP or per (context, IP) as API 2.9.0 publishes it, but never binding: what the counting costs).
Each gets ``--contexts`` KSeF tokens, one per NIP, through its ``/_sim`` API. The clients run in
``--processes`` other processes of ``--threads`` threads each (one httpx.Client per thread).
Per server, per round, two phases: the baseline (bare ``POST /auth/challenge`` round trips) and
mixed logins (challenge, ksef-token or xades-signature, one status poll or more, redeem): every
other one a KSeF-token login for the next context, the rest XAdES (enveloped, exclusive C14N,
ECDSA P-256 or RSA-2048 alternately, with XAdES SignedProperties), signed here by code
independent of the simulator. The servers alternate phase by phase; the best round counts.

Printed (and with ``--json``, rows for ``bench/suite.py``): milliseconds per login and per bare
round trip on each server, how many round trips a login costs, and limits on / limits off.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import sys
import threading
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

NIP = "5261040828"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def _seal(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[object, x509.Certificate]:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Bench"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Sp. z o.o."),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{NIP}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _b64digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sign(challenge: str, key: object, cert: x509.Certificate) -> bytes:
    """Enveloped XAdES-BES-like signature over an AuthTokenRequest (exclusive C14N)."""
    ns = "http://ksef.mf.gov.pl/auth/token/2.0"
    root = etree.fromstring(
        f'<AuthTokenRequest xmlns="{ns}"><Challenge>{challenge}</Challenge>'
        f"<ContextIdentifier><Nip>{NIP}</Nip></ContextIdentifier>"
        "<SubjectIdentifierType>certificateSubject</SubjectIdentifierType></AuthTokenRequest>"
    )
    doc_digest = _b64digest(etree.tostring(root, method="c14n", exclusive=True))
    der = cert.public_bytes(serialization.Encoding.DER)
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    method = "ecdsa-sha256" if is_ec else "rsa-sha256"
    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="Sig")
    si = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    etree.SubElement(si, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC)
    etree.SubElement(
        si, f"{{{DS}}}SignatureMethod", Algorithm=f"http://www.w3.org/2001/04/xmldsig-more#{method}"
    )
    refs = []
    for uri, transforms in (("", [DS + "enveloped-signature", EXC]), ("#SignedProperties", [EXC])):
        ref = etree.SubElement(si, f"{{{DS}}}Reference", URI=uri)
        tr = etree.SubElement(ref, f"{{{DS}}}Transforms")
        for alg in transforms:
            etree.SubElement(tr, f"{{{DS}}}Transform", Algorithm=alg)
        etree.SubElement(ref, f"{{{DS}}}DigestMethod", Algorithm=SHA256)
        refs.append(etree.SubElement(ref, f"{{{DS}}}DigestValue"))
    refs[0].text = doc_digest
    value = etree.SubElement(sig, f"{{{DS}}}SignatureValue")
    ki = etree.SubElement(etree.SubElement(sig, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    etree.SubElement(ki, f"{{{DS}}}X509Certificate").text = base64.b64encode(der).decode()
    qp = etree.SubElement(
        etree.SubElement(sig, f"{{{DS}}}Object"),
        f"{{{XADES}}}QualifyingProperties",
        nsmap={"xades": XADES},
        Target="#Sig",
    )
    sp = etree.SubElement(qp, f"{{{XADES}}}SignedProperties", Id="SignedProperties")
    ssp = etree.SubElement(sp, f"{{{XADES}}}SignedSignatureProperties")
    etree.SubElement(ssp, f"{{{XADES}}}SigningTime").text = dt.datetime.now(dt.UTC).isoformat()
    c = etree.SubElement(
        etree.SubElement(ssp, f"{{{XADES}}}SigningCertificate"), f"{{{XADES}}}Cert"
    )
    cd = etree.SubElement(c, f"{{{XADES}}}CertDigest")
    etree.SubElement(cd, f"{{{DS}}}DigestMethod", Algorithm=SHA256)
    etree.SubElement(cd, f"{{{DS}}}DigestValue").text = _b64digest(der)
    refs[1].text = _b64digest(etree.tostring(sp, method="c14n", exclusive=True))
    data = etree.tostring(si, method="c14n", exclusive=True)
    if is_ec:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    value.text = base64.b64encode(raw).decode()
    return etree.tostring(root)


class Bench:
    def __init__(
        self,
        base_url: str,
        logins: int,
        seconds: float,
        baseline: bool,
        tokens: list[tuple[str, str]],
    ) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.baseline = baseline
        self.remaining = logins
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.done = {"token": 0, "xades": 0}
        self.errors: list[str] = []
        self.signers = [_seal(ec.generate_private_key(ec.SECP256R1()))]
        self.signers.append(_seal(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        with httpx.Client(base_url=base_url) as client:
            keys = client.get("/security/public-key-certificates").json()
        entry = next(k for k in keys if "KsefTokenEncryption" in k["usage"])
        cert = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
        self.public_key, self.key_id = cert.public_key(), entry["publicKeyId"]

    def take(self) -> int | None:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() > self.deadline:
                return None
            self.remaining -= 1
            return self.remaining

    def login(self, client: httpx.Client, n: int) -> str:
        challenge = client.post("/auth/challenge").json()
        if self.baseline:  # the floor: one bare round trip to the same server
            return "token" if n % 2 else "xades"
        if n % 2:
            nip, token = self.tokens[(n // 2) % len(self.tokens)]
            oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
            secret = f"{token}|{challenge['timestampMs']}".encode()
            body = {
                "challenge": challenge["challenge"],
                "contextIdentifier": {"type": "Nip", "value": nip},
                "encryptedToken": base64.b64encode(self.public_key.encrypt(secret, oaep)).decode(),
                "publicKeyId": self.key_id,
            }
            init = client.post("/auth/ksef-token", json=body)
            kind = "token"
        else:
            key, cert = self.signers[(n // 2) % 2]
            init = client.post(
                "/auth/xades-signature",
                content=sign(challenge["challenge"], key, cert),
                headers={"Content-Type": "application/xml"},
            )
            kind = "xades"
        if init.status_code != 202:
            raise RuntimeError(f"{kind}: {init.status_code} {init.text[:200]}")
        op = init.json()
        auth = {"Authorization": f"Bearer {op['authenticationToken']['token']}"}
        while (status := client.get(f"/auth/{op['referenceNumber']}", headers=auth).json())[
            "status"
        ]["code"] == 100:
            time.sleep(0.001)
        if status["status"]["code"] != 200:
            raise RuntimeError(f"{kind}: status {status['status']}")
        tokens = client.post("/auth/token/redeem", headers=auth)
        if tokens.status_code != 200:
            raise RuntimeError(f"{kind}: redeem {tokens.status_code}")
        return kind

    def worker(self) -> None:
        with httpx.Client(base_url=self.base_url) as client:
            while (n := self.take()) is not None:
                try:
                    kind = self.login(client, n)
                except Exception as exc:  # noqa: BLE001 - a bench counts and reports errors
                    with self.lock:
                        self.errors.append(repr(exc))
                    continue
                with self.lock:
                    self.done[kind] += 1


def _client_process(
    base_url: str,
    logins: int,
    seconds: float,
    threads: int,
    baseline: bool,
    tokens: list[tuple[str, str]],
    queue: Any,
) -> None:
    bench = Bench(base_url, logins, seconds, baseline, tokens)
    workers = [threading.Thread(target=bench.worker) for _ in range(threads)]
    queue.put("ready")
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    queue.put((bench.done, bench.errors[:5], len(bench.errors), time.perf_counter() - started))


def _phase(
    base_url: str, args: argparse.Namespace, tokens: list[tuple[str, str]], *, baseline: bool
) -> tuple[float, dict[str, int], int]:
    """Run one measured phase; returns (operations per second, done by kind, error count)."""
    queue: Any = mp.Queue()
    share = args.logins // args.processes
    procs = [
        mp.Process(
            target=_client_process,
            args=(base_url, share, args.seconds, args.threads, baseline, tokens, queue),
        )
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert queue.get() == "ready"
    started = time.perf_counter()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    done = {k: sum(r[0][k] for r in results) for k in ("token", "xades")}
    for result in results:
        for error in result[1]:
            print("  error:", error)
    return sum(done.values()) / elapsed, done, sum(r[2] for r in results)


SERVERS = {
    "limits off": ("--no-rate-limits",),
    "limits on": ("--rate-limit-scale", "1000"),
}


def main() -> int:
    from timing import SimulatorProcess

    from ksef_auth.nip import example_nips
    from ksef_auth_simulator.remote import RemoteSimulator

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000, help="logins per phase (bound)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per phase")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process")
    parser.add_argument("--contexts", type=int, default=1000, help="NIPs with a KSeF token")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--json", help="write rows for bench/suite.py to this file")
    args = parser.parse_args()
    if args.quick:
        args.logins, args.seconds, args.rounds = min(args.logins, 400), min(args.seconds, 4), 1
    best: dict[str, dict[str, Any]] = {}
    errors = 0
    started = time.perf_counter()
    servers = {label: SimulatorProcess(*flags) for label, flags in SERVERS.items()}
    try:
        nips = example_nips(args.contexts)
        tokens = {
            label: list(RemoteSimulator(sim.base_url).issue_tokens(nips).items())
            for label, sim in servers.items()
        }
        for _ in range(args.rounds):
            for baseline in (True, False):
                for label, sim in servers.items():
                    rate, done, failed = _phase(
                        sim.base_url, args, tokens[label], baseline=baseline
                    )
                    errors += failed
                    key = "floor" if baseline else "logins"
                    entry = best.setdefault(label, {})
                    if rate > entry.get(key, 0.0):
                        entry[key] = rate
                        if not baseline:
                            entry["done"] = done
        limited = {
            label: sim.counters()["events"].get("rate_limited", 0) for label, sim in servers.items()
        }
    finally:
        for sim in servers.values():
            sim.stop()
    rows = report(best, args, limited, time.perf_counter() - started)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 1 if errors or any(limited.values()) else 0


def report(
    best: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    limited: dict[str, int],
    wall: float,
) -> list[dict[str, Any]]:
    """Print the table; the rows in bench/suite.py's format (ms per login, lower is better)."""
    rows: list[dict[str, Any]] = []
    print("| server | login | bare round trip | round trips per login | logins/s | 429s |")
    print("|---|---|---|---|---|---|")
    for label, entry in best.items():
        login_ms, floor_ms = 1000 / entry["logins"], 1000 / entry["floor"]
        print(
            f"| {label} | {login_ms:.2f} ms | {floor_ms:.2f} ms | {login_ms / floor_ms:.2f} |"
            f" {entry['logins']:.0f} | {limited[label]} |"
        )
        rows.append(
            {
                "case": f"simulator: a login (mixed token/XAdES, {args.contexts} contexts),"
                f" {label}",
                "ours": login_ms,
                "baseline": floor_ms,
                "baseline_name": "a bare POST /auth/challenge round trip, same server",
                "unit": "ms",
                "ratio": login_ms / floor_ms,
                "target": None,
                "note": f"{entry['logins']:.0f} logins/s; {limited[label]} x 429",
            }
        )
    on, off = 1000 / best["limits on"]["logins"], 1000 / best["limits off"]["logins"]
    print(
        f"\nper-operation limits on / off: {on / off:.2f}x per login;"
        f" {args.processes} client processes x {args.threads} threads,"
        f" best of {args.rounds} round(s), {wall:.0f} s"
    )
    rows.append(
        {
            "case": "simulator: per-operation rate limits on, a login",
            "ours": on,
            "baseline": off,
            "baseline_name": "the same login, limits off",
            "unit": "ms",
            "ratio": on / off,
            "target": None,
            "note": "every operation counted per IP or (context, IP), never binding",
        }
    )
    return rows


if __name__ == "__main__":
    sys.exit(main())
