"""``--all`` and ``--contexts FILE`` for ``login``, ``sessions`` and ``logout``: one profile's
strategy over many contexts, at KSeF's pace (see :mod:`ksef_auth.bulk`)::

    ksef-auth login --all                       # every context the profile's strategy serves
    ksef-auth login --contexts clients.txt      # the contexts of a file (lines, CSV or TOML)
    ksef-auth login --contexts clients.txt --json > results.jsonl
    ksef-auth sessions --all --json
    ksef-auth logout --all                      # every session of every context, ended

A terminal shows progress (done, ok, reused, failed, rate, ETA) on stderr; ``--json`` prints one
JSON line per context (``status``: ok / reused / error with the typed ``error`` and its
message), then a summary line. The exit code is 0 when every context succeeded, the failures'
common exit code otherwise (5: KSeF refused, 4: credential, 3: configuration...), 1 when they
differ, 130 after Ctrl-C (the contexts in flight finish; run again to resume).

Commands opt in with :func:`many`, placed right above the function.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from ksef_auth.bulk import (
    DEFAULT_CONCURRENCY,
    DEFAULT_SHARE,
    BulkReport,
    BulkResult,
    login_many,
    logout_many,
    sessions_many,
)
from ksef_auth.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

SHOWN = 20
"""Failures listed in full at the end of a text run (``--json`` has them all)."""


def many(verb: str) -> Callable[[F], F]:
    """Add ``--all``, ``--contexts FILE``, ``--concurrency``, ``--rate-limit-scale``,
    ``--share`` and ``--progress/--no-progress`` to a session command; with ``--all`` or
    ``--contexts`` the bulk version of ``verb`` (login, sessions, logout) runs instead of it."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(
            *args: Any,
            all_contexts: bool,
            contexts_file: Path | None,
            concurrency: int,
            rate_limit_scale: float,
            share: float,
            progress: bool | None,
            **kwargs: Any,
        ) -> Any:
            if not all_contexts and contexts_file is None:
                return command(*args, **kwargs)
            if all_contexts and contexts_file is not None:
                raise click.UsageError("give --all or --contexts FILE, not both")
            return run_bulk(
                verb,
                profile_name=kwargs.get("profile_name"),
                config_path=kwargs.get("config_path"),
                contexts_file=contexts_file,
                as_json=bool(kwargs.get("as_json")),
                force=bool(kwargs.get("force")),
                concurrency=concurrency,
                rate_limit_scale=rate_limit_scale,
                share=share,
                progress=progress,
            )

        options = [
            click.option(
                "--all",
                "all_contexts",
                is_flag=True,
                help="Every context the profile's strategy serves (its context and contexts).",
            ),
            click.option(
                "--contexts",
                "contexts_file",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="The contexts in FILE: one NIP per line, a CSV with a nip column, or TOML.",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 64),
                default=DEFAULT_CONCURRENCY,
                show_default=True,
                help="Contexts worked on at once (with --all/--contexts).",
            ),
            click.option(
                "--rate-limit-scale",
                type=click.FloatRange(min=0.001),
                default=1.0,
                show_default=True,
                help="Multiply KSeF's published limits (a simulator's --rate-limit-scale).",
            ),
            click.option(
                "--share",
                type=click.FloatRange(0.01, 1.0),
                default=DEFAULT_SHARE,
                show_default=True,
                help="The fraction of the limits to book (headroom for jitter and other clients).",
            ),
            click.option(
                "--progress/--no-progress",
                default=None,
                help="Show progress on stderr (default: when stderr is a terminal).",
            ),
        ]
        for option in reversed(options):
            run = option(run)
        return run  # type: ignore[return-value]

    return decorate


def _plan(
    config_path: Path | None, profile_name: str | None, contexts_file: Path | None
) -> tuple[Any, list[Any], list[Any]]:
    """The profile's strategy, the contexts to work on and the entries that cannot be used."""
    from ksef_auth.cli.profile import profile_store
    from ksef_auth.config import Config
    from ksef_auth.contexts import ContextList
    from ksef_auth.manager import default_manager

    store = profile_store(config_path)
    name = store.resolve(profile_name)
    data = store.read()
    single = {
        "strategy": {name: data["strategy"][name]},
        **({"defaults": data["defaults"]} if "defaults" in data else {}),
    }
    logging.getLogger("ksef_auth.config").addHandler(logging.NullHandler())  # reported here
    config = Config(single, str(store.path), store.path.parent, default_manager(), True)
    strategy = config.strategy(name)
    if contexts_file is None:
        return strategy, config.entries(name), config.context_problems(name)
    listed = ContextList("--contexts", "", None).read({"file": str(contexts_file)})
    return strategy, listed.entries, listed.problems


