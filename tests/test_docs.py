"""The documentation works: every ```python block runs, the site builds in strict mode, the
example plugin builds into a wheel and composes a strategy, and the references are complete.

A page's python blocks (the README's too) run in order in one namespace, in an empty folder where
each of its ```toml blocks that starts with ``# NAME.toml`` is written as NAME.toml first, with
``test`` pointing at a simulator (``KSEF_AUTH_TEST_URL``), ``KSEF2_NIP`` 5261040828 and
``KSEF2_TOKEN`` a token the simulator issued for it, and ``seal.p12`` a test seal for that NIP
whose password is ``KSEF2_P12_PASSWORD``: the files and variables the examples name."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = DOCS / "example-plugin"
SKIP_MARK = "<!-- skip -->"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
TOML_FILE = re.compile(r"^```toml\n# ([\w.-]+\.toml)\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLE_NIP = "5261040828"


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block not preceded by ``<!-- skip -->``."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].strip() == SKIP_MARK:
            continue
        blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


PAGES = sorted(
    p
    for p in [*DOCS.rglob("*.md"), ROOT / "README.md"]
    if "example-plugin" not in p.parts and python_blocks(p)
)


def _example_files(page: Path, folder: Path, sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files and variables a page's examples name (see the module's docstring)."""
    for name, text in TOML_FILE.findall(page.read_text(encoding="utf-8")):
        (folder / name).write_text(f"# {name}\n{text}", encoding="utf-8")
    monkeypatch.setenv("KSEF_AUTH_TEST_URL", sim.base_url)
    monkeypatch.setenv("KSEF2_NIP", EXAMPLE_NIP)
    monkeypatch.setenv("KSEF2_TOKEN", sim.sim.issue_ksef_token(EXAMPLE_NIP))
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        from ksef_auth_testcert.builder import make_test_certificate
    except ImportError:
        return
    password = "example-p12-password"
    monkeypatch.setenv("KSEF2_P12_PASSWORD", password)
    certificate, key = make_test_certificate("seal", nip=EXAMPLE_NIP, key_type="ec")
    encryption = serialization.BestAvailableEncryption(password.encode())
    seal = folder / "seal.p12"
    seal.write_bytes(
        pkcs12.serialize_key_and_certificates(b"seal", key, certificate, None, encryption)
    )
    seal.chmod(0o600)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_blocks_run(
    page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ksef_simulator: Any,
) -> None:
    blocks = python_blocks(page)
    pytest.importorskip("ksef_auth_simulator")
    monkeypatch.chdir(tmp_path)
    for name in ("KSEF2_PROFILE", "KSEF2_TOKEN", "KSEF_AUTH_PLUGINS", "KSEF2_NIP", "KSEF2_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KSEF2_CONFIG", str(tmp_path / "profiles.toml"))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    _example_files(page, tmp_path, ksef_simulator, monkeypatch)
    namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}"}
    try:
        for line, code in blocks:
            try:
                exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{page.relative_to(ROOT)}, block at line {line} failed: {exc!r}"
                ) from exc
    finally:
        for value in namespace.values():  # stop any simulator a page left running
            if type(value).__name__ == "RunningSimulator":
                value.stop()
        from ksef_auth.manager import reset_default_manager

        reset_default_manager()
    output = capsys.readouterr().out
    assert "Traceback" not in output


def test_skip_marks_are_rare() -> None:
    total = sum(len(BLOCK.findall(p.read_text())) for p in PAGES)
    skipped = sum(p.read_text().count(SKIP_MARK) for p in PAGES)
    assert skipped <= total // 3, f"{skipped} of {total} python blocks are skipped"


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs-material is not installed (nox -s docs has it)")
    pytest.importorskip("material", reason="mkdocs-material is not installed")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (nox -s docs has it)")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "ksef-auth profile create" in cli and "ksef-auth doctor" in cli
    options = (tmp_path / "site" / "reference" / "options" / "index.html").read_text()
    assert "test-certificate" in options or "env" in options
    assert_api_reference_is_complete(tmp_path / "site" / "reference" / "api")


