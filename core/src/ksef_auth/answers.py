"""Reading KSeF's answers: one typed path from an HTTP response to the values the flow needs.

**The rule.** Every answer the login flow reads goes through :meth:`Answer.of` and the typed
readers of :class:`Answer` (``text``, ``integer``, ``timestamp``, ``token``, ``item``,
``items``). Anything that is not what KSeF 2.0 documents (a body that is not JSON, HTML from a
captive portal, an empty body, ``{}``, a field missing or of the wrong type) raises
:class:`~ksef_auth.errors.ProtocolError` naming the endpoint, the HTTP status and what was
wrong. The message never repeats the body or a value from it: an answer to a login may hold
tokens, and a proxy's page may echo the request.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NoReturn

import httpx

from ksef_auth.errors import ProtocolError
from ksef_auth.model import Token, parse_timestamp

__all__ = ["Answer", "describe_body"]


def describe_body(response: httpx.Response) -> str:
    """What the body is, without its content: ``"an HTML page (1532 bytes)"``."""
    size = len(response.content)
    if not size:
        return "an empty body"
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    head = response.content[:64].lstrip().lower()
    if "html" in media or head.startswith((b"<!doctype html", b"<html")):
        kind = "an HTML page"
    elif "xml" in media or head.startswith(b"<?xml"):
        kind = "an XML document"
    elif media:
        kind = f"a {media} body"
    else:
        kind = "a body without a content type"
    return f"{kind} ({size} bytes)"


_TYPE_NAMES = {
    str: "text",
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Answer:
    """A JSON object from KSeF, read field by field (``answer.text("challenge")``).

    ``where`` is what the message names: the action, the endpoint and the HTTP status.
    ``path`` is the position of this object inside the body (``accessToken``,
    ``items[3]``), so a nested problem says exactly which field.
    """

    __slots__ = ("_data", "_action", "_endpoint", "_status", "_path")

    def __init__(
        self, data: dict[str, Any], *, action: str, endpoint: str, status: int, path: str = ""
    ) -> None:
        self._data = data
        self._action = action
        self._endpoint = endpoint
        self._status = status
        self._path = path

    @classmethod
    def of(cls, response: httpx.Response, action: str) -> Answer:
        """The JSON object in ``response``; :class:`ProtocolError` when there is none."""
        return cls._wrap(cls._json(response, action), response, action)

    @classmethod
    def list_of(cls, response: httpx.Response, action: str) -> list[Answer]:
        """The JSON list of objects in ``response`` (the public-key listing)."""
        data = cls._json(response, action)
        endpoint, status = _where(response)
        if not isinstance(data, list):
            _fail(action, endpoint, status, f"is {_kind(data)}, expected a list")
        answers = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                _fail(action, endpoint, status, f"item [{index}] is {_kind(item)}, not an object")
            answers.append(
                cls(item, action=action, endpoint=endpoint, status=status, path=f"[{index}]")
            )
        return answers

    @staticmethod
    def _json(response: httpx.Response, action: str) -> Any:
        endpoint, status = _where(response)
        content = response.content
        if not content.strip():
            _fail(action, endpoint, status, "is an empty body, not KSeF's JSON")
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            _fail(action, endpoint, status, f"is {describe_body(response)}, not KSeF's JSON")

    @classmethod
    def _wrap(cls, data: Any, response: httpx.Response, action: str) -> Answer:
        endpoint, status = _where(response)
        if not isinstance(data, dict):
            _fail(action, endpoint, status, f"is {_kind(data)}, expected a JSON object")
        return cls(data, action=action, endpoint=endpoint, status=status)

    # --- readers --------------------------------------------------------------------------------

    def _field(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def invalid(self, name: str, what: str) -> NoReturn:
        """Raise the :class:`ProtocolError` for field ``name``: ``what`` is wrong with it."""
        _fail(self._action, self._endpoint, self._status, f"field '{self._field(name)}' {what}")

    def has(self, name: str) -> bool:
        """Whether ``name`` is present and not null."""
        return self._data.get(name) is not None

    def text(self, name: str) -> str:
        """A required, non-empty string."""
        value = self._data.get(name)
        if value is None:
            self.invalid(name, "is missing")
        if not isinstance(value, str):
            self.invalid(name, f"is {_kind(value)}, expected text")
        if not value:
            self.invalid(name, "is empty")
        return value

    def optional_text(self, name: str) -> str | None:
        """A string, or None when absent or null."""
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.invalid(name, f"is {_kind(value)}, expected text")
        return value

    def integer(self, name: str) -> int:
        """A required integer (a JSON number without a fraction)."""
        value = self._data.get(name)
        if value is None:
            self.invalid(name, "is missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.invalid(name, f"is {_kind(value)}, expected a number")
        if isinstance(value, float) and not value.is_integer():
            self.invalid(name, "is a fraction, expected a whole number")
        return int(value)

    def optional_integer(self, name: str) -> int | None:
        return self.integer(name) if self.has(name) else None

    def optional_bool(self, name: str) -> bool | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.invalid(name, f"is {_kind(value)}, expected true or false")
        return value

    def timestamp(self, name: str) -> datetime:
        """A required ISO-8601 timestamp."""
        value = self.text(name)
        try:
            return parse_timestamp(value)
        except ValueError:
            self.invalid(name, "is not an ISO-8601 timestamp")

    def optional_timestamp(self, name: str) -> datetime | None:
        return self.timestamp(name) if self.has(name) else None

    def item(self, name: str) -> Answer:
        """A required nested object."""
        value = self._data.get(name)
        if value is None:
            self.invalid(name, "is missing")
        if not isinstance(value, dict):
            self.invalid(name, f"is {_kind(value)}, expected an object")
        return Answer(
            value,
            action=self._action,
            endpoint=self._endpoint,
            status=self._status,
            path=self._field(name),
        )

    def optional_item(self, name: str) -> Answer | None:
        return self.item(name) if self.has(name) else None

    def items(self, name: str) -> list[Answer]:
        """A list of objects (absent or null: an empty list)."""
        value = self._data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.invalid(name, f"is {_kind(value)}, expected a list")
        answers = []
        for index, item in enumerate(value):
            path = f"{self._field(name)}[{index}]"
            if not isinstance(item, dict):
                _fail(
                    self._action,
                    self._endpoint,
                    self._status,
                    f"field '{path}' is {_kind(item)}, expected an object",
                )
            answers.append(
                Answer(
                    item,
                    action=self._action,
                    endpoint=self._endpoint,
                    status=self._status,
                    path=path,
                )
            )
        return answers

    def strings(self, name: str) -> tuple[str, ...]:
        """A list of strings (absent or null: empty)."""
        value = self._data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.invalid(name, "is not a list of text")
        return tuple(value)

    def token(self, name: str) -> Token:
        """A required ``{"token": ..., "validUntil": ...}`` object."""
        item = self.item(name)
        return Token(item.text("token"), item.timestamp("validUntil"))

    def __repr__(self) -> str:  # never the data: it may hold tokens
        return f"Answer({self._endpoint}, HTTP {self._status}, fields={sorted(self._data)})"


def _where(response: httpx.Response) -> tuple[str, int]:
    try:
        request = response.request
    except RuntimeError:
        return "?", response.status_code
    return f"{request.method} {request.url.path}", response.status_code


def _fail(action: str, endpoint: str, status: int, what: str) -> NoReturn:
    raise ProtocolError(
        f"{action} failed: the answer to {endpoint} (HTTP {status}) {what}. Something other"
        " than KSeF may be answering (a proxy, a captive portal, a firewall): check the network"
        " and the environment's URL, then try again",
        endpoint=endpoint,
        http_status=status,
        reason=what,
    )
