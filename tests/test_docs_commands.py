"""Every command in the README and the docs runs as printed, against the simulator, and prints
what the page shows; every code block fits the page.

A page's ``console`` blocks are one shell session, run in bash in a sandbox (its own HOME and
config and state folders) where the environment name ``test`` is a simulator the test starts
(``KSEF_AUTH_TEST_URL``; a page may start its own and point ``test`` at it, as the CLI page
does), and ``KSEF2_TOKEN`` a token that simulator issued for 5261040828, the variable the
examples name. Each ``$`` command (continued over lines ending in ``\\``) must exit 0 and print the
lines shown under it: a subset of what it prints, in any order, ``...`` in a line standing for
anything (a token, a time). Ports a page uses (``--port 8810``, ``127.0.0.1:8810``) are replaced
by free ones. What is not run, and why:

* a command that installs (``python3 -m venv``, ``pip install``, with what it chains with
  ``&&``): the test environment is that installation (``.venv/bin/ksef-auth`` is it);
* ``python3 -m nox``: that is the CI itself;
* a block marked ``<!-- not run: reason -->`` (rare, with its reason);
* pages whose every block starts the simulator: ``tests/test_simulator_docs.py`` runs those.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import sandbox_env

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
PORT = re.compile(r"(--port |127\.0\.0\.1:)(\d{4,5})\b")
EXPORT = re.compile(r"^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
INSTALL = re.compile(r"^(python3 -m venv\b|(\S*/)?pip install\b|python3 -m pip install\b)")
MAX_WIDTH = 88
"""Columns a code block line may use: wider lines are cut off on the docs site."""


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in pages if "example-plugin" not in p.parts]


def console_blocks(page: Path) -> list[str]:
    """The page's ``console`` blocks, but those marked ``<!-- not run: ... -->``."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "console":
            continue
        before = text[: match.start()].rstrip().splitlines()
        if before and NOT_RUN.search(before[-1]):
            continue
        blocks.append(match.group(2))
    return blocks


