"""Strict option values: what a strategy file's value means for the type an option declares.

Values reach options as TOML values, as strings from ``{ env = "NAME" }`` references and quoted
TOML (``"false"``), or as whatever a dict holds. :func:`parse` turns a value into the declared
type or raises ``ValueError`` saying what was expected, so ``bool("false")`` never switches a
check off:

============================  ===================================================================
declared type                 accepted
============================  ===================================================================
``bool``                      ``true``/``false``; the strings (any case) ``true false 1 0 yes no``
``int``                       an integer (never a boolean), or a string of digits
``float``                     a finite number (never a boolean, nan or inf), or a string of one
``str``, ``Path``             a string of at most :data:`MAX_TEXT` characters
``tuple[X, ...]``, ``list``   a list whose items are each an ``X``
``Literal['a', 'b']``         one of the choices
``X | None``                  None (from a dict; TOML has no null) or an ``X``
anything else                 the value as it is (the factory validates it)
============================  ===================================================================
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 4096
"""The longest string accepted for any value (paths, names, templates, NIPs)."""

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_SCALARS = {
    "bool": "bool",
    "int": "int",
    "float": "float",
    "str": "str",
    "Path": "str",
    "PathLike": "str",
    "os.PathLike[str]": "str",
    "pathlib.Path": "str",
}
_SEQUENCE = re.compile(r"^(?:tuple|list|Sequence|typing\.Sequence)\[(.+?)(?:,\s*\.\.\.)?\]$")
_CLASS = re.compile(r"^<class '(?:builtins\.|pathlib\.)?(\w+)'>$")


def show(value: Any, limit: int = 40) -> str:
    """A short rendering of a (non-secret) value for a message: never longer than ~``limit``."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[: limit - 12]) + f"... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value: Any) -> str:
    """The TOML word for a value's type: string, integer, float, boolean, array, table."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _split_union(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def parse(value: Any, type_name: str) -> Any:
    """``value`` as the type named ``type_name`` (an annotation as text, e.g. ``"bool"``,
    ``"float | None"``, ``"tuple[str, ...]"``); raises ``ValueError`` when it is not one.
    Types this module does not know are passed through unchanged."""
    text = type_name.strip()
    if text.startswith("Optional[") and text.endswith("]"):
        text = f"{text[9:-1]} | None"
    alternatives = _split_union(text) if text else []
    optional = "None" in alternatives
    alternatives = [a for a in alternatives if a != "None"]
    if value is None and optional:
        return None
    if len(alternatives) != 1:
        return value  # unknown or several types: the factory decides
    return _parse_one(value, alternatives[0])


def _parse_one(value: Any, text: str) -> Any:
    match = _CLASS.match(text)
    if match:
        text = match.group(1)
    if text.startswith(("Literal[", "typing.Literal[")) and text.endswith("]"):
        inner = text[text.index("[") + 1 : -1]
        try:
            choices = ast.literal_eval(f"[{inner}]")
        except (ValueError, SyntaxError):
            return value
        if value not in choices or isinstance(value, bool):
            names = ", ".join(repr(c) for c in choices)
            raise ValueError(f"must be one of {names}, got {show(value)}")
        return value
    match = _SEQUENCE.match(text)
    if match:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be an array, got {kind_of(value)} {show(value)}")
        item_type = match.group(1)
        result = []
        for index, item in enumerate(value):
            try:
                result.append(parse(item, item_type))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return result
    scalar = _SCALARS.get(text)
    if scalar == "bool":
        return parse_bool(value)
    if scalar == "int":
        return parse_int(value)
    if scalar == "float":
        return parse_float(value)
    if scalar == "str":
        return parse_str(value)
    return value


def parse_bool(value: Any) -> bool:
    """``true``/``false``, or one of the strings ``true false 1 0 yes no`` (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and len(value) <= 8:
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"must be true or false (or 1/0, yes/no), got {kind_of(value)} {show(value)}")


def parse_int(value: Any) -> int:
    """An integer, or a string of one (never a boolean or a float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 32:
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be an integer, got {kind_of(value)} {show(value)}")


def parse_float(value: Any) -> float:
    """A finite number, or a string of one (never a boolean, nan or infinity)."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ValueError(f"must be a number, got {kind_of(value)} {show(value)}")
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {show(value)}")
    return number


def parse_str(value: Any) -> str:
    """A string of at most :data:`MAX_TEXT` characters."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {kind_of(value)} {show(value)}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"is {len(value):,} characters long; at most {MAX_TEXT:,} are accepted")
    return value
