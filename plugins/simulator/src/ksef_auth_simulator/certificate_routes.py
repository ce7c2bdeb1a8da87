"""HTTP routes of the KSeF certificates (tag "Certyfikaty"), added to the ``/v2`` table by ``app``.

Every route needs an access token (``sim.access``: valid, session known, IP policy kept) and is
rate limited in the ``other`` group (10/s, 30/min, 120/h per context and IP). A body that is not
readable JSON ends in 21001 (API 2.9.0). The rules are in :mod:`.ksef_certificates`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ksef_auth_simulator.app import Handler
from ksef_auth_simulator.errors import KsefError
from ksef_auth_simulator.simulator import Simulator

Route = tuple[str, str, Handler, str | None, bool]


async def _body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return None
        raise KsefError(21405, ["Brak treści żądania."])
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KsefError(21001, [f"Treść nie jest poprawnym JSON: {exc}"]) from exc


def certificate_routes(sim: Simulator) -> list[Route]:
    """``(method, path, handler, rate-limit group, public)`` for each certificate endpoint."""
    certificates = sim.ksef_certificates
    bearer = "authorization"

    async def limits(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        return JSONResponse(certificates.limits(op, sim.now()))

    async def data(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        return JSONResponse(certificates.data_for(op))

    async def enroll(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        body = await _body(request)
        result = certificates.enroll(op, body, sim.now())
        sim.stats.event("certificate_enrollments", op.context_value)
        return JSONResponse(result, status_code=202)

    async def status(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        ref = request.path_params["referenceNumber"]
        return JSONResponse(certificates.status(op, ref, sim.now()))

    async def retrieve(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        return JSONResponse(certificates.retrieve(op, await _body(request)))

    async def query(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        body = await _body(request, optional=True)
        return JSONResponse(certificates.query(op, request.query_params, body, sim.now()))

    async def revoke(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        body = await _body(request, optional=True)
        serial = request.path_params["certificateSerialNumber"]
        certificates.revoke(op, serial, body, sim.now())
        sim.stats.event("certificates_revoked", op.context_value)
        return Response(status_code=204)

    async def shorten(request: Request, ip: str) -> Response:
        _, op = sim.access(request.headers.get(bearer), ip)
        body = await _body(request)
        certificates.shorten(op, request.path_params["serialNumber"], body, sim.now())
        return Response(status_code=200)

    return [
        ("GET", "/certificates/limits", limits, "other", False),
        ("GET", "/certificates/enrollments/data", data, "other", False),
        ("POST", "/certificates/enrollments", enroll, "other", False),
        ("GET", "/certificates/enrollments/{referenceNumber}", status, "other", False),
        ("POST", "/certificates/retrieve", retrieve, "other", False),
        ("POST", "/certificates/query", query, "other", False),
        ("POST", "/certificates/{certificateSerialNumber}/revoke", revoke, "other", False),
        ("PUT", "/testdata/certificates/{serialNumber}", shorten, "other", False),
    ]