API_PAGES = {
    "ksef_auth": "ksef_auth",
    "ksef_auth.components": "components",
    "ksef_auth.errors": "errors",
    "ksef_auth.hookspecs": "hookspecs",
    "ksef_auth.testing": "testing",
    "ksef_auth.pacing": "pacing",
    "ksef_auth.keys": "keys",
    "ksef_auth.files": "conventions",
    "ksef_auth.sealing": "conventions",
    "ksef_auth.store_keys": "conventions",
}


def assert_api_reference_is_complete(api: Path) -> None:
    """Every public name of the modules plugin authors and integrators import has its entry
    (an anchor) in the generated API reference."""
    import importlib

    missing = []
    for module_name, page in API_PAGES.items():
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and callable(v) and getattr(v, "__module__", "") == module_name
        ]
        html = (api / page / "index.html").read_text()
        missing += [f"{module_name}.{n}" for n in names if f'id="{module_name}.{n}"' not in html]
    assert not missing, f"missing from the API reference: {missing}"


def test_error_reference_names_every_error_and_code() -> None:
    import ksef_auth.errors as errors
    from ksef_auth.flow import STATUS_HINTS
    from ksef_auth.transport import HINTS

    text = (DOCS / "reference" / "errors.md").read_text()
    classes = [
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, errors.KsefAuthError)
        and obj.__module__ == errors.__name__
    ]
    missing = [name for name in classes if f"`{name}`" not in text]
    assert not missing, f"undocumented error classes: {missing}"
    codes = sorted(set(STATUS_HINTS) | set(HINTS))
    undocumented = [code for code in codes if f"| {code} |" not in text]
    assert not undocumented, f"undocumented KSeF codes: {undocumented}"


def test_every_hook_is_documented_for_plugin_authors() -> None:
    from ksef_auth import hookspecs

    text = (DOCS / "plugins.md").read_text()
    hooks = [name for name in vars(hookspecs) if name.startswith("ksef_auth_")]
    assert hooks
    missing = [name for name in hooks if f"`{name}" not in text]
    assert not missing, f"hooks missing from docs/plugins.md: {missing}"


@pytest.fixture(scope="module")
def example_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built into a wheel and installed into a target directory."""
    root = tmp_path_factory.mktemp("example-plugin")
    dist, site = root / "dist", root / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]  # offline-friendly when the backend is here
    except ImportError:
        isolation = []
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", *isolation, "-w", str(dist), str(EXAMPLE)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    wheels = list(dist.glob("ksef_auth_command-1.0.0-*.whl"))
    assert len(wheels) == 1
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheels[0])],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    return site


def _with_plugin(site: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("KSEF_AUTH_PLUGINS", None)
    return env


COMPOSE = """
import json, sys
import ksef_auth
strategy = ksef_auth.load({"strategy": {"vault": {
    "environment": sys.argv[1],
    "context": "5261040828",
    "credential": {"use": "command", "command": [sys.executable, sys.argv[2]]},
    "signer": "ksef-token",
}}}).strategy()
token = strategy.token()
print(json.dumps({"credential": type(strategy.credential).__name__,
                  "reused": strategy.token() == token}))
"""


def test_example_plugin_wheel_composes_a_strategy(
    example_wheel: Path, tmp_path: Path, ksef_simulator: Any
) -> None:
    pytest.importorskip("ksef_auth_token")
    printer = tmp_path / "print_token.py"
    printer.write_text(f"print({ksef_simulator.sim.issue_ksef_token('5261040828')!r})\n")
    proc = subprocess.run(
        [sys.executable, "-c", COMPOSE, ksef_simulator.base_url, str(printer)],
        env=_with_plugin(example_wheel),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"credential": "CommandToken", "reused": True}
    assert ksef_simulator.sim.counters()["events"]["logins_completed"] == 1


def test_example_plugin_passes_its_conformance_tests(example_wheel: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        env=_with_plugin(example_wheel),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLE,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "9 passed" in proc.stdout
