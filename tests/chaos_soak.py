"""Chaos soak: processes and threads asking for tokens through redis and file stores while
KSeF misbehaves at random and Redis is restarted under them.

    python tests/chaos_soak.py [--seconds 300] [--seed 7] [--processes 3] [--threads 4]
                               [--contexts 3] [--json PATH] [--calm]
    python3 -m nox -s soak                     # five minutes; the CI run has 30 s of it

What runs: the simulator (in this process, over real loopback HTTP) with 2-second access tokens
and 8-second refresh tokens, so every worker lives through many refreshes and re-logins; a
real ``redis-server`` on loopback (restarted every few seconds: killed, then started again on
the same port with nothing in it); ``--processes`` worker processes of ``--threads`` threads,
each thread calling ``config.strategy(store, context=nip).token()`` (and now and then a
business call through ``strategy.client()``) for random contexts on the redis and the file
store. Fault rules drawn from ``--seed``: 429 with Retry-After, 500, 503, connections dropped
before and after the request was handled, slow answers, HTML where JSON belongs, operations
stuck at status 100, 401 on business calls.

What must hold: **zero untyped errors** (everything a caller sees is a ``KsefAuthError``),
**zero expired tokens handed out** (each token's JWT ``exp`` is checked against the clock read
just before the call; the count against the clock read just after it is printed as well),
**no more logins than the rules allow** (:func:`login_rule_breaks`) and **no secret in an
error** (a KSeF token, the store key or a JWT in an error's text or its causes). It prints
requests, faults per rule, recoveries, errors by type (with an example of each), logins and
refreshes per lifetime and the longest call (printed, never asserted), and exits 1 if any of
the four does not hold. ``--calm``: no faults and no restarts, the baseline.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ksef_auth import hookimpl

ACCESS_TTL = 2.0
REFRESH_TTL = 8.0
TOKEN_VAR = "KSEF_SOAK_TOKEN_{nip}"
KEY_VAR = "KSEF_SOAK_STORE_KEY"
READY_TIMEOUT = 180.0  # worker start-up on a saturated machine: imports, checks


# --- the fault plan -----------------------------------------------------------------------------


def fault_rules(seed: int) -> list[dict[str, Any]]:
    """Every rule fires at random with its own seed, so a run is reproducible per rule."""
    plan: list[dict[str, Any]] = [
        {"endpoint": "*", "status": 503, "probability": 0.02},
        {"endpoint": "*", "status": 500, "probability": 0.01},
        {"endpoint": "POST /auth/challenge", "status": 429, "retry_after": 1, "probability": 0.03},
        {"endpoint": "POST /auth/token/refresh", "drop": True, "probability": 0.03},
        {"endpoint": "POST /auth/token/refresh", "drop_after": True, "probability": 0.03},
        {"endpoint": "POST /auth/ksef-token", "drop_after": True, "probability": 0.05},
        {"endpoint": "POST /auth/token/redeem", "drop_after": True, "probability": 0.05},
        {"endpoint": "GET /auth/{referenceNumber}", "delay": 0.3, "probability": 0.05},
        {"endpoint": "POST /auth/ksef-token", "stuck": True, "probability": 0.01},
        {"endpoint": "*", "body": "html", "status": 200, "probability": 0.003},
        {"endpoint": "GET /auth/sessions", "status": 401, "probability": 0.1},
    ]
    for index, rule in enumerate(plan):
        rule["seed"] = seed * 1000 + index
    return plan


# --- redis, restarted on the same port ----------------------------------------------------------


class RestartingRedis:
    """``redis-server`` on one loopback port, killed and started again on demand."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.workdir = tempfile.mkdtemp(prefix="ksef-soak-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--daemonize", "no", "--dir", self.workdir]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, down_for: float) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- one worker process ---------------------------------------------------------------------------


