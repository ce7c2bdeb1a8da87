"""What a KSeF certificate costs: its credential load per login, and an enrollment, each against a
baseline measured in the same run. Not a test; run it and read the table.

    python bench/bench_ksef_certificate.py [--quick] [--json PATH]

* ``ksef-certificate`` ``load()`` for a login (open the encrypted PKCS#12 file, and the renewal's
  bookkeeping: is a look at KSeF's record due?) vs the ``pkcs12`` source's ``load()`` of the same
  file: what unattended renewal adds to every login's credential load.
* one enrollment end to end (``enroll``: enrollment data, an EC P-256 key, the CSR, submit, one
  status poll, retrieve, verify, write the encrypted PKCS#12) vs one XAdES login with the seal
  (``SessionManager.login()``), both against the simulator on loopback, enrollment processed at
  once: how many logins an enrollment costs.

Printed (and with ``--json``, rows for ``bench/suite.py``); lower is better.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from timing import interleaved

NIP = "5261040828"
PASSWORD_ENV = "KSEF_BENCH_P12_PASSWORD"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", help="write rows for bench/suite.py to this file")
    args = parser.parse_args()

    import ksef_auth
    from ksef_auth import CredentialRequest, SecretRef
    from ksef_auth_ksefcert import CertificatesClient, Pkcs12KeyStore, enroll
    from ksef_auth_simulator import Simulator, SimulatorConfig, serve

    os.environ[PASSWORD_ENV] = "bench-password-not-a-secret"
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as temp,
        serve(Simulator(SimulatorConfig(rate_limits=False))) as running,
    ):

        def strategy(name: str, credential: dict[str, Any]) -> ksef_auth.Strategy:
            table = {
                "environment": running.base_url,
                "context": NIP,
                "credential": credential,
                "signer": "xades",
            }
            return ksef_auth.load({"strategy": {name: table}}).strategy(name)

        seal = strategy("seal", {"use": "test-certificate", "nip": NIP})
        client = CertificatesClient(seal)
        path = Path(temp) / "server.p12"
        enroll(client, Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)), name="Bench serwer")
        password = {"env": PASSWORD_ENV}
        server = strategy(
            "server", {"use": "ksef-certificate", "path": str(path), "password": password}
        )
        plain = strategy("plain", {"use": "pkcs12", "path": str(path), "password": password})
        server.token()  # attached, logged in, its first look at KSeF's record made
        server.credential.renewal.join()  # type: ignore[attr-defined]
        request = CredentialRequest.for_login(running.base_url, NIP)
        blocks, per_block = (3, 20) if args.quick else (7, 60)
        loads = interleaved(
            {
                "ksef-certificate": lambda: server.credential.load(request),
                "pkcs12": lambda: plain.credential.load(request),
            },
            blocks=blocks,
            per_block=per_block,
            best=True,
        )
        rows.append(
            {
                "case": "ksef-certificate load() for a login (with the renewal's bookkeeping)",
                "ours": loads["ksef-certificate"] * 1000,
                "baseline": loads["pkcs12"] * 1000,
                "baseline_name": "the pkcs12 source's load() of the same file",
                "unit": "ms",
                "ratio": loads["ksef-certificate"] / loads["pkcs12"],
                "target": None,
                "note": "both open the encrypted PKCS#12 (PBKDF2) at every load",
            }
        )
        count = [0]

        def one_enrollment() -> None:
            count[0] += 1
            target = Pkcs12KeyStore(Path(temp) / f"e{count[0]}.p12", SecretRef.env(PASSWORD_ENV))
            enroll(client, target, name="Bench serwer")

        enrollments = interleaved(
            {"enroll": one_enrollment, "login": seal.session.login},
            blocks=3 if args.quick else 5,
            per_block=2 if args.quick else 4,
        )
        rows.append(
            {
                "case": "a KSeF-certificate enrollment end to end (simulator, loopback)",
                "ours": enrollments["enroll"] * 1000,
                "baseline": enrollments["login"] * 1000,
                "baseline_name": "one XAdES login with the seal, same server",
                "unit": "ms",
                "ratio": enrollments["enroll"] / enrollments["login"],
                "target": None,
                "note": "EC P-256 key; the simulator issues at once",
            }
        )
    print("| case | ours | baseline | ratio |")
    print("|---|---|---|---|")
    for item in rows:
        print(
            f"| {item['case']} | {item['ours']:.2f} ms | {item['baseline']:.2f} ms"
            f" ({item['baseline_name']}) | {item['ratio']:.2f}x |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
