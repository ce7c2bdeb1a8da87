"""Check recorded responses against the response schemas of the shipped open-api.json."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import httpx
import jsonschema


@cache
def spec() -> dict[str, Any]:
    text = (resources.files("ksef_auth_simulator") / "spec" / "open-api.json").read_text("utf-8")
    return json.loads(text)


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable: true`` becomes ``anyOf [schema, null]``."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def components() -> dict[str, Any]:
    return {"schemas": to_json_schema(spec()["components"]["schemas"])}


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The spec path template and operation object matching a concrete ``/v2`` path."""
    relative = path[3:] if path.startswith("/v2/") else path
    candidates = []
    for template, ops in spec()["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, relative) and method.lower() in ops:
            candidates.append((template.count("{"), template, ops[method.lower()]))
    if not candidates:
        raise AssertionError(f"{method} {relative} is not in the OpenAPI document")
    _, template, op = min(candidates)
    return template, op


def check(response: httpx.Response) -> tuple[str, str, int]:
    """Assert ``response`` is declared by the spec and its body validates; return its key."""
    request = response.request
    template, op = operation_for(request.method, request.url.path)
    status = str(response.status_code)
    declared = op["responses"]
    assert status in declared, f"{request.method} {template}: {status} not in {sorted(declared)}"
    content = declared[status].get("content")
    if not content:
        assert response.content == b"", f"{template} {status} must have no body"
        return request.method, template, response.status_code
    media = response.headers.get("content-type", "").split(";")[0].strip()
    assert media in content, f"{template} {status}: {media} not in {sorted(content)}"
    schema = {**to_json_schema(content[media]["schema"]), "components": components()}
    jsonschema.Draft202012Validator(schema).validate(response.json())
    if response.status_code == 429:
        assert response.headers.get("retry-after", "").isdigit()
    return request.method, template, response.status_code