def jwt_exp(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


#: what the library logs when it recovers by itself: (logger, words in the format string)
RECOVERIES = {
    "requests retried": ("ksef_auth.transport", "retrying"),
    "logins started over": ("ksef_auth.flow", "starts over"),
    "failed advisory refreshes (token kept)": ("ksef_auth.session", "advisory refresh"),
    "store outages ridden out": ("ksef_auth.session", "answers again"),
}


class RecoveryCounter(logging.Handler):
    """Counts the library's own recoveries from its log records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        for name, (logger, words) in RECOVERIES.items():
            if record.name == logger and words in str(record.msg):
                self.counts[name] += 1


def holds_secret(exc: BaseException, secrets: list[str]) -> bool:
    """Whether an error's text (or its causes') holds a KSeF token, the store key or a JWT."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = f"{cause!s} {cause!r}"
        if "eyJ" in text or any(secret in text for secret in secrets):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class SessionCounter:
    """An observer plugin: this process's logins and refreshes per (strategy, context)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def _count(self, what: str, event: Any) -> None:
        with self.lock:
            self.counts[f"{what} {event.strategy} {event.context.value}"] += 1

    @hookimpl
    def ksef_auth_session_opened(self, event: Any) -> None:
        self._count("logins", event)

    @hookimpl
    def ksef_auth_session_refreshed(self, event: Any) -> None:
        self._count("refreshes", event)


def worker(
    config: dict[str, Any], nips: list[str], seconds: float, threads: int, seed: int
) -> None:
    """Run ``threads`` threads for ``seconds``; print one JSON line of what they saw."""
    import ksef_auth

    recoveries = RecoveryCounter()
    logging.getLogger("ksef_auth").addHandler(recoveries)
    logging.getLogger("ksef_auth").setLevel(logging.INFO)
    sessions = SessionCounter()
    ksef_auth.default_manager().register(sessions, name="soak-session-counter")
    loaded = ksef_auth.load(config)  # checks the stores: before the first Redis restart
    stores = loaded.names()
    print("ready", flush=True)
    sys.stdin.readline()  # the soak starts when every worker is ready
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    untyped: list[str] = []
    examples: dict[str, str] = {}  # the first message of each typed error
    secrets = [os.environ[TOKEN_VAR.format(nip=nip)] for nip in nips] + [os.environ[KEY_VAR]]
    longest = [0.0]

    def run(index: int) -> None:
        rng = random.Random(seed * 100 + index)
        clients: dict[tuple[str, str], Any] = {}
        failed = False
        while time.monotonic() < deadline:
            store, nip = rng.choice(stores), rng.choice(nips)
            strategy = loaded.strategy(store, context=nip)
            business = rng.random() < 0.1
            before = time.time()
            started = time.monotonic()
            try:
                if business:
                    client = clients.get((store, nip))
                    if client is None:
                        client = clients[(store, nip)] = strategy.client(timeout=5.0)
                    response = client.get("/auth/sessions")
                    token = response.request.headers["Authorization"][7:]
                    outcome = f"business {response.status_code}"
                else:
                    token = strategy.token()
                    outcome = "token"
                after = time.time()
            except ksef_auth.KsefAuthError as exc:
                outcome = "error"
                with lock:
                    errors[type(exc).__name__] += 1
                    examples.setdefault(type(exc).__name__, str(exc)[:300])
                    totals["secrets_in_errors"] += holds_secret(exc, secrets)
                failed = True
            except Exception as exc:  # the one thing that must never happen
                outcome = "error"
                with lock:
                    errors["untyped"] += 1
                    untyped.append(f"{type(exc).__name__}: {exc}"[:300])
                failed = True
            else:
                exp = jwt_exp(token)
                with lock:
                    totals[outcome] += 1
                    totals["expired_before_call"] += exp <= before
                    totals["expired_after_call"] += exp <= after
                    if failed:
                        totals["recoveries"] += 1
                failed = False
            with lock:
                totals["calls"] += 1
                longest[0] = max(longest[0], time.monotonic() - started)
            time.sleep(rng.uniform(0.0, 0.03))
        for client in clients.values():
            client.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(
        json.dumps(
            {
                "totals": dict(totals),
                "errors": dict(errors),
                "untyped": untyped[:20],
                "examples": examples,
                "longest": longest[0],
                "recoveries": dict(recoveries.counts),
                "sessions": dict(sessions.counts),
            }
        ),
        flush=True,
    )


# --- the whole soak -------------------------------------------------------------------------------


def tail(log: Any) -> str:
    log.seek(0)
    return str(log.read())[-3000:]


def wait_until_ready(workers: list[Any], logs: list[Any], timeout: float) -> None:
    """Wait for every worker's ``ready`` line (its strategies loaded and checked)."""
    deadline = time.monotonic() + timeout
    for process, log in zip(workers, logs, strict=True):
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([process.stdout], [], [], max(remaining, 0.0))
        line = process.stdout.readline() if readable else ""
        if line.strip() != "ready":
            raise RuntimeError(
                f"a worker did not start within {timeout:g} s (exit {process.poll()}):"
                f"\n{line}{tail(log)}"
            )


