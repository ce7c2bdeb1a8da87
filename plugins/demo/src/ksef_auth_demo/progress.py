"""Live progress: a spinner line redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

import click

_FRAMES_UTF8 = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_FRAMES_ASCII = "|/-\\"


class Progress:
    """Writes to ``stream``. ``live`` (a terminal) redraws one line; otherwise each step prints
    one plain line when it starts and one when it ends. ``quiet`` prints nothing (``--json``)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = not quiet and self.stream.isatty()
        encoding = (getattr(self.stream, "encoding", "") or "").lower()
        self.frames = _FRAMES_UTF8 if "utf" in encoding else _FRAMES_ASCII
        self._lock = threading.Lock()

    def line(self, text: str = "", **style: object) -> None:
        """A finished line (clears the spinner first)."""
        if self.quiet:
            return
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[2K")
            click.secho(text, file=self.stream, **style)  # type: ignore[arg-type]

    def spin(self, describe: Callable[[float], str], until: Callable[[], bool]) -> float:
        """Redraw ``describe(elapsed)`` until ``until()`` is true; return the seconds taken.
        Not live: print the first description once, then wait."""
        started = time.monotonic()
        if not self.live:
            if not self.quiet:
                self.line(describe(0.0))
            while not until():
                time.sleep(0.02)
            return time.monotonic() - started
        for frame in itertools.cycle(self.frames):
            if until():
                break
            elapsed = time.monotonic() - started
            with self._lock:
                text = click.style(frame, fg="cyan") + " " + describe(elapsed)
                self.stream.write("\r\x1b[2K" + text)
                self.stream.flush()
            time.sleep(0.08)
        with self._lock:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        return time.monotonic() - started
