"""The redis store (issue 13), each figure against a baseline measured in the same run.

    python bench/bench_redis.py [--quick] [--json PATH] [--cases cached,startup,get,fleet,pause]
    python3 -m nox -s redis_fleet_bench             # the full fleet and pause runs

(a) cached ``token()`` through the redis store vs the memory store, while the token is fresh:
    the near cache answers, no round trip (target: the same, <= 1.05x);
(b) start -> ``token()`` from a session cached in Redis, in a fresh interpreter, vs
    ``python -c "import httpx"``;
(c) the store's ``get()`` of a fresh session vs the floor: redis-py GET, AES-GCM open, JSON
    parse;
(d) a fleet: P processes x T threads on a real 3-master Redis Cluster (a replica each), 2-second
    access tokens, S seconds, one master SIGKILLed a third of the way in: logins counted at the
    simulator vs one per context (target: 1 per context per session lifetime, +1), and caller
    errors (target: 0). Full: 8 x 32, 60 s; quick: 2 x 8, 8 s;
(e) one Redis SIGSTOPped for F seconds mid-run (P x T callers, 2-second tokens): the slowest
    ``token()`` vs one ``socket_timeout`` plus the median login time. Full: 10 s; quick: 2 s.

Servers are real (``ksef_auth_redis.testing``: redis-server, redis-cli, loopback, stopped by
pid); the simulator runs in a process of its own with its published rate limits on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from timing import SimulatorProcess, interleaved, startup

HERE = Path(__file__).resolve().parent
NIPS = ["5261040828", "7010002139", "1234563218", "5265877635"]
STORE_KEY = "KSEF_BENCH_STORE_KEY"

Row = dict[str, Any]


def row(
    case: str,
    ours: float,
    baseline: float,
    unit: str,
    *,
    baseline_name: str,
    target: float | None = None,
    note: str = "",
    scale: float = 1.0,
) -> Row:
    return {
        "case": case,
        "ours": ours * scale,
        "baseline": baseline * scale,
        "baseline_name": baseline_name,
        "unit": unit,
        "ratio": ours / baseline if baseline else None,
        "target": target,
        "note": note,
    }


def config(base_url: str, store: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "strategy": {
            "fleet": {
                "environment": base_url,
                "context": NIPS[0],
                "credential": {"use": "env", "var": "KSEF_BENCH_TOKEN_{nip}"},
                "signer": "ksef-token",
                "store": store,
                "refresh": {"store_backoff": 2.0},
            }
        }
    }


def redis_store(url: str, **options: Any) -> dict[str, Any]:
    return {"use": "redis", "url": url, "key": {"env": STORE_KEY}, **options}


def tokens_env(sim: SimulatorProcess) -> dict[str, str]:
    from ksef_auth.sealing import generate_key

    env = {f"KSEF_BENCH_TOKEN_{nip}": sim.issue_token(nip) for nip in NIPS}
    env[STORE_KEY] = generate_key()
    return env


# --- (a) (b) (c): the cached path, start-up, get() ------------------------------------------


def case_cached(url: str, quick: bool) -> list[Row]:
    import ksef_auth

    with SimulatorProcess("--no-rate-limits") as sim:
        env = tokens_env(sim)
        os.environ.update(env)
        on_redis = ksef_auth.load(config(sim.base_url, redis_store(url))).strategy()
        in_memory = ksef_auth.load(config(sim.base_url, "memory")).strategy()
        on_redis.token(), in_memory.token()
        number = 200_000 if quick else 2_000_000
        medians = interleaved(
            {"redis": on_redis.token, "memory": in_memory.token},
            blocks=10,
            per_block=number // 10,
            best=True,
        )
    return [
        row(
            "redis store: cached token() while fresh",
            medians["redis"],
            medians["memory"],
            "ns",
            baseline_name="the same through the memory store",
            target=1.05,
            scale=1e9,
            note="no round trip: the near cache answers",
        )
    ]


STARTUP = textwrap.dedent(
    """
    import json, sys
    import ksef_auth
    print(ksef_auth.load(json.loads(sys.argv[1])).strategy().token()[:8])
    """
)


def case_startup(url: str, quick: bool) -> list[Row]:
    import ksef_auth

    with SimulatorProcess("--no-rate-limits") as sim:
        env = tokens_env(sim)
        os.environ.update(env)
        spec = config(sim.base_url, redis_store(url))
        ksef_auth.load(spec).strategy().token()  # the session is now in Redis
        before = sim.counters()["events"].get("logins_completed", 0)
        medians = startup(
            {
                "ours": [sys.executable, "-c", STARTUP, json.dumps(spec)],
                "httpx": [sys.executable, "-c", "import httpx"],
                "httpx+redis": [sys.executable, "-c", "import httpx, redis"],
            },
            runs=5 if quick else 15,
            env={**os.environ, **env},
        )
        after = sim.counters()["events"].get("logins_completed", 0)
    note = f"logins during the runs: {after - before}"
    case = "redis store: start -> token() from a cached session (fresh interpreter)"
    return [
        row(
            case,
            medians["ours"],
            medians["httpx"],
            "ms",
            baseline_name="python -c 'import httpx'",
            target=1.6,
            scale=1e3,
            note=note + "; redis-py's own import is most of the difference (next row)",
        ),
        row(
            case,
            medians["ours"],
            medians["httpx+redis"],
            "ms",
            baseline_name="python -c 'import httpx, redis'",
            scale=1e3,
            note=note,
        ),
    ]


def case_get(url: str, quick: bool) -> list[Row]:
    import uuid

    import redis
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ksef_auth import SecretRef
    from ksef_auth.sealing import entry_name, generate_key, parse_keys
    from ksef_auth.testing import make_tokens
    from ksef_auth_redis import RedisStore

    key_text = generate_key()
    store = RedisStore(url=url, key=SecretRef.value(key_text), prefix=f"bench-{uuid.uuid4().hex}:")
    name = f"http://127.0.0.1:1/v2|Nip:{NIPS[0]}|tok:0123456789abcdef"
    store.put(name, make_tokens())
    client = redis.Redis.from_url(url)
    redis_key = f"{store.prefix}session:{{{entry_name(name)}}}"
    aead = AESGCM(parse_keys(key_text)[0])
    aad_tail = entry_name(name).encode()

    def floor() -> Any:
        blob = client.get(redis_key)
        assert blob is not None
        return json.loads(aead.decrypt(blob[5:17], blob[17:], blob[:5] + aad_tail))

    floor()
    store.get(name)
    number = 2_000 if quick else 20_000
    medians = interleaved(
        {"ours": lambda: store.get(name), "floor": floor}, blocks=10, per_block=number // 10
    )
    return [
        row(
            "redis store: get() of a fresh session",
            medians["ours"],
            medians["floor"],
            "us",
            baseline_name="redis-py GET + AES-GCM open + JSON parse",
            target=1.5,
            scale=1e6,
        )
    ]


# --- (d) (e): fleets of processes -----------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, random, sys, threading, time
    import ksef_auth

    spec, threads, seconds = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    base = ksef_auth.load(spec).strategy()
    contexts = [base.with_context(nip) for nip in sys.argv[4].split(",")]
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    errors, slowest, calls = {}, 0.0, 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run():
        global slowest, calls
        mine = random.Random()
        while time.monotonic() < stop_at:
            chosen = mine.choice(contexts)
            started = time.monotonic()
            try:
                chosen.token()
            except Exception as exc:
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            took = time.monotonic() - started
            with lock:
                calls += 1
                slowest = max(slowest, took)
            time.sleep(0.002)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({"errors": errors, "slowest": slowest, "calls": calls}), flush=True)
    """
)


