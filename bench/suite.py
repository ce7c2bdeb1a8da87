"""Every benchmark in one table: ``nox -s bench`` (or ``python bench/suite.py [--quick]``).

Each figure is a ratio against a baseline measured in the same run, printed with the raw
medians, and written as JSON (``bench/results/latest.json``). With ``--peer-python PATH`` (an
interpreter where ksef2 1.1.0 is installed: ``nox -s bench`` makes one on Python 3.12+) the
same cases run through ksef2 against the same simulator, in a process of its own, and the table
gets the peer's column. Other scripts in this folder that take ``--json PATH`` (bulk logins,
Redis, simulator throughput) add their rows to the table.

Cases (the targets are issue 16's; a miss is printed, not failed):

* cached ``token()`` vs a bare dict read through a function; and through
  ``config.strategy(name, context=...)`` for a context already used;
* a login when KSeF needs 0.3 s to verify vs the floor (the same requests replayed with plain
  httpx, polling once exactly when verification ends), with status polls per login;
* ``load()`` of a token strategy, and start -> token from a cached file session, in a fresh
  interpreter, vs ``import httpx``;
* a file-store read of a fresh session vs the floor (read the file, AES-GCM open, JSON parse);
* an authenticated GET in process (httpx.MockTransport) vs the same GET with a static header;
* bytes per cached session at 10,000 sessions vs the floor (the token strings, key and expiry);
* single flight: logins counted at the simulator for 16 threads of one process, cold.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from timing import (
    SimulatorProcess,
    endpoint_calls,
    interleaved,
    logins,
    per_call,
    startup,
)

HERE = Path(__file__).resolve().parent
NIP = "5261040828"
NIPS = ["5261040828", "7010002139", "1234563218", "5265877635"]

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


# --- strategies -----------------------------------------------------------------------------


def token_strategy(
    base_url: str, token_var: str, store: Any = None, name: str = "bench", nip: str = NIP
) -> Any:
    import ksef_auth

    return ksef_auth.load(
        {
            "strategy": {
                name: {
                    "environment": base_url,
                    "context": nip,
                    "credential": {"use": "env", "var": token_var},
                    "signer": "ksef-token",
                    "store": store or "memory",
                }
            }
        }
    )


# --- cases ----------------------------------------------------------------------------------


def case_cached(sim: SimulatorProcess, quick: bool) -> list[Row]:
    os.environ["BENCH_TOKEN"] = sim.issue_token(NIP)
    for nip in (NIP, NIPS[1]):
        os.environ[f"BENCH_TOKEN_{nip}"] = sim.issue_token(nip)
    config = token_strategy(sim.base_url, "BENCH_TOKEN")
    strategy = config.strategy("bench")
    strategy.token()
    table = {"access": strategy.token()}

    def read() -> str:
        return table["access"]

    number = 200_000 if quick else 1_000_000
    ours = per_call(strategy.token, number)
    floor = per_call(read, number)
    rows = [
        row(
            "cached token(): strategy.token()",
            ours,
            floor,
            "ns",
            baseline_name="dict read in a function",
            target=2.5,
            scale=1e9,
        )
    ]
    # one firm, many NIPs: a context already used, reached through the config each time
    firm = token_strategy(sim.base_url, "BENCH_TOKEN_{nip}")
    firm.strategy("bench", context=NIPS[1]).token()

    def through_config() -> str:
        return firm.strategy("bench", context=NIPS[1]).token()  # type: ignore[no-any-return]

    via = per_call(through_config, number)
    rows.append(
        row(
            "cached token(): config.strategy(name, context=nip).token()",
            via,
            floor,
            "ns",
            baseline_name="dict read in a function",
            target=3.0,
            scale=1e9,
        )
    )
    return rows


def _oaep_encrypt(public_key: Any, text: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public_key.encrypt(text.encode(), oaep)).decode()


def _token_key(client: httpx.Client) -> tuple[Any, str]:
    from cryptography import x509

    for item in client.get("/security/public-key-certificates").json():
        if "KsefTokenEncryption" in item["usage"]:
            cert = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
            return cert.public_key(), item["publicKeyId"]
    raise SystemExit("the simulator lists no KsefTokenEncryption key")


def floor_login(client: httpx.Client, token: str, key: tuple[Any, str], delay: float) -> None:
    """The protocol with nothing extra: one poll, exactly when verification ends."""
    public_key, key_id = key
    challenge = client.post("/auth/challenge").json()
    init = client.post(
        "/auth/ksef-token",
        json={
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": _oaep_encrypt(public_key, f"{token}|{challenge['timestampMs']}"),
            "publicKeyId": key_id,
        },
    ).json()
    submitted = time.perf_counter()
    bearer = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    time.sleep(max(0.0, delay - (time.perf_counter() - submitted)))
    while True:
        status = client.get(f"/auth/{init['referenceNumber']}", headers=bearer).json()
        if status["status"]["code"] != 100:
            break
        time.sleep(0.005)
    client.post("/auth/token/redeem", headers=bearer).json()


def case_login(delayed: SimulatorProcess, quick: bool, delay: float) -> list[Row]:
    token = delayed.issue_token(NIP)
    os.environ["BENCH_DELAYED_TOKEN"] = token
    strategy = token_strategy(delayed.base_url, "BENCH_DELAYED_TOKEN").strategy("bench")
    session = strategy.session
    with httpx.Client(base_url=delayed.base_url) as client:
        key = _token_key(client)
        session.login()  # warm: the shared client, the key cache
        floor_login(client, token, key, delay)
        delayed.reset()
        n = 4 if quick else 12
        medians = interleaved(
            {"ours": session.login, "floor": lambda: floor_login(client, token, key, delay)},
            blocks=n,
            per_block=1,
        )
        counters = delayed.counters()
    polls = endpoint_calls(counters, "GET /auth/{referenceNumber}")
    made = logins(counters)
    ours_polls = (polls - n) / n  # the floor polls once per login
    return [
        row(
            f"login when KSeF needs {delay:g} s (SessionManager.login)",
            medians["ours"],
            medians["floor"],
            "ms",
            baseline_name="plain httpx, one poll at the right time",
            target=1.10,
            note=f"{ours_polls:.1f} status polls per login ({made} logins counted)",
            scale=1e3,
        )
    ]


STARTUP_LOAD = """
import ksef_auth
ksef_auth.load({path!r})
"""
STARTUP_TOKEN = """
import ksef_auth
print(ksef_auth.load({path!r}).strategy().token()[:8])
"""


def case_startup(sim: SimulatorProcess, quick: bool) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="ksef-bench-"))
    token = sim.issue_token(NIPS[2])
    strategy_file = folder / "s.toml"
    strategy_file.write_text(
        f'[strategy.shop]\nenvironment = "{sim.base_url}"\ncontext = "{NIPS[2]}"\n'
        'credential = { use = "env", var = "BENCH_START_TOKEN" }\nsigner = "ksef-token"\n'
        f'store = {{ use = "file", path = "{folder / "sessions"}" }}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "KSEF_AUTH_PLUGINS"}
    env["BENCH_START_TOKEN"] = token
    env["KSEF_AUTH_STORE_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    python = sys.executable
    # log in once, so that the timed runs find a fresh session in the file store
    subprocess.run(
        [python, "-c", STARTUP_TOKEN.format(path=str(strategy_file))],
        env=env,
        check=True,
        capture_output=True,
    )
    runs = 5 if quick else 15
    times = startup(
        {
            "httpx": [python, "-c", "import httpx"],
            "load": [python, "-c", STARTUP_LOAD.format(path=str(strategy_file))],
            "token": [python, "-c", STARTUP_TOKEN.format(path=str(strategy_file))],
        },
        runs=runs,
        env=env,
    )
    return [
        row(
            "start-up: ksef_auth.load() of a token strategy",
            times["load"],
            times["httpx"],
            "ms",
            baseline_name="python -c 'import httpx'",
            target=1.3,
            scale=1e3,
        ),
        row(
            "start-up: load -> token() from a cached file session",
            times["token"],
            times["httpx"],
            "ms",
            baseline_name="python -c 'import httpx'",
            target=1.6,
            scale=1e3,
        ),
    ]


def case_file_store(quick: bool) -> list[Row]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ksef_auth import SecretRef
    from ksef_auth.sealing import entry_name, generate_key, parse_keys
    from ksef_auth_file import FileStore

    folder = Path(tempfile.mkdtemp(prefix="ksef-bench-store-"))
    key_text = generate_key()
    store = FileStore(path=folder / "sessions", key=SecretRef.value(key_text))
    store_key = f"http://127.0.0.1:1/v2|Nip:{NIP}|tok:0123456789abcdef"
    store.put(store_key, fresh_tokens())
    file = next(p for p in (folder / "sessions").iterdir() if "." not in p.name)
    raw_key = parse_keys(key_text)[0]
    aead = AESGCM(raw_key)
    header = 4 + 8  # magic + expiry hint, then version, key id, nonce, ciphertext
    aad_tail = entry_name(store_key).encode()  # sealing v2 binds the entry's name

    def floor() -> Any:
        data = file.read_bytes()
        blob = data[header:]
        plain = aead.decrypt(blob[5:17], blob[17:], blob[:5] + aad_tail)
        return json.loads(plain)

    floor()  # the floor really opens our file
    number = 3_000 if quick else 20_000
    medians = interleaved(
        {"ours": lambda: store.get(store_key), "floor": floor},
        blocks=10,
        per_block=number // 10,
        best=True,
    )
    return [
        row(
            "file store: get() of a fresh session",
            medians["ours"],
            medians["floor"],
            "us",
            baseline_name="read + AES-GCM open + JSON parse",
            target=1.5,
            scale=1e6,
        )
    ]


def fresh_tokens() -> Any:
    """A session as the simulator makes them: JWT-sized tokens, valid from now."""
    from ksef_auth import ContextIdentifier, SessionTokens, Token

    now = datetime.now(UTC)
    return SessionTokens(
        access_token=Token(_jwt_like(420, 1), now + timedelta(minutes=15)),
        refresh_token=Token(_jwt_like(300, 2), now + timedelta(days=7)),
        reference_number="20250101-AU-0000000001-0000000000-00",
        context=ContextIdentifier.nip(NIP),
        environment="http://127.0.0.1:1/v2",
        credential_fingerprint="tok:0123456789abcdef",
        method="ksef-token",
        obtained_at=now,
    )


def case_authenticated_get(sim: SimulatorProcess, quick: bool) -> list[Row]:
    os.environ["BENCH_GET_TOKEN"] = sim.issue_token(NIPS[3])
    config = token_strategy(sim.base_url, "BENCH_GET_TOKEN", nip=NIPS[3])
    strategy = config.strategy("bench")
    auth = strategy.httpx_auth()
    static = {"Authorization": f"Bearer {auth.token()}"}

    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(ok)
    number = 2_000 if quick else 10_000
    with (
        httpx.Client(base_url=auth.base_url, auth=auth, transport=transport) as ours,
        httpx.Client(base_url=auth.base_url, headers=static, transport=transport) as plain,
    ):
        medians = interleaved(
            {
                "ours": lambda: ours.get("/auth/sessions"),
                "floor": lambda: plain.get("/auth/sessions"),
            },
            blocks=20,
            per_block=number // 20,
            best=True,
        )
    return [
        row(
            "authenticated GET in process (KsefAuth)",
            medians["ours"],
            medians["floor"],
            "us",
            baseline_name="the same GET with a static header",
            target=1.05,
            scale=1e6,
        )
    ]


def _jwt_like(size: int, seed: int) -> str:
    body = base64.urlsafe_b64encode(os.urandom(size)).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.{seed:08d}"


def case_memory(quick: bool) -> list[Row]:
    from ksef_auth import ContextIdentifier, SessionTokens, Token
    from ksef_auth_memory import MemoryStore

    count = 2_000 if quick else 10_000
    now = datetime.now(UTC)
    documents = [
        json.dumps(
            {
                "access": _jwt_like(420, i),
                "refresh": _jwt_like(300, i),
                "key": f"https://api-test.ksef.mf.gov.pl/v2|Nip:{5261040828 + i}|tok:{i:016x}",
            }
        )
        for i in range(count)
    ]

    def measure(build: Callable[[dict[str, str], int], None]) -> float:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i, text in enumerate(documents):
            build(json.loads(text), i)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / count

    floor_table: dict[str, tuple[str, str, float]] = {}
    expiry = (now + timedelta(minutes=15)).timestamp()

    def floor(doc: dict[str, str], i: int) -> None:
        floor_table[doc["key"]] = (doc["access"], doc["refresh"], expiry)

    store = MemoryStore(max_entries=count + 1)
    context = ContextIdentifier.nip(NIP)

    def ours(doc: dict[str, str], i: int) -> None:
        store.put(
            doc["key"],
            SessionTokens(
                access_token=Token(doc["access"], now + timedelta(minutes=15)),
                refresh_token=Token(doc["refresh"], now + timedelta(days=7)),
                reference_number=f"20250101-AU-{i:010X}-0000000000-00",
                context=context,
                environment="https://api-test.ksef.mf.gov.pl/v2",
                credential_fingerprint=f"tok:{i:016x}",
                method="ksef-token",
                obtained_at=now,
            ),
        )

    floor_bytes = measure(floor)
    ours_bytes = measure(ours)
    return [
        row(
            f"bytes per cached session ({count:,} in the memory store)",
            ours_bytes,
            floor_bytes,
            "B",
            baseline_name="key -> (access, refresh, expiry) tuple",
            target=1.6,
        )
    ]


def case_single_flight(sim: SimulatorProcess, threads: int) -> list[Row]:
    os.environ["BENCH_SF_TOKEN"] = sim.issue_token(NIPS[1])
    strategy = token_strategy(sim.base_url, "BENCH_SF_TOKEN", name="sf", nip=NIPS[1]).strategy("sf")
    sim.reset()
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        strategy.token()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    made = logins(sim.counters())
    return [
        {
            "case": f"single flight: logins for {threads} threads, cold",
            "ours": made,
            "baseline": 1,
            "baseline_name": "one login",
            "unit": "logins",
            "ratio": made / 1,
            "target": 1.0,
            "note": "",
        }
    ]


# --- the peer -------------------------------------------------------------------------------


def peer_rows(
    peer_python: str,
    sim: SimulatorProcess,
    delayed: SimulatorProcess,
    quick: bool,
    delay: float,
    login_floor: float,
) -> list[Row]:
    tokens = {"cached": sim.issue_token(NIP), "delayed": delayed.issue_token(NIP)}
    sf_token = sim.issue_token(NIPS[2])
    command = [
        peer_python,
        str(HERE / "peer_ksef2.py"),
        "--sim",
        sim.root_url,
        "--delayed",
        delayed.root_url,
        "--nip",
        NIP,
        "--token",
        tokens["cached"],
        "--delayed-token",
        tokens["delayed"],
        "--sf-nip",
        NIPS[2],
        "--sf-token",
        sf_token,
        "--delay",
        str(delay),
        "--login-floor",
        str(login_floor),
    ]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"ksef2 column skipped: {done.stderr.strip()[-800:]}", file=sys.stderr)
        return []
    return list(json.loads(done.stdout))


# --- other scripts ---------------------------------------------------------------------------

EXTRA_SCRIPTS = [
    "bench_bulk.py",
    "bench_redis.py",
    "simulator_throughput.py",
    "bench_ksef_certificate.py",
]


def extra_rows(quick: bool) -> list[Row]:
    rows: list[Row] = []
    for name in EXTRA_SCRIPTS:
        script = HERE / name
        if not script.is_file() or "--json" not in script.read_text():
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = handle.name
        command = [sys.executable, str(script), "--json", out, *(["--quick"] if quick else [])]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{name} failed: {done.stderr.strip()[-800:]}", file=sys.stderr)
            continue
        rows += json.loads(Path(out).read_text())
    return rows


# --- the table ------------------------------------------------------------------------------


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("logins", "B"):
        return f"{value:,.0f} {unit}"
    return f"{value:,.{1 if value < 100 else 0}f} {unit}"


def _ratio(r: Row | None) -> str:
    return "-" if r is None or r.get("ratio") is None else f"{r['ratio']:.2f}x"


def render(rows: list[Row], peer: dict[str, Row]) -> str:
    lines = [
        "| case | ours | baseline | ratio | target | ksef2 | ksef2 ratio | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = peer.get(r["case"])
        ratio = r["ratio"]
        target = r.get("target")
        mark = ""
        if ratio is not None and target is not None:
            mark = " (met)" if ratio <= target else " (missed)"
        lines.append(
            f"| {r['case']} | {_figure(r['ours'], r['unit'])} |"
            f" {_figure(r['baseline'], r['unit'])} ({r['baseline_name']}) |"
            f" {'-' if ratio is None else f'{ratio:.2f}x'} |"
            f" {'-' if target is None else f'<= {target:g}x{mark}'} |"
            f" {_figure(p['ours'], p['unit']) if p else '-'} |"
            f" {_ratio(p)} |"
            f" {r.get('note', '')} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under a minute)")
    parser.add_argument("--peer-python", help="an interpreter with ksef2 installed")
    parser.add_argument("--json", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--delay", type=float, default=0.3, help="KSeF's verification time (s)")
    args = parser.parse_args()

    started = time.perf_counter()
    rows: list[Row] = []
    peer: list[Row] = []
    with (
        SimulatorProcess("--no-rate-limits") as sim,
        SimulatorProcess("--no-rate-limits", "--auth-delay", str(args.delay)) as delayed,
    ):
        rows += case_cached(sim, args.quick)
        rows += case_login(delayed, args.quick, args.delay)
        rows += case_startup(sim, args.quick)
        rows += case_file_store(args.quick)
        rows += case_authenticated_get(sim, args.quick)
        rows += case_memory(args.quick)
        rows += case_single_flight(sim, 16)
        if args.peer_python:
            login_floor = next(r for r in rows if r["case"].startswith("login"))["baseline"]
            peer = peer_rows(
                args.peer_python, sim, delayed, args.quick, args.delay, login_floor / 1e3
            )
    rows += extra_rows(args.quick)
    wall = time.perf_counter() - started

    table = render(rows, {r["case"]: r for r in peer})
    print(table)
    print(
        f"\n{'quick' if args.quick else 'full'} run, {wall:.0f} s, Python"
        f" {sys.version.split()[0]}, {os.cpu_count()} cores; ratio = ours / baseline, both"
        " measured in this run; ksef2 ratios against the same baselines in its own process."
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "python": sys.version.split()[0],
                "seconds": wall,
                "rows": rows,
                "peer": peer,
            },
            indent=2,
        )
    )
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