class Progress:
    """Counts, rate and ETA on one line of ``stream``, redrawn at most 10 times a second (on
    a terminal) or printed once a second (elsewhere)."""

    def __init__(self, total: int, stream: TextIO, *, terminal: bool) -> None:
        self.total = total
        self.stream = stream
        self.terminal = terminal
        self.started = time.monotonic()
        self.counts = {"ok": 0, "reused": 0, "error": 0}
        self._shown = 0.0

    def add(self, result: BulkResult) -> None:
        self.counts[result.status] += 1
        now = time.monotonic()
        if now - self._shown >= (0.1 if self.terminal else 1.0):
            self._shown = now
            self.show()

    def line(self) -> str:
        done = sum(self.counts.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        width = len(str(self.total))
        return (
            f"[{done:>{width}}/{self.total}] ok {self.counts['ok']}  reused"
            f" {self.counts['reused']}  failed {self.counts['error']}  {rate:.1f}/s"
            f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
        )

    def show(self) -> None:
        end = "\r" if self.terminal else "\n"
        self.stream.write(("\r" if self.terminal else "") + self.line() + end)
        self.stream.flush()

    def close(self) -> None:
        self.show()
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _line(verb: str, result: BulkResult) -> dict[str, Any]:
    data = result.to_json()
    if verb == "sessions" and result.value is not None:
        data["sessions"] = [
            {
                "reference_number": s.reference_number,
                "current": s.is_current,
                "method": s.method,
                "status": s.status_code,
            }
            for s in result.value
        ]
    if verb == "logout" and result.value is not None:
        data["revoked"] = list(result.value)
    return data


def run_bulk(
    verb: str,
    *,
    profile_name: str | None,
    config_path: Path | None,
    contexts_file: Path | None,
    as_json: bool,
    force: bool,
    concurrency: int,
    rate_limit_scale: float,
    share: float,
    progress: bool | None,
) -> None:
    """Run ``verb`` over the contexts and report; exits with the code described above."""
    from ksef_auth.cli import exit_code

    strategy, contexts, problems = _plan(config_path, profile_name, contexts_file)
    total = len(contexts) + len(problems)
    stderr: TextIO = sys.stderr
    terminal = stderr.isatty()
    shown = (
        Progress(total, stderr, terminal=terminal)
        if progress or (progress is None and terminal)
        else None
    )

    def on_result(result: BulkResult) -> None:
        if as_json:
            click.echo(json.dumps(_line(verb, result), default=str))
        if shown is not None:
            shown.add(result)

    operations: dict[str, Callable[..., BulkReport]] = {
        "login": login_many,
        "sessions": sessions_many,
        "logout": logout_many,
    }
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "rate_limit_scale": rate_limit_scale,
        "share": share,
        "problems": problems,
        "on_result": on_result,
    }
    if verb == "login":
        options["force"] = force
    report = operations[verb](strategy, contexts, **options)
    if shown is not None:
        shown.close()
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _print_text(verb, report, summary)
    if report.interrupted:
        sys.exit(130)
    failed = report.failed
    if failed:
        codes = {exit_code(r.error) if r.error is not None else 1 for r in failed}
        sys.exit(codes.pop() if len(codes) == 1 else 1)


def _print_text(verb: str, report: BulkReport, summary: dict[str, Any]) -> None:
    done = {"login": "logged in", "sessions": "listed", "logout": "logged out"}[verb]
    rate = f" ({summary['per_second']}/s)" if summary["per_second"] else ""
    click.echo(
        f"{summary['contexts']} contexts: {summary['ok']} {done}, {summary['reused']} reused,"
        f" {summary['error']} failed in {summary['seconds']:.1f} s{rate};"
        f" {summary['rate_limited']} x 429"
        + (f"; interrupted, {summary['not_started']} not started" if report.interrupted else "")
    )
    if verb == "sessions":
        for result in report.results:
            if result.status != "error" and result.context is not None:
                count = len(result.value or [])
                click.echo(f"  {result.context}: {count} session{'s' if count != 1 else ''}")
    failed = report.failed
    for result in failed[:SHOWN]:
        error = result.error
        if result.context is None and isinstance(error, ConfigError):  # a line of the file
            label, message = result.where, error.reason
        else:
            label, message = str(result.context), str(error)
        click.secho(f"  {label}: {result.reason}: {message}", fg="red", err=True)
    if len(failed) > SHOWN:
        click.secho(f"  ... and {len(failed) - SHOWN} more (--json lists all)", err=True)
