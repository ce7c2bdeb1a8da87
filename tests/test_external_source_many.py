"""A third-party credential source keyed by NIP, written and pip-installed outside the repository,
serves 100 contexts from one strategy, and no NIP ever gets another's credential: the simulator
says, for each access token, which context it speaks for and which KSeF token logged it in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ksef_auth.nip import example_nips

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-ksef-clients"
version = "0.3.0"
dependencies = ["ksef-auth>=0.2"]

[project.entry-points.ksef_auth]
acme-clients = "acme_ksef_clients"
"""

PLUGIN = '''
"""Acme's accounting firm keeps each client's KSeF token in <folder>/<nip>.token."""
from pathlib import Path

import attrs
from ksef_auth import CredentialRequest, KsefToken, NotAvailable, Register, hookimpl


@attrs.frozen
class ClientTokens:
    """One KSeF token per client NIP, in a folder."""

    folder: str = attrs.field(metadata={"help": "Where <nip>.token files are.", "path": True})

    def load(self, request: CredentialRequest) -> KsefToken:
        file = Path(self.folder) / f"{request.context.value}.token"
        if not file.is_file():
            raise NotAvailable(f"no token file for {request.context}")
        return KsefToken(file.read_text().strip(), source=f"acme-clients:{file.name}")


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("acme-clients", ClientTokens)
'''

SCRIPT = """
import json, sys
import httpx
import ksef_auth
from ksef_auth.bulk import login_many

base_url, folder, nips = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
config = ksef_auth.load({"strategy": {"clients": {
    "environment": base_url,
    "contexts": nips,
    "credential": {"use": "acme-clients", "folder": folder},
    "signer": "ksef-token",
}}})
report = login_many(config.strategy("clients"), config.contexts("clients"), concurrency=8)
root = base_url.rsplit("/v2", 1)[0]
seen = {}
with httpx.Client() as client:
    for nip in nips:  # each context's own token, through config.strategy as an app would
        token = config.strategy("clients", context=nip).token()
        who = client.get(f"{root}/_sim/whoami", headers={"Authorization": f"Bearer {token}"})
        body = who.json()
        seen[nip] = {"context": body["context"]["value"], "ec": body["ksefTokenReference"]}
print(json.dumps({"counts": report.counts(), "seen": seen}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme-clients")
    project = root / "acme-ksef-clients"
    (project / "acme_ksef_clients").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "acme_ksef_clients" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
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


def test_a_source_keyed_by_nip_serves_100_contexts(
    installed: Path, tmp_path: Path, ksef_simulator: Any
) -> None:
    sim = ksef_simulator.sim
    nips = example_nips(100, start=123_000)
    tokens = sim.issue_ksef_tokens(nips)
    folder = tmp_path / "tokens"
    folder.mkdir()
    for nip, token in tokens.items():
        (folder / f"{nip}.token").write_text(token)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("KSEF_AUTH_PLUGINS", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, ksef_simulator.base_url, str(folder), ",".join(nips)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["counts"] == {"ok": 100, "reused": 0, "error": 0}
    for nip in nips:
        # the EC reference is the first part of the token KSeF issued for that NIP
        assert result["seen"][nip] == {"context": nip, "ec": tokens[nip].split("|")[0]}, nip
    assert len({s["ec"] for s in result["seen"].values()}) == 100
    for nip in nips:
        assert sim.counters(context=nip)["events"]["logins_completed"] == 1
