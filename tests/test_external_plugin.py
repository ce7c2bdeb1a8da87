"""A plugin written outside the repository, built and pip-installed by this test, composes a
strategy with nothing in core changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-ksef-vault"
version = "1.2.3"
dependencies = ["ksef-auth"]

[project.entry-points.ksef_auth]
acme-vault = "acme_ksef_vault"
"""

PLUGIN = '''
"""A third-party plugin: a credential source reading a token file, and a dict session store."""
from contextlib import contextmanager
from pathlib import Path
import threading

import attrs
from ksef_auth import KsefToken, NotAvailable, Register, hookimpl


@attrs.frozen
class VaultFile:
    """A KSeF token kept in a file of Acme's vault agent."""

    path: str = attrs.field(metadata={"help": "Where the vault agent writes the token."})

    def load(self) -> KsefToken:
        file = Path(self.path)
        if not file.is_file():
            raise NotAvailable(f"vault file {self.path} is absent")
        return KsefToken(file.read_text().strip(), source="acme-vault")


class DictStore:
    """Sessions in a dict (Acme's example store)."""

    def __init__(self) -> None:
        self.data = {}
        self._lock = threading.Lock()

    def get(self, key):
        return self.data.get(key)

    def put(self, key, tokens):
        self.data[key] = tokens

    def delete(self, key):
        self.data.pop(key, None)

    @contextmanager
    def lock(self, key, timeout):
        yield self._lock.acquire(timeout=timeout)
        self._lock.release()


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("acme-vault", VaultFile)


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("acme-dict", DictStore)
'''

SCRIPT = """
import json, sys
import ksef_auth
from ksef_auth.manager import default_manager

rows = {r["name"]: r for r in default_manager().listing()}
config = ksef_auth.load({
    "strategy": {"acme": {
        "environment": sys.argv[1],
        "context": sys.argv[2],
        "credential": [
            {"use": "env", "var": "ACME_UNSET_VAR"},
            {"use": "acme-vault", "path": sys.argv[3]},
        ],
        "signer": sys.argv[4],
        "store": "acme-dict",
    }}
})
strategy = config.strategy("acme")
result = {"listing": rows["acme-vault"], "store": type(strategy.store).__name__}
if sys.argv[5] == "login":
    token = strategy.token()
    result["token_length"] = len(token)
    result["second_is_cached"] = strategy.token() == token
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme")
    project = root / "acme-ksef-vault"
    (project / "acme_ksef_vault").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "acme_ksef_vault" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
    )
    return target


def run_script(target: Path, *args: str) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("KSEF_AUTH_PLUGINS", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_external_plugin_is_listed_and_composes(installed_plugin: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-used")
    result = run_script(
        installed_plugin, "test", "5261040828", str(token_file), "ksef-token", "compose"
    )
    listing = result["listing"]
    assert listing == {
        "name": "acme-vault",
        "distribution": "acme-ksef-vault",
        "version": "1.2.3",
        "provides": {"credential source": ["acme-vault"], "session store": ["acme-dict"]},
        "hooks": ["ksef_auth_register_credential_sources", "ksef_auth_register_session_stores"],
        "error": None,
    }


def test_external_plugin_logs_in_against_the_simulator(
    installed_plugin: Path, tmp_path: Path, ksef_simulator: object
) -> None:
    sim = ksef_simulator.sim  # type: ignore[attr-defined]
    token_file = tmp_path / "token"
    token_file.write_text(sim.issue_ksef_token("5261040828"))
    base_url: str = ksef_simulator.base_url  # type: ignore[attr-defined]
    result = run_script(
        installed_plugin, base_url, "5261040828", str(token_file), "ksef-token", "login"
    )
    assert result["store"] == "DictStore"
    assert result["token_length"] > 20
    assert result["second_is_cached"] is True
    counters = sim.counters()
    assert counters["contexts"]["5261040828"]["logins_completed"] == 1
