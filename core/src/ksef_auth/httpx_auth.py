"""``KsefAuth``: a strategy's session as an ``httpx.Auth`` for users' own clients.

::

    auth = strategy.httpx_auth()
    with httpx.Client(base_url=auth.base_url, auth=auth) as client:
        client.get("/auth/sessions")

Each request gets ``Authorization: Bearer <access token>`` from the session manager (a memory
read while the token is fresh). On a 401 the token that request actually carried is invalidated
(only if it is still the current one, so concurrent requests do not throw away a token another
request already renewed); if the request's body can be sent again (bytes, JSON, form data; not a
one-shot generator) a fresh token is obtained and the request is sent once more, otherwise the
401 is returned and the next request gets the fresh token. ``sync_auth_flow`` and
``async_auth_flow`` are separate: the async one awaits :meth:`SessionManager.atoken` and never
blocks the event loop.

The token is attached only to requests for the strategy's own host and never over plain http
(loopback excepted): anything else raises :class:`~ksef_auth.errors.ConfigError` instead of
leaking the token.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx

from ksef_auth.errors import ConfigError
from ksef_auth.transport import require_secure

if TYPE_CHECKING:
    from ksef_auth.session import SessionManager


class KsefAuth(httpx.Auth):
    """Attaches the KSeF access token; replays once after a 401 with a fresh token."""

    def __init__(self, session: SessionManager) -> None:
        self.session = session
        self._host = httpx.URL(session.strategy.environment.base_url).host
        self._checked: set[tuple[bytes, bytes, int | None]] = set()  # origins found acceptable

    @property
    def base_url(self) -> str:
        """The environment's API base URL, for ``httpx.Client(base_url=auth.base_url)``."""
        return self.session.strategy.environment.base_url

    def token(self) -> str:
        """The access token the next request would carry."""
        return self.session.token()

    async def atoken(self) -> str:
        """The async twin of :meth:`token`."""
        return await self.session.atoken()

    def _check(self, request: httpx.Request) -> None:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        if origin in self._checked:  # checked before: the same scheme, host and port
            return
        if url.host != self._host:
            raise ConfigError(
                f"KsefAuth for {self.base_url} refuses to send its token to {url.host}:"
                " use a client with base_url=auth.base_url for KSeF requests only"
            )
        require_secure(url)
        self._checked.add(origin)

    @staticmethod
    def _replayable(request: httpx.Request) -> bool:
        return isinstance(request.stream, httpx.ByteStream) or hasattr(request, "_content")

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        self._check(request)
        used = self.session.token()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            self.session.invalidate(used)
            if self._replayable(request):
                request.headers["Authorization"] = f"Bearer {self.session.token()}"
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._check(request)
        used = await self.session.atoken()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            self.session.invalidate(used)
            if self._replayable(request):
                request.headers["Authorization"] = f"Bearer {await self.session.atoken()}"
                yield request

    def __repr__(self) -> str:
        return f"KsefAuth({self.base_url!r}, {self.session.strategy.context})"
