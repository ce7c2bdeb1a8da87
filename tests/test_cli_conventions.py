"""Issue 14, items 1 and 6: a pasted secret is refused and never echoed; CLI conventions (JSON
errors, NO_COLOR, -h, --verbose/--debug, completion, short "did you mean" among thousands,
plugin names instead of class names, KSEF_AUTH_PLUGINS mistakes reported). Each in a
subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli, sandbox_env

from ksef_auth.profiles import Profile, ProfileStore

NIP = "5261040828"
KSEF_TOKEN = (
    "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|"
    "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1MjYxMDQwODI4In0.c2lnbmF0dXJlLXBhcnQtbG9uZw"
PASSWORD = "correct horse battery staple"
PEM = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"


def _all_files_text(root: Path) -> str:
    parts = []
    for path in root.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("flag", "secret", "extra"),
    [
        ("--token-env", KSEF_TOKEN, ()),
        ("--token-env", JWT, ()),
        ("--token-env", PEM, ()),
        ("--p12-password-env", PASSWORD, ("--p12", "seal.p12")),
        ("--p12-password-env", JWT, ("--p12", "seal.p12")),
        ("--p12-password-env", PEM, ("--p12", "seal.p12")),
        ("--key-password-env", "hunter2!", ("--pem", "c.pem", "k.pem")),
    ],
    ids=["ksef-token", "jwt", "pem", "p12-password", "p12-jwt", "p12-pem", "key-password"],
)
def test_a_secret_pasted_as_a_variable_name_is_refused_and_never_shown(
    tmp_path: Path, flag: str, secret: str, extra: tuple[str, ...]
) -> None:
    for as_json in ((), ("--json",)):
        result = run_cli(
            tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP, *extra,
            flag, secret, "--store", "memory", *as_json,
        )  # fmt: skip
        assert result.code == 2, result.err
        assert "takes the NAME of an environment variable" in result.err
        assert "not saved and is not shown" in result.err
        assert secret not in result.out + result.err
        for piece in secret.replace("|", " ").split():
            if len(piece) >= 12:  # no recognisable part of it either
                assert piece not in result.out + result.err
    assert not (tmp_path / "profiles.toml").exists()
    assert secret not in _all_files_text(tmp_path)
    listed = run_cli(tmp_path, "profile", "list", "--json")
    assert secret not in listed.out + listed.err


def test_a_secret_given_to_a_secret_option_is_refused_and_never_shown(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_pkcs12")
    result = run_cli(
        tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP,
        "--p12", "seal.p12", "--opt", f"password={PASSWORD}", "--store", "memory",
    )  # fmt: skip
    assert result.code == 2
    assert "is a secret: give env:VAR" in result.err
    assert PASSWORD not in result.out + result.err + _all_files_text(tmp_path)


@pytest.mark.parametrize(
    ("plugin", "args", "secret"),
    [
        ("ksef_auth_vault", ("--credential", "vault", "--opt", f"name={KSEF_TOKEN}"), KSEF_TOKEN),
        ("ksef_auth_env", ("--credential", "env", "--opt", f"var={KSEF_TOKEN}"), KSEF_TOKEN),
        ("ksef_auth_cloud", ("--credential", "paas", "--opt", f"names={JWT}"), JWT),
        ("ksef_auth_pem", ("--credential", "pem", "--opt", f"certificate={PEM}"), PEM),
        ("ksef_auth_redis", ("--token-env", "KSEF2_TOKEN", "--store", "redis", "--store-opt",
                             "url=redis://app:s3cr3t-Pa55word@127.0.0.1:6379"), "s3cr3t-Pa55word"),
    ],
    ids=["vault-name", "env-var", "paas-names", "pem-certificate", "redis-url-password"],
)  # fmt: skip
def test_a_secret_pasted_into_a_plain_option_is_refused_and_never_shown(
    tmp_path: Path, plugin: str, args: tuple[str, ...], secret: str
) -> None:
    """--opt, --signer-opt and --store-opt values are saved as given: a secret there would be
    kept in clear in profiles.toml (and repeated by the plugin's own error about it)."""
    pytest.importorskip(plugin)
    for as_json in ((), ("--json",)):
        result = run_cli(
            tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP, *args, *as_json
        )
        assert result.code == 2, result.err
        assert "looks like a secret" in result.err and "not saved and is not shown" in result.err
        assert secret not in result.out + result.err
    assert not (tmp_path / "profiles.toml").exists()
    assert secret not in _all_files_text(tmp_path)


def test_every_other_variable_name_option_refuses_a_secret_unshown(tmp_path: Path) -> None:
    """The other commands taking a variable's name: `cert show --password-env`, `profile
    rotate --token-env`."""
    pytest.importorskip("ksef_auth_token")
    made = run_cli(tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
                   "--token-env", "ACME_KSEF_TOKEN", "--store", "memory")  # fmt: skip
    assert made.code == 0, made.err
    before = (tmp_path / "profiles.toml").read_text()
    (tmp_path / "seal.p12").write_bytes(b"not read: the option is refused first")
    for args, secret in (
        (("cert", "show", str(tmp_path / "seal.p12"), "--password-env", PASSWORD), PASSWORD),
        (("profile", "rotate", "shop", "--token-env", KSEF_TOKEN), KSEF_TOKEN),
        (("profile", "rotate", "shop", "--credential", "vault", "--opt", f"name={JWT}"), JWT),
    ):
        result = run_cli(tmp_path, *args)
        assert result.code == 2, (args, result.err)
        assert "not saved and is not shown" in result.err
        assert secret not in result.out + result.err + _all_files_text(tmp_path)
    assert (tmp_path / "profiles.toml").read_text() == before


def test_a_variable_name_is_accepted(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_token")
    result = run_cli(
        tmp_path, "profile", "create", "x", "--env", "test", "--nip", NIP,
        "--token-env", "ACME_KSEF_TOKEN", "--store", "memory",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert '"ACME_KSEF_TOKEN"' in (tmp_path / "profiles.toml").read_text()


def test_json_errors_are_json_with_the_exit_code(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "status", "--json")
    assert missing.code == 3
    error = missing.json()
    assert error["ok"] is False
    assert error["error"]["exit_code"] == 3 and error["error"]["type"] == "ConfigError"
    assert "no profiles yet" in error["error"]["message"]
    assert "error: " in missing.err  # and the line for people, on stderr

    usage = run_cli(tmp_path, "profile", "create", "x", "--env", "nowhere", "--nip", NIP, "--json")
    assert usage.code == 2
    assert usage.json()["error"]["exit_code"] == 2
    assert "unknown environment 'nowhere'" in usage.json()["error"]["message"]


def test_dash_h_is_help_everywhere(tmp_path: Path) -> None:
    for args in ((), ("profile",), ("profile", "create"), ("sessions", "revoke"), ("tokens",)):
        result = run_cli(tmp_path, *args, "-h")
        assert result.code == 0, (args, result.err)
        assert "Usage: ksef-auth" in result.out


def _run_on_a_terminal(home: Path, *args: str, no_color: bool) -> str:
    """Run the CLI with a pseudo-terminal as stdout/stderr (where colours are used)."""
    env = sandbox_env(home)
    if not no_color:
        del env["NO_COLOR"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ksef_auth.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    coloured = _run_on_a_terminal(tmp_path, "nip", "check", NIP, no_color=False)
    assert "\x1b[" in coloured  # on a terminal, colours by default
    plain = _run_on_a_terminal(tmp_path, "nip", "check", NIP, no_color=True)
    assert "ok       5261040828" in plain and "\x1b[" not in plain


def test_verbose_and_debug_log_on_stderr(tmp_path: Path, ksef_simulator: Any) -> None:
    """-v says what ksef-auth does (which profile, the login, the session), --debug also each
    HTTP request; on stderr, never a token; stdout stays the same."""
    pytest.importorskip("ksef_auth_token")
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    made = run_cli(
        tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url, "--nip", NIP,
        "--token-env", "SHOP_TOKEN", "--store", "memory",
    )  # fmt: skip
    assert made.code == 0, made.err
    quiet = run_cli(tmp_path, "login", SHOP_TOKEN=token)
    assert quiet.code == 0 and quiet.err == ""
    verbose = run_cli(tmp_path, "-v", "login", SHOP_TOKEN=token)
    assert verbose.code == 0, verbose.err
    assert verbose.out.splitlines()[0] == quiet.out.splitlines()[0]
    assert "using profile shop (" in verbose.err
    assert "credential env, signer ksef-token, store memory" in verbose.err
    assert f"login started: Nip:{NIP}" in verbose.err
    assert f"session opened: Nip:{NIP}" in verbose.err and "-AU-" in verbose.err
    assert "HTTP Request" not in verbose.err
    debug = run_cli(tmp_path, "--debug", "login", SHOP_TOKEN=token)
    assert debug.code == 0, debug.err
    assert "session opened" in debug.err
    assert "HTTP Request: POST " in debug.err and "/auth/challenge" in debug.err
    for result in (verbose, debug):
        assert token not in result.err and "eyJ" not in result.err
    assert "-v, --verbose" in run_cli(tmp_path, "-h").out


def test_completion_script(tmp_path: Path) -> None:
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")):
        result = run_cli(tmp_path, "completion", shell)
        assert result.code == 0 and "_KSEF_AUTH_COMPLETE" in result.out and marker in result.out
    words = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli"],
        env={**sandbox_env(tmp_path), "_KSEF_AUTH_COMPLETE": "bash_complete",
             "COMP_WORDS": "ksef-auth prof", "COMP_CWORD": "1"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "profile" in words.stdout


def test_an_unknown_profile_among_thousands_is_one_short_line(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.toml")
    data = {"strategy": {}}
    for i in range(3000):
        data["strategy"][f"client-{i:04d}"] = Profile.token("test", NIP, store="memory").to_table()
    from ksef_auth.profiles import dump_toml

    store.path.write_text(dump_toml({**data, "current": "client-0000"}))
    result = run_cli(tmp_path, "status", "--profile", "client-0O42")
    assert result.code == 3
    line = result.err.strip()
    assert len(line) < 400, len(line)
    assert "3000 profiles" in line and "did you mean 'client-0042'" in line


def test_plugin_names_not_class_names(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_file")
    pytest.importorskip("ksef_auth_token")
    made = run_cli(
        tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
        "--token-env", "ACME_KSEF_TOKEN",
    )  # fmt: skip
    assert made.code == 0, made.err
    status = run_cli(tmp_path, "status", "--json").json()
    assert status["store"] == "file" and status["method"] == "ksef-token"
    doctor = run_cli(tmp_path, "doctor", "--json", ACME_KSEF_TOKEN="x")
    plugins = next(c for c in doctor.json()["checks"] if c["name"] == "plugins")
    assert plugins["message"] == "credential env, signer ksef-token, store file"
    assert "FileStore" not in doctor.out and "EnvToken" not in doctor.out


def test_a_token_of_the_wrong_shape_names_its_variable(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_token")
    run_cli(tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
            "--token-env", "ACME_KSEF_TOKEN", "--store", "memory")  # fmt: skip
    report = run_cli(tmp_path, "doctor", "--json", ACME_KSEF_TOKEN="not-a-ksef-token")
    checks = {c["name"]: c for c in report.json()["checks"]}
    assert checks["signer"]["status"] == "fail"
    assert "ACME_KSEF_TOKEN" in checks["signer"]["message"]
    assert "certificate" not in checks or checks["certificate"]["status"] != "fail"


def test_ksef_auth_plugins_mistakes_are_reported(tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_token")
    run_cli(tmp_path, "profile", "create", "shop", "--env", "test", "--nip", NIP,
            "--token-env", "ACME_KSEF_TOKEN", "--store", "memory")  # fmt: skip
    typo = run_cli(tmp_path, "plugins", KSEF_AUTH_PLUGINS="env,memroy,token")
    assert "KSEF_AUTH_PLUGINS names 'memroy', which is not an installed plugin" in typo.err
    assert "did you mean 'memory'" in typo.err
    left_out = run_cli(tmp_path, "token", KSEF_AUTH_PLUGINS="memory,token", ACME_KSEF_TOKEN="x")
    assert left_out.code == 3
    assert "'env' is installed (plugin env) but KSEF_AUTH_PLUGINS='memory,token' leaves it out" in (
        left_out.err
    )


def test_the_docs_credential_example_names_a_real_source() -> None:
    text = (Path(__file__).parent.parent / "docs" / "guide" / "profiles.md").read_text()
    assert "--credential command" not in text


def test_cert_help_promises_only_what_exists(tmp_path: Path) -> None:
    help_text = run_cli(tmp_path, "cert", "-h").out
    assert "show" in help_text
    shown = run_cli(tmp_path, "cert", "show", "-h")
    assert shown.code == 0 and "Never key material" in shown.out


def test_json_outputs_parse(tmp_path: Path) -> None:
    for args in (("plugins", "--json"), ("env", "--json"), ("nip", "check", NIP, "--json")):
        result = run_cli(tmp_path, *args)
        assert result.code == 0, (args, result.err)
        json.loads(result.out)


def test_a_reader_that_stops_early_is_no_error(tmp_path: Path) -> None:
    """`ksef-auth tokens list | head -1`: once the reader is gone, stop quietly with 141 (as a
    tool stopped by SIGPIPE), not "error: unexpected BrokenPipeError"."""
    from ksef_auth.cli import BROKEN_PIPE, EXIT_MEANINGS

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ksef_auth.cli", "plugins"],
            stdout=write_end, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=sandbox_env(tmp_path), text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == BROKEN_PIPE == 141
    assert proc.stderr == ""
    assert BROKEN_PIPE in EXIT_MEANINGS


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNKNOWN_TOKEN = KSEF_TOKEN  # well-formed for NIP, but never issued: KSeF refuses it (450)

EXIT_CASES: dict[int, tuple[str, tuple[str, ...], dict[str, str]]] = {
    0: ("none", ("nip", "check", NIP), {}),
    1: ("none", ("nip", "check", "5261040829"), {}),
    2: ("none", ("profile", "create", "x", "--env", "test"), {}),
    3: ("none", ("status", "--profile", "nowhere"), {}),
    4: ("none", ("cert", "show", "garbage.p12"), {}),
    5: ("simulator", ("login",), {"SHOP_TOKEN": UNKNOWN_TOKEN}),
    6: ("closed", ("login",), {"SHOP_TOKEN": UNKNOWN_TOKEN}),
    7: ("redis-down", ("login",), {"SHOP_TOKEN": UNKNOWN_TOKEN}),
    8: ("memory", ("sessions",), {}),
}
"""A command that exits with each code of the table, and the profile it needs (141: below)."""


def test_the_exit_code_table_is_the_one_tested_here() -> None:
    from ksef_auth.cli import BROKEN_PIPE, EXIT_CODES, EXIT_MEANINGS

    assert set(EXIT_CASES) | {BROKEN_PIPE} == set(EXIT_MEANINGS)
    assert set(EXIT_CODES.values()) <= set(EXIT_MEANINGS)


@pytest.mark.parametrize("code", sorted(EXIT_CASES))
def test_each_exit_code_is_what_its_table_says(
    tmp_path: Path, code: int, ksef_simulator: Any
) -> None:
    setup, args, env = EXIT_CASES[code]
    pytest.importorskip("ksef_auth_token")
    (tmp_path / "garbage.p12").write_bytes(b"not a certificate")
    stores = {"redis-down": ("--store", "redis", "--store-opt",
                             f"url=redis://127.0.0.1:{_closed_port()}/0", "--store-opt",
                             "key=env:SHOP_STORE_KEY")}  # fmt: skip
    if setup == "redis-down":
        pytest.importorskip("ksef_auth_redis")
        env = {**env, "SHOP_STORE_KEY": "A" * 43 + "="}
    if setup != "none":
        url = f"http://127.0.0.1:{_closed_port()}/v2" if setup == "closed" else None
        made = run_cli(
            tmp_path, "profile", "create", "shop", "--env", url or ksef_simulator.base_url,
            "--nip", NIP, "--token-env", "SHOP_TOKEN",
            *stores.get(setup, ("--store", "memory")),
        )  # fmt: skip
        assert made.code == 0, made.err
    for as_json in ((), ("--json",)):
        given = [str(tmp_path / a) if a == "garbage.p12" else a for a in args]
        result = run_cli(tmp_path, *given, *as_json, **env)
        assert result.code == code, (args, result.out, result.err)
        if code >= 2 and as_json:  # an error: its JSON object carries the same code
            assert result.json()["error"]["exit_code"] == code, result.out
        assert "Traceback" not in result.err and UNKNOWN_TOKEN not in result.out + result.err
