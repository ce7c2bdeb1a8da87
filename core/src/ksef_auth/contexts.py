"""Context lists: the contexts one strategy serves, written inline or kept in a file.

::

    [strategy.firm]
    contexts = ["5261040828", { nip = "1234563218", description = "Kowalski" }]
    contexts = { file = "clients.txt" }    # one context per line (# starts a comment)
    contexts = { file = "clients.csv" }    # CSV with a header row: a nip (or context) column
    contexts = { file = "clients.toml" }   # contexts = [...] exactly as inline, or [[contexts]]

An entry is a NIP (``"526-104-08-28"``), a typed identifier (``"InternalId:5261040828-00001"``,
as ``str(ContextIdentifier)`` prints it), or a table: ``nip`` (or ``context``) plus any of
:data:`OVERRIDE_KEYS` for a client that differs from the strategy. The format of a file comes
from its suffix (``.csv``, ``.toml``, anything else is one per line) or ``format = "lines" |
"csv" | "toml"``; ``column = "NIP klienta"`` names a CSV's context column.

A bad entry is a problem of that entry only (reported with ``file:line`` or ``file:key``); the
caller decides whether it stops the file (``strict``). Reading the list itself (a missing file,
an unknown format) fails with a :class:`~ksef_auth.errors.ConfigError`.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ksef_auth.errors import ConfigError
from ksef_auth.files import read_config_file
from ksef_auth.model import ContextIdentifier
from ksef_auth.values import MAX_TEXT, kind_of, show

OVERRIDE_KEYS = ("credential", "signer", "refresh", "description")
"""What one context may set differently from its strategy."""

FORMATS = ("lines", "csv", "toml")
_CONTEXT_COLUMNS = ("nip", "context")


@attrs.frozen
class ContextEntry:
    """One context of a strategy's list: where it was written and what it overrides."""

    context: ContextIdentifier
    source: str
    """The file it was written in (``<dict>`` for a dict)."""
    key: str
    """Its line (``12``) or key (``strategy.firm.contexts[3]``) in that file."""
    overrides: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def where(self) -> str:
        """``clients.txt:12`` or ``ksef-auth.toml:strategy.firm.contexts[3]``."""
        return f"{self.source}:{self.key}"

    @property
    def description(self) -> str | None:
        value = self.overrides.get("description")
        return value if isinstance(value, str) else None


