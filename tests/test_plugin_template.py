"""``ksef-auth plugin new``: each kind's package builds into a wheel, installs, passes the
conformance kit and logs in against the simulator in its own tests, with nothing in ksef-auth
changed; what the author starts from is short and lint-clean."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ksef_auth.cli.plugin_template import plugin, render
from ksef_auth.testing.secret_guard import inspect

KINDS = ("source", "store", "signer")


def ksef_auth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    inspect(done.stdout + done.stderr, f"ksef-auth {' '.join(args)}")
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the folder of the generated packages, the site they are installed into as wheels)."""
    root = tmp_path_factory.mktemp("plugins")
    for kind in KINDS:
        made = ksef_auth("plugin", "new", f"acme-{kind}", "--kind", kind, "--directory", str(root))
        assert made.returncode == 0, made.stderr
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    for kind in KINDS:
        wheel = subprocess.run(
            [*pip, "wheel", "--no-deps", *isolation, "-w", str(root / "dist"),
             str(root / f"ksef-auth-acme-{kind}")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert wheel.returncode == 0, wheel.stderr
    site = root / "site"
    wheels = sorted(str(w) for w in (root / "dist").glob("ksef_auth_acme_*.whl"))
    assert len(wheels) == 3, wheels
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), *wheels],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    return root, site


def with_site(site: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("KSEF_AUTH_PLUGINS", None)
    return env


@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_plugin_passes_its_own_tests(built: tuple[Path, Path], kind: str) -> None:
    """Its tests run the kit and log in against the simulator, the plugin installed from its
    wheel (found through its entry point), with the secret guard on."""
    root, site = built
    project = root / f"ksef-auth-acme-{kind}"
    shutil.rmtree(project / "src")  # the tests must use the installed wheel, not the sources
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=with_site(site),
        capture_output=True,
        text=True,
        timeout=900,
    )
    inspect(done.stdout + done.stderr, f"the tests of ksef-auth-acme-{kind}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    assert "secret guard: " in done.stdout


def test_the_generated_plugins_are_listed(built: tuple[Path, Path]) -> None:
    listing = ksef_auth("plugins", env=with_site(built[1]))
    assert listing.returncode == 0, listing.stderr
    for kind in KINDS:
        assert f"acme-{kind}" in listing.stdout


def test_a_source_is_under_100_lines_of_author_code() -> None:
    """What the tutorial's author works from: the source and its tests, blank lines aside."""
    files = render("acme-vault", "source")
    code = [f for f in files if f.startswith(("src/", "tests/"))]
    lines = sum(1 for f in code for line in files[f].splitlines() if line.strip())
    assert lines < 100, lines


@pytest.mark.parametrize("name", ["v", "acme-vault-keeper-of-tok"])
def test_the_generated_code_is_lint_clean(tmp_path: Path, name: str) -> None:
    """ruff (lint and format) passes on what is generated, whatever the name's length."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed here (the lint session has it)")
    for kind in KINDS:
        runner = CliRunner()
        made = runner.invoke(plugin, ["new", name, "--kind", kind, "--directory", str(tmp_path)])
        assert made.exit_code == 0, made.output
        project = tmp_path / f"ksef-auth-{name}"
        for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
            done = subprocess.run([ruff, *args], cwd=project, capture_output=True, text=True)
            assert done.returncode == 0, (kind, done.stdout + done.stderr)
        shutil.rmtree(project)


def test_bad_names_and_existing_folders_are_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    for bad in ("acme_vault", "1acme", "acme--vault", "a" * 31, "acme vault"):
        done = runner.invoke(plugin, ["new", bad, "--kind", "source", "--directory", str(tmp_path)])
        assert done.exit_code == 2 and "lowercase letters and digits" in done.output, bad
    assert runner.invoke(plugin, ["new", "acme", "--kind", "vault"]).exit_code == 2
    first = runner.invoke(
        plugin, ["new", "ksef-auth-acme", "--kind", "store", "--directory", str(tmp_path)]
    )
    assert first.exit_code == 0 and (tmp_path / "ksef-auth-acme" / "pyproject.toml").is_file()
    again = runner.invoke(plugin, ["new", "acme", "--kind", "store", "--directory", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
