"""Errors as clients see them: always an OpenAI-style error object, never a traceback.

Every failure a client can cause (bad JSON, a missing field, an unknown path, a question
the Assistant refuses) becomes ``{"error": {"message", "type", "param", "code"}}`` with a
4xx status, so OpenAI clients raise their usual exceptions with a readable message.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("rag")


class ApiError(Exception):
    """A request that cannot be served, as an OpenAI-style error object."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        """The JSON error object (also sent as an event when a stream fails midway)."""
        return error_body(self.message, self.type, self.param, self.code)

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return error_response(self.status, self.message, self.type, self.param, self.code, headers)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    """``{"error": {...}}`` in OpenAI's shape."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error object as a response with ``status``."""
    return JSONResponse(error_body(message, type, param, code), status_code=status, headers=headers)


def describe_validation_error(errors: list[dict]) -> tuple[str, str | None]:
    """One clear sentence and the parameter path (``messages[2].role``) for pydantic's errors."""
    if not errors:
        return "the request is not valid", None
    err = errors[0]
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query")]
    param = None
    for p in loc:
        param = f"{param}[{p}]" if isinstance(p, int) else (p if param is None else f"{param}.{p}")
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "the request body is not valid JSON", None
    if kind == "missing":
        return ("the request body is missing" if param is None else f"missing required parameter: {param}"), param
    if kind in ("model_attributes_type", "dict_type") and param is None:
        return "the request body must be a JSON object", None
    if kind == "extra_forbidden":
        return f"unknown parameter: {param}", param
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return (f"invalid {param}: {message}" if param else message), param


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header names JSON (``application/json`` or ``*+json``)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def add_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure to an error object: ours, pydantic's, Starlette's and bugs."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_error(exc.errors())
        if request.method == "POST" and param is None and not is_json(request.headers.get("content-type")):
            message = "send the request body as JSON, with the header Content-Type: application/json"
        return error_response(400, message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"method {request.method} is not allowed on {request.url.path}"}.get(
            exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message, code="not_found" if exc.status_code == 404 else None,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log", type="server_error")
