"""serve(), the CLI (python -m and ksef-auth simulator), the plugin hook and fixtures."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import click
import httpx
import pytest
from click.testing import CliRunner
from conftest import NIP
from sim_client import token_login

from ksef_auth_simulator import Simulator, SimulatorConfig, serve
from ksef_auth_simulator.cli import simulator as simulator_command


def test_serve_context_manager() -> None:
    sim = Simulator(SimulatorConfig(rate_limits=False))
    with serve(sim, host="127.0.0.1", port=0) as running:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2", running.base_url)
        assert running.base_url == running.root_url + "/v2"
        assert running.sim is sim
        assert httpx.post(running.base_url + "/auth/challenge").status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.post(running.base_url + "/auth/challenge", timeout=1)


def test_explicit_stop(make_ksef_simulator) -> None:
    running = make_ksef_simulator()
    assert httpx.post(running.base_url + "/auth/challenge").status_code == 200
    running.stop()
    running.stop()  # idempotent
    with pytest.raises(httpx.TransportError):
        httpx.post(running.base_url + "/auth/challenge", timeout=1)


def test_asgi_fixture(ksef_simulator_app: Simulator) -> None:
    import asyncio

    async def run() -> int:
        transport = httpx.ASGITransport(app=ksef_simulator_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ksef/v2") as client:
            return (await client.post("/auth/challenge")).status_code

    assert asyncio.run(run()) == 200


def test_cli_help_and_bad_seed() -> None:
    runner = CliRunner()
    result = runner.invoke(simulator_command, ["--help"])
    assert result.exit_code == 0 and "--seed-token" in result.output
    result = runner.invoke(simulator_command, ["--seed-token", "nonsense"])
    assert result.exit_code == 2 and "NIP=TOKEN" in result.output


def test_plugin_registers_command() -> None:
    from ksef_auth_simulator import plugin

    group = click.Group("root")
    plugin.ksef_auth_register_commands(group)
    assert "simulator" in group.commands


SEEDED = f"20260101-EC-0123456789-ABCDEF0123-00|nip-{NIP}|" + "5a" * 32


def _run(argv: list[str], sig: int) -> None:
    proc = subprocess.Popen(
        [*argv, "--port", "0", "--no-rate-limits", "--seed-token", f"{NIP}={SEEDED}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2", line), (line, proc.stderr.read())
        with httpx.Client(base_url=line) as client:
            token_login(client, SEEDED, NIP)
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_python_m(sig: int) -> None:
    _run([sys.executable, "-m", "ksef_auth_simulator"], sig)


def _ksef_auth() -> str | None:
    """The ``ksef-auth`` script of this interpreter's environment (or on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), "ksef-auth")
    return beside if os.access(beside, os.X_OK) else shutil.which("ksef-auth")


@pytest.mark.skipif(_ksef_auth() is None, reason="core CLI not installed")
def test_ksef_auth_simulator_command() -> None:
    _run([str(_ksef_auth()), "simulator"], signal.SIGTERM)
