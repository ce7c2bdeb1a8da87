"""Key rotation for the file store: the ring, ``rekey()``, ``ksef-auth file rekey``, and where
the default key lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ksef_auth import SecretRef
from ksef_auth.sealing import entry_name, generate_key, key_id, parse_keys
from ksef_auth.testing import make_tokens
from ksef_auth_file import FileStore

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"


def keys_of(store: FileStore) -> set[bytes]:
    """The key ids the session files are sealed with."""
    return {
        p.read_bytes()[12 + 1 : 12 + 5]
        for p in store.path.iterdir()
        if len(p.name) == 64 and "." not in p.name
    }


def test_rotation_then_rekey_lets_the_old_key_go(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    under_a = FileStore(path=tmp_path / "s", key=SecretRef.value(a))
    sessions = {f"{KEY}-{i}": make_tokens() for i in range(5)}
    for key, tokens in sessions.items():
        under_a.put(key, tokens)
    rotated = FileStore(path=tmp_path / "s", key=SecretRef.value(f"{b},{a}"))
    assert all(rotated.get(key) == tokens for key, tokens in sessions.items())  # A still reads
    rotated.put(f"{KEY}-0", sessions[f"{KEY}-0"])  # a refresh writes under B
    assert keys_of(rotated) == {key_id(parse_keys(a)[0]), key_id(parse_keys(b)[0])}

    report = rotated.rekey()
    assert (report.resealed, report.current, report.complete) == (4, 1, True)
    assert "older keys can go" in report.summary()
    only_b = FileStore(path=tmp_path / "s", key=SecretRef.value(b))
    assert all(only_b.get(key) == tokens for key, tokens in sessions.items())  # nothing lost
    assert rotated.rekey().resealed == 0


def test_rekey_reports_what_it_cannot_reseal(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    FileStore(path=tmp_path / "s", key=SecretRef.value(a)).put(KEY, make_tokens())
    lost = FileStore(path=tmp_path / "s", key=SecretRef.value(b))  # A is gone already
    report = lost.rekey()
    assert not report.complete and report.resealed == 0
    summary = report.summary()
    assert entry_name(KEY)[:16] in summary and "was the key changed?" in summary
    assert "5261040828" not in summary


def test_rekey_of_a_missing_directory_does_nothing(tmp_path: Path) -> None:
    report = FileStore(path=tmp_path / "none", key=SecretRef.value(generate_key())).rekey()
    assert report.complete and report.resealed == 0
    assert not (tmp_path / "none").exists()


def ksef_auth(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_the_rekey_command(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    FileStore(path=tmp_path / "s", key=SecretRef.value(a)).put(KEY, make_tokens())
    done = ksef_auth("file", "rekey", "--path", str(tmp_path / "s"), "--key-env", "K", K=f"{b},{a}")
    assert done.returncode == 0, done.stderr
    assert "1 session(s) re-sealed with the newest key" in done.stdout
    assert a not in done.stdout + done.stderr and b not in done.stdout + done.stderr
    assert FileStore(path=tmp_path / "s", key=SecretRef.value(b)).get(KEY) is not None

    failed = ksef_auth("file", "rekey", "--path", str(tmp_path / "s"), "--key-env", "K", K=a)
    assert failed.returncode == 1
    assert "could not be re-sealed" in failed.stdout


def test_the_rekey_command_takes_the_store_of_a_strategy_file(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    FileStore(path=tmp_path / "s", key=SecretRef.value(a)).put(KEY, make_tokens())
    (tmp_path / "ksef-auth.toml").write_text(
        "[strategy.shop]\n"
        'environment = "http://127.0.0.1:1/v2"\n'
        'context = "5261040828"\n'
        'credential = { use = "env", var = "K_TEST_TOKEN" }\n'
        'signer = "ksef-token"\n'
        'store = { use = "file", path = "s", key = { env = "STORE_KEYS" } }\n'
    )
    done = ksef_auth(
        "file", "rekey", "--strategy-file", str(tmp_path / "ksef-auth.toml"), STORE_KEYS=f"{b},{a}"
    )
    if "no credential source named" in done.stderr or "not installed" in done.stderr:
        pytest.skip("needs the env and token plugins")
    assert done.returncode == 0, done.stderr
    assert "1 session(s) re-sealed" in done.stdout
    bad = ksef_auth("file", "rekey", "--strategy-file", str(tmp_path / "x.toml"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# --- where the default key lives (issue 14 item 5) -------------------------------------------


def test_a_relative_store_path_keeps_its_key_in_the_user_state_directory(
    tmp_path: Path, state_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth.config import load
    from ksef_auth.errors import PluginNotFound

    app = tmp_path / "app"
    app.mkdir()
    (app / "ksef-auth.toml").write_text(
        "[strategy.shop]\n"
        'environment = "http://127.0.0.1:1/v2"\n'
        'context = "5261040828"\n'
        'credential = { use = "env", var = "K_TEST_TOKEN" }\n'
        'signer = "ksef-token"\n'
        'store = { use = "file", path = "sessions" }\n'
    )
    monkeypatch.setenv("K_TEST_TOKEN", "t")
    try:
        store = load(app / "ksef-auth.toml").strategy().store
    except PluginNotFound as exc:
        pytest.skip(f"needs the env and token plugins: {exc}")
    store.put(KEY, make_tokens())
    assert sorted(p.name for p in app.iterdir()) == ["ksef-auth.toml", "sessions"]
    assert state_key.is_file()
    assert store.key_origin() == f"key file {state_key}"


def test_a_key_generated_beside_the_directory_by_an_older_version_is_kept(
    tmp_path: Path, state_key: Path
) -> None:
    legacy = tmp_path / "store.key"
    legacy.write_text(generate_key() + "\n")
    legacy.chmod(0o600)
    FileStore(path=tmp_path / "s", key=SecretRef.file(legacy)).put(KEY, make_tokens())
    store = FileStore(path=tmp_path / "s")  # no key option: finds the legacy file
    assert store.get(KEY) is not None
    assert store.key_origin() == f"key file {legacy}"
    assert not state_key.exists()


def test_limiter_state_is_not_a_session(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    store.put(KEY, make_tokens())
    from ksef_auth.pacing import Rate

    store.rate_limiter().reserve("k", [Rate(1, 1.0)], 0.0)
    report = store.rekey()
    assert report.complete and report.current == 1
    assert json.loads(next((tmp_path / "s" / "rate-limits").iterdir()).read_text())["booked"]
