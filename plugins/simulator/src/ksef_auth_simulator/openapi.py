"""The shipped OpenAPI document (KSeF API 2.9.0, ``spec/open-api.json``), loaded once.

The simulator reads what KSeF publishes from it instead of copying it: every operation's rate
limits (``ratelimit.py``) and which operations list 21001 for unreadable bodies (``bodies.py``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any


@cache
def spec() -> dict[str, Any]:
    """The parsed ``open-api.json``."""
    text = (resources.files("ksef_auth_simulator") / "spec" / "open-api.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def operation(name: str) -> dict[str, Any]:
    """The operation object of ``"METHOD /path/{param}"`` ({} when the spec has none)."""
    method, _, path = name.partition(" ")
    found: dict[str, Any] = spec()["paths"].get(path, {}).get(method.lower(), {})
    return found


def version() -> str:
    """The API version the document describes (``"2.9.0"``)."""
    match = re.search(r"Wersja API:\*\*\s*([\d.]+)", spec()["info"].get("description", ""))
    return match.group(1) if match else "unknown"
