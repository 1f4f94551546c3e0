"""``rag serve``: the assistant over HTTP, for chat front ends, scripts and a small chat page.

- ``POST /v1/chat/completions`` speaks the OpenAI chat-completions protocol (plain and
  ``"stream": true``), so any OpenAI-compatible front end or client can ask. The last user
  message is the question; the user's earlier messages resolve follow-ups. The reply text
  is the answer with ``[n]`` markers and its Sources list; the structured citations of
  CONTRACT.md ride along in ``message.citations`` (in the final chunk's ``delta`` when
  streaming).
- ``POST /api/ask`` and ``GET /api/search`` return the JSON of ``rag ask --json`` and
  ``rag search --json``; ``GET /v1/models`` lists the assistant; ``GET /healthz`` is 200
  only once the index is loaded; ``GET /`` is the chat page (``rag/static``).

One :class:`Assistant` serves every request. Answering is CPU-bound and synchronous, so
it runs in worker threads behind a limiter and the event loop stays free. A poller picks
up a generation that ``rag index`` wrote beside the server; the Assistant swaps its state
whole, so a request sees the old index or the new one, never a mix. Every error a client
can cause is a 4xx with an OpenAI-style error object, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import logging
import os
import pickle
import re
import secrets
import socket
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Literal

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.assistant import Assistant, QuestionError
from rag.errors import RagError
from rag.settings import Settings

log = logging.getLogger("rag")

#: The name ``/v1/models`` lists and completions report; front ends show it in their picker.
MODEL_ID = "rag"
#: Larger request bodies get a 413 before they are parsed (a long chat is a few kB).
MAX_BODY_BYTES = 1 << 20
#: Seconds between checks of the index's CURRENT pointer for a new generation.
RELOAD_INTERVAL = 1.0
#: Seconds between attempts to load an index that could not be loaded at start.
RETRY_SECONDS = 5.0
#: Upper bound for ``top_k`` over HTTP, so one request cannot ask to score the whole corpus.
MAX_TOP_K = 100
#: Streamed answers go out in pieces of a few words: streamed-looking, without an event per word.
STREAM_PIECE_CHARS = 16
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The chat page loads nothing but its own files and talks only to this server.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ServeError(RagError):
    """The server cannot start as asked (port taken, bad option)."""


class ApiError(Exception):
    """A request that cannot be served, as an OpenAI-style error object."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return error_response(self.status, self.message, self.type, self.param, self.code, headers)


def error_response(status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# -- request schemas ------------------------------------------------------------------
class ChatMessage(BaseModel):
    """One message of an OpenAI chat; only text content is understood."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> str | None:
        """Plain text, or the text parts of a content list (``[{"type": "text", "text": ...}]``)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list):
            texts = []
            for part in value:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise ValueError(f"only text content parts are supported, not {kind!r}")
                texts.append(part["text"])
            return "\n".join(texts)
        raise ValueError("content must be a string or a list of text parts")


class ChatCompletionRequest(BaseModel):
    """The chat-completions request. Sampling options (temperature, max_tokens, ...) are
    accepted and ignored: answers are extractive and deterministic."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    n: int | None = Field(None, ge=1, le=1)
    #: Extension: passages to retrieve (default from settings).
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)


class AskRequest(BaseModel):
    """``POST /api/ask``: the arguments of ``rag ask``, plus the user's earlier questions."""

    model_config = ConfigDict(extra="forbid")

    question: str
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)
    history: list[str] = Field(default_factory=list)


# -- the app ----------------------------------------------------------------------------
@dataclasses.dataclass
class Readiness:
    """Whether the index is loaded yet, and why not when loading failed."""

    ready: bool = False
    error: str | None = None


