"""``rag mcp``: the MCP server (rag/mcp_server.py) over stdin and stdout, for one client.

The index is opened (built, when there is none) by a warm-up thread, so the client's
handshake is answered at once; calls wait for it. Lines that are not JSON-RPC messages are
answered with errors instead of dropped, and the process leaves at once when the client
goes while a thread is still at work.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import anyio

from rag.assistant import Assistant
from rag.errors import RagError, first_line
from rag.mcp_server import RagServer, Runner
from rag.settings import Settings

log = logging.getLogger("rag")


def run_stdio(settings: Settings) -> None:
    """Serve one client over stdin/stdout until it closes them (``rag mcp``).

    The index is opened (built, when there is none) in the background, so the client's
    handshake is answered at once; calls wait for it, and pick up a generation that
    ``rag index`` wrote since. stdout carries only protocol messages; logs go to stderr.
    """
    from rag.loaders import CorpusError

    if not settings.corpus.exists():
        raise CorpusError(f"corpus folder not found: {settings.corpus}")
    assistant, warmed = Assistant(settings), threading.Event()
    server = RagServer(assistant, local_runner(assistant, warmed))
    # A daemon thread: a client that quits during a long first build does not wait for it.
    threading.Thread(target=_warm_up, args=(assistant, warmed), name="rag-warm-up", daemon=True).start()
    anyio.run(_serve_stdio, server)
    _leave_now_if_busy()


async def _serve_stdio(server: RagServer) -> None:
    """The SDK's stdio transport, with malformed lines answered (the SDK drops them silently)."""
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async runs, given our read stream
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(Malformed(read_stream, write_stream), write_stream,
                           lowlevel.create_initialization_options())


class Malformed:
    """The stdio read stream, less the lines that are not JSON-RPC messages: each is logged, and
    answered with a JSON-RPC error (-32700 not JSON, -32600 not a request) when it has an id
    to answer to. A client that sent a batch or forgot ``jsonrpc`` otherwise waited forever."""

    def __init__(self, inner, write_stream) -> None:
        self.inner, self.write_stream = inner, write_stream

    def __getattr__(self, name: str) -> Any:  # aclose, last_context, ...: the stream's own
        return getattr(self.inner, name)

    async def __aenter__(self) -> "Malformed":
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)

    def __aiter__(self) -> "Malformed":
        return self

    async def __anext__(self) -> Any:
        while True:
            item = await self.inner.__anext__()
            if not isinstance(item, Exception):
                return item
            await self._answer(item)

    async def _answer(self, error: Exception) -> None:
        import mcp_types as types
        from mcp.shared.message import SessionMessage

        found = error.errors(include_url=False) if hasattr(error, "errors") else []
        what = found[0].get("input") if found else None
        if found and found[0].get("type") == "json_invalid":
            code, message = types.PARSE_ERROR, "parse error: the line is not JSON"
        elif isinstance(what, list):
            code, message = types.INVALID_REQUEST, "invalid request: batches are not supported"
        else:
            code, message = types.INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 message"
        id_ = what.get("id") if isinstance(what, dict) else None
        if isinstance(id_, bool) or not isinstance(id_, (int, str)):
            log.warning("%s; no id to answer to", message)
            return
        log.warning("%s (id %r)", message, id_)
        reply = types.JSONRPCError(jsonrpc="2.0", id=id_, error=types.ErrorData(code=code, message=message))
        await self.write_stream.send(SessionMessage(reply))


def _leave_now_if_busy() -> None:
    """Exit at once, status 0, when a thread is still working (the warm-up, a call the client
    left). Finalising the interpreter under a thread inside ONNX Runtime aborted the process
    (SIGABRT, "terminate called without an active exception"); the index is written
    atomically, so stopping a build midway loses nothing."""
    if any(t.is_alive() for t in threading.enumerate() if t is not threading.main_thread()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # the client closed the pipe
                pass
        os._exit(0)


def local_runner(assistant: Assistant, warmed: threading.Event | None = None) -> Runner:
    """Calls in worker threads, one per core at once, each on the newest index generation; with
    ``warmed``, only once it is set (the first opening of the index, a build maybe, is the warm-up's)."""
    limiter = anyio.CapacityLimiter(os.cpu_count() or 1)

    def fresh(fn: Callable, args: tuple, kwargs: dict) -> Any:
        assistant.reload_if_changed()
        return fn(*args, **kwargs)

    async def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        while warmed is not None and not warmed.is_set():  # polled: a client may cancel the call meanwhile
            await anyio.sleep(0.05)
        return await anyio.to_thread.run_sync(functools.partial(fresh, fn, args, kwargs), limiter=limiter)

    return run


def _warm_up(assistant: Assistant, warmed: threading.Event) -> None:
    try:
        assistant.warm_up()
    except RagError as e:  # each call tries again and says why
        log.warning("cannot answer yet: %s", first_line(e))
    except Exception:  # a bug: keep serving, calls report it as a tool error
        log.exception("cannot answer yet")
    else:
        log.info("ready: index %s", assistant.state().store.version)
    finally:
        warmed.set()
