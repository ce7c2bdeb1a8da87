"""Install every peer of peers.toml into a virtualenv of its own and record what happened.

    python peers/install.py [--into build/peers] [--python PYTHON]

Each peer gets ``<into>/<name>/`` (made with uv when it is on PATH, else ``python -m venv`` and
pip), its pinned requirement, and one line of output. ``<into>/installed.json`` maps each name
to ``{"python": ..., "version": ...}`` or ``{"skip": "why"}``; the tests in peers/ read it
(``KSEF_PEERS_INSTALLED`` names another file). A virtualenv that already holds the pinned
version is kept. A peer that cannot be installed (no network, a Python it does not support, a
wheel that does not build) is recorded as skipped, never a failure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).parent
CATALOG = HERE / "peers.toml"


def run(command: list[str], timeout: float = 600) -> tuple[bool, str]:
    """(succeeded, its stdout if it did, else what it wrote, on one line)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode == 0:
        return True, done.stdout.strip()
    said = " ".join((done.stderr or done.stdout).split())
    return False, said[:300] or f"exit status {done.returncode}"


def installed_version(python: Path, distribution: str) -> str | None:
    code = f"from importlib.metadata import version; print(version({distribution!r}))"
    ok, out = run([str(python), "-c", code], timeout=60)
    return out if ok and out else None


def install(name: str, requirement: str, into: Path, python: str) -> dict[str, str]:
    distribution = requirement.split("[")[0].split("==")[0]
    pinned = requirement.split("==")[1] if "==" in requirement else None
    venv = into / name
    peer_python = venv / "bin" / "python"
    if peer_python.exists() and installed_version(peer_python, distribution) == pinned:
        return {"python": str(peer_python), "version": pinned or ""}
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv")
    if uv:
        steps = [
            [uv, "venv", "-q", "-p", python, str(venv)],
            [uv, "pip", "install", "-q", "--python", str(peer_python), requirement],
        ]
    else:
        steps = [
            [python, "-m", "venv", str(venv)],
            [str(peer_python), "-m", "pip", "install", "-q", requirement],
        ]
    for step in steps:
        ok, last = run(step)
        if not ok:
            shutil.rmtree(venv, ignore_errors=True)
            return {"skip": f"{requirement} could not be installed: {last}"}
    version = installed_version(peer_python, distribution)
    if version is None:
        return {"skip": f"{requirement} installed but {distribution} does not import"}
    return {"python": str(peer_python), "version": version}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=HERE.parent / "build" / "peers")
    parser.add_argument("--python", default=sys.executable, help="the peers' interpreter")
    parser.add_argument("names", nargs="*", help="only these peers (default: all)")
    args = parser.parse_args()
    catalog = tomllib.loads(CATALOG.read_text())
    args.into.mkdir(parents=True, exist_ok=True)
    record = args.into / "installed.json"
    results = json.loads(record.read_text()) if record.is_file() else {}
    for name, peer in catalog.items():
        if args.names and name not in args.names:
            continue
        results[name] = install(name, peer["requirement"], args.into, args.python)
        outcome = results[name]
        line = outcome.get("skip") or f"{outcome['version']} in {Path(outcome['python']).parent}"
        print(f"peer {name}: {line}")  # noqa: T201
    record.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
