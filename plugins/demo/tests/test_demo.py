"""``ksef-auth demo``: exits 0 in seconds, prints no secret, leaves nothing running or on disk."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ksef_auth_demo.progress import Progress
from ksef_auth_demo.scenario import RECIPES, VAR_PREFIX, Demo


def _refused(base_url: str) -> bool:
    url = urlsplit(base_url)
    try:
        with socket.create_connection((url.hostname or "", url.port or 80), timeout=1):
            return False
    except OSError:
        return True


def test_demo_json_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    assert report["ok"] is True
    names = [row["name"] for row in report["strategies"]]
    assert len(names) + len(report["skipped"]) == len(RECIPES)
    assert all(row["state"].startswith("active") for row in report["strategies"])
    assert report["reuse"]["calls"] > 0 and report["reuse"]["requests"] == 0
    assert report["refresh"]["counters"].get("refreshes") == 1
    assert report["revoke"]["refresh_refused"]
    assert report["revoke"]["new_reference_number"] != report["revoke"]["revoked"]
    assert not Path(report["temp_dir"]).exists()  # cleaned up
    assert _refused(report["base_url"])  # server stopped


def test_demo_prints_no_secret_and_restores_the_environment() -> None:
    before = {k: v for k, v in os.environ.items() if k.startswith(VAR_PREFIX)}
    out = io.StringIO()
    demo = Demo(progress=Progress(out))
    report = demo.run()
    text = out.getvalue()
    assert report["ok"], text
    if "ksef-certificate" in [row["name"] for row in report["strategies"]]:
        assert "enrolling a KSeF certificate" in text
    assert len(demo.secrets) >= len(report["strategies"])
    for secret in demo.secrets:
        assert secret not in text
        assert secret not in json.dumps(report, default=str)
    assert {k: v for k, v in os.environ.items() if k.startswith(VAR_PREFIX)} == before
    # plain lines when not on a terminal: no carriage returns, no escape codes
    assert "\r" not in text and "\x1b" not in text
    assert "reuse:" in text and "refresh:" in text and "revoke:" in text


@pytest.mark.parametrize("store", ["file"])
def test_demo_with_another_store(store: str, tmp_path: Path) -> None:
    pytest.importorskip(f"ksef_auth_{store}")
    report = Demo(store=store).run()
    assert report["ok"], report
    assert report["store"] == store
