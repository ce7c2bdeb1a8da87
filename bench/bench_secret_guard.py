"""What the secret guard costs a test run: the same tests with it and without it, same run.

    python bench/bench_secret_guard.py [--quick] [--json PATH]

Both runs use the repository's pytest settings (written to a temporary ini, the guard left out
of one), in fresh interpreters, alternating, best of several. The other rows are the guard's
search alone, a test's captured text checked against the secrets a long suite has made, against
the plain way (``secret in text`` for every secret).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "core/tests/test_session.py",
    "core/tests/test_flow.py",
    "core/tests/test_config.py",
    "plugins/memory/tests",
    "plugins/env/tests",
]


def ini(directory: Path) -> Path:
    """The repository's pytest settings without the guard."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = settings["ini_options"]
    lines = ["[pytest]"]
    for key, value in options.items():
        if key == "addopts":
            value = value.replace("-p ksef_auth.testing.secret_guard", "")
        if isinstance(value, list):
            lines.append(f"{key} =\n" + "\n".join(f"    {v}" for v in value))
        else:
            lines.append(f"{key} = {value}")
    path = directory / "pytest.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(config: Path, guard: bool) -> float:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(config)]
    args += ["--rootdir", str(ROOT), *(["-p", "ksef_auth.testing.secret_guard"] if guard else [])]
    started = time.perf_counter()
    done = subprocess.run([*args, *TESTS], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-2000:])
    return elapsed


def search(known: int, text_kb: int, rounds: int) -> tuple[float, float]:
    """(seconds for the guard to check ``text_kb`` KB against ``known`` secrets, seconds for the
    plain way, ``secret in text`` for each secret: the baseline)."""
    from ksef_auth.testing.secret_guard import SecretGuard

    guard = SecretGuard()
    secrets = [f"access-{uuid.uuid4().hex}" for _ in range(known)]
    for secret in secrets:
        guard.add(secret)
    text = ("DEBUG ksef_auth.session renewing session for Nip:5261040828 " * 20 + "\n") * (
        text_kb * 1024 // 1200
    )
    best, baseline = float("inf"), float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        assert not guard.find(text)
        best = min(best, time.perf_counter() - started)
        started = time.perf_counter()
        assert not any(secret in text for secret in secrets)
        baseline = min(baseline, time.perf_counter() - started)
    return best, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round instead of three")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    options = parser.parse_args()
    rounds = 1 if options.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        config = ini(Path(folder))
        on, off = float("inf"), float("inf")
        for _ in range(rounds):  # alternating, so load from elsewhere falls on both
            off = min(off, run(config, guard=False))
            on = min(on, run(config, guard=True))
    rows = [{"case": "the tests, guard on", "ours": on, "baseline": off, "ratio": on / off}]
    for known, kb in ((10_000, 10), (100_000, 100)):
        took, base = search(known, kb, 3)
        rows.append(
            {
                "case": f"checking {kb} KB of output against {known:,} secrets",
                "ours": took,
                "baseline": base,
                "ratio": took / base,
            }
        )
    print(f"{'case':<52} {'ours':>10} {'baseline':>10} {'ratio':>8}")
    for row in rows:
        print(
            f"{row['case']:<52} {row['ours'] * 1000:>8.1f}ms {row['baseline'] * 1000:>8.1f}ms"
            f" {row['ratio']:>7.2f}x"
        )
    if options.json:
        options.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
