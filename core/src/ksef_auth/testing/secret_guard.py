"""The secret guard: a pytest plugin that fails any test letting a secret out.

Enable it for a test run with ``-p ksef_auth.testing.secret_guard`` (in ``addopts`` of your
pytest configuration, so that it is on for every run). It then learns every secret the tests
make, wherever it is born:

* every :class:`~ksef_auth.Secret` (KSeF tokens, shared secrets, passwords and keys read through
  a ``SecretRef``, access and refresh tokens of every session);
* every value reported with :func:`ksef_auth.secret.note_secret` (the simulator reports the KSeF
  tokens and JWTs it issues; the key-sealing helpers report the keys they generate);
* the private key of every :class:`~ksef_auth.LocalKey` (its PEM lines);

and, at the end of each test, looks for them in what the test let out: its captured standard
output and error, every log record (the ``ksef_auth`` loggers are set to DEBUG, so a secret in a
debug line is found too), every warning, and the message of every
:class:`~ksef_auth.errors.KsefAuthError` made during the test (raised or not). A test that shows
one gets an error naming where it was seen and where the secret was made, never the secret.

Secrets shorter than 8 characters are not tracked (too likely to appear by chance). A test that
shows a secret on purpose (a command that prints a token) marks it::

    @pytest.mark.shows_secret("ksef-auth token prints the access token")
    def test_token_command(...): ...

and only its captured output goes unchecked; ``@pytest.mark.secret_guard_off("why")`` turns every
check off for a test that runs deliberately leaky code (the kit's own mutation tests). Text from
elsewhere (a subprocess's output) is checked with :func:`inspect`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ksef_auth import errors
from ksef_auth.secret import watch

__all__ = ["MIN_LENGTH", "SecretGuard", "inspect"]

MIN_LENGTH = 8
_GRAM = 8  # secrets are indexed by their last 8 characters (random in every token format)
_CONTEXT = 60
_HERE = __name__


class SecretGuard:
    """What the plugin knows: every secret made (indexed for a fast search) and, for the test
    running now, the texts it let out."""

    def __init__(self) -> None:
        self.by_tail: dict[str, list[str]] = {}
        self.made_at: dict[str, str] = {}
        self.records: list[logging.LogRecord] = []
        self.texts: list[tuple[str, str]] = []  # (where, text)
        self.mutex = threading.Lock()

    # --- learning secrets -----------------------------------------------------------------------

    def add(self, value: str) -> None:
        if len(value) < MIN_LENGTH or value in self.made_at:
            return
        with self.mutex:
            if value in self.made_at:
                return
            self.made_at[value] = _caller()
            self.by_tail.setdefault(value[-_GRAM:], []).append(value)

    # --- seeing texts ---------------------------------------------------------------------------

    def see(self, where: str, text: str) -> None:
        if text:
            self.texts.append((where, text))

    def find(self, text: str) -> list[str]:
        """The known secrets that occur in ``text``."""
        if len(text) < MIN_LENGTH or not self.by_tail:
            return []
        grams = {text[i : i + _GRAM] for i in range(len(text) - _GRAM + 1)}
        found = []
        for tail in grams.intersection(self.by_tail):
            found += [s for s in self.by_tail[tail] if s in text]
        return found

    def leaks(self, *, output: bool) -> list[str]:
        """Where this test let a secret out (one line each, the secret replaced)."""
        texts = [(w, t) for w, t in self.texts if output or not w.startswith("captured")]
        for record in self.records:
            texts.append(
                (
                    f"log record of {record.name} ({record.pathname}:{record.lineno})",
                    _record_text(record),
                )
            )
        lines = []
        for where, text in texts:
            found = sorted(self.find(text), key=len, reverse=True)
            if not found:
                continue
            masked = text
            for secret in found:  # longest first: a secret inside another is masked with it
                masked = masked.replace(secret, "<a secret>")
            made = ", ".join(dict.fromkeys(self.made_at[s] for s in found))
            lines.append(f"- in {where}: {len(found)} secret(s) made at {made}: {_around(masked)}")
        return lines

    def reset(self) -> None:
        self.records.clear()
        self.texts.clear()


def _caller() -> str:
    """Where the secret being recorded was made: the first frame outside this module, the
    ``Secret`` class and attrs' generated code."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        module = frame.f_globals.get("__name__", "")
        if module not in (_HERE, "ksef_auth.secret") and not name.startswith("<attrs"):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "an unknown place"


def _record_text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a broken format is not the guard's concern
        text = f"{record.msg} {record.args}"
    if record.exc_info and record.exc_info[1] is not None:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