def create_app(assistant: Assistant, api_key: str | None = None, *, model_id: str = MODEL_ID,
               max_body_bytes: int = MAX_BODY_BYTES, reload_interval: float | None = RELOAD_INTERVAL,
               threads: int | None = None, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    """The HTTP app over one ``assistant``; with ``api_key``, /v1 and /api need ``Bearer <key>``.

    The index is loaded (and the model warmed up) in the background after start-up, so
    ``/healthz`` answers 503 until then. ``threads`` bounds how many answers are computed at
    once (default: one per core; more only queue up inside torch).
    """
    readiness = Readiness()
    limiter = anyio.CapacityLimiter(threads or os.cpu_count() or 1)

    async def in_thread(fn, *args, **kwargs):
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)

    def warm_up() -> None:
        # The first question pays for loading torch, the model and lazy tables: pay it now.
        assistant.ask("What is this about?")

    async def load() -> None:
        try:
            await in_thread(warm_up)
        except RagError as e:
            readiness.error = str(e)
            log.error("cannot serve: %s", e)
            return
        except Exception as e:  # a bug: say so in /healthz instead of dying silently
            readiness.error = f"unexpected {type(e).__name__}: {e}"
            log.exception("cannot serve")
            return
        readiness.ready, readiness.error = True, None
        log.info("ready: index %s", assistant.state().index.generation)

    async def reload() -> bool:
        # Not behind the answers' limiter: a busy server must still notice a new index.
        try:
            return await anyio.to_thread.run_sync(assistant.reload_if_changed)
        except RagError as e:
            log.warning("index reload failed: %s", e)
        except Exception:  # a bug: keep serving the index we have
            log.exception("index reload failed")
        return False

    async def poll() -> None:
        last_try = time.monotonic()
        while True:
            await asyncio.sleep(reload_interval)
            if readiness.ready:
                await reload()
            elif readiness.error and time.monotonic() - last_try > RETRY_SECONDS:
                last_try = time.monotonic()  # e.g. the corpus was empty and now has articles
                await load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(load())]
        if reload_interval:
            tasks.append(asyncio.create_task(poll()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    app = FastAPI(title="rag", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Grounded answers with line-level citations over a folder of articles.")
    app.add_middleware(Guard, api_key=api_key or None, max_body_bytes=max_body_bytes)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    # -- errors: always an OpenAI-style object, never a traceback -----------------------
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

    async def call(fn, *args, param: str, **kwargs):
        """``fn`` of the Assistant in a worker thread: a bad question is 400 on ``param``, an
        index that cannot be loaded 503."""
        if not readiness.ready:
            raise not_ready(readiness)
        try:
            return await in_thread(fn, *args, **kwargs)
        except QuestionError as e:
            raise ApiError(400, str(e), param=param) from None
        except RagError as e:
            raise ApiError(503, str(e), type="server_error", code="index_unavailable") from None

    async def answer(question: str, top_k: int | None, history: list[str], param: str):
        return await call(assistant.ask, question, param=param, top_k=top_k, history=history)

    # -- OpenAI-compatible ----------------------------------------------------------------
    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest):
        question, history, param = split_conversation(body.messages)
        result = await answer(question, body.top_k, history, param)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        citations = result.to_dict()["citations"]
        if not body.stream:
            message = {"role": "assistant", "content": result.answer, "refusal": None,
                       "citations": citations, "abstained": result.abstained}
            return {"id": completion_id, "object": "chat.completion", "created": created, "model": model_id,
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}
        return StreamingResponse(
            stream_chunks(completion_id, created, model_id, result.answer, citations, result.abstained),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model_card(model_id)]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        if name != model_id:
            raise ApiError(404, f"the model {name!r} does not exist; this server offers {model_id!r}",
                           param="model", code="model_not_found")
        return model_card(model_id)

    # -- native JSON, the shapes of the CLI's --json ---------------------------------------
    @app.post("/api/ask")
    async def ask(body: AskRequest):
        result = await answer(body.question, body.top_k, body.history, "question")
        return result.to_dict()

    @app.get("/api/search")
    async def search(q: str = Query(..., description="What to look for"),
                     top_k: int | None = Query(None, ge=1, le=MAX_TOP_K)):
        hits = await call(assistant.search, q, param="q", top_k=top_k)
        return {"query": q, "hits": [h.to_dict() for h in hits]}

    @app.post("/api/reload")
    async def reload_now():
        """Switch to a newer index generation now instead of at the next poll."""
        if not readiness.ready:
            raise not_ready(readiness)
        switched = await reload()
        return {"reloaded": switched, "generation": assistant.state().index.generation}

    # -- operations and the page ------------------------------------------------------------
    @app.get("/healthz")
    async def healthz():
        if not readiness.ready:
            status = "error" if readiness.error else "loading"
            return JSONResponse({"status": status, "error": readiness.error}, status_code=503,
                                headers={"Retry-After": "1"})
        state = assistant.state()
        return {"status": "ok", "model": model_id, "generation": state.index.generation,
                "chunks": len(state.index.chunks)}

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": PAGE_CSP,
                                                                 "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[str], str]:
    """The question (last message, from the user), the user's earlier messages, and the
    question's parameter path for error messages."""
    last = len(messages) - 1
    if messages[last].role != "user":
        raise ApiError(400, f"the last message must be the user's question (role 'user'), "
                            f"not role {messages[last].role!r}", param=f"messages[{last}].role")
    question = messages[last].content or ""
    if not question.strip():
        raise ApiError(400, "the last user message is empty", param=f"messages[{last}].content")
    history = [m.content for m in messages[:last] if m.role == "user" and m.content and m.content.strip()]
    return question, history, f"messages[{last}].content"


async def stream_chunks(completion_id: str, created: int, model_id: str, text: str,
                        citations: list[dict], abstained: bool) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's chunk format: role, content pieces, stop, [DONE].

    The answer is extractive and computed in one pass before the first chunk; it is sent
    a few words at a time so a front end renders it as it does any streamed reply. The final chunk's
    delta carries the structured citations.
    """
    def chunk(delta: dict, finish: str | None = None) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_id,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces(text):
        yield chunk({"content": piece})
    yield chunk({"citations": citations, "abstained": abstained}, "stop")
    yield "data: [DONE]\n\n"


def pieces(text: str, size: int = STREAM_PIECE_CHARS) -> list[str]:
    """``text`` cut at word boundaries into pieces of about ``size`` characters (they join back to ``text``)."""
    out: list[str] = []
    for word in re.findall(r"\s*\S+|\s+", text):
        if out and len(out[-1]) < size:
            out[-1] += word
        else:
            out.append(word)
    return out


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def model_card(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "rag"}


def not_ready(readiness: Readiness) -> ApiError:
    if readiness.error:
        return ApiError(503, f"the server cannot answer: {readiness.error}", type="server_error",
                        code="index_unavailable")
    return ApiError(503, "the index is still loading; try again shortly", type="server_error", code="not_ready")


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


class Guard:
    """ASGI middleware run before routing and parsing: API key first, then the body size.

    The body is read here (up to ``max_body_bytes``) and replayed to the app, so an
    oversized upload is refused without being buffered whole, with or without a
    Content-Length header.
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
        if self.api_key and scope["method"] != "OPTIONS" and (path.startswith("/v1/") or path.startswith("/api/")):
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


def _version() -> str:
    from rag import __version__

    return __version__


# -- running ----------------------------------------------------------------------------
ENV_SETTINGS = "RAG_SERVE_SETTINGS"


def run(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        threads: int | None = None, log_level: str = "info") -> None:
    """Serve until interrupted. ``RAG_API_KEY`` set: clients need ``Authorization: Bearer``.

    ``workers > 1`` starts that many processes, each loading the model and index (uvicorn
    shares the socket between them); torch then gets ``cores / workers`` threads apiece.
    """
    import uvicorn

    if workers < 1:
        raise ServeError(f"workers must be at least 1, got {workers}")
    check_port(host, port)
    api_key = os.environ.get("RAG_API_KEY") or None
    print(f"rag: serving on http://{host}:{port}/ (OpenAI base URL http://{host}:{port}/v1)"
          f"{'; API key required' if api_key else ''}; /healthz says when the index is loaded",
          file=sys.stderr, flush=True)
    if not api_key and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rag: warning: {host} may be reachable from other machines and RAG_API_KEY is not set",
              file=sys.stderr, flush=True)
    options = dict(host=host, port=port, log_level=log_level, server_header=False, timeout_graceful_shutdown=5)
    if workers == 1:
        uvicorn.run(create_app(Assistant(settings), api_key, threads=threads), **options)
        return
    os.environ[ENV_SETTINGS] = base64.b64encode(pickle.dumps(settings)).decode()
    os.environ["RAG_SERVE_LOG_LEVEL"] = logging.getLevelName(log.getEffectiveLevel())
    if threads:
        os.environ["RAG_SERVE_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("rag.server:app_from_environment", factory=True, workers=workers, **options)
    sock = config.bind_socket()
    # uvicorn binds with protocol 0, so asyncio leaves Nagle on for accepted connections and
    # each small response waits ~40 ms for a delayed ACK; Linux copies TCP_NODELAY from the listener.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


def app_from_environment() -> FastAPI:
    """The app a worker process builds (uvicorn ``--factory``), from what ``run`` put in the
    environment: the parent's Settings, pickled (same code, same machine, set by the parent)."""
    level = os.environ.get("RAG_SERVE_LOG_LEVEL")
    if level and not log.handlers:  # a spawned worker: log as the parent's CLI was asked to
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     [%(process)d] %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False
    raw = os.environ.get(ENV_SETTINGS)
    settings = pickle.loads(base64.b64decode(raw)) if raw else Settings.load()
    threads = os.environ.get("RAG_SERVE_THREADS")
    return create_app(Assistant(settings), os.environ.get("RAG_API_KEY") or None,
                      threads=int(threads) if threads else None)


def check_port(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's log lines after the model has loaded."""
    if not 0 <= port <= 65535:
        raise ServeError(f"port must be between 0 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ServeError(f"cannot serve on {host}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise ServeError(f"cannot serve on {host}:{port}: {e.strerror}") from None
