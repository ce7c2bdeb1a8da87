"""Every simulator example in the plugins' READMEs, and on the docs pages that are all simulator
examples, works as printed.

A docs page (or the README) with any ```console block that does not start the simulator is run
whole, every block in order, by ``tests/test_docs_commands.py``: its blocks build on each other (a
profile made in one is used in the next), so they are not run here on their own.

A page's ```console blocks that run ``ksef-auth simulator`` are one shell session, run here in
bash in a sandbox (its own HOME, config and state folders): each ``$`` command must exit 0 and
print the lines shown under it (a subset of what it prints, in any order; ``...`` in a line
stands for anything, such as a token). Ports the page uses
(``--port 8800``, ``127.0.0.1:8800``) are replaced by free ones, and a simulator started in the
background (``... &``) is waited for before the next command, as a person would.
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
from test_docs_commands import PAGES as RUN_WHOLE

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.DOTALL | re.MULTILINE)
PORT = re.compile(r"(--port |127\.0\.0\.1:)(\d{4,5})\b")
EXPORT = re.compile(r"^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def simulator_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [b for b in CONSOLE.findall(text) if "ksef-auth simulator" in b]


def _run_whole_elsewhere(page: Path) -> bool:
    """True for a page ``tests/test_docs_commands.py`` runs in full (its rule, not a copy)."""
    return page in RUN_WHOLE


def pages() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found += sorted(ROOT.glob("plugins/*/README.md"))
    return [
        p
        for p in found
        if "example-plugin" not in p.parts and simulator_blocks(p) and not _run_whole_elsewhere(p)
    ]


def steps(blocks: list[str]) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) in order."""
    result: list[tuple[str, list[str]]] = []
    for block in blocks:
        continuing = False  # a command continued over lines ending in a backslash
        for line in block.splitlines():
            if continuing:
                result[-1] = (result[-1][0][:-1].rstrip() + " " + line.strip(), [])
            elif line.startswith("$ "):
                result.append((line[2:].strip(), []))
            elif result and line.strip():
                result[-1][1].append(line.strip())
            continuing = bool(result) and not result[-1][1] and result[-1][0].endswith("\\")
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script(commands: list[str], out: Path) -> str:
    lines = ["set -u", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for n, command in enumerate(commands):
        log = out / f"{n}.out"
        fail = f'{{ echo "step {n} failed: exit $rc" >&2; cat {log} >&2; exit 1; }}'
        if command.endswith("&"):
            lines.append(f"{command[:-1].strip()} > {log} 2>&1 &")
            port = PORT.search(command)
            if port:
                lines.append(
                    f"for i in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/{port.group(2)})"
                    f" 2>/dev/null && break; sleep 0.1; done"
                )
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


PAGES = pages()


def test_the_docs_have_simulator_examples() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert "plugins/simulator/README.md" in names
    assert _run_whole_elsewhere(ROOT / "docs/guide/simulator.md")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_simulator_examples_run_as_printed(page: Path, tmp_path: Path) -> None:
    pytest.importorskip("ksef_auth_simulator")
    pytest.importorskip("ksef_auth_token")
    blocks = simulator_blocks(page)
    ports = {p: str(_free_port()) for p in sorted({m[1] for b in blocks for m in PORT.findall(b)})}

    def local(text: str) -> str:
        return PORT.sub(lambda m: m.group(1) + ports.get(m.group(2), m.group(2)), text)

    todo = [(local(command), [local(e) for e in expected]) for command, expected in steps(blocks)]
    logs = tmp_path / "logs"
    logs.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = sandbox_env(tmp_path / "home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for name in ("KSEF_SIMULATOR_URL", "KSEF_AUTH_PLUGINS"):
        env.pop(name, None)
    proc = subprocess.run(
        ["bash", "-c", script([c for c, _ in todo], logs)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{page.name}: {proc.stderr[-3000:]}"
    for n, (command, expected) in enumerate(todo):
        printed = {line.strip() for line in (logs / f"{n}.out").read_text().splitlines()}
        missing = [line for line in expected if not any(_shows(line, p) for p in printed)]
        assert not missing, (
            f"{page.name}: `{command}` did not print {missing}; it printed {printed}"
        )
        assert "Traceback" not in (logs / f"{n}.out").read_text()


def test_the_fixture_page_example_passes(tmp_path: Path) -> None:
    """docs/examples/test_with_the_simulator.py, shown on "The simulator as a test fixture",
    passes with pytest as a plugin author would run it (the fixtures come from the entry point)."""
    pytest.importorskip("ksef_auth_simulator")
    pytest.importorskip("ksef_auth_token")
    pytest.importorskip("ksef_auth_env")
    example = ROOT / "docs" / "examples" / "test_with_the_simulator.py"
    target = tmp_path / example.name
    target.write_text(example.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
        cwd=tmp_path,
        env=sandbox_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout
