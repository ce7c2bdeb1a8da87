"""HTTP routes: the KSeF endpoints under ``/v2`` and the simulator's own under ``/_sim``.

``build_app`` returns the Starlette router wrapped in ``FaultLayer``, a raw ASGI layer that
applies fault rules (it must be outermost to be able to drop a connection) and counts requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ksef_auth_simulator import auth_flow, bodies, hmac_flow, sessions, token_admin
from ksef_auth_simulator.errors import (
    KsefError,
    ProblemError,
    ServerError,
    SimulatorError,
    TooManyRequests,
    forbidden,
    gone,
    unauthorized,
)
from ksef_auth_simulator.faults import BODIES, FaultAction, FaultRule
from ksef_auth_simulator.refs import iso
from ksef_auth_simulator.simulator import Simulator

Handler = Callable[[Request, str], Awaitable[Response]]
#: marks an answer a fault rule injected (KSeF's spec may not declare its status there)
FAULT_HEADER = "X-Simulator-Fault"


@dataclass(frozen=True)
class KsefRoute:
    """One KSeF operation served under ``/v2``: ``path`` is the spec's template.

    Its rate limits come from the spec (``ratelimit.published_limits()``) by ``"METHOD path"``;
    ``handler(request, client_ip)`` returns the response or raises a ``SimulatorError``.
    """

    method: str
    path: str
    handler: Handler

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


def wants_problem(request: Request) -> bool:
    return request.headers.get("x-error-format", "").strip().lower() == "problem-details"


def error_response(sim: Simulator, exc: SimulatorError, request: Request) -> Response:
    body, media = exc.body(wants_problem(request), request.url.path, iso(sim.now()))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return JSONResponse(body, status_code=exc.status, media_type=media, headers=headers)


async def json_body(request: Request, sim: Simulator, *, optional: bool = False) -> Any:
    """The request's JSON, at most ``max_body_bytes`` and :data:`bodies.MAX_JSON_DEPTH` deep;
    400 (21001 where the spec lists it for the operation, else 21405) otherwise."""
    return await bodies.json_body(request, sim.config.max_body_bytes, optional=optional)


def _fault(request: Request) -> FaultAction | None:
    return request.scope.get("ksef_fault")


def bearer_context(sim: Simulator, request: Request) -> str | None:
    """The context a request's bearer token belongs to (any of KSeF's three JWTs), or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    try:
        claims = sim.decode_bearer(
            header, ("AuthenticationToken", "ContextToken", "RefreshToken"), check_exp=False
        )
    except SimulatorError:
        return None
    if claims.get("civ"):
        return str(claims["civ"])
    op = sim.operations.get(str(claims.get("arn")))
    return op.context_value if op else None


def _attribute(request: Request, sim: Simulator, started: dict[str, Any]) -> None:
    """Count a submission under the context of the operation it started."""
    op = sim.operations.get(str(started.get("referenceNumber")))
    if op is not None:
        request.scope["ksef_context"] = op.context_value


