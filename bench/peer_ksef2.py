"""The peer's column: the suite's cases run through ksef2 (1.1.0) against our simulator.

Runs in an interpreter where ksef2 is installed (Python 3.12+), never imports ksef_auth, and
prints a JSON list of rows (same case names as bench/suite.py, each with its own baseline
measured in this process). ksef2 talks to KSeF's TEST host; an httpx transport sends its
requests to the simulator instead.

    python bench/peer_ksef2.py --sim URL --delayed URL --nip NIP --token T --delayed-token T ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import timeit
import urllib.request
from typing import Any

import httpx


class ToSimulator(httpx.BaseTransport):
    """Sends every request (made for KSeF's TEST host) to the simulator's root URL."""

    def __init__(self, root: str) -> None:
        self.root = httpx.URL(root)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.root.scheme, host=self.root.host, port=self.root.port
        )
        request.headers["Host"] = f"{self.root.host}:{self.root.port}"
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def client(root: str) -> Any:
    from ksef2 import Client, Environment

    return Client(Environment.TEST, http_client=httpx.Client(transport=ToSimulator(root)))


def admin(root: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        root + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def row(
    case: str,
    ours: float,
    baseline: float,
    unit: str,
    scale: float = 1.0,
    note: str = "",
) -> dict[str, Any]:
    return {
        "case": case,
        "ours": ours * scale,
        "baseline": baseline * scale,
        "unit": unit,
        "ratio": ours / baseline if baseline else None,
        "note": note,
    }


def cached(args: argparse.Namespace) -> dict[str, Any]:
    auth = client(args.sim).authentication.with_token(ksef_token=args.token, nip=args.nip)
    manager = auth._token_manager  # what every ksef2 request asks for its bearer
    table = {"access": manager.get_access_token()}

    def read() -> str:
        return table["access"]

    number = 200_000 if args.quick else 1_000_000
    ours = min(timeit.repeat(manager.get_access_token, number=number, repeat=5)) / number
    floor = min(timeit.repeat(read, number=number, repeat=5)) / number
    return row(
        "cached token(): strategy.token()",
        ours,
        floor,
        "ns",
        1e9,
        "ksef2: TokenManager.get_access_token()",
    )


def login(args: argparse.Namespace) -> dict[str, Any]:
    root = args.delayed
    peer = client(root)
    peer.authentication.with_token(ksef_token=args.delayed_token, nip=args.nip)  # warm
    admin(root, "/_sim/reset", {})
    n = 3 if args.quick else 8
    times = []
    for _ in range(n):
        started = time.perf_counter()
        peer.authentication.with_token(ksef_token=args.delayed_token, nip=args.nip)
        times.append(time.perf_counter() - started)
    counters = admin(root, "/_sim/counters")
    polls = counters["endpoints"].get("GET /auth/{referenceNumber}", {}).get("calls", 0)
    floor = args.login_floor  # the suite's plain-httpx replay, measured in its run
    return row(
        f"login when KSeF needs {args.delay:g} s (SessionManager.login)",
        statistics.median(times),
        floor,
        "ms",
        1e3,
        f"ksef2 default poll_interval=1.0; {polls / n:.1f} polls per login",
    )


def start_up(args: argparse.Namespace) -> dict[str, Any]:
    code = "import ksef2; ksef2.Client(ksef2.Environment.TEST)"
    runs = 5 if args.quick else 15
    samples: dict[str, list[float]] = {"httpx": [], "ksef2": []}
    for _ in range(runs):
        for name, command in (("httpx", "import httpx"), ("ksef2", code)):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", command], check=True, capture_output=True)
            samples[name].append(time.perf_counter() - started)
    return row(
        "start-up: ksef_auth.load() of a token strategy",
        statistics.median(samples["ksef2"]),
        statistics.median(samples["httpx"]),
        "ms",
        1e3,
        "ksef2: import ksef2 + Client(TEST)",
    )


def single_flight(args: argparse.Namespace, threads: int = 16) -> dict[str, Any]:
    peer = client(args.sim)
    admin(args.sim, "/_sim/reset", {})
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        peer.authentication.with_token(
            ksef_token=args.sf_token, nip=args.sf_nip, poll_interval=0.05
        )

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    made = admin(args.sim, "/_sim/counters")["events"].get("logins_completed", 0)
    return {
        "case": f"single flight: logins for {threads} threads, cold",
        "ours": made,
        "baseline": 1,
        "unit": "logins",
        "ratio": made,
        "note": "no shared session",
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in (
        "--sim",
        "--delayed",
        "--nip",
        "--token",
        "--delayed-token",
        "--sf-nip",
        "--sf-token",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--login-floor", type=float, required=True, help="seconds")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = [cached(args), login(args), start_up(args), single_flight(args)]
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
