"""HTTP routes of the KSeF certificates (tag "Certyfikaty"), added to the ``/v2`` table by ``app``.

Every route needs an access token (``sim.access``: valid, session known, IP policy kept) and is
rate limited as the spec publishes (10/s, 30/min, 120/h per operation, context and IP). A body
that is not readable JSON, too large or too deep ends in 21001 (API 2.9.0). The rules are in
:mod:`.ksef_certificates`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ksef_auth_simulator.app import KsefRoute, json_body
from ksef_auth_simulator.simulator import Simulator


def certificate_routes(sim: Simulator) -> list[KsefRoute]:
    """A ``KsefRoute`` for each certificate endpoint."""
    certificates = sim.ksef_certificates
    bearer = "authorization"

    async def _body(request: Request, *, optional: bool = False) -> Any:
        return await json_body(request, sim, optional=optional)

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
        KsefRoute("GET", "/certificates/limits", limits),
        KsefRoute("GET", "/certificates/enrollments/data", data),
        KsefRoute("POST", "/certificates/enrollments", enroll),
        KsefRoute("GET", "/certificates/enrollments/{referenceNumber}", status),
        KsefRoute("POST", "/certificates/retrieve", retrieve),
        KsefRoute("POST", "/certificates/query", query),
        KsefRoute("POST", "/certificates/{certificateSerialNumber}/revoke", revoke),
        KsefRoute("PUT", "/testdata/certificates/{serialNumber}", shorten),
    ]
