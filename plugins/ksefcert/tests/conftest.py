"""Fixtures: a simulator on loopback that issues KSeF certificates, strategies that log in to it
with a test seal, and an observer that records certificate events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

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


# --- the CLI in process ---------------------------------------------------------------


@pytest.fixture(scope="session")
def root() -> click.Group:
    from ksef_auth.cli import build

    return build()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "KSEF2_CONFIG": str(tmp_path / "profiles.toml"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        PASSWORD_ENV: PASSWORD,
        "NO_COLOR": "1",
    }


class Cli:
    def __init__(self, root: click.Group, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def __call__(self, *args: str, code: int = 0, **kwargs: Any) -> str:
        result = CliRunner().invoke(self.root, list(args), env=self.env, **kwargs)
        output = result.output
        assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{output}"
        assert PASSWORD not in output
        assert "Traceback" not in output
        return output


@pytest.fixture
def cli(root: click.Group, env: dict[str, str], simulator: Any) -> Cli:
    run = Cli(root, env)
    run(
        "profile", "create", "seal", "--env", simulator.base_url, "--nip", NIP, "--test-cert",
        "--store", "memory",
    )  # fmt: skip
    return run