def run_fleet(
    spec: dict[str, Any],
    env: dict[str, str],
    processes: int,
    threads: int,
    seconds: float,
    fault: Any,
    at: float,
) -> list[dict[str, Any]]:
    """Start the workers, release them together, run ``fault`` at ``at`` s, collect results."""
    nips = ",".join(NIPS)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(spec), str(threads), str(seconds), nips],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"a worker did not start: {worker.communicate()[1][-800:]}")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        timer = threading.Timer(at, fault)
        timer.start()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=seconds + 120)
            if worker.returncode != 0:
                raise SystemExit(f"a worker failed: {err[-800:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        timer.join()
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def case_fleet(quick: bool) -> list[Row]:
    from ksef_auth_redis.testing import run_redis_cluster

    processes, threads, seconds = (2, 8, 8.0) if quick else (8, 32, 60.0)
    with (
        SimulatorProcess("--access-ttl", "2.0001") as sim,
        run_redis_cluster() as cluster,
    ):
        env = tokens_env(sim)
        spec = config(sim.base_url, redis_store(cluster.url, socket_timeout=1.0))
        victim = cluster.masters()[0]
        results = run_fleet(
            spec, env, processes, threads, seconds, lambda: cluster.kill(victim), seconds / 3
        )
        counters = sim.counters()
        cluster.wait_ok()
        failed_over = victim not in cluster.masters()
    logins = int(counters["events"].get("logins_completed", 0))
    refreshes = int(counters["events"].get("refreshes", 0))
    errors = sum(sum(r["errors"].values()) for r in results)
    calls = sum(r["calls"] for r in results)
    shape = f"{processes} proc x {threads} thr, {seconds:g} s"
    note = (
        f"{calls:,} token() calls, {errors} caller errors, {refreshes} refreshes;"
        f" master on port {victim} killed at {seconds / 3:.1f} s"
        + (", replica promoted" if failed_over else ", NO failover")
    )
    return [
        row(
            f"redis fleet: logins at the simulator ({shape}, cluster, 2 s tokens, one failover)",
            logins,
            len(NIPS),
            "logins",
            baseline_name="1 per context",
            target=(len(NIPS) + len(NIPS)) / len(NIPS),
            note=note,
        ),
        row(
            f"redis fleet: caller errors ({shape}, through the failover)",
            errors,
            0,
            "errors",
            baseline_name="none",
            note="target 0" + (f": {results}" if errors else ""),
        ),
    ]


def login_time(base_url: str, env: dict[str, str]) -> float:
    """The median of a few logins through the engine (memory store), in seconds."""
    import ksef_auth

    os.environ.update(env)
    strategy = ksef_auth.load(config(base_url, "memory")).strategy()
    samples = []
    for _ in range(7):
        started = time.monotonic()
        strategy.session.login()
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def case_pause(quick: bool) -> list[Row]:
    from ksef_auth_redis.testing import run_redis_server

    socket_timeout = 2.0
    pause, seconds = (2.0, 8.0) if quick else (10.0, 30.0)
    processes, threads = (2, 8) if quick else (4, 16)
    with SimulatorProcess("--access-ttl", "2.0001") as sim, run_redis_server() as server:
        env = tokens_env(sim)
        login = login_time(sim.base_url, env)
        spec = config(sim.base_url, redis_store(server.url, socket_timeout=socket_timeout))

        def fault() -> None:
            server.pause()
            time.sleep(pause)
            server.resume()

        results = run_fleet(spec, env, processes, threads, seconds, fault, seconds / 3)
    slowest = max(r["slowest"] for r in results)
    errors = sum(sum(r["errors"].values()) for r in results)
    return [
        row(
            f"redis paused {pause:g} s (SIGSTOP): the slowest token()",
            slowest,
            socket_timeout + login,
            "ms",
            baseline_name=f"socket_timeout {socket_timeout:g} s + median login",
            target=1.0,
            scale=1e3,
            note=f"{processes} proc x {threads} thr, 2 s tokens; {errors} caller errors",
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument("--json", help="write the rows here (for bench/suite.py)")
    parser.add_argument("--cases", default="cached,startup,get,fleet,pause")
    args = parser.parse_args()
    from ksef_auth_redis.testing import (
        NO_CLUSTER_REASON,
        find_redis_cli,
        find_redis_server,
        run_redis_server,
    )

    if find_redis_server() is None:
        print("no redis-server: the Redis cases are skipped", file=sys.stderr)
        rows: list[Row] = []
    else:
        wanted = set(args.cases.split(","))
        rows = []
        with run_redis_server() as server:
            for name, case in (("cached", case_cached), ("startup", case_startup)):
                if name in wanted:
                    rows += case(server.url, args.quick)
            if "get" in wanted:
                rows += case_get(server.url, args.quick)
        if "fleet" in wanted:
            if find_redis_cli() is None:
                print(NO_CLUSTER_REASON, file=sys.stderr)
            else:
                rows += case_fleet(args.quick)
        if "pause" in wanted:
            rows += case_pause(args.quick)
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(
            f"{r['case']}: {r['ours']:,.1f} {r['unit']} vs {r['baseline']:,.1f} {r['unit']}"
            f" ({r['baseline_name']}) = {ratio}  {r['note']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
