"""The chaos soak's short run (30 s; ``nox -s soak`` runs five minutes): processes and threads
through the redis and file stores, random faults from a seed, Redis restarted, 2-second
tokens. Zero untyped errors, zero expired tokens handed out, no more logins than the rules
allow, no secret in an error. No speed is asserted: the figures are printed. See
``chaos_soak.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_file")
pytest.importorskip("ksef_auth_token")

SOAK = Path(__file__).with_name("chaos_soak.py")


@pytest.mark.slow
def test_a_30_second_chaos_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    seconds = os.environ.get("KSEF_AUTH_SOAK_SECONDS", "30")
    result = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", seconds, "--seed", "11", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=float(seconds) + 240,
    )
    print(result.stdout)
    figures = json.loads(out.read_text()) if out.exists() else {}
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert figures["untyped_errors"] == 0, figures["untyped_examples"]
    assert figures["expired_tokens"] == 0
    assert figures["login_rule_breaks"] == []
    assert figures["secrets_in_errors"] == 0
    assert figures["faults"] > 0 and figures["refreshes"] > 0  # it did soak
    if "redis" in figures["stores"]:
        assert figures["redis_restarts"] > 0
