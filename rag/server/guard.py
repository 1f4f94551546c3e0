"""The first thing every request meets: the host, the site it comes from, the API key, the size.

- **Host**: only the names the server was bound to (DNS rebinding cannot reach a local server).
- **Site**: a POST from another site's page (``Origin`` of another host, or ``Sec-Fetch-Site:
  cross-site``) is refused unless CORS allows that origin: a page elsewhere must not make a
  local server reload or answer.
- **Key**, then **size**, as below; and the chat page's CSP on every file of the page.
- **/mcp** takes POST only: a GET (the spec's optional stream of server messages) is 405.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import Headers

from rag.server.errors import error_response


class Guard:
    """ASGI middleware run before routing and parsing: API key first, then the body size.

    Only ``/v1/``, ``/api/`` and ``/mcp`` need the key; ``/healthz`` and the page stay open. The body
    is read here (up to ``max_body_bytes``) and replayed to the app, so an oversized upload
    is refused without being buffered whole, with or without a Content-Length header.
    """

    def __init__(self, app, api_key: str | None, max_body_bytes: int, allowed_hosts: tuple[str, ...] | None = None,
                 cors_origins: tuple[str, ...] = (), page_csp: str | None = None) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.allowed_hosts = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}
        self.cors_origins = set(cors_origins)
        self.page_csp = page_csp

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        path = scope["path"]
        refused = self._refused(scope["method"], headers) or self._unauthorised(scope["method"], path, headers)
        if refused is not None:
            return await refused(scope, receive, send)
        if path.rstrip("/") == "/mcp" and scope["method"] in ("GET", "HEAD"):
            # The MCP server is stateless: it has no stream to open, and an open GET never ended.
            return await error_response(405, "GET is not allowed on /mcp: POST JSON-RPC requests to it",
                                        code="method_not_allowed", headers={"Allow": "POST"})(scope, receive, send)
        if self.page_csp and (path == "/" or path.startswith("/static/")):
            send = self._with_csp(send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        await self._with_body(scope, receive, send, headers)

    def _unauthorised(self, method: str, path: str, headers: Headers):
        """A 401 when /v1, /api or /mcp is asked without the key."""
        protected = path.startswith(("/v1/", "/api/", "/mcp/")) or path == "/mcp"
        if not self.api_key or method == "OPTIONS" or not protected:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(), self.api_key):
            return None
        message = "missing API key: send 'Authorization: Bearer <key>'" if not token else "incorrect API key provided"
        return error_response(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    async def _with_body(self, scope, receive, send, headers: Headers) -> None:
        """Read the body up to the limit (413 past it), then hand it to the app."""
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

    def _refused(self, method: str, headers: Headers):
        """A 400 for a host this server does not answer to, a 403 for another site's POST."""
        if self.allowed_hosts is not None and _host_name(headers.get("host", "")) not in self.allowed_hosts:
            return error_response(400, "this server does not answer to that host name (see RAG_ALLOWED_HOSTS)",
                                   code="host_not_allowed")
        origin = headers.get("origin")
        if method in ("GET", "HEAD", "OPTIONS") or origin in self.cors_origins:
            return None
        if origin:  # same origin: the page's host is the host it talks to
            cross = origin == "null" or _host_name(origin.split("://", 1)[-1]) != _host_name(headers.get("host", ""))
        else:
            cross = headers.get("sec-fetch-site") == "cross-site"
        if cross:
            return error_response(403, "requests from pages of another site are refused", code="cross_site")
        return None

    def _with_csp(self, send):
        async def sending(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"content-security-policy" not in names:
                    message = dict(message, headers=[*message.get("headers", []),
                                                     (b"content-security-policy", self.page_csp.encode())])
            await send(message)

        return sending


def _host_name(host: str) -> str:
    """The name of a Host header or an origin's authority, without its port or brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
