"""``RemoteSimulator``: the ``/_sim`` admin API of a simulator running in another process.

What ``ksef-auth simulator token issue`` / ``grant`` / ``counters`` use, and what a test or a
bench uses when the simulator runs elsewhere (``ksef-auth simulator`` in a subprocess, a
container)::

    remote = RemoteSimulator("http://127.0.0.1:8800/v2")   # the URL the server printed
    tokens = remote.issue_tokens(["5261040828", "5265877635"])   # {nip: token}
    remote.grant(["5265877635"], "Nip", "5261040828", ["InvoiceRead"])
    remote.counters(context="5261040828")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx


class RemoteError(Exception):
    """The simulator could not be reached, or refused an admin call (the message says which)."""


class SimulatorUnreachable(RemoteError):
    """Nothing answers at the URL (not started, another port, stopped)."""


def root_url(url: str) -> str:
    """The server root of a simulator URL: the base URL it prints (``.../v2``) or the root."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "expected the simulator's URL, as `ksef-auth simulator` prints it"
            " (http://127.0.0.1:PORT/v2)"
        )
    if parts.username or parts.password:
        raise ValueError("the simulator's URL must not carry a user name or password")
    return text[: -len("/v2")] if text.endswith("/v2") else text


class RemoteSimulator:
    """Admin calls to the simulator at ``url`` (its base URL or its root)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.root_url = root_url(url)
        self.base_url = f"{self.root_url}/v2"
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"RemoteSimulator({self.root_url!r})"

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = httpx.request(
                method, f"{self.root_url}{path}", timeout=self._timeout, **kwargs
            )
        except httpx.TransportError as exc:
            raise SimulatorUnreachable(
                f"no simulator answers at {self.root_url} ({type(exc).__name__});"
                " start one with `ksef-auth simulator` and pass the URL it prints"
            ) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                reason = str(body.get("error") or body.get("detail") or response.status_code)
            except (ValueError, AttributeError):
                reason = f"HTTP {response.status_code}"
            raise RemoteError(f"{method} {path}: the simulator refused: {reason}")
        return response

    def issue_tokens(
        self,
        nips: Iterable[str],
        permissions: list[str] | None = None,
        description: str | None = None,
    ) -> dict[str, str]:
        """One Active KSeF token per NIP: ``{nip: token}`` in order."""
        body: dict[str, Any] = {"nips": list(nips)}
        if permissions is not None:
            body["permissions"] = permissions
        if description is not None:
            body["description"] = description
        listing = self._call("POST", "/_sim/tokens", json=body).json()["tokens"]
        return {item["nip"]: item["token"] for item in listing}

    def register_token(self, nip: str, token: str) -> str:
        """Register ``token`` as an Active KSeF token of ``nip``; its ``EC`` reference."""
        answer = self._call("POST", "/_sim/tokens", json={"nip": nip, "token": token}).json()
        return str(answer["referenceNumber"])

    def revoke_token(self, token: str) -> None:
        """Revoke a KSeF token, by its secret or its ``EC`` reference number."""
        self._call("POST", "/_sim/tokens/revoke", json={"token": token})

    def activate_token(self, token: str) -> None:
        """Make a ``Pending`` KSeF token ``Active`` now, by its secret or reference number."""
        self._call("POST", "/_sim/tokens/activate", json={"token": token})

    def grant(
        self,
        nips: Iterable[str],
        identifier_type: str,
        value: str,
        permissions: list[str] | None = None,
    ) -> None:
        """Grant ``permissions`` to a ``Nip``/``Pesel``/``Fingerprint`` subject in every context
        of ``nips``."""
        body: dict[str, Any] = {"nips": list(nips), "identifierType": identifier_type}
        body["value"] = value
        if permissions is not None:
            body["permissions"] = permissions
        self._call("POST", "/_sim/grants", json=body)

    def counters(self, context: str | None = None) -> dict[str, Any]:
        """``GET /_sim/counters`` (one context's with ``context``)."""
        params = {"context": context} if context is not None else None
        data: dict[str, Any] = self._call("GET", "/_sim/counters", params=params).json()
        return data

    def reset(self) -> None:
        """Zero the counters and the rate-limit windows."""
        self._call("POST", "/_sim/reset")

    def whoami(self, access_token: str) -> dict[str, Any]:
        """``GET /_sim/whoami``: who an access token speaks for."""
        headers = {"Authorization": f"Bearer {access_token}"}
        data: dict[str, Any] = self._call("GET", "/_sim/whoami", headers=headers).json()
        return data
