"""Eight processes sharing a session store run the same bulk login, each in its own order, and
stay under KSeF's limits together: the store's rate limiter is their common budget (the file
store's on one machine, a real redis-server's across machines). Each context is logged in once
(the store's lock), and the simulator answers no 429."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ksef_auth.nip import example_nips
from ksef_auth.sealing import generate_key

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_file")

PROCESSES = 8
SCALE = 0.25  # 15 requests/s for each authentication step: shared by all eight

SCRIPT = """
import json, sys
import ksef_auth
from ksef_auth.bulk import login_many

path, index, processes, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
config = ksef_auth.load(path, check=False)
contexts = config.contexts("firm")
shift = index * len(contexts) // processes  # the same job, each process starting elsewhere
contexts = contexts[shift:] + contexts[:shift]
report = login_many(config.strategy("firm"), contexts, concurrency=8, rate_limit_scale=scale,
                    share=0.9)
print(json.dumps({**report.summary(), "errors": [str(r.error) for r in report.failed][:5]}))
"""


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "file":
        yield {"use": "file", "path": str(tmp_path / "sessions")}
        return
    testing = pytest.importorskip("ksef_auth_redis.testing")
    if testing.find_redis_server() is None:
        pytest.skip(testing.NO_SERVER_REASON)
    with testing.run_redis_server() as server:
        yield {"use": "redis", "url": server.url, "key": {"env": "KSEF_BULK_STORE_KEY"}}


@pytest.mark.slow
def test_eight_processes_share_the_limits(
    tmp_path: Path, make_ksef_simulator: Any, store: dict[str, Any]
) -> None:
    sim = make_ksef_simulator(rate_limits=True, rate_limit_scale=SCALE, auth_delay=0.0)
    nips = example_nips(120, start=200_000)
    tokens = sim.sim.issue_ksef_tokens(nips)
    (tmp_path / "clients.txt").write_text("\n".join(nips) + "\n")
    options = ", ".join(f"{k} = {_toml(v)}" for k, v in store.items())
    path = tmp_path / "ksef-auth.toml"
    path.write_text(
        f'[strategy.firm]\nenvironment = "{sim.base_url}"\ncontexts = {{ file = "clients.txt" }}\n'
        'credential = { use = "env", var = "KSEF_TOKEN_{nip}" }\nsigner = "ksef-token"\n'
        f"store = {{ {options} }}\n"
    )
    env = {
        **os.environ,
        "KSEF_BULK_STORE_KEY": generate_key(),
        **{f"KSEF_TOKEN_{nip}": token for nip, token in tokens.items()},
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(path), str(i), str(PROCESSES), str(SCALE)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["error"] == 0 for r in reports), [r["errors"] for r in reports]
    assert sum(r["ok"] for r in reports) == len(nips)  # each context logged in by one of them
    counters = sim.sim.counters()
    assert counters["events"]["logins_completed"] == len(nips)
    assert counters["events"].get("rate_limited", 0) == 0  # together under the limits
