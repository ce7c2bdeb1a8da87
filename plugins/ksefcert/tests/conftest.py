"""Fixtures: a simulator on loopback that issues KSeF certificates, strategies that log in to it
with a test seal, and an observer that records certificate events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ksef_auth
from ksef_auth import CertificateEvent, Strategy, hookimpl
from ksef_auth.manager import PluginManager

NIP = "5261040828"
PASSWORD_ENV = "KSEFCERT_TEST_P12_PASSWORD"
PASSWORD = "pa55-word-for-the-p12"


@pytest.fixture
def simulator(make_ksef_simulator: Callable[..., Any]) -> Any:
    from ksef_auth_simulator.ksef_certificates import CertificateSettings

    return make_ksef_simulator(certificates=CertificateSettings(enrollment_delay=0.1))


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


class Recorder:
    """An observer plugin: every certificate event it is told."""

    def __init__(self) -> None:
        self.events: list[CertificateEvent] = []

    @hookimpl
    def ksef_auth_certificate_expiring(self, event: CertificateEvent) -> None:
        self.events.append(event)

    @hookimpl
    def ksef_auth_certificate_renewed(self, event: CertificateEvent) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def manager(recorder: Recorder) -> PluginManager:
    manager = PluginManager()
    manager.register(recorder, name="recorder")
    return manager


def seal_strategy(base_url: str, manager: PluginManager | None = None, **seal: Any) -> Strategy:
    """A strategy that logs in with a self-signed test seal for NIP (XAdES)."""
    table = {"use": "test-certificate", "nip": NIP, **seal}
    config = ksef_auth.load(
        {
            "strategy": {
                "seal": {
                    "environment": base_url,
                    "context": NIP,
                    "credential": table,
                    "signer": "xades",
                }
            }
        },
        manager=manager,
    )
    return config.strategy("seal")


def ksef_strategy(
    base_url: str,
    path: Path,
    manager: PluginManager | None = None,
    store: Any = "memory",
    **options: Any,
) -> Strategy:
    """A strategy that logs in with the KSeF certificate in ``path`` (source ksef-certificate)."""
    credential = {
        "use": "ksef-certificate",
        "path": str(path),
        "password": {"env": PASSWORD_ENV},
        **options,
    }
    config = ksef_auth.load(
        {
            "strategy": {
                "server": {
                    "environment": base_url,
                    "context": NIP,
                    "credential": credential,
                    "signer": "xades",
                    "store": store,
                }
            }
        },
        manager=manager,
    )
    return config.strategy("server")


def token_strategy(base_url: str, variable: str) -> Strategy:
    config = ksef_auth.load(
        {
            "strategy": {
                "token": {
                    "environment": base_url,
                    "context": NIP,
                    "credential": {"use": "env", "var": variable},
                    "signer": "ksef-token",
                }
            }
        }
    )
    return config.strategy("token")
