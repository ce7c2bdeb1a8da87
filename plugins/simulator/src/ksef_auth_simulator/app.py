"""HTTP routes: the KSeF endpoints under ``/v2`` and the simulator's own under ``/_sim``.

``build_app`` returns the Starlette router wrapped in ``FaultLayer``, a raw ASGI layer that
applies fault rules (it must be outermost to be able to drop a connection) and counts requests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ksef_auth_simulator import auth_flow, hmac_flow, sessions, token_admin
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
from ksef_auth_simulator.faults import FaultAction, FaultRule
from ksef_auth_simulator.refs import iso
from ksef_auth_simulator.simulator import Simulator

Handler = Callable[[Request, str], Awaitable[Response]]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


def wants_problem(request: Request) -> bool:
    return request.headers.get("x-error-format", "").strip().lower() == "problem-details"


def error_response(sim: Simulator, exc: SimulatorError, request: Request) -> Response:
    body, media = exc.body(wants_problem(request), request.url.path, iso(sim.now()))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return JSONResponse(body, status_code=exc.status, media_type=media, headers=headers)


async def json_body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise KsefError(21405, ["Brak treści żądania."])
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KsefError(21405, [f"Treść nie jest poprawnym JSON: {exc}"]) from exc


def _fault(request: Request) -> FaultAction | None:
    return request.scope.get("ksef_fault")


def _rate_key(sim: Simulator, request: Request) -> str:
    try:
        claims = sim.decode_bearer(
            request.headers.get("authorization"),
            ("AuthenticationToken", "ContextToken", "RefreshToken"),
            check_exp=False,
        )
    except SimulatorError:
        return "anonymous"
    if claims.get("civ"):
        return str(claims["civ"])
    op = sim.operations.get(str(claims.get("arn")))
    return op.context_value if op else "anonymous"


def endpoint(
    sim: Simulator, name: str, handler: Handler, group: str | None, public: bool
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        ip = client_ip(request)
        try:
            if sim.config.rate_limits and group:
                key: Any = ip if public else (_rate_key(sim, request), ip)
                sim.limiter.hit(group, key, sim.now())
            response = await handler(request, ip)
        except SimulatorError as exc:
            response = error_response(sim, exc, request)
        sim.stats.request(name, response.status_code)
        return response

    return run


def build_app(sim: Simulator) -> ASGIApp:
    bearer = "authorization"

    async def challenge(request: Request, ip: str) -> Response:
        await json_body(request, optional=True)
        return JSONResponse(auth_flow.challenge_response(sim, ip))

    async def public_keys(request: Request, ip: str) -> Response:
        return JSONResponse(sim.public_keys())

    async def ksef_token(request: Request, ip: str) -> Response:
        body = await json_body(request)
        return JSONResponse(auth_flow.init_token(sim, body, ip, _fault(request)), status_code=202)

    async def xades(request: Request, ip: str) -> Response:
        media = request.headers.get("content-type", "application/xml").split(";")[0].strip().lower()
        if media not in ("application/xml", "text/xml", ""):
            raise ProblemError(415, "Oczekiwano treści application/xml.")
        raw_flag = request.query_params.get("verifyCertificateChain")
        if raw_flag is not None and raw_flag.lower() not in ("true", "false"):
            raise KsefError(21405, ["verifyCertificateChain musi mieć wartość true lub false."])
        body = await request.body()
        if len(body) > sim.config.max_body_bytes:
            raise KsefError(21001, ["Dokument jest zbyt duży."])
        result = auth_flow.init_xades(
            sim, body, (raw_flag or "").lower() == "true", ip, _fault(request)
        )
        return JSONResponse(result, status_code=202)

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
        body = await json_body(request)
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

    async def hmac_challenge(request: Request, ip: str) -> Response:
        await json_body(request, optional=True)
        return JSONResponse(hmac_flow.challenge(sim, ip))

    async def hmac_session(request: Request, ip: str) -> Response:
        return JSONResponse(hmac_flow.session(sim, await json_body(request), ip))

    table: list[tuple[str, str, Handler, str | None, bool]] = [
        ("POST", "/auth/challenge", challenge, "auth", True),
        ("GET", "/security/public-key-certificates", public_keys, "auth", True),
        ("POST", "/auth/ksef-token", ksef_token, "auth", True),
        ("POST", "/auth/xades-signature", xades, "auth", True),
        ("POST", "/auth/token/redeem", redeem, "auth", False),
        ("POST", "/auth/token/refresh", refresh, "auth", False),
        ("GET", "/auth/sessions", list_sessions, "other", False),
        ("DELETE", "/auth/sessions/current", delete_current, "other", False),
        ("DELETE", "/auth/sessions/{referenceNumber}", delete_session, "other", False),
        ("GET", "/auth/{referenceNumber}", status, "auth", False),
        ("POST", "/tokens", create_token, "other", False),
        ("GET", "/tokens", query_tokens, "other", False),
        ("GET", "/tokens/{referenceNumber}", token_status, "other", False),
        ("DELETE", "/tokens/{referenceNumber}", revoke_token, "other", False),
        ("POST", "/hmac/challenge", hmac_challenge, "auth", True),
        ("POST", "/hmac/session", hmac_session, "auth", True),
    ]
    from ksef_auth_simulator.certificate_routes import certificate_routes

    table += certificate_routes(sim)
    routes = [
        Route(
            "/v2" + path,
            endpoint(sim, f"{method} {path}", handler, group, public),
            methods=[method],
        )
        for method, path, handler, group, public in table
    ]
    from ksef_auth_simulator.admin import admin_routes

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
            if action.status is not None:
                error = _injected(action.status, action.retry_after)
                response = error_response(self.sim, error, Request(scope, receive))
                self.sim.stats.request(f"{method} {relative}", response.status_code)
                await response(scope, receive, send)
                return
            scope = dict(scope)
            scope["ksef_fault"] = action
        await self.app(scope, receive, send)


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


__all__ = ["FaultRule", "build_app"]
