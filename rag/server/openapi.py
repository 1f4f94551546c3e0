"""``/openapi.json`` as the server behaves: errors are 400s in OpenAI's shape, never FastAPI's 422.

FastAPI documents a 422 with its own validation body on every route; this server answers a
bad request with 400 and ``{"error": {...}}`` (rag/server/errors.py), and may also answer
401 (no key), 403 (another site's page), 404, 413 (body too large) or 503 (not ready, or
the store is down). Generated clients and schema checkers read this document, so it lists
exactly those.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
}
WHY = {400: "The request is not valid, or the Host header is not one this server answers to",
       401: "The API key is missing or wrong (only when the server has one)",
       403: "A POST from a page of another site",
       404: "No such model",
       413: "The request body is larger than the server accepts",
       503: "Not ready to answer: the index is loading, could not be loaded, or its store is down"}


def codes(path: str, method: str) -> list[int]:
    """The error statuses one operation can answer with."""
    found = [400]
    protected = path.startswith(("/v1/", "/api/"))
    if protected:
        found.append(401)
    if method == "post":
        found += [403, 413]
    if "{" in path:
        found.append(404)
    if path == "/healthz" or (protected and not path.startswith("/v1/models")):
        found.append(503)
    return found


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list this server's errors instead of FastAPI's 422."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            schemas["Error"] = ERROR_SCHEMA
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    for code in codes(path, method):
                        responses[str(code)] = {"description": WHY[code], "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
