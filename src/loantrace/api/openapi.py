"""The OpenAPI document tells the truth about errors: every 4xx/5xx is problem+json.

FastAPI documents only its own 422 (with a schema we never send). This replaces it and adds,
per operation, the problem responses the operation can really give: 401 and 403 where an
API key is needed, 404 where the path names an object, 409 for writes, 413 for uploads,
429 when rate limited, 503 when the node or database is unavailable.

It also says what a form can carry: a field is sent or left out, never null, so the null
branches FastAPI gives optional form fields are dropped.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from loantrace.api.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
DESCRIPTIONS = {
    "400": "the body cannot be parsed (malformed JSON or multipart)",
    "401": "no API key, or one that is unknown, expired or revoked",
    "403": "the key's role may not do this",
    "404": "no such object (or another tenant's)",
    "409": "conflicts with what is already recorded",
    "413": "the request body is too large",
    "422": "the request is malformed",
    "429": "too many requests for this key (or client address); see Retry-After",
    "503": "the chain node or the database is unavailable; nothing was written",
}


def install(app: FastAPI, public_paths: set[tuple[str, str]]) -> None:
    """Replace `app.openapi` with a generator that documents every problem response."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for form in _form_bodies(schema):
            for field in form.get("properties", {}).values():
                _drop_null(field)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                codes = _codes(path, method.upper(), (method.upper(), path) in public_paths)
                responses = operation.setdefault("responses", {})
                for code in codes:
                    responses[code] = {
                        "description": DESCRIPTIONS[code],
                        "content": {
                            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


HEALTH = ("/healthz", "/readyz")
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
NULL = {"type": "null"}


def _form_bodies(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the schema of every form request body (FastAPI puts each in components)."""
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in FORMS:
                ref = content.get(media_type, {}).get("schema", {}).get("$ref", "")
                name = ref.removeprefix("#/components/schemas/")
                if name in components:
                    found.append(components[name])
    return found


def _drop_null(field: dict[str, Any]) -> None:
    """Turn `anyOf: [X, null]` into X: a form field left out is how a form says "none"."""
    branches = field.get("anyOf")
    if not branches or NULL not in branches:
        return
    rest = [branch for branch in branches if branch != NULL]
    del field["anyOf"]
    if len(rest) == 1:
        field.update(rest[0])
    else:
        field["anyOf"] = rest


def _codes(path: str, method: str, public: bool) -> list[str]:
    codes = ["422", "503"]
    if not public:
        codes += ["401", "403"]
    if path not in HEALTH:
        codes.append("429")  # per key, or per client address on public routes
    if "{" in path or not public:
        codes.append("404")
    if method in ("POST", "DELETE", "PUT", "PATCH"):
        codes += ["400", "409", "413"]
    return sorted(set(codes))
