"""Which files a piece of code opens for reading, seen through Python's ``open`` audit event.

::

    with files_read(under=tmp_path) as paths:
        source.load(request)
    # paths: every file below tmp_path that was opened for reading meanwhile (any thread)

The audit hook is added once, the first time this is used (audit hooks cannot be removed); while
nothing records, it is one comparison per audited event.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["files_read"]

_recorders: list[tuple[Path, set[Path]]] = []
_mutex = threading.Lock()
_installed = False
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _recorders:
        return
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    if isinstance(path, int) or path is None:
        return
    if isinstance(mode, str):
        if set(mode) & set("wax+"):
            return
    elif isinstance(flags, int) and flags & _WRITE_FLAGS:
        return
    try:
        text = os.fsdecode(path)
    except (TypeError, ValueError):
        return
    full = Path(text).resolve()
    for under, found in list(_recorders):
        if full.is_relative_to(under) and full.is_file():  # not a missing file, nor a folder
            found.add(full)


@contextmanager
def files_read(under: Path) -> Iterator[set[Path]]:
    """Record the existing files below ``under`` opened for reading (not for writing) in the
    block, by any thread."""
    global _installed
    with _mutex:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
    found: set[Path] = set()
    entry = (Path(under).resolve(), found)
    _recorders.append(entry)
    try:
        yield found
    finally:
        _recorders.remove(entry)
