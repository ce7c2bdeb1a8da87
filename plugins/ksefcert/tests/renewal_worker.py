"""One of several processes sharing a profiles file and a session store (not a test module).

``python renewal_worker.py PROFILES PROFILE GO_FILE OLD_FINGERPRINT``: waits for ``GO_FILE`` (so
every process starts together), asks the profile's strategy for tokens until the certificate it
loads is no longer ``OLD_FINGERPRINT`` (or 60 s pass), then prints one JSON line: whether this
process renewed the certificate (it saw its own ``certificate_renewed`` event) and what it ended
with.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ksef_auth import CertificateEvent, hookimpl
from ksef_auth.manager import default_manager
from ksef_auth.profiles import ProfileStore


class Seen:
    def __init__(self) -> None:
        self.renewed: list[str] = []
        self.expiring: list[str] = []

    @hookimpl
    def ksef_auth_certificate_renewed(self, event: CertificateEvent) -> None:
        self.renewed.append(str(event.new_serial))

    @hookimpl
    def ksef_auth_certificate_expiring(self, event: CertificateEvent) -> None:
        self.expiring.append(event.serial)


def main() -> None:
    profiles, profile, go, old = sys.argv[1:5]
    seen = Seen()
    manager = default_manager()
    manager.register(seen, name="seen")
    strategy = ProfileStore(Path(profiles)).strategy(profile)
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        time.sleep(0.01)
    fingerprint = old
    tokens = 0
    while fingerprint == old and time.monotonic() < deadline:
        strategy.token()
        tokens += 1
        fingerprint = strategy.load_credential().fingerprint
        time.sleep(0.05)
    strategy.credential.renewal.join(60)
    manager.observers.flush()
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "fingerprint": fingerprint,
                "renewed": seen.renewed,
                "expiring": seen.expiring,
                "tokens": tokens,
            }
        )
    )


if __name__ == "__main__":
    main()