def rule_name(rule: dict[str, Any]) -> str:
    """``POST /auth/token/redeem drop_after``: a fault rule in a few words."""
    what = [k for k in ("drop", "drop_after", "stuck") if rule.get(k)]
    what += [f"{k} {rule[k]}" for k in ("status", "body", "delay") if rule.get(k) is not None]
    return f"{rule['endpoint']} {', '.join(what)}"


def strategies(nips: list[str], redis_url: str | None, file_dir: str) -> dict[str, Any]:
    common = {
        "environment": "",  # set below
        "context": nips[0],
        "contexts": nips,
        "credential": {"use": "env", "var": TOKEN_VAR},
        "signer": "ksef-token",
        "refresh": {"poll_deadline": 5, "lock_timeout": 5},
        "http": {
            "connect_timeout": 1,
            "read_timeout": 1,
            "attempts": 3,
            "base_delay": 0.05,
            "max_delay": 0.5,
        },
    }
    key = {"env": KEY_VAR}
    spec: dict[str, Any] = {
        "file": {**common, "store": {"use": "file", "path": file_dir, "key": key}},
    }
    if redis_url is not None:
        spec["redis"] = {**common, "store": {"use": "redis", "url": redis_url, "key": key}}
    return spec


def soak(
    seconds: float,
    seed: int,
    processes: int,
    threads: int,
    contexts: int,
    *,
    calm: bool = False,
) -> dict[str, Any]:
    """Run the soak; ``calm``: no faults and no Redis restarts (the baseline of the figures)."""
    from ksef_auth.nip import example_nips
    from ksef_auth.sealing import generate_key
    from ksef_auth_simulator import FaultRule, Simulator, SimulatorConfig, serve

    try:
        from ksef_auth_redis.testing import NO_SERVER_REASON, find_redis_server
    except ImportError:
        NO_SERVER_REASON = "the redis plugin is not installed"  # noqa: N806

        def find_redis_server() -> str | None:
            return None

    rng = random.Random(seed)
    sim = Simulator(
        SimulatorConfig(
            access_token_ttl=ACCESS_TTL,
            refresh_token_ttl=REFRESH_TTL,
            rate_limits=False,
            auth_delay=0.05,
            seed=seed,
        )
    )
    running = serve(sim)
    binary = find_redis_server()
    redis = RestartingRedis(binary) if binary else None
    if redis is None:
        print(f"redis: skipped ({NO_SERVER_REASON}); soaking the file store only", flush=True)
    file_dir = tempfile.mkdtemp(prefix="ksef-soak-file-")
    nips = example_nips(contexts, start=seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSEF_AUTH_")}
    env[KEY_VAR] = generate_key()
    for nip in nips:
        env[TOKEN_VAR.format(nip=nip)] = sim.issue_ksef_token(nip)
    config = {"strategy": strategies(nips, redis.url if redis else None, file_dir)}
    for table in config["strategy"].values():
        table["environment"] = running.base_url
    for rule in [] if calm else fault_rules(seed):
        sim.add_fault(FaultRule(**rule))

    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(processes)]  # noqa: SIM115 (closed below)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                json.dumps({"config": config, "nips": nips}),
                "--seconds",
                str(seconds),
                "--threads",
                str(threads),
                "--seed",
                str(seed * 10 + i),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=logs[i],
            text=True,
            env=env,
        )
        for i in range(processes)
    ]
    try:
        wait_until_ready(workers, logs, timeout=READY_TIMEOUT)
        started = time.monotonic()
        for process in workers:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()  # communicate() closes it
        while time.monotonic() - started < seconds:
            time.sleep(min(rng.uniform(4.0, 8.0), max(0.0, seconds - (time.monotonic() - started))))
            if not calm and redis is not None and time.monotonic() - started < seconds - 1:
                redis.restart(down_for=rng.uniform(0.2, 1.0))
        results = []
        for process, log in zip(workers, logs, strict=True):
            out, _ = process.communicate(timeout=seconds + 120)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if process.returncode != 0 or not lines:
                raise RuntimeError(f"a worker failed (exit {process.returncode}):\n{tail(log)}")
            results.append(json.loads(lines[-1]))
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
        if redis is not None:
            redis.stop()
        counters = sim.counters()
        fired = {rule_name(rule.to_dict()): rule.fired for rule in sim.faults.rules()}
        running.stop()
    wall = time.monotonic() - started

    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    untyped: list[str] = []
    examples: dict[str, str] = {}
    recovered: Counter[str] = Counter()
    per_process: Counter[str] = Counter()  # the most any one process saw, per kind
    for result in results:
        for key, count in result["sessions"].items():
            kind = key.split()[0]
            per_process[kind] = max(per_process[kind], count)
        totals.update(result["totals"])
        recovered.update(result["recoveries"])
        errors.update(result["errors"])
        untyped += result["untyped"]
        for name, message in result["examples"].items():
            examples.setdefault(name, message)
    events = counters["events"]
    rule_breaks = login_rule_breaks(
        results,
        seconds=seconds,
        restarts=redis.restarts if redis else 0,
        server_logins=events.get("logins_completed", 0),
        start_overs=recovered["logins started over"],
        failed_calls=sum(errors.values()),
        shared_sessions=len(config["strategy"]) * len(nips) if calm else None,
    )
    requests = sum(e.get("calls", 0) for e in counters["endpoints"].values())
    groups = len(config["strategy"]) * len(nips)  # one session per (store, context)
    lifetimes = seconds / REFRESH_TTL
    return {
        "seconds": seconds,
        "wall_seconds": round(wall, 1),
        "seed": seed,
        "calm": calm,
        "processes": processes,
        "threads": threads,
        "contexts": len(nips),
        "stores": sorted(config["strategy"]),
        "calls": totals["calls"],
        "tokens": totals["token"],
        "business_calls": sum(v for k, v in totals.items() if k.startswith("business")),
        "requests": requests,
        "faults": events.get("faults", 0),
        "dropped_connections": events.get("dropped_connections", 0),
        "redis_restarts": redis.restarts if redis else 0,
        "recoveries": {
            **dict(recovered),
            "callers that failed, then succeeded": totals["recoveries"],
        },
        "errors_by_type": dict(errors),
        "untyped_errors": errors.get("untyped", 0),
        "untyped_examples": untyped[:10],
        "error_examples": examples,
        "expired_tokens": totals["expired_before_call"],
        "expired_by_return": totals["expired_after_call"],
        "secrets_in_errors": totals["secrets_in_errors"],
        "logins": events.get("logins_completed", 0),
        "refreshes": events.get("refreshes", 0),
        "logins_per_refresh_lifetime": round(
            events.get("logins_completed", 0) / groups / lifetimes, 2
        ),
        "refreshes_per_access_lifetime": round(
            events.get("refreshes", 0) / groups / (seconds / ACCESS_TTL), 2
        ),
        "process_logins_max": per_process["logins"],
        "process_refreshes_max": per_process["refreshes"],
        "faults_by_rule": fired,
        "login_rule_breaks": rule_breaks,
        "longest_call_s": round(max(r["longest"] for r in results), 2),
    }


