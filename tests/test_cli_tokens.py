"""``ksef-auth tokens``: create (printed once, or saved straight into the vault), list, show,
revoke, against the simulator's ``/tokens``, each command in a subprocess. The token a command
makes then logs in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_testcert")
pytest.importorskip("ksef_auth_xades")

NIP = "5261040828"


def _seal_profile(home: Path, url: str) -> None:
    made = run_cli(home, "profile", "create", "seal", "--env", url, "--nip", NIP, "--test-cert")
    assert made.code == 0, made.err


def _files_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()
    )


@pytest.mark.shows_secret("tokens create prints the new KSeF token once: that is what it is for")
def test_create_prints_the_token_once_and_it_logs_in(tmp_path: Path, ksef_simulator: Any) -> None:
    _seal_profile(tmp_path, ksef_simulator.base_url)
    made = run_cli(
        tmp_path, "tokens", "create", "--permission", "InvoiceRead",
        "--permission", "collectiveidentifiermanage", "--description", "ERP connector", "--wait",
    )  # fmt: skip
    assert made.code == 0, made.err
    token = made.out.strip()
    assert made.out.count("\n") == 1 and token.count("|") == 2  # the token alone on stdout
    assert f"|nip-{NIP}|" in token
    assert "shown only this once" in made.err and token not in made.err
    assert "(Active)" in made.err and "InvoiceRead, CollectiveIdentifierManage" in made.err

    listed = run_cli(tmp_path, "tokens", "list", "--json")
    assert listed.code == 0, listed.err
    rows = listed.json()
    assert [r["description"] for r in rows] == ["ERP connector"]
    assert rows[0]["permissions"] == ["InvoiceRead", "CollectiveIdentifierManage"]
    assert token not in listed.out
    reference = rows[0]["reference_number"]
    assert token.startswith(reference)

    shown = run_cli(tmp_path, "tokens", "show", reference)
    assert shown.code == 0 and "status:           Active" in shown.out

    run_cli(tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url,
            "--nip", NIP, "--token-env", "SHOP_TOKEN")  # fmt: skip
    login = run_cli(tmp_path, "login", "--profile", "shop", "--json", SHOP_TOKEN=token)
    assert login.code == 0, login.err
    assert login.json()["method"] == "ksef-token"

    revoked = run_cli(tmp_path, "tokens", "revoke", reference)
    assert revoked.code == 0 and f"revoked KSeF token {reference}" in revoked.out
    only_active = run_cli(tmp_path, "tokens", "list", "--status", "Active", "--json").json()
    assert only_active == []
    refused = run_cli(tmp_path, "login", "--profile", "shop", "--force", SHOP_TOKEN=token)
    assert refused.code == 5, refused.err  # a revoked token no longer logs in


def test_create_straight_into_the_vault_never_prints_it(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    pytest.importorskip("ksef_auth_vault")
    _seal_profile(tmp_path, ksef_simulator.base_url)
    made = run_cli(
        tmp_path, "tokens", "create", "--permission", "InvoiceWrite",
        "--description", "shop connector",
        "--save-to", "vault", "--opt", "name=shop-{nip}", "--wait", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    info = made.json()
    assert "token" not in info and info["status"] == "Active"
    assert info["saved"].startswith(f"vault entry 'shop-{NIP}' in ")
    reference = info["reference_number"]
    # the vault holds it encrypted: it is in no file in clear, and it logs in from there
    secrets = [t for t in ksef_simulator.sim.tokens_by_ref.values() if t.ref == reference]
    assert len(secrets) == 1
    assert secrets[0].secret not in _files_text(tmp_path)
    run_cli(tmp_path, "profile", "create", "shop", "--env", ksef_simulator.base_url, "--nip",
            NIP, "--credential", "vault", "--opt", "name=shop-{nip}")  # fmt: skip
    login = run_cli(tmp_path, "login", "--profile", "shop", "--json")
    assert login.code == 0, login.err
    assert login.json()["method"] == "ksef-token"


def test_create_refuses_what_ksef_would(tmp_path: Path, ksef_simulator: Any) -> None:
    _seal_profile(tmp_path, ksef_simulator.base_url)
    unknown = run_cli(tmp_path, "tokens", "create", "--permission", "InvoiceReed",
                      "--description", "ERP connector")  # fmt: skip
    assert unknown.code == 2
    assert "unknown token permission 'InvoiceReed'" in unknown.err
    assert "CollectiveIdentifierManage" in unknown.err
    short = run_cli(tmp_path, "tokens", "create", "--permission", "InvoiceRead",
                    "--description", "ERP")  # fmt: skip
    assert short.code == 2 and "5 to 256 characters" in short.err
    cannot = run_cli(tmp_path, "tokens", "create", "--permission", "InvoiceRead",
                     "--description", "ERP connector", "--save-to", "env")  # fmt: skip
    assert cannot.code == 3 and "cannot keep a new token" in cannot.err
    assert ksef_simulator.sim.counters()["events"].get("logins_completed", 0) == 0


def test_list_json_is_a_list_and_show_of_an_unknown_token_is_exit_5(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    _seal_profile(tmp_path, ksef_simulator.base_url)
    assert json.loads(run_cli(tmp_path, "tokens", "list", "--json").out) == []
    missing = run_cli(tmp_path, "tokens", "show", "20251010-EC-1DCE3E3000-12ECB5B36E-45")
    assert missing.code == 5
    assert "reading KSeF token 20251010-EC-1DCE3E3000-12ECB5B36E-45 failed" in missing.err


def test_a_whole_token_given_as_a_reference_is_neither_sent_nor_shown(
    tmp_path: Path, ksef_simulator: Any
) -> None:
    """`tokens revoke "$(cat erp.token)"` without the `cut`, `sessions revoke "$(ksef-auth
    token)"`: the token would travel in the URL (`DELETE /tokens/<token>`) and come back in the
    error message."""
    _seal_profile(tmp_path, ksef_simulator.base_url)
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    before = ksef_simulator.sim.counters()["events"].get("logins_completed", 0)
    for command in (("tokens", "show"), ("tokens", "revoke"), ("sessions", "revoke")):
        for as_json in ((), ("--json",)):
            result = run_cli(tmp_path, *command, token, *as_json)
            assert result.code == 2, result.err
            assert "that is a whole KSeF token, not a" in result.err
            assert token.split("|")[-1] not in result.out + result.err
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1MjYxMDQwODI4In0.c2lnbmF0dXJlLXBhcnQtbG9uZw"
    pasted = run_cli(tmp_path, "sessions", "revoke", jwt)  # `"$(ksef-auth token)"`
    assert pasted.code == 2 and "an access or refresh token" in pasted.err
    assert jwt not in pasted.out + pasted.err
    bad = run_cli(tmp_path, "tokens", "show", "../auth/sessions/current")
    assert bad.code == 2 and "not a KSeF token reference number" in bad.err
    assert ksef_simulator.sim.counters()["events"].get("logins_completed", 0) == before
    assert ksef_simulator.sim.token_status(token) == "Active"  # nothing reached KSeF
