"""Measuring helpers shared by the benchmarks: per-call costs, interleaved medians, start-up
times of fresh interpreters, and a simulator in a process of its own."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import timeit
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any


def per_call(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    """Seconds per call: the best of ``repeat`` runs of ``number`` calls (noise only adds)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def interleaved(
    cases: dict[str, Callable[[], Any]], *, blocks: int, per_block: int, best: bool = False
) -> dict[str, float]:
    """Seconds per call of each case, run in alternating blocks so drift hits all: the median
    block, or with ``best`` the fastest one (for in-process CPU work, where noise only adds)."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(blocks):
        for name, fn in cases.items():
            started = time.perf_counter()
            for _ in range(per_block):
                fn()
            samples[name].append((time.perf_counter() - started) / per_block)
    pick = min if best else statistics.median
    return {name: pick(values) for name, values in samples.items()}


def startup(
    commands: dict[str, Sequence[str]], *, runs: int, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Median wall seconds of each command in a fresh process, runs interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr.strip()[-500:]}")
            samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


class SimulatorProcess:
    """``python -m ksef_auth_simulator`` on a free loopback port, stopped by pid."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ksef_auth_simulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http"):
            self.process.kill()
            raise SystemExit(f"the simulator did not start (it printed {line!r})")
        self.base_url = line
        self.root_url = line.rsplit("/v2", 1)[0]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root_url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def issue_token(self, nip: str) -> str:
        return str(self.admin("/_sim/tokens", {"nip": nip})["token"])

    def counters(self) -> dict[str, Any]:
        return dict(self.admin("/_sim/counters"))

    def reset(self) -> None:
        self.admin("/_sim/reset", {})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def endpoint_calls(counters: dict[str, Any], fragment: str) -> int:
    """Calls of every simulator endpoint whose name contains ``fragment``."""
    return sum(
        int(counts.get("calls", 0))
        for name, counts in counters.get("endpoints", {}).items()
        if fragment in name
    )


def logins(counters: dict[str, Any]) -> int:
    return int(counters.get("events", {}).get("logins_completed", 0))
