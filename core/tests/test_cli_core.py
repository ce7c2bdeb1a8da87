"""``ksef-auth plugins`` and ``ksef-auth config check``, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ksef_auth import ConfigError
from ksef_auth.cli import EXIT_CODES


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from ksef_auth.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_plugins_json_lists_env_and_memory_with_versions_and_hooks() -> None:
    out = run("plugins", "--json", env={"KSEF_AUTH_PLUGINS": "env,memory"})
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert set(rows) == {"env", "memory"}
    assert rows["env"]["version"] == rows["memory"]["version"] == "0.1.0"
    assert rows["env"]["hooks"] == ["ksef_auth_register_credential_sources"]
    assert rows["memory"]["provides"] == {"session store": ["memory"]}


def test_plugins_text(tmp_path: Path) -> None:
    out = run("plugins", env={"KSEF_AUTH_PLUGINS": "memory"})
    assert out.returncode == 0
    assert out.stdout.strip() == "memory (ksef-auth-memory 0.1.0)  session store: memory"


def test_config_check_ok_and_json(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[strategy.a]\nenvironment = "test"\ncontext = "5261040828"\n'
        'credential = { use = "env", var = "KSEF_CLI_TOKEN" }\nsigner = "ksef-token"\n'
    )
    out = run("config", "check", str(path), "--json", env={"KSEF_CLI_TOKEN": "secret-value"})
    if "no signer named 'ksef-token'" in out.stderr:  # core alone: no signer plugin installed
        assert out.returncode == EXIT_CODES[ConfigError]
        return
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True and report["strategies"][0]["context"] == "Nip:5261040828"
    assert "secret-value" not in out.stdout + out.stderr


def test_config_check_reports_file_key_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[strategy.a]\nenvironment = "test"\ncontext = "5261040827"\n'
        'credential = "env"\nsigner = "none"\n'
    )
    out = run("config", "check", str(path))
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert lines[0] == f"error: {path}: 2 problems:"
    assert (
        f"  {path}:strategy.a.context: NIP 5261040827 is invalid: check digit is 7,"
        " the checksum gives 8 (a typo in one of the digits?)"
    ) in lines
    assert any(
        line.startswith(f"  {path}:strategy.a.signer: no signer named 'none'") for line in lines
    )
