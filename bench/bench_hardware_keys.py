"""What a key in a PKCS#11 token costs (SoftHSM2), against the same key type in this process,
measured in the same run. Not a test; run it and read the table.

    python bench/bench_hardware_keys.py [--quick] [--json PATH]

* one signature over a 1 KB message (a XAdES ``SignedInfo`` is about that): ``Pkcs11Key.sign``
  (hash here, ``CKM_ECDSA`` / ``CKM_RSA_PKCS`` on the token, under the module's lock) vs
  ``LocalKey.sign`` of a key of the same type, EC P-256 and RSA-2048;
* one XAdES login against the simulator in process (``SessionManager.login()``: challenge, sign,
  submit, poll, redeem) signed on the token vs signed with a local key;
* 16 threads signing through one token vs 1 thread: signatures per second (the module's lock
  serializes them; PKCS#11 modules initialized without locking must not be called at once).

Needs SoftHSM2 (``apt-get install softhsm2``); tokens live in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from timing import interleaved

NIP = "5261040828"
PIN = "bench-pin-1234"
MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


class Fixed:
    def __init__(self, credential: Any) -> None:
        self.credential = credential

    def load(self, request: Any) -> Any:
        return self.credential


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", help="write rows for bench/suite.py to this file")
    args = parser.parse_args()
    module = next((m for m in MODULES if Path(m).is_file()), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        print("SoftHSM2 is not installed (apt-get install softhsm2): nothing measured")
        return 0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        (folder / "tokens").mkdir()
        conf = folder / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)  # before the module is first initialized
        os.environ["KSEF_BENCH_PIN"] = PIN
        subprocess.run(
            [util, "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN],
            check=True,
            capture_output=True,
        )
        rows += measure(module, quick=args.quick)
    print("| case | ours | baseline | ratio |")
    print("|---|---|---|---|")
    for item in rows:
        print(
            f"| {item['case']} | {item['ours']:.3f} {item['unit']} | {item['baseline']:.3f}"
            f" {item['unit']} ({item['baseline_name']}) | {item['ratio']:.2f}x |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


def measure(module: str, *, quick: bool) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from ksef_auth import (
        CertificateCredential,
        ContextIdentifier,
        Environment,
        KeySpec,
        LocalKey,
        SecretRef,
        Strategy,
    )
    from ksef_auth_memory import MemoryStore
    from ksef_auth_pkcs11 import Pkcs11KeyStore
    from ksef_auth_simulator import Simulator, SimulatorConfig, serve
    from ksef_auth_testcert.builder import issue, seal_subject
    from ksef_auth_xades import XadesSigner

    store = Pkcs11KeyStore(module=module, token_label="bench", pin=SecretRef.env("KSEF_BENCH_PIN"))
    on_token = {
        "EC P-256": store.generate(KeySpec(algorithm="ec-p256", label="ec")),
        "RSA-2048": store.generate(KeySpec(algorithm="rsa-2048", label="rsa")),
    }
    local = {
        "EC P-256": LocalKey(ec.generate_private_key(ec.SECP256R1())),
        "RSA-2048": LocalKey(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    }
    message = b"<ds:SignedInfo>" + b"x" * 1000 + b"</ds:SignedInfo>"
    blocks, per_block = (3, 50) if quick else (7, 200)
    rows: list[dict[str, Any]] = []
    for name in on_token:
        times = interleaved(
            {
                "token": lambda n=name: on_token[n].sign(message),  # type: ignore[misc]
                "local": lambda n=name: local[n].sign(message),  # type: ignore[misc]
            },
            blocks=blocks,
            per_block=per_block,
            best=True,
        )
        rows.append(
            {
                "case": f"one {name} signature over 1 KB on a SoftHSM2 token",
                "ours": times["token"] * 1000,
                "baseline": times["local"] * 1000,
                "baseline_name": f"LocalKey.sign, {name} in this process",
                "unit": "ms",
                "ratio": times["token"] / times["local"],
                "target": None,
                "note": "digest here, the token signs the digest",
            }
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = seal_subject("1234563218", "Bench CA")
    token_key, local_key = on_token["EC P-256"], local["EC P-256"]
    credentials = {
        "token": CertificateCredential(
            issue(seal_subject(NIP), token_key.public_key(), ca_key, issuer=ca_name), token_key
        ),
        "local": CertificateCredential(
            issue(seal_subject(NIP), local_key.public_key(), ca_key, issuer=ca_name), local_key
        ),
    }
    with serve(Simulator(SimulatorConfig(rate_limits=False, require_xades=True))) as running:
        strategies = {
            name: Strategy(
                name=f"bench-{name}",
                environment=Environment.of(running.base_url),
                context=ContextIdentifier.nip(NIP),
                credential=Fixed(credential),
                signer=XadesSigner(),
                store=MemoryStore(),
            )
            for name, credential in credentials.items()
        }
        logins = interleaved(
            {name: s.session.login for name, s in strategies.items()},
            blocks=3 if quick else 5,
            per_block=3 if quick else 8,
        )
    rows.append(
        {
            "case": "a XAdES login (simulator, loopback) signed on the token, EC P-256",
            "ours": logins["token"] * 1000,
            "baseline": logins["local"] * 1000,
            "baseline_name": "the same login signed with a local key",
            "unit": "ms",
            "ratio": logins["token"] / logins["local"],
            "target": None,
            "note": "challenge, sign, submit, poll, redeem",
        }
    )

    def throughput(threads: int, seconds: float) -> float:
        count = [0]
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def work() -> None:
            done = 0
            while time.perf_counter() < stop:
                token_key.sign(message)
                done += 1
            with lock:
                count[0] += done

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return count[0] / seconds

    seconds = 1.0 if quick else 3.0
    one, sixteen = throughput(1, seconds), throughput(16, seconds)
    rows.append(
        {
            "case": "EC P-256 signatures per second, 16 threads through one token",
            "ours": sixteen,
            "baseline": one,
            "baseline_name": "1 thread through the same token",
            "unit": "/s",
            "ratio": sixteen / one,
            "target": None,
            "note": "serialized by the module's lock: about 1x is the expected figure",
        }
    )
    return rows


if __name__ == "__main__":
    sys.exit(main())
