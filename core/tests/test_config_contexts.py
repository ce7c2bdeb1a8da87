"""Strategies that serve many contexts: inline lists, files of contexts (lines, CSV, TOML),
per-context overrides, every problem in one pass, a bad NIP as a problem of its context only."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksef_auth import ConfigError, ConfigErrors, ContextIdentifier, CredentialRequest
from ksef_auth.config import load
from ksef_auth.manager import PluginManager
from ksef_auth.nip import example_nips

A, B, C, D = example_nips(4)
BAD = ("5261040827", "123456789", "52610408299")  # check digit, too short, too long


def strategy_file(tmp_path: Path, contexts: str, extra: str = "") -> Path:
    path = tmp_path / "ksef-auth.toml"
    path.write_text(
        '[defaults]\nenvironment = "test"\nsigner = "plain"\n\n'
        f"[strategy.firm]\ncontexts = {contexts}\n"
        'credential = { use = "env", var = "KSEF_TOKEN_{nip}" }\n' + extra
    )
    return path


def nips(config: object, name: str = "firm") -> list[str]:
    return [c.value for c in config.contexts(name)]  # type: ignore[attr-defined]


def test_inline_list(tmp_path: Path, manager: PluginManager) -> None:
    config = load(
        strategy_file(
            tmp_path, f'["{A}", "{B[:3]}-{B[3:6]}-{B[6:8]}-{B[8:]}", "InternalId:{C}-00001"]'
        ),
        manager=manager,
        check=False,
    )
    assert config.contexts("firm") == [
        ContextIdentifier.nip(A),
        ContextIdentifier.nip(B),
        ContextIdentifier.internal_id(f"{C}-00001"),
    ]
    assert config.strategy("firm").context == ContextIdentifier.nip(A)
    assert config.context_problems("firm") == []


def test_context_and_contexts_together(tmp_path: Path, manager: PluginManager) -> None:
    path = strategy_file(tmp_path, f'["{B}", "{A}"]', f'context = "{A}"\n')
    config = load(path, manager=manager, check=False)
    assert nips(config) == [A, B]  # the strategy's own context first, once
    assert config.strategy("firm").context.value == A


def test_file_one_per_line(tmp_path: Path, manager: PluginManager) -> None:
    (tmp_path / "clients.txt").write_text(
        f"# the firm's clients\n{A}\n\n  {B}   # Kowalski\nPL{C}\n"
    )
    config = load(strategy_file(tmp_path, '{ file = "clients.txt" }'), manager=manager, check=False)
    assert nips(config) == [A, B, C]
    entries = config.entries("firm")
    assert [e.where for e in entries] == [f"{tmp_path / 'clients.txt'}:{n}" for n in (2, 4, 5)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_with_a_header(tmp_path: Path, manager: PluginManager, delimiter: str) -> None:
    rows = [["Name", "NIP", "description"], ["Alpha", A, "Alpha sp. z o.o."], ["Beta", B, ""]]
    text = "\n".join(delimiter.join(row) for row in rows) + "\n"
    (tmp_path / "clients.csv").write_text("\ufeff" + text)  # Excel writes a byte-order mark
    config = load(strategy_file(tmp_path, '{ file = "clients.csv" }'), manager=manager, check=False)
    assert nips(config) == [A, B]
    assert [e.description for e in config.entries("firm")] == ["Alpha sp. z o.o.", None]


def test_csv_column_named_and_missing(tmp_path: Path, manager: PluginManager) -> None:
    (tmp_path / "c.csv").write_text(f'klient,"NIP klienta"\nAlpha,{A}\nBeta\n')
    config = load(
        strategy_file(tmp_path, '{ file = "c.csv", column = "NIP klienta" }'),
        manager=manager,
        check=False,
    )
    assert nips(config) == [A]
    [problem] = config.context_problems("firm")
    assert (problem.key, problem.reason) == ("3", "this row has no 'NIP klienta' cell")
    with pytest.raises(ConfigError) as info:
        load(strategy_file(tmp_path, '{ file = "c.csv" }'), manager=manager, check=False)
    assert info.value.source == str(tmp_path / "c.csv") and info.value.key == "1"
    assert "the header has no 'nip' or 'context' column" in info.value.reason


def test_toml_file_of_contexts_with_overrides(
    tmp_path: Path, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clients.toml").write_text(
        f'[[contexts]]\nnip = "{A}"\ndescription = "Alpha"\n\n'
        f'[[contexts]]\nnip = "{B}"\ncredential = {{ use = "env", var = "BETA_TOKEN" }}\n'
        "refresh = { poll_deadline = 5 }\n\n"
        f'[[contexts]]\ncontext = "{C}"\n'
    )
    for nip in (A, C):
        monkeypatch.setenv(f"KSEF_TOKEN_{nip}", f"token-{nip}")
    monkeypatch.setenv("BETA_TOKEN", "beta")
    config = load(strategy_file(tmp_path, '{ file = "clients.toml" }'), manager=manager)
    assert nips(config) == [A, B, C]
    firm = config.strategy("firm")
    beta = config.strategy("firm", context=B)
    assert beta.refresh.poll_deadline == 5 and firm.refresh.poll_deadline == 120
    assert beta.load_credential().token.reveal() == "beta"  # type: ignore[union-attr]
    # the other contexts keep the strategy's own credential, whoever asks
    gamma = beta.with_context(C)
    assert gamma is config.strategy("firm", context=C)
    assert gamma.load_credential().token.reveal() == f"token-{C}"  # type: ignore[union-attr]
    assert firm.with_context(B) is beta and gamma.with_context(B) is beta


def test_the_first_context_may_override_too(tmp_path: Path, manager: PluginManager) -> None:
    path = strategy_file(
        tmp_path, f'[{{ nip = "{A}", credential = {{ use = "env", var = "ALPHA" }} }}, "{B}"]'
    )
    config = load(path, manager=manager, check=False)
    firm = config.strategy("firm")
    assert firm.name == "firm" and firm.context.value == A
    assert firm.credential.var == "ALPHA"  # type: ignore[attr-defined]
    other = firm.with_context(B)
    assert other.credential.var == "KSEF_TOKEN_{nip}"  # type: ignore[attr-defined]
    assert other.name == f"firm@{B}"


def test_a_bad_nip_among_many_is_a_problem_of_that_context(
    tmp_path: Path, manager: PluginManager
) -> None:
    good = example_nips(3000)
    lines = [*good[:1000], BAD[0], *good[1000:]]
    (tmp_path / "clients.txt").write_text("\n".join(lines) + "\n")
    config = load(strategy_file(tmp_path, '{ file = "clients.txt" }'), manager=manager, check=False)
    assert nips(config) == good
    [problem] = config.problems
    assert str(problem) == (
        f"{tmp_path / 'clients.txt'}:1001: NIP 5261040827 is invalid: check digit is 7,"
        " the checksum gives 8 (a typo in one of the digits?)"
    )
    with pytest.raises(ConfigError) as info:
        load(
            strategy_file(tmp_path, '{ file = "clients.txt" }', "strict = true\n"),
            manager=manager,
            check=False,
        )
    assert type(info.value) is ConfigError and info.value.key == "1001"


def test_three_bad_nips_and_two_typos_all_reported_in_one_run(
    tmp_path: Path, manager: PluginManager
) -> None:
    (tmp_path / "clients.txt").write_text("\n".join([A, BAD[0], B, BAD[1], BAD[2], C]) + "\n")
    path = tmp_path / "ksef-auth.toml"
    path.write_text(
        '[defaults]\nenvironment = "test"\nsigner = "plain"\nstroe = "memory"\n\n'
        '[strategy.firm]\ncontexts = { file = "clients.txt" }\n'
        'credential = { use = "env", vr = "KSEF_TOKEN_{nip}" }\n'
    )
    with pytest.raises(ConfigErrors) as info:
        load(path, manager=manager)
    where = [f"{e.source}:{e.key}" for e in info.value.errors]
    clients = tmp_path / "clients.txt"
    assert sorted(where) == sorted(
        [
            f"{path}:defaults.stroe",
            f"{path}:strategy.firm.credential.vr",
            f"{clients}:2",
            f"{clients}:4",
            f"{clients}:5",
        ]
    )
    message = str(info.value)
    assert message.startswith(f"{path}: 5 problems:\n")
    assert all(w in message for w in where)


def test_bad_nips_are_reported_with_typos_that_do_not_break_the_strategy(
    tmp_path: Path, manager: PluginManager
) -> None:
    """Unknown keys are dropped and the strategy still builds; when the load fails for them, the
    bad NIPs of its list are in the same report (not lost until the typos are fixed)."""
    path = tmp_path / "ksef-auth.toml"
    path.write_text(
        '[defaults]\nenvironment = "test"\nsigner = "plain"\nenvironmnet = "test"\n\n'
        f'[strategy.firm]\ncontexts = ["{A}", "{BAD[0]}", "{BAD[1]}", {{ nip = "{BAD[2]}" }}]\n'
        'credential = { use = "env", var = "KSEF_TOKEN_{nip}" }\nsotre = "memory"\n'
    )
    with pytest.raises(ConfigErrors) as info:
        load(path, manager=manager, check=False)
    assert sorted(e.key for e in info.value.errors) == sorted(
        [
            "defaults.environmnet",
            "strategy.firm.sotre",
            "strategy.firm.contexts[1]",
            "strategy.firm.contexts[2]",
            "strategy.firm.contexts[3].nip",
        ]
    )
    assert str(info.value).startswith(f"{path}: 5 problems:\n")


def test_a_list_with_nothing_usable_says_why_each_entry_is_not(
    tmp_path: Path, manager: PluginManager
) -> None:
    """'No usable context' comes with the reason of every entry."""
    path = strategy_file(tmp_path, f'["{BAD[0]}", "{BAD[1]}"]')
    with pytest.raises(ConfigErrors) as info:
        load(path, manager=manager, check=False)
    assert [e.key for e in info.value.errors] == [
        "strategy.firm.contexts",
        "strategy.firm.contexts[0]",
        "strategy.firm.contexts[1]",
    ]
    assert "no usable context" in info.value.errors[0].reason


def test_many_problems_show_a_count_and_the_first_twenty(
    tmp_path: Path, manager: PluginManager
) -> None:
    (tmp_path / "clients.txt").write_text("\n".join(["5261040827"] * 30 + [A]) + "\n")
    path = strategy_file(tmp_path, '{ file = "clients.txt" }', "strict = yes\n")
    with pytest.raises(ConfigError):  # "yes" is a boolean word, but not TOML's: a typo here
        load(path, manager=manager, check=False)
    path = strategy_file(tmp_path, '{ file = "clients.txt" }', 'strict = "yes"\n')
    with pytest.raises(ConfigErrors) as info:
        load(path, manager=manager, check=False)
    assert len(info.value.errors) == 30
    text = str(info.value)
    assert "30 problems, the first 20 shown:" in text
    assert text.count("clients.txt:") == 20 and "... and 10 more" in text


def test_a_typo_in_defaults_is_reported_at_defaults(tmp_path: Path, manager: PluginManager) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[defaults]\nenvironment = "test"\nsigner = "plian"\nrefresh = { poll_deadlin = 3 }\n'
        f'[strategy.a]\ncontext = "{A}"\ncredential = "env"\n'
        f'[strategy.b]\ncontext = "{B}"\ncredential = "env"\n'
    )
    with pytest.raises(ConfigErrors) as info:
        load(path, manager=manager, check=False)
    assert [e.key for e in info.value.errors] == [
        "defaults.signer",
        "defaults.refresh.poll_deadlin",
    ]


def test_check_runs_for_every_context(
    tmp_path: Path, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"KSEF_TOKEN_{A}", "a")
    monkeypatch.setenv(f"KSEF_TOKEN_{C}", "c")
    config = load(strategy_file(tmp_path, f'["{A}", "{B}", "{C}"]'), manager=manager)
    assert nips(config) == [A, C]
    [problem] = config.context_problems()
    assert problem.key == "strategy.firm.contexts[1]"
    assert f"KSEF_TOKEN_{B} is not set" in problem.reason
    with pytest.raises(ConfigError) as info:
        config.strategy("firm", context=B)
    assert info.value is problem


def test_bad_entries_are_located(tmp_path: Path, manager: PluginManager) -> None:
    path = strategy_file(
        tmp_path,
        f'["{A}", 5261040828, {{ nip = "{B}", signr = "x" }}, {{ nip = "{C}",'
        ' credential = { use = "nope" } }, { description = "no nip" }, "' + A + '"]',
    )
    config = load(path, manager=manager, check=False)
    assert nips(config) == [A]
    problems = {p.key: p.reason for p in config.context_problems()}
    assert problems == {
        "strategy.firm.contexts[1]": problems["strategy.firm.contexts[1]"],
        "strategy.firm.contexts[2].signr": (
            "unknown key; an entry takes: nip, context, credential, signer, refresh, description"
        ),
        "strategy.firm.contexts[3].credential": problems["strategy.firm.contexts[3].credential"],
        "strategy.firm.contexts[4]": 'give the context as nip = "..." (or context = ...)',
        "strategy.firm.contexts[5]": (
            f"Nip:{A} is listed already at {path}:strategy.firm.contexts[0]; this one is ignored"
        ),
    }
    assert "got an integer 5261040828" in problems["strategy.firm.contexts[1]"]
    assert "no credential source named 'nope'" in problems["strategy.firm.contexts[3].credential"]


def test_contexts_file_problems_are_fatal(tmp_path: Path, manager: PluginManager) -> None:
    for spec, key, message in [
        ('{ file = "absent.txt" }', None, "contexts file not found"),
        ('{ file = "c.txt", format = "xlsx" }', "strategy.firm.contexts.format", "unknown format"),
        ('{ file = "c.txt", sheet = 1 }', "strategy.firm.contexts.sheet", "unknown key"),
        ('"5261040828"', "strategy.firm.contexts", "write a list of contexts"),
        ("[]", "strategy.firm.contexts", "the list is empty"),
        ('["5261040827"]', "strategy.firm.contexts", "no usable context"),
    ]:
        with pytest.raises(ConfigError) as info:
            load(strategy_file(tmp_path, spec), manager=manager, check=False)
        assert message in str(info.value), spec
        if key is not None:
            assert key in [e.key for e in getattr(info.value, "errors", [info.value])], spec


def test_one_strategy_object_per_context_across_calls(
    tmp_path: Path, manager: PluginManager
) -> None:
    config = load(strategy_file(tmp_path, f'["{A}", "{B}"]'), manager=manager, check=False)
    first = config.strategy("firm", context=D)
    assert config.strategy("firm", context=D) is first
    assert config.strategy("firm", context=ContextIdentifier.nip(D)) is first
    assert config.strategy("firm").with_context(D) is first
    assert first.with_context(A) is config.strategy("firm")
    request = first.credential_request
    assert request == CredentialRequest(
        environment=first.environment, context=first.context, method="plain", strategy=first.name
    )


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from ksef_auth.cli import main; main()", "config", "check"]
            + list(args),
            capture_output=True,
            text=True,
            env={**os.environ, "KSEF_AUTH_PLUGINS": "env,memory,token", f"T_{A}": "x"},
            check=False,
        )

    (tmp_path / "clients.txt").write_text("\n".join([A, BAD[0], B, BAD[1]]) + "\n")
    path = tmp_path / "k.toml"
    path.write_text(
        '[strategy.firm]\nenvironment = "test"\ncontexts = { file = "clients.txt" }\n'
        'credential = { use = "env", var = "T_{nip}" }\nsigner = "ksef-token"\n'
    )
    out = check(str(path), "--json")
    report = json.loads(out.stdout)
    if "no signer named 'ksef-token'" in out.stdout:  # the signer plugin is not installed here
        assert out.returncode == 3 and report["ok"] is False
        return
    assert out.returncode == 1, out.stderr  # loads, but some contexts cannot be used
    assert report["count"] == 3  # two bad NIPs, and B's variable is not set
    assert [p["key"] for p in report["problems"]] == ["2", "3", "4"]
    assert f"T_{B} is not set" in report["problems"][1]["message"]
    out = check(str(path))
    assert out.returncode == 1
    assert "0 usable" not in out.stdout and f"{tmp_path / 'clients.txt'}:2: NIP" in out.stderr
    path.write_text(path.read_text().replace("signer =", "signr ="))
    out = check(str(path), "--json")
    assert out.returncode == 3
    assert {p["key"] for p in json.loads(out.stdout)["problems"]} >= {
        "strategy.firm.signr",
        "strategy.firm.signer",
        "2",
        "4",
    }