def login_rule_breaks(
    results: list[dict[str, Any]],
    *,
    seconds: float,
    restarts: int,
    server_logins: int,
    start_overs: int,
    failed_calls: int,
    shared_sessions: int | None,
) -> list[str]:
    """Where the logins exceed what the rules allow (``session.py``); empty when they do not.

    A session is logged into again when half its refresh token's life is left, so one process
    logs in to one session at most once per half lifetime, plus its first login, plus (redis
    store) once per Redis restart: the wiped store may hand it an older session, due sooner.
    Every login KSeF completed is one a caller got, or one abandoned in a login that started
    over or failed. ``shared_sessions`` (calm runs: the store never fails): the processes share
    each session, so all of them together log in at most as often as one process may.
    """
    per_half = math.ceil(seconds / (REFRESH_TTL / 2))
    breaks: list[str] = []
    client_logins = 0
    for index, result in enumerate(results):
        for key, count in sorted(result["sessions"].items()):
            kind, store, nip = key.split()
            if kind != "logins":
                continue
            client_logins += count
            allowed = 1 + per_half + (restarts if store == "redis" else 0)
            if count > allowed:
                breaks.append(
                    f"process {index}: {count} logins to {store} {nip} (at most {allowed})"
                )
    allowed = client_logins + start_overs + failed_calls
    if server_logins > allowed:
        breaks.append(
            f"KSeF completed {server_logins} logins; callers got {client_logins}, and"
            f" {start_overs} start-overs and {failed_calls} failed calls allow {allowed}"
        )
    if shared_sessions is not None and server_logins > shared_sessions * (1 + per_half):
        breaks.append(
            f"{server_logins} logins for {shared_sessions} shared sessions (at most"
            f" {shared_sessions * (1 + per_half)} with single flight across processes)"
        )
    return breaks


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"{'calm run (no faults, no restarts)' if figures['calm'] else 'chaos soak'}:"
        f" {figures['seconds']} s, seed {figures['seed']}, {figures['processes']}"
        f" processes x {figures['threads']} threads, {figures['contexts']} contexts, stores:"
        f" {', '.join(figures['stores'])}; tokens live {ACCESS_TTL:g} s"
        f" (refresh tokens {REFRESH_TTL:g} s)",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for key in (
        "calls",
        "tokens",
        "business_calls",
        "requests",
        "faults",
        "dropped_connections",
        "redis_restarts",
        "logins",
        "refreshes",
        "logins_per_refresh_lifetime",
        "refreshes_per_access_lifetime",
        "process_logins_max",
        "process_refreshes_max",
        "longest_call_s",
        "untyped_errors",
        "expired_tokens",
        "expired_by_return",
        "secrets_in_errors",
    ):
        lines.append(f"| {key.replace('_', ' ')} | {figures[key]} |")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(figures["errors_by_type"].items())) or "none"
    recovered = ", ".join(f"{k} {v}" for k, v in figures["recoveries"].items())
    fired = ", ".join(f"{k}: {v}" for k, v in figures["faults_by_rule"].items()) or "none"
    lines += ["", f"recoveries: {recovered}", f"errors by type (what callers saw): {errors}"]
    lines += [f"faults by rule: {fired}"]
    for rule_break in figures["login_rule_breaks"]:
        lines.append(f"  more logins than the rules allow: {rule_break}")
    for name, message in sorted(figures["error_examples"].items()):
        lines.append(f"  {name}, for example: {message}")
    for example in figures["untyped_examples"]:
        lines.append(f"  untyped: {example}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--contexts", type=int, default=3)
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--calm", action="store_true", help="no faults, no restarts (baseline)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        worker(spec["config"], spec["nips"], args.seconds, args.threads, args.seed)
        return 0
    figures = soak(
        args.seconds, args.seed, args.processes, args.threads, args.contexts, calm=args.calm
    )
    print(report(figures), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    failed = figures["untyped_errors"] or figures["expired_tokens"] or figures["secrets_in_errors"]
    failed = failed or figures["login_rule_breaks"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