def steps(blocks: list[str]) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) in order; ``\\`` continues a command."""
    result: list[tuple[str, list[str]]] = []
    continuing = False
    for block in blocks:
        for line in block.splitlines():
            if continuing:
                result[-1] = (result[-1][0][:-1].rstrip() + " " + line.strip(), [])
                continuing = result[-1][0].endswith("\\")
            elif line.startswith("$ "):
                result.append((line[2:].strip(), []))
                continuing = result[-1][0].endswith("\\")
            elif result and line.strip():
                result[-1][1].append(line.strip())
    return result


def runnable(command: str) -> str | None:
    """``command``, or None when it installs something (or is the CI itself)."""
    parts = [p.strip() for p in command.split("&&")]
    if any(INSTALL.match(p) or p.startswith("python3 -m nox") for p in parts):
        return None
    return command


def _covered_elsewhere(blocks: list[str]) -> bool:
    return bool(blocks) and all("ksef-auth simulator" in b for b in blocks)


PAGES = [p for p in doc_pages() if console_blocks(p) and not _covered_elsewhere(console_blocks(p))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: str) -> str:
    return (
        f"for i in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break;"
        " sleep 0.1; done"
    )


def script(commands: list[str], out: Path, simulator_port: str) -> str:
    lines = [
        "set -u",
        "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT",
        f"ksef-auth simulator --port {simulator_port} --no-rate-limits > {out}/sim.out 2>&1 &",
        _wait_for(simulator_port),
        "export KSEF2_TOKEN=$(ksef-auth simulator token issue 5261040828"
        f" --url http://127.0.0.1:{simulator_port}/v2)",
    ]
    for n, command in enumerate(commands):
        log = out / f"{n}.out"
        fail = f'{{ echo "step {n} failed: exit $rc" >&2; cat {log} >&2; exit 1; }}'
        if command.endswith("&"):
            lines.append(f"{command[:-1].strip()} > {log} 2>&1 &")
            port = PORT.search(command)
            if port:
                lines.append(_wait_for(port.group(2)))
            continue
        export = EXPORT.match(command)
        if export:
            name, value = export.groups()
            lines.append(f"{{ {name}={value}; }} > {log} 2>&1; rc=$?; export {name}")
        else:
            lines.append(f"{{ {command}\n}} > {log} 2>&1; rc=$?")
        lines.append(f"[ $rc -eq 0 ] || {fail}")
    return "\n".join(lines) + "\n"


def _shows(expected: str, printed: str) -> bool:
    if "..." not in expected:
        return expected == printed
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, printed) is not None


def test_the_cli_pages_are_covered() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/quickstart.md", "docs/guide/cli.md"} <= names


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_commands_run_as_printed(page: Path, tmp_path: Path) -> None:
    for plugin in ("ksef_auth_simulator", "ksef_auth_token", "ksef_auth_testcert"):
        pytest.importorskip(plugin)
    blocks = console_blocks(page)
    ports = {p: str(_free_port()) for p in sorted({m[1] for b in blocks for m in PORT.findall(b)})}

    def local(text: str) -> str:
        return PORT.sub(lambda m: m.group(1) + ports.get(m.group(2), m.group(2)), text)

    todo = []
    for command, expected in steps(blocks):
        kept = runnable(command)
        if kept is not None:
            todo.append((local(kept), [local(e) for e in expected]))
    logs, work = tmp_path / "logs", tmp_path / "work"
    logs.mkdir()
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.prefix))  # `.venv/bin/ksef-auth`: this installation
    simulator_port = str(_free_port())
    env = sandbox_env(tmp_path / "home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["KSEF_AUTH_TEST_URL"] = f"http://127.0.0.1:{simulator_port}/v2"
    for name in ("KSEF_SIMULATOR_URL", "KSEF_AUTH_PLUGINS", "KSEF2_CONFIG"):
        env.pop(name, None)
    proc = subprocess.run(
        ["bash", "-c", script([c for c, _ in todo], logs, simulator_port)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{page.name}: {proc.stderr[-3000:]}"
    for n, (command, expected) in enumerate(todo):
        text = (logs / f"{n}.out").read_text()
        printed = {line.strip() for line in text.splitlines()}
        missing = [line for line in expected if not any(_shows(line, p) for p in printed)]
        assert not missing, f"{page.name}: `{command}` did not print {missing}; it printed:\n{text}"
        assert "Traceback" not in text


CLI_PAGES = ("README.md", "docs/index.md", "docs/quickstart.md", "docs/guide/cli.md",
             "docs/guide/profiles.md")  # fmt: skip


def fenced(page: Path) -> list[tuple[str, int, str]]:
    """(language, line number, line) of every line inside a fenced block of ``page``."""
    found: list[tuple[str, int, str]] = []
    language: str | None = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            language = None if language is not None else (stripped[3:].split() or [""])[0]
        elif language is not None:
            found.append((language, number, line))
    return found


def test_commands_and_cli_pages_fit_the_page() -> None:
    """Console blocks of the pages run here, and every block of the CLI pages, stay within
    the page's width (the site also wraps any longer line instead of cutting it off: below)."""
    wide = []
    for page in doc_pages():
        name = page.relative_to(ROOT).as_posix()
        for language, number, line in fenced(page):
            checked = name in CLI_PAGES or (language == "console" and page in PAGES)
            if checked and len(line) > MAX_WIDTH:
                wide.append(f"{name}:{number}: {len(line)} columns")
    assert not wide, "code lines wider than the page:\n" + "\n".join(wide)


def test_the_site_wraps_long_code_lines() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "extra_css:\n  - stylesheets/extra.css" in config
    css = (ROOT / "docs" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert "white-space: pre-wrap" in css and ".md-typeset pre > code" in css


def test_generated_reference_code_fits_the_page() -> None:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(ROOT / "docs"))
    wide = []
    for name, make in gen_reference.PAGES.items():
        for match in FENCE.finditer(make()):
            wide += [f"{name}: {ln}" for ln in match.group(2).splitlines() if len(ln) > MAX_WIDTH]
    assert not wide, "generated code lines wider than the page:\n" + "\n".join(wide)


def test_not_run_marks_are_rare_and_say_why() -> None:
    marks = [m for p in doc_pages() for m in NOT_RUN.findall(p.read_text(encoding="utf-8"))]
    assert len(marks) <= 2, marks
    assert all(len(reason) > 20 for reason in marks)
