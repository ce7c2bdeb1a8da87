"""Logins per second of the KSeF auth simulator: mixed KSeF-token and XAdES logins over real
HTTP on loopback, rate limits off. Not a test; run it and read the figure.

    python bench/simulator_throughput.py [--logins 2000] [--seconds 30]
                                         [--processes 2] [--threads 8]

The simulator runs in its own process (``python -m ksef_auth_simulator``); the clients run in
``--processes`` other processes of ``--threads`` threads each (one httpx.Client per thread; a
second process keeps the GIL-bound client side from being the bottleneck). A login = challenge,
ksef-token or xades-signature, one status poll, redeem. Every other login is XAdES (enveloped,
exclusive C14N, ECDSA P-256 or RSA-2048 alternately, with XAdES SignedProperties), signed here by
code independent of the simulator.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import subprocess
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
TOKEN = "20250101-EC-0000000000-0000000000-00|nip-5261040828|" + "ab" * 32
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
    def __init__(self, base_url: str, logins: int, seconds: float, baseline: bool) -> None:
        self.base_url = base_url
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
            oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
            secret = f"{TOKEN}|{challenge['timestampMs']}".encode()
            body = {
                "challenge": challenge["challenge"],
                "contextIdentifier": {"type": "Nip", "value": NIP},
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
    base_url: str, logins: int, seconds: float, threads: int, baseline: bool, queue: Any
) -> None:
    bench = Bench(base_url, logins, seconds, baseline)
    workers = [threading.Thread(target=bench.worker) for _ in range(threads)]
    queue.put("ready")
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    queue.put((bench.done, bench.errors[:5], len(bench.errors), time.perf_counter() - started))


def _phase(
    base_url: str, args: argparse.Namespace, *, baseline: bool
) -> tuple[float, dict[str, int], int]:
    """Run one measured phase; returns (operations per second, done by kind, error count)."""
    queue: Any = mp.Queue()
    share = args.logins // args.processes
    procs = [
        mp.Process(
            target=_client_process,
            args=(base_url, share, args.seconds, args.threads, baseline, queue),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000, help="total logins (bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process")
    args = parser.parse_args()
    command = [sys.executable, "-m", "ksef_auth_simulator", "--no-rate-limits"]
    server = subprocess.Popen(
        [*command, "--seed-token", f"{NIP}={TOKEN}"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        floor, _, floor_errors = _phase(base_url, args, baseline=True)
        rate, done, errors = _phase(base_url, args, baseline=False)
        print(
            f"{rate:.1f} logins/s ({done['token']} KSeF-token, {done['xades']} XAdES; errors:"
            f" {errors}); baseline {floor:.1f} bare POST /auth/challenge round trips/s"
            f" (errors: {floor_errors}); a login costs {floor / rate:.1f} round trips"
            f" ({args.processes} client processes x {args.threads} threads)"
        )
        return 1 if errors or floor_errors else 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
