"""The first thing every request meets: the API key check and the request-size limit."""

from __future__ import annotations

import secrets

from starlette.datastructures import Headers

from rag.server.errors import error_response


class Guard:
    """ASGI middleware run before routing and parsing: API key first, then the body size.

    Only ``/v1/`` and ``/api/`` need the key; ``/healthz`` and the page stay open. The body
    is read here (up to ``max_body_bytes``) and replayed to the app, so an oversized upload
    is refused without being buffered whole, with or without a Content-Length header.
    """

    def __init__(self, app, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        path = scope["path"]
        if self.api_key and scope["method"] != "OPTIONS" and path.startswith(("/v1/", "/api/")):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), self.api_key):
                message = ("missing API key: send 'Authorization: Bearer <key>'" if not token
                           else "incorrect API key provided")
                response = error_response(401, message, code="invalid_api_key",
                                          headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_big = error_response(413, f"the request body is larger than {self.max_body_bytes} bytes",
                                 code="request_too_large")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return await too_big(scope, receive, send)
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                return await too_big(scope, receive, send)
            parts.append(body)
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)
