"""The app: one Service, the API routers, errors as objects, health, and the chat page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from rag.assistant import Assistant
from rag.mcp_server import mount as mount_mcp
from rag.server import native_api, openai_api
from rag.server.errors import add_error_handlers
from rag.server.guard import Guard
from rag.server.openapi import document_errors
from rag.server.service import MODEL_ID, RELOAD_INTERVAL, Service, ServiceDep

#: Larger request bodies get a 413 before they are parsed (a long chat is a few kB).
MAX_BODY_BYTES = 1 << 20
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The chat page loads nothing but its own files and talks only to this server.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def create_app(assistant: Assistant, api_key: str | None = None, *, model_id: str = MODEL_ID,
               max_body_bytes: int = MAX_BODY_BYTES, reload_interval: float | None = RELOAD_INTERVAL,
               threads: int | None = None, cors_origins: tuple[str, ...] = (),
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The HTTP app over one ``assistant``; with ``api_key``, /v1, /api and /mcp need ``Bearer <key>``.

    The index is loaded (and the model warmed up) in the background after start-up, so
    ``/healthz`` answers 503 until then. ``threads`` bounds how many answers are computed at
    once (default: one per core; more only queue up inside torch). ``reload_interval`` is
    how often to look for a new index generation (None: never). ``allowed_hosts``: the Host
    header values served (None: any); requests from another site's pages are refused.
    """
    app = FastAPI(title="rag", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Grounded answers with line-level citations over a folder of articles.")
    app.state.service = Service(assistant, model_id=model_id, threads=threads, reload_interval=reload_interval)
    app.add_middleware(Guard, api_key=api_key or None, max_body_bytes=max_body_bytes,
                       allowed_hosts=allowed_hosts, cors_origins=cors_origins, page_csp=PAGE_CSP)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    add_error_handlers(app)
    document_errors(app)
    app.include_router(openai_api.router)
    app.include_router(native_api.router)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.mcp = mount_mcp(app, app.state.service)  # MCP clients at /mcp, behind the same Guard
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the index in the background, and poll for new generations, while the app runs (and /mcp's
    session manager)."""
    service: Service = app.state.service
    tasks = [asyncio.create_task(service.load()), asyncio.create_task(service.poll())]
    try:
        async with app.state.mcp.session_manager.run():
            yield
    finally:
        for task in tasks:
            task.cancel()


async def healthz(service: ServiceDep):
    """200 with the index's generation and size when questions can be answered; 503 and why
    otherwise: still loading, the load failed ("error"), or the store stopped answering
    ("unavailable", e.g. its database is down)."""
    readiness = service.readiness
    if not readiness.answering:
        status = "unavailable" if readiness.ready else "error" if readiness.error else "loading"
        return JSONResponse({"status": status, "error": readiness.error}, status_code=503,
                            headers={"Retry-After": "1"})
    store = service.assistant.state().store
    return {"status": "ok", "model": service.model_id, "generation": store.version,
            "chunks": store.manifest.get("counts", {}).get("chunks")}


async def page():
    """The chat page (``rag/static``), locked down by its Content-Security-Policy."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": PAGE_CSP,
                                                             "Cache-Control": "no-cache"})


def _version() -> str:
    from rag import __version__

    return __version__