def endpoint(sim: Simulator, route: KsefRoute) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``route``: rate limit, handler, error dialects, counters."""
    name = route.operation

    async def run(request: Request) -> Response:
        ip = client_ip(request)
        request.scope["ksef_operation"] = name
        context = bearer_context(sim, request)
        try:
            limit = sim.limiter.limit_of(name) if sim.config.rate_limits else None
            if limit is not None:
                key: Any = (context or "anonymous", ip) if limit.per_context else ip
                sim.limiter.hit(name, key, sim.now())
            response = await route.handler(request, ip)
        except SimulatorError as exc:
            response = error_response(sim, exc, request)
        test_warning = request.headers.get("x-test-system-warning")
        if test_warning:  # TEST echoes it as a system warning
            response.headers["X-System-Warning"] = test_warning
        sim.stats.request(name, response.status_code, context or request.scope.get("ksef_context"))
        return response

    return run


def ksef_routes(sim: Simulator) -> list[KsefRoute]:
    """The KSeF operations the simulator serves (plus the HMAC extension)."""
    bearer = "authorization"

    async def challenge(request: Request, ip: str) -> Response:
        await json_body(request, sim, optional=True)
        return JSONResponse(auth_flow.challenge_response(sim, ip))

    async def public_keys(request: Request, ip: str) -> Response:
        return JSONResponse(sim.public_keys())

    async def ksef_token(request: Request, ip: str) -> Response:
        body = await json_body(request, sim)
        started = auth_flow.init_token(sim, body, ip, _fault(request))
        _attribute(request, sim, started)
        return JSONResponse(started, status_code=202)

    async def xades(request: Request, ip: str) -> Response:
        media = request.headers.get("content-type", "application/xml").split(";")[0].strip().lower()
        if media not in ("application/xml", "text/xml", ""):
            raise ProblemError(415, "Oczekiwano treści application/xml.")
        raw_flag = request.query_params.get("verifyCertificateChain")
        if raw_flag is not None and raw_flag.lower() not in ("true", "false"):
            raise KsefError(21405, ["verifyCertificateChain musi mieć wartość true lub false."])
        try:
            body = await bodies.read_body(request, sim.config.max_body_bytes)
        except bodies.BodyError as exc:
            raise KsefError(21001, [str(exc)]) from None
        started = auth_flow.init_xades(
            sim, body, (raw_flag or "").lower() == "true", ip, _fault(request)
        )
        _attribute(request, sim, started)
        return JSONResponse(started, status_code=202)

    async def status(request: Request, ip: str) -> Response:
        ref = request.path_params["referenceNumber"]
        return JSONResponse(
            auth_flow.operation_status(sim, ref, request.headers.get(bearer), _fault(request))
        )

    async def redeem(request: Request, ip: str) -> Response:
        return JSONResponse(auth_flow.redeem(sim, request.headers.get(bearer)))

    async def refresh(request: Request, ip: str) -> Response:
        return JSONResponse(auth_flow.refresh(sim, request.headers.get(bearer)))

    async def list_sessions(request: Request, ip: str) -> Response:
        body = sessions.list_sessions(
            sim,
            request.headers.get(bearer),
            ip,
            request.query_params.get("pageSize"),
            request.headers.get("x-continuation-token"),
        )
        return JSONResponse(body)

    async def delete_current(request: Request, ip: str) -> Response:
        sessions.revoke_current(sim, request.headers.get(bearer), ip)
        return Response(status_code=204)

    async def delete_session(request: Request, ip: str) -> Response:
        ref = request.path_params["referenceNumber"]
        sessions.revoke_other(sim, request.headers.get(bearer), ip, ref)
        return Response(status_code=204)

    async def create_token(request: Request, ip: str) -> Response:
        auth = request.headers.get(bearer)
        sim.access(auth, ip)
        body = await json_body(request, sim)
        return JSONResponse(token_admin.create(sim, auth, ip, body), status_code=202)

    async def query_tokens(request: Request, ip: str) -> Response:
        body = token_admin.query(
            sim,
            request.headers.get(bearer),
            ip,
            request.query_params,
            request.headers.get("x-continuation-token"),
        )
        return JSONResponse(body)

    async def token_status(request: Request, ip: str) -> Response:
        ref = request.path_params["referenceNumber"]
        return JSONResponse(token_admin.status(sim, request.headers.get(bearer), ip, ref))

    async def revoke_token(request: Request, ip: str) -> Response:
        token_admin.revoke(
            sim, request.headers.get(bearer), ip, request.path_params["referenceNumber"]
        )
        return Response(status_code=204)

    async def rate_limits(request: Request, ip: str) -> Response:
        sim.access(request.headers.get(bearer), ip)
        return JSONResponse(sim.rate_limits())

    async def hmac_challenge(request: Request, ip: str) -> Response:
        await json_body(request, sim, optional=True)
        return JSONResponse(hmac_flow.challenge(sim, ip))

    async def hmac_session(request: Request, ip: str) -> Response:
        return JSONResponse(hmac_flow.session(sim, await json_body(request, sim), ip))

    return [
        KsefRoute("POST", "/auth/challenge", challenge),
        KsefRoute("GET", "/security/public-key-certificates", public_keys),
        KsefRoute("POST", "/auth/ksef-token", ksef_token),
        KsefRoute("POST", "/auth/xades-signature", xades),
        KsefRoute("POST", "/auth/token/redeem", redeem),
        KsefRoute("POST", "/auth/token/refresh", refresh),
        KsefRoute("GET", "/auth/sessions", list_sessions),
        KsefRoute("DELETE", "/auth/sessions/current", delete_current),
        KsefRoute("DELETE", "/auth/sessions/{referenceNumber}", delete_session),
        KsefRoute("GET", "/auth/{referenceNumber}", status),
        KsefRoute("POST", "/tokens", create_token),
        KsefRoute("GET", "/tokens", query_tokens),
        KsefRoute("GET", "/tokens/{referenceNumber}", token_status),
        KsefRoute("DELETE", "/tokens/{referenceNumber}", revoke_token),
        KsefRoute("GET", "/rate-limits", rate_limits),
        KsefRoute("POST", "/hmac/challenge", hmac_challenge),
        KsefRoute("POST", "/hmac/session", hmac_session),
    ]


def build_app(sim: Simulator) -> ASGIApp:
    """Every KSeF route under ``/v2`` and the ``/_sim`` admin API, behind the fault layer.

    More KSeF operations: add ``KsefRoute``s (from a module of their own) to ``table``; literal
    paths must come before templates that would match them (``/auth/sessions`` before
    ``/auth/{referenceNumber}``).
    """
    from ksef_auth_simulator.admin import admin_routes
    from ksef_auth_simulator.certificate_routes import certificate_routes

    table = [*ksef_routes(sim), *certificate_routes(sim)]
    routes: list[BaseRoute] = [
        Route("/v2" + r.path, endpoint(sim, r), methods=[r.method]) for r in table
    ]
    routes += admin_routes(sim)
    return FaultLayer(Starlette(routes=routes), sim)


class ConnectionDropped(ConnectionResetError):
    """Raised in-process (no socket to close) when a fault rule drops the connection."""


def _injected(status: int, retry_after: int | None) -> SimulatorError:
    if status == 429:
        return TooManyRequests(retry_after if retry_after is not None else 1)
    if status == 401:
        return unauthorized()
    if status == 403:
        return forbidden("security-service-blocked", "Żądanie zostało zablokowane.")
    if status == 410:
        return gone()
    if status == 400:
        return KsefError(21405, ["Błąd wstrzyknięty przez symulator."])
    return ServerError(status)


class FaultLayer:
    """Outermost ASGI layer: applies fault rules to ``/v2`` requests (a no-op without rules)."""

    def __init__(self, app: Starlette, sim: Simulator) -> None:
        self.app = app
        self.sim = sim
        self.routes = app.routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL and isinstance(route, Route):
                return route.path
        return scope["path"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.sim.faults or scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        template = self._template(scope)
        relative = template[3:] if template.startswith("/v2/") else template
        action = self.sim.faults.decide(method, scope["path"][3:], relative)
        if action is not None:
            self.sim.stats.event("faults")
            if action.delay:
                await asyncio.sleep(action.delay)
            if action.drop:
                self.sim.stats.event("dropped_connections")
                self.sim.stats.request(f"{method} {relative}", 0)
                await _drop(send)
                return
            if action.body is not None:
                media, content = BODIES[action.body]
                status = action.status or 200
                self.sim.stats.request(f"{method} {relative}", status)
                await Response(content, status_code=status, media_type=media)(scope, receive, send)
                return
            if action.status is not None:
                error = _injected(action.status, action.retry_after)
                response = error_response(self.sim, error, Request(scope, receive))
                response.headers[FAULT_HEADER] = "injected"
                self.sim.stats.request(f"{method} {relative}", response.status_code)
                await response(scope, receive, send)
                return
            scope = dict(scope)
            scope["ksef_fault"] = action
            if action.drop_after:  # handled, then the answer is lost on the way back
                await self.app(scope, receive, _swallow)
                self.sim.stats.event("dropped_connections")
                await _drop(send)
                return
            if action.warning:
                send = _with_header(send, b"x-system-warning", action.warning.encode())
        await self.app(scope, receive, send)


async def _swallow(message: Message) -> None:
    """A ``send`` that loses the answer (a connection dropped after the request was handled)."""


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (name, value)]}
        await send(message)

    return sending


async def _drop(send: Send) -> None:
    """Close the TCP connection without any response (uvicorn), or raise in-process."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        try:
            import httpx
        except ImportError:  # pragma: no cover
            raise ConnectionDropped("simulated connection drop") from None
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True


__all__ = ["FaultRule", "KsefRoute", "build_app", "error_response", "json_body"]
