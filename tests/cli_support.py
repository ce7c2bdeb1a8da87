"""Helpers for the CLI tests: run ``python -m ksef_auth.cli`` in a subprocess, in a sandbox.

(No tests here.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs

from ksef_auth.testing.secret_guard import inspect

_CLEARED = ("KSEF2_PROFILE", "KSEF2_TOKEN", "KSEF2_ENV", "KSEF2_NIP", "KSEF2_P12_PASSWORD")


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def sandbox_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: config, data and cache dirs under ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_RUNTIME_DIR=str(home / "run"),
        KSEF2_CONFIG=str(home / "profiles.toml"),
        NO_COLOR="1",
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 60, **env: str) -> Result:
    """``ksef-auth ARGS`` in a fresh process; returns exit code, stdout and stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", *args],
        capture_output=True,
        text=True,
        env=sandbox_env(home, **env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    # the secret guard checks what the CLI printed (a test printing a token on purpose says so
    # with @pytest.mark.shows_secret)
    inspect(proc.stdout + proc.stderr, f"output of ksef-auth {' '.join(args[:2])}")
    return Result(proc.returncode, proc.stdout, proc.stderr)