def _around(masked: str) -> str:
    """The masked text around its first masked secret, on one line."""
    start = masked.index("<a secret>")
    end = start + len("<a secret>")
    shown = masked[max(0, start - _CONTEXT) : end + _CONTEXT].replace("\n", " ")
    return f"...{shown}..."


class _Handler(logging.Handler):
    def __init__(self, guard: SecretGuard) -> None:
        super().__init__(logging.DEBUG)
        self.guard = guard

    def emit(self, record: logging.LogRecord) -> None:
        self.guard.records.append(record)


_ACTIVE: list[SecretGuard] = []  # one per pytest run in this process (pytester nests them)


def inspect(text: str, where: str) -> None:
    """Check ``text`` (a subprocess's output, a file written) with the current test's output
    when the guard is on; nothing when it is off."""
    for guard in _ACTIVE:
        guard.see(f"captured {where}", text)


# --- the pytest plugin ------------------------------------------------------------------------


class _Plugin:
    def __init__(self) -> None:
        self.guard = SecretGuard()
        self.undo: list[Callable[[], None]] = []
        self.reports: list[pytest.TestReport] = []

    def start(self) -> None:
        guard = self.guard
        _ACTIVE.append(guard)
        self.undo.append(lambda: _ACTIVE.remove(guard))
        self.undo.append(watch(guard.add))
        handler = _Handler(guard)
        root = logging.getLogger()
        root.addHandler(handler)
        self.undo.append(lambda: root.removeHandler(handler))
        ours = logging.getLogger("ksef_auth")
        if ours.level == logging.NOTSET:
            ours.setLevel(logging.DEBUG)
            self.undo.append(lambda: ours.setLevel(logging.NOTSET))
        self.undo.append(_watch_errors())

    def stop(self) -> None:
        while self.undo:
            self.undo.pop()()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Iterator[None]:
        self.guard.reset()
        self.reports = []
        try:
            return (yield)
        finally:
            self._check(item)
            self.guard.reset()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        count = len(self.guard.made_at)
        terminalreporter.write_line(f"secret guard: {count} secrets watched, in every test")

    def pytest_warning_recorded(self, warning_message: Any, when: str, nodeid: str) -> None:
        if when == "runtest":
            message = warning_message.message
            self.guard.see(f"a warning ({type(message).__name__})", str(message))

    def _check(self, item: pytest.Item) -> None:
        if self.reports:  # each report carries the sections of the phases before it
            for title, content in self.reports[-1].sections:
                if not title.lower().startswith("captured log"):  # the records are seen whole
                    self.guard.see(title.lower(), content)
        if item.get_closest_marker("secret_guard_off") is not None:
            return
        shows = item.get_closest_marker("shows_secret") is not None
        leaks = self.guard.leaks(output=not shows)
        if not leaks:
            return
        lines = "\n".join(dict.fromkeys(leaks))
        report = pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords={},
            outcome="failed",
            longrepr=f"secret guard: this test let a secret out\n{lines}",
            when="teardown",
        )
        item.ihook.pytest_runtest_logreport(report=report)


_ORIGINAL_INIT: list[Any] = []


def _watch_errors() -> Callable[[], None]:
    """Have every KsefAuthError made from now on shown to the active guards; returns the undo
    (the class is restored when the last guard stops)."""
    cls = errors.KsefAuthError
    if not _ORIGINAL_INIT:
        _ORIGINAL_INIT.append(cls.__dict__.get("__init__"))

        def __init__(self: errors.KsefAuthError, *args: Any, **kwargs: Any) -> None:
            super(cls, self).__init__(*args, **kwargs)
            try:
                text = str(self)
            except Exception:
                return
            for guard in _ACTIVE:
                guard.see(f"the message of a {type(self).__name__}", text)

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    def undo() -> None:
        if _ACTIVE or not _ORIGINAL_INIT:
            return
        original = _ORIGINAL_INIT.pop()
        if original is None:
            del cls.__init__  # type: ignore[misc]
        else:
            cls.__init__ = original  # type: ignore[method-assign]

    return undo


_NAME = "ksef-auth-secret-guard"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shows_secret(reason): the test shows a secret in its output on purpose; the secret"
        " guard still checks its logs, warnings and errors",
    )
    config.addinivalue_line(
        "markers",
        "secret_guard_off(reason): the test lets secrets out on purpose everywhere (it runs"
        " deliberately leaky code); the secret guard checks nothing of it",
    )
    if not config.pluginmanager.has_plugin(_NAME):
        plugin = _Plugin()
        config.pluginmanager.register(plugin, _NAME)
        plugin.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(_NAME)
    if isinstance(plugin, _Plugin):
        plugin.stop()
        config.pluginmanager.unregister(plugin)
