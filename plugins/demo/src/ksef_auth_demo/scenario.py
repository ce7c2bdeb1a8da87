"""The demo: a simulator, a strategy per installed credential and signer, and one session's life.

Everything goes through the public API: strategies are composed as a dict and loaded with
:func:`ksef_auth.config.load`, plugins are named, never imported (except that the KSeF-certificate
recipe first enrolls its certificate through ``ksef_auth_ksefcert``'s public API, as
``ksef-auth cert enroll`` does). Steps:

1. start the simulator in this process on a free loopback port (short token lifetimes so a
   refresh comes within seconds, a small authentication delay so polling shows);
2. compose a strategy for each recipe whose plugins are installed, all sharing one store;
3. log in with all of them at once (live progress) and show a table;
4. ask every strategy for its token many times: the simulator's counters prove no request left;
5. wait for one session's refresh window and show the automatic refresh;
6. revoke that session, show KSeF refusing its refresh token, and log in again.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ksef_auth import KsefAuthError, KsefError, SessionTokens, Strategy
from ksef_auth.config import load
from ksef_auth.manager import KIND_LABELS, PluginManager, default_manager
from ksef_auth_demo.progress import Progress

ACCESS_TTL = 6.0
AUTH_DELAY = 0.3
REUSE_CALLS = 200
VAR_PREFIX = "KSEF_DEMO_"

# Distinct valid NIPs (checksums correct), one context per strategy.
NIPS = (
    "5261040828",
    "1234563218",
    "7010000040",
    "9491016735",
    "6452586378",
    "1181790063",
    "8992689516",
    "1010057137",
)


@attrs.frozen
class Recipe:
    """One strategy of the demo: what it needs installed and how to write it."""

    name: str
    needs: tuple[tuple[str, str], ...]  # (kind, plugin name)
    label: str


RECIPES = (
    Recipe(
        "ksef-token",
        (("credential_source", "env"), ("signer", "ksef-token")),
        "KSeF token (RSA-OAEP)",
    ),
    Recipe(
        "hmac", (("credential_source", "env"), ("signer", "hmac")), "challenge-HMAC (not KSeF 2.0)"
    ),
    Recipe(
        "test-seal",
        (("credential_source", "test-certificate"), ("signer", "xades")),
        "test seal, XAdES",
    ),
    Recipe(
        "test-personal",
        (("credential_source", "test-certificate"), ("signer", "xades")),
        "test personal cert, XAdES",
    ),
    Recipe("pkcs12", (("credential_source", "pkcs12"), ("signer", "xades")), "PKCS#12, XAdES"),
    Recipe("pem", (("credential_source", "pem"), ("signer", "xades")), "PEM files, XAdES"),
    Recipe(
        "ksef-certificate",
        (
            ("credential_source", "ksef-certificate"),
            ("credential_source", "test-certificate"),
            ("signer", "xades"),
        ),
        "KSeF certificate, XAdES",
    ),
    Recipe(
        "cloud-chain",
        (("credential_source", "env"), ("credential_source", "paas"), ("signer", "ksef-token")),
        "a cloud variable, in a chain",
    ),
)


@attrs.define
class Row:
    name: str
    label: str
    method: str
    credential: str
    context: str
    seconds: float | None = None
    logged_in_at: str | None = None
    state: str = "pending"
    reference_number: str | None = None
    refresh_valid_until: str | None = None
    error: str | None = None


class Demo:
    """Runs the demo; :meth:`run` returns a JSON-able report. ``secrets`` collects every secret
    the demo made or received, so tests can check that none was printed."""

    def __init__(
        self,
        *,
        store: str = "memory",
        progress: Progress | None = None,
        manager: PluginManager | None = None,
    ) -> None:
        self.store_name = store
        self.progress = progress or Progress(quiet=True)
        self.manager = manager or default_manager()
        self.secrets: list[str] = []
        self._env: dict[str, str] = {}
        self._sources: dict[str, str] = {}

    # --- the whole run --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from ksef_auth_simulator import Simulator, SimulatorConfig, serve

        started = time.monotonic()
        sim = Simulator(
            SimulatorConfig(access_token_ttl=ACCESS_TTL, auth_delay=AUTH_DELAY, rate_limits=False)
        )
        report: dict[str, Any] = {"ok": False, "store": self.store_name}
        with (
            tempfile.TemporaryDirectory(prefix="ksef-auth-demo-") as temp,
            serve(sim, host="127.0.0.1", port=0) as running,
            self._variables(),
        ):
            report.update(base_url=running.base_url, temp_dir=temp)
            p = self.progress
            p.line(f"KSeF simulator at {running.base_url} (access tokens live {ACCESS_TTL:g} s)")
            strategies, skipped = self.compose(running, Path(temp))
            report["skipped"] = skipped
            for item in skipped:
                p.line(f"  skipped {item['name']}: {item['reason']}", fg="yellow")
            if not strategies:
                report["error"] = "no strategy could be composed: install plugins"
                return report
            rows = self.login_all(strategies)
            report["strategies"] = [attrs.asdict(r) for r in rows]
            self.table(rows)
            good = [strategies[r.name] for r in rows if r.error is None]
            if not good:
                report["error"] = "every login failed"
                return report
            report["reuse"] = self.reuse(good, running)
            featured = self.featured(good)
            report["refresh"] = self.refresh(featured, running)
            report["revoke"] = self.revoke(featured, running)
            report["counters"] = running.sim.counters()["events"]
            report["ok"] = (
                all(r.error is None for r in rows)
                and report["reuse"]["requests"] == 0
                and report["refresh"]["ok"]
                and report["revoke"]["ok"]
            )
        report["seconds"] = round(time.monotonic() - started, 2)
        from ksef_auth.transport import close_clients

        close_clients()
        return report

    # --- composing strategies -------------------------------------------------------------------

    @contextmanager
    def _variables(self) -> Iterator[None]:
        """Set the demo's variables in this process only, and remove them afterwards."""
        try:
            yield
        finally:
            for name in self._env:
                os.environ.pop(name, None)

    def _set(self, name: str, value: str) -> str:
        variable = VAR_PREFIX + name
        os.environ[variable] = value
        self._env[variable] = value
        self.secrets.append(value)
        return variable

    def _missing(self, recipe: Recipe) -> str | None:
        for kind, name in recipe.needs:
            try:
                self.manager.get(kind, name)  # type: ignore[arg-type]
            except KsefAuthError:
                return f"no {KIND_LABELS[kind]} {name!r} installed"  # type: ignore[index]
        return None

    def _store_spec(self, temp: Path) -> dict[str, Any]:
        registration = self.manager.get("session_store", self.store_name)
        spec: dict[str, Any] = {"use": self.store_name}
        if registration.option("path") is not None:
            spec["path"] = str(temp / "sessions")
        return spec

    def compose(self, running: Any, temp: Path) -> tuple[dict[str, Strategy], list[dict[str, str]]]:
        """One strategy per recipe whose plugins are installed; the others, with the reason."""
        sim = running.sim
        tables: dict[str, dict[str, Any]] = {}
        skipped: list[dict[str, str]] = []
        for recipe, nip in zip(RECIPES, NIPS, strict=False):
            missing = self._missing(recipe)
            if missing:
                skipped.append({"name": recipe.name, "reason": missing})
                continue
            table = self._recipe(recipe.name, nip, sim, temp, running.base_url)
            credential = table["credential"]
            chain = credential if isinstance(credential, list) else [credential]
            self._sources[recipe.name] = " > ".join(spec["use"] for spec in chain)
            tables[recipe.name] = {"context": nip, **table}
        if not tables:
            return {}, skipped
        config = load(
            {
                "defaults": {"environment": running.base_url, "store": self._store_spec(temp)},
                "strategy": tables,
            },
            manager=self.manager,
        )
        return {name: config.strategy(name) for name in config.names()}, skipped

    def _recipe(
        self, name: str, nip: str, sim: Any, temp: Path, base_url: str = ""
    ) -> dict[str, Any]:
        from ksef_auth_demo import certs

        if name == "ksef-token":
            variable = self._set("TOKEN", sim.issue_ksef_token(nip))
            return {"credential": {"use": "env", "var": variable}, "signer": "ksef-token"}
        if name == "hmac":
            variable = self._set("HMAC_SECRET", sim.issue_ksef_token(nip))
            return {
                "credential": {"use": "env", "var": variable, "kind": "shared-secret"},
                "signer": "hmac",
            }
        if name == "cloud-chain":  # the platform's variable first, then the conventional one
            variable = self._set("PAAS_TOKEN", sim.issue_ksef_token(nip))
            unset = VAR_PREFIX + "UNSET_TOKEN"
            return {
                "credential": [
                    {"use": "env", "var": unset},
                    {"use": "paas", "names": [variable]},
                ],
                "signer": "ksef-token",
            }
        if name == "test-seal":
            return {"credential": {"use": "test-certificate"}, "signer": "xades"}
        if name == "test-personal":
            return {
                "credential": {"use": "test-certificate", "kind": "personal", "key_type": "ec"},
                "signer": "xades",
            }
        if name == "pkcs12":
            password = secrets.token_urlsafe(16)
            variable = self._set("P12_PASSWORD", password)
            path = certs.write_pkcs12(temp, nip, password)
            return {
                "credential": {"use": "pkcs12", "path": str(path), "password": {"env": variable}},
                "signer": "xades",
            }
        if name == "pem":
            password = secrets.token_urlsafe(16)
            variable = self._set("KEY_PASSWORD", password)
            cert_path, key_path = certs.write_pem(temp, nip, password)
            credential = {"use": "pem", "certificate": str(cert_path), "key": str(key_path)}
            return {
                "credential": {**credential, "password": {"env": variable}},
                "signer": "xades",
            }
        if name == "ksef-certificate":  # enrolled after a login with a test seal, then alone
            password = secrets.token_urlsafe(16)
            variable = self._set("KSEF_CERT_PASSWORD", password)
            path = temp / "ksef-certificate.p12"
            self._enroll(base_url, nip, path, variable)
            kept = {"use": "ksef-certificate", "path": str(path), "password": {"env": variable}}
            # renew = false: its first look at KSeF's record would count as a request below
            return {"credential": {**kept, "renew": False}, "signer": "xades"}
        raise ValueError(f"unknown recipe {name!r}")

    def _enroll(self, base_url: str, nip: str, path: Path, password_variable: str) -> None:
        """A KSeF certificate for ``nip``, enrolled after a XAdES login with a test seal and
        kept in ``path``: what ``ksef-auth cert enroll`` does (ksef_auth_ksefcert's API)."""
        from ksef_auth import SecretRef
        from ksef_auth_ksefcert import CertificatesClient, Pkcs12KeyStore, enroll

        seal = load(
            {
                "strategy": {
                    "seal": {
                        "environment": base_url,
                        "context": nip,
                        "credential": {"use": "test-certificate"},
                        "signer": "xades",
                    }
                }
            },
            manager=self.manager,
        ).strategy("seal")
        store = Pkcs12KeyStore(path, SecretRef.env(password_variable))
        self.progress.line(f"enrolling a KSeF certificate for {nip} (a test seal logs in)")
        enroll(CertificatesClient(seal), store, name="Serwer demo")

    # --- logging in -----------------------------------------------------------------------------

    def login_all(self, strategies: dict[str, Strategy]) -> list[Row]:
        """Log in with every strategy at once, with a live line while KSeF is polled."""
        labels = {r.name: r.label for r in RECIPES}
        rows = {
            name: Row(
                name=name,
                label=labels.get(name, name),
                method=getattr(s.signer, "method", "?"),
                credential=self._sources.get(name, "?"),
                context=str(s.context),
            )
            for name, s in strategies.items()
        }
        p = self.progress
        p.line(f"logging in with {len(strategies)} strategies (polling GET /auth/{{ref}})")
        begun: dict[str, float] = {}
        with ThreadPoolExecutor(max_workers=len(strategies)) as pool:
            futures: dict[str, Future[tuple[SessionTokens, float]]] = {}
            for name, strategy in strategies.items():
                begun[name] = time.monotonic()
                futures[name] = pool.submit(_timed_login, strategy)
            reported: set[str] = set()

            def report_done() -> bool:
                for name, future in futures.items():
                    if name in reported or not future.done():
                        continue
                    reported.add(name)
                    self._finish(rows[name], future)
                return len(reported) == len(futures)

            def describe(elapsed: float) -> str:
                waiting = [n for n, f in futures.items() if not f.done()]
                return f"polling KSeF for {', '.join(waiting)} ({elapsed:.1f} s)"

            p.spin(describe, report_done)
        return list(rows.values())

    def _finish(self, row: Row, future: Future[tuple[SessionTokens, float]]) -> None:
        try:
            tokens, seconds = future.result()
        except KsefAuthError as exc:
            row.state, row.error = "failed", str(exc)
            self.progress.line(f"  x {row.name}: {exc}", fg="red")
            return
        self.secrets.append(tokens.access_token.value.reveal())
        if tokens.refresh_token is not None:
            self.secrets.append(tokens.refresh_token.value.reveal())
        row.seconds = round(seconds, 2)
        row.logged_in_at = tokens.obtained_at.astimezone().strftime("%H:%M:%S.%f")[:-3]
        row.reference_number = tokens.reference_number
        row.state = "active" if tokens.refresh_token else "active (no refresh token)"
        row.refresh_valid_until = (
            tokens.refresh_token.valid_until.isoformat(timespec="seconds")
            if tokens.refresh_token
            else None
        )
        self.progress.line(f"  + {row.name} logged in ({row.seconds:.2f} s)", fg="green")

    def table(self, rows: list[Row]) -> None:
        header = ("strategy", "method", "credential", "context", "logged in", "took", "session")
        data = [
            (
                r.name,
                r.method,
                r.credential,
                r.context,
                r.logged_in_at or "-",
                f"{r.seconds:.2f} s" if r.seconds is not None else "-",
                r.state,
            )
            for r in rows
        ]
        widths = [max(len(str(x)) for x in column) for column in zip(header, *data, strict=True)]
        p = self.progress
        p.line()
        p.line(
            "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), bold=True
        )
        for r, values in zip(rows, data, strict=True):
            text = "  ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True))
            p.line(text.rstrip(), fg="red" if r.error else None)
        p.line()

    # --- the lifecycle --------------------------------------------------------------------------

    def reuse(self, strategies: list[Strategy], running: Any) -> dict[str, Any]:
        before = _requests(running)
        calls = 0
        for strategy in strategies:
            for _ in range(REUSE_CALLS):
                strategy.token()
                calls += 1
        requests = _requests(running) - before
        self.progress.line(
            f"reuse: {calls} token() calls across {len(strategies)} sessions,"
            f" {requests} requests to KSeF (the simulator's counters)",
            fg="green" if requests == 0 else "red",
        )
        return {"calls": calls, "requests": requests}

    def featured(self, strategies: list[Strategy]) -> Strategy:
        """The strategy whose session shows refresh and revocation (one with a refresh token)."""
        preferred = ("ksef-token", "test-seal", "pem", "pkcs12", "test-personal")
        for name in preferred:
            for strategy in strategies:
                tokens = strategy.session.current()
                if strategy.name == name and tokens and tokens.refresh_token:
                    return strategy
        return strategies[0]

    def refresh(self, strategy: Strategy, running: Any) -> dict[str, Any]:
        tokens = strategy.session.current()
        assert tokens is not None
        expires = tokens.access_token.valid_until.timestamp()
        lifetime = expires - tokens.obtained_at.timestamp()
        advisory, _ = strategy.refresh.windows(lifetime)
        opens = expires - advisory + 0.05
        self.progress.spin(
            lambda elapsed: (
                f"{strategy.name}: access token valid {max(0.0, expires - time.time()):.1f} s more;"
                f" the refresh window opens in {max(0.0, opens - time.time()):.1f} s"
            ),
            lambda: time.time() >= opens,
        )
        before = _events(running)
        strategy.token()  # in the advisory window: this call refreshes
        after = strategy.session.current()
        assert after is not None
        self.secrets.append(after.access_token.value.reveal())
        delta = _delta(before, _events(running))
        refreshes, logins = delta.get("refreshes", 0), delta.get("logins_completed", 0)
        ok = refreshes == 1 and logins == 0
        self.progress.line(
            f"refresh: {strategy.name} renewed its access token with the refresh token"
            f" (refreshes +{refreshes}, logins +{logins});"
            f" valid until {after.access_token.valid_until.astimezone():%H:%M:%S}",
            fg="green" if ok else "red",
        )
        return {"strategy": strategy.name, "ok": ok, "counters": delta}

    def revoke(self, strategy: Strategy, running: Any) -> dict[str, Any]:
        old = strategy.session.current()
        assert old is not None
        before = _events(running)
        strategy.session.revoke()
        refused: str | None = None
        try:
            strategy.session.flow.refresh(old)
        except KsefError as exc:
            refused = f"HTTP {exc.http_status}" + (f", code {exc.code}" if exc.code else "")
        self.progress.line(
            f"revoke: session {old.reference_number} revoked; KSeF now refuses its refresh"
            f" token ({refused or 'NOT refused'})",
            fg="green" if refused else "red",
        )
        holder: dict[str, Any] = {}
        self.progress.spin(
            lambda elapsed: f"{strategy.name}: logging in again ({elapsed:.1f} s)",
            _in_thread(lambda: holder.setdefault("token", strategy.token())),
        )
        new = strategy.session.current()
        assert new is not None
        self.secrets.append(new.access_token.value.reveal())
        delta = _delta(before, _events(running))
        ok = (
            refused is not None
            and delta.get("sessions_revoked", 0) == 1
            and delta.get("logins_completed", 0) == 1
            and new.reference_number != old.reference_number
        )
        self.progress.line(
            f"re-login: {strategy.name} has a new session {new.reference_number}"
            f" (logins +{delta.get('logins_completed', 0)})",
            fg="green" if ok else "red",
        )
        return {
            "strategy": strategy.name,
            "ok": ok,
            "revoked": old.reference_number,
            "refresh_refused": refused,
            "new_reference_number": new.reference_number,
            "counters": delta,
        }


def _timed_login(strategy: Strategy) -> tuple[SessionTokens, float]:
    started = time.monotonic()
    strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    return tokens, time.monotonic() - started


def _in_thread(work: Callable[[], object]) -> Callable[[], bool]:
    """Start ``work`` in a thread; the returned function tells whether it has finished (and
    re-raises its error in the caller when it failed)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="ksef-auth-demo", daemon=True)
    thread.start()

    def done() -> bool:
        if thread.is_alive():
            return False
        if failure:
            raise failure[0]
        return True

    return done


def _events(running: Any) -> dict[str, int]:
    return dict(running.sim.counters()["events"])


def _requests(running: Any) -> int:
    endpoints = running.sim.counters()["endpoints"]
    return sum(int(counts.get("calls", 0)) for counts in endpoints.values())


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }
