"""The simulator's own HTTP API under ``/_sim`` (not KSeF): counters, faults, test data.

Mirrors the in-process admin API of ``Simulator`` for tests and demos that only have a URL.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ksef_auth_simulator.bodies import BodyError, parse_json, read_body
from ksef_auth_simulator.errors import SimulatorError
from ksef_auth_simulator.faults import FaultRule
from ksef_auth_simulator.simulator import Simulator

#: admin bodies may list many thousands of NIPs
MAX_ADMIN_BODY = 16 * 1024 * 1024


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, MAX_ADMIN_BODY)
    if not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _nips(data: dict[str, Any]) -> list[str]:
    """``"nip": "..."`` or ``"nips": [...]``: the contexts an admin call is about."""
    if "nips" in data:
        nips = data["nips"]
        if not isinstance(nips, list) or not all(isinstance(n, str) and n for n in nips):
            raise ValueError("nips must be a list of NIP strings")
        return nips
    if not isinstance(data.get("nip"), str) or not data["nip"]:
        raise ValueError("give nip (a string) or nips (a list of strings)")
    return [data["nip"]]


def _permissions(data: dict[str, Any]) -> list[str] | None:
    permissions = data.get("permissions")
    if permissions is not None and (
        not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions)
    ):
        raise ValueError("permissions must be a list of strings")
    return permissions


def admin_routes(sim: Simulator) -> list[Route]:
    def guarded(fn: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await fn(request)
            except BodyError as exc:
                return _bad(str(exc))
            except KeyError as exc:
                return _bad(f"missing or unknown: {exc}")
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))

        return run

    async def counters(request: Request) -> Response:
        return JSONResponse(sim.counters(request.query_params.get("context")))

    async def reset(request: Request) -> Response:
        sim.reset_counters()
        return Response(status_code=204)

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([r.to_dict() for r in sim.faults.rules()])
        if request.method == "DELETE":
            sim.clear_faults()
            return Response(status_code=204)
        rule = sim.add_fault(FaultRule.from_dict(await _body(request)))
        return JSONResponse(rule.to_dict(), status_code=201)

    async def tokens(request: Request) -> Response:
        data = await _body(request)
        permissions = _permissions(data)
        if "token" in data:
            nip = _nips(data)[0]
            ref = sim.register_ksef_token(nip, str(data["token"]), permissions)
            return JSONResponse({"referenceNumber": ref, "token": data["token"]}, status_code=201)
        description = str(data.get("description", "Token wydany przez symulator"))
        if "nips" in data:
            issued = sim.issue_ksef_tokens(_nips(data), permissions, description)
            listing = [
                {"nip": nip, "referenceNumber": token.split("|")[0], "token": token}
                for nip, token in issued.items()
            ]
            return JSONResponse({"tokens": listing}, status_code=201)
        token = sim.issue_ksef_token(
            _nips(data)[0], permissions, description, active=bool(data.get("active", True))
        )
        return JSONResponse(
            {"referenceNumber": token.split("|")[0], "token": token}, status_code=201
        )

    async def revoke_token(request: Request) -> Response:
        sim.revoke_ksef_token(str((await _body(request))["token"]))
        return Response(status_code=204)

    async def activate_token(request: Request) -> Response:
        sim.activate_ksef_token(str((await _body(request))["token"]))
        return Response(status_code=204)

    async def block(request: Request) -> Response:
        nip = request.path_params["identifier"]
        if request.method == "DELETE":
            sim.unblock_context(nip)
        else:
            sim.block_context(nip)
        return Response(status_code=204)

    async def pesel_links(request: Request) -> Response:
        data = await _body(request)
        sim.link_pesel(str(data["nip"]), str(data["pesel"]), deceased=bool(data.get("deceased")))
        return Response(status_code=204)

    async def grants(request: Request) -> Response:
        data = await _body(request)
        if "fingerprint" in data:
            identifier_type, value = "Fingerprint", str(data["fingerprint"])
        else:
            identifier_type, value = str(data["identifierType"]), str(data["value"])
        if identifier_type not in ("Nip", "Pesel", "Fingerprint"):
            raise ValueError("identifierType must be Nip, Pesel or Fingerprint")
        sim.grant_in_contexts(_nips(data), identifier_type, value, _permissions(data))
        return Response(status_code=204)

    async def rotate(request: Request) -> Response:
        return JSONResponse({"added": sim.rotate_keys()})

    async def retire(request: Request) -> Response:
        sim.retire_key(str((await _body(request))["publicKeyId"]))
        return Response(status_code=204)

    async def whoami(request: Request) -> Response:
        ip = request.client.host if request.client else "127.0.0.1"
        try:
            return JSONResponse(sim.whoami(request.headers.get("authorization") or "", ip))
        except SimulatorError as exc:
            from ksef_auth_simulator.app import error_response

            return error_response(sim, exc, request)

    return [
        Route("/_sim/counters", guarded(counters), methods=["GET"]),
        Route("/_sim/reset", guarded(reset), methods=["POST"]),
        Route("/_sim/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
        Route("/_sim/tokens", guarded(tokens), methods=["POST"]),
        Route("/_sim/tokens/revoke", guarded(revoke_token), methods=["POST"]),
        Route("/_sim/tokens/activate", guarded(activate_token), methods=["POST"]),
        Route("/_sim/contexts/{identifier}/block", guarded(block), methods=["POST", "DELETE"]),
        Route("/_sim/pesel-links", guarded(pesel_links), methods=["POST"]),
        Route("/_sim/grants", guarded(grants), methods=["POST"]),
        Route("/_sim/keys/rotate", guarded(rotate), methods=["POST"]),
        Route("/_sim/keys/retire", guarded(retire), methods=["POST"]),
        Route("/_sim/whoami", guarded(whoami), methods=["GET"]),
    ]