def context_of(value: Any) -> ContextIdentifier:
    """A context from ``"NIP"``, ``"Type:value"``, ``{ nip = ... }`` or ``{ type, value }``;
    ``ValueError`` saying what is wrong otherwise."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"is {len(value):,} characters long, not a context identifier")
        head, sep, tail = value.partition(":")
        if sep and head.strip().isalpha():
            return ContextIdentifier(head.strip(), tail.strip())
        return ContextIdentifier.nip(value)
    if isinstance(value, Mapping):
        if set(value) == {"nip"} and isinstance(value["nip"], str):
            return context_of_nip(value["nip"])
        if set(value) == {"type", "value"}:
            if not all(isinstance(v, str) for v in value.values()):
                raise ValueError("type and value must be strings")
            return ContextIdentifier(value["type"], value["value"])
    raise ValueError(
        'write "NIP", "Type:value", { nip = "NIP" } or { type = "InternalId", value = "..." };'
        f" got {kind_of(value)} {show(value)}"
    )


def context_of_nip(value: str) -> ContextIdentifier:
    if len(value) > MAX_TEXT:
        raise ValueError(f"NIP is {len(value):,} characters long; a NIP is 10 digits")
    return ContextIdentifier.nip(value)


class ContextList:
    """Reads one strategy's ``contexts`` value into entries and per-entry problems."""

    def __init__(self, source: str, key: str, base_dir: Path | None) -> None:
        self.source = source
        self.key = key
        self.base_dir = base_dir
        self.entries: list[ContextEntry] = []
        self.problems: list[ConfigError] = []
        self._seen: dict[ContextIdentifier, str] = {}

    def read(self, spec: Any) -> ContextList:
        """Read ``spec`` (a list, or ``{ file = ..., format = ..., column = ... }``)."""
        if isinstance(spec, list | tuple):
            self._entries(spec, self.source, self.key)
        elif isinstance(spec, Mapping) and "file" in spec:
            self._file(spec)
        else:
            raise ConfigError(
                'write a list of contexts, or { file = "clients.txt" } (one per line, CSV or'
                f" TOML); got {kind_of(spec)}",
                source=self.source,
                key=self.key,
            )
        return self

    # --- files ----------------------------------------------------------------------------------

    def _file(self, spec: Mapping[str, Any]) -> None:
        unknown = set(spec) - {"file", "format", "column"}
        if unknown:
            raise ConfigError(
                f"unknown key {sorted(unknown)[0]!r}; a contexts file takes file, format, column",
                source=self.source,
                key=f"{self.key}.{sorted(unknown)[0]}",
            )
        name = spec["file"]
        if not isinstance(name, str) or not name or len(name) > MAX_TEXT:
            raise ConfigError(
                "file must be the path of a contexts file", source=self.source, key=self.key
            )
        path = Path(name).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        default = {".csv": "csv", ".toml": "toml"}.get(path.suffix.lower(), "lines")
        fmt = spec.get("format", default)
        if fmt not in FORMATS:
            raise ConfigError(
                f"unknown format {show(fmt)}; use one of: {', '.join(FORMATS)}",
                source=self.source,
                key=f"{self.key}.format",
            )
        column = spec.get("column")
        if column is not None and (fmt != "csv" or not isinstance(column, str)):
            raise ConfigError(
                "column names the context column of a CSV file (a string)",
                source=self.source,
                key=f"{self.key}.column",
            )
        text = read_config_file(path, "contexts file")
        source = str(path)
        if fmt == "lines":
            self._lines(text, source)
        elif fmt == "csv":
            self._csv(text, source, column)
        else:
            self._toml(text, source)

    def _lines(self, text: str, source: str) -> None:
        for number, line in enumerate(text.splitlines(), start=1):
            value = line.split("#", 1)[0].strip()
            if value:
                self._add(value, source, str(number))

    def _csv(self, text: str, source: str, column: str | None) -> None:
        header_line = text.split("\n", 1)[0]
        counts = {d: header_line.count(d) for d in ",;\t"}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ConfigError("is empty; a CSV needs a header row", source=source) from None
        except csv.Error as exc:
            raise ConfigError(f"not valid CSV: {exc}", source=source, key="1") from None
        names = [h.strip().lower() for h in header]
        wanted = [column.strip().lower()] if column else list(_CONTEXT_COLUMNS)
        index = next((names.index(w) for w in wanted if w in names), None)
        if index is None:
            shown = ", ".join(show(h, 30) for h in header[:10])
            raise ConfigError(
                f"the header has no {' or '.join(repr(w) for w in wanted)} column (it has:"
                f' {shown}); name it there or set column = "..."',
                source=source,
                key="1",
            )
        description = names.index("description") if "description" in names else None
        try:
            for row in reader:
                line = str(reader.line_num)
                if not any(cell.strip() for cell in row):
                    continue
                if index >= len(row):
                    self._problem(f"this row has no {header[index]!r} cell", source, line)
                    continue
                overrides: dict[str, Any] = {}
                if description is not None and description < len(row) and row[description]:
                    overrides["description"] = row[description].strip()
                self._add(row[index].strip(), source, line, overrides)
        except csv.Error as exc:
            self._problem(f"not valid CSV: {exc}", source, str(reader.line_num))

    def _toml(self, text: str, source: str) -> None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", source=source) from None
        except RecursionError:
            raise ConfigError("nested too deeply to be a contexts file", source=source) from None
        for key in data:
            if key != "contexts":
                raise ConfigError(
                    "unknown key; a contexts file holds contexts = [...] (or [[contexts]])",
                    source=source,
                    key=key,
                )
        entries = data.get("contexts")
        if not isinstance(entries, list):
            raise ConfigError(
                "holds no contexts list; write contexts = [...] or [[contexts]] tables",
                source=source,
                key="contexts",
            )
        self._entries(entries, source, "contexts")

    # --- entries --------------------------------------------------------------------------------

    def _entries(self, items: list[Any] | tuple[Any, ...], source: str, key: str) -> None:
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if isinstance(item, Mapping) and not set(item) <= {"type", "value"}:
                self._table_entry(item, source, where)
            else:
                self._add(item, source, where)

    def _table_entry(self, item: Mapping[str, Any], source: str, key: str) -> None:
        names = [k for k in ("nip", "context") if k in item]
        if len(names) != 1:
            self._problem('give the context as nip = "..." (or context = ...)', source, key)
            return
        unknown = [k for k in item if k not in (*names, *OVERRIDE_KEYS)]
        if unknown:
            allowed = ", ".join(("nip", "context", *OVERRIDE_KEYS))
            self._problem(f"unknown key; an entry takes: {allowed}", source, f"{key}.{unknown[0]}")
            return
        value = item[names[0]]
        overrides = {k: v for k, v in item.items() if k in OVERRIDE_KEYS}
        self._add(value, source, key, overrides, nip=names[0] == "nip", at=f"{key}.{names[0]}")

    def _add(
        self,
        value: Any,
        source: str,
        key: str,
        overrides: Mapping[str, Any] | None = None,
        *,
        nip: bool = False,
        at: str | None = None,
    ) -> None:
        """Add the entry written at ``source:key`` (its context value at ``at``, default
        ``key``), or record why it cannot be used."""
        try:
            if nip:
                if not isinstance(value, str):
                    raise ValueError(f"a NIP is a string, got {kind_of(value)} {show(value)}")
                context = context_of_nip(value)
            else:
                context = context_of(value)
        except ValueError as exc:
            self._problem(str(exc), source, at or key)
            return
        entry = ContextEntry(context, source, key, dict(overrides or {}))
        first = self._seen.get(context)
        if first is not None:
            self._problem(
                f"{context} is listed already at {first}; this one is ignored", source, key
            )
            return
        self._seen[context] = entry.where
        self.entries.append(entry)

    def _problem(self, message: str, source: str, key: str) -> None:
        self.problems.append(ConfigError(message, source=source, key=key))
