"""What every route works with: the one Assistant, whether it is ready, and its worker threads.

Answering is CPU-bound and synchronous, so it runs in worker threads behind a limiter and
the event loop stays free. The index is loaded (and the model warmed up) in the background
after start-up; a poller then picks up a generation that ``rag index`` wrote beside the
server, or retries a load that failed. The Assistant swaps its state whole, so a request
sees the old index or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from rag.assistant import Assistant, QuestionError
from rag.errors import RagError
from rag.server.errors import ApiError

log = logging.getLogger("rag")

#: The name ``/v1/models`` lists and completions report; front ends show it in their picker.
MODEL_ID = "rag"
#: Seconds between checks of the index's CURRENT pointer for a new generation.
RELOAD_INTERVAL = 1.0
#: Seconds between attempts to load an index that could not be loaded at start.
RETRY_SECONDS = 5.0


@dataclasses.dataclass
class Readiness:
    """Whether questions can be answered: the index loaded, and its store answering now.

    ``ready`` turns True once the index is loaded; ``error`` says why loading failed, or,
    once ready, why the store stopped answering (a database outage). ``/healthz`` is 200
    only when ready with no error, so a load balancer notices an outage.
    """

    ready: bool = False
    error: str | None = None

    @property
    def answering(self) -> bool:
        return self.ready and self.error is None


class Service:
    """One Assistant shared by all requests, with the limiter its answers run behind."""

    def __init__(self, assistant: Assistant, *, model_id: str = MODEL_ID, threads: int | None = None,
                 reload_interval: float | None = RELOAD_INTERVAL) -> None:
        self.assistant = assistant
        self.model_id = model_id
        self.reload_interval = reload_interval
        self.readiness = Readiness()
        #: One answer per core at once by default; more would only queue up inside torch.
        self.limiter = anyio.CapacityLimiter(threads or os.cpu_count() or 1)

    async def in_thread(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread, behind the limiter."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self.limiter)

    async def call(self, fn: Callable, *args: Any, param: str, history_params: list[str] = (), **kwargs: Any) -> Any:
        """``fn`` of the Assistant in a worker thread: a bad question is 400 on ``param`` (a bad
        earlier question on its entry of ``history_params``), an index that cannot be loaded 503."""
        self.require_ready()
        try:
            result = await self.in_thread(fn, *args, **kwargs)
        except QuestionError as e:
            if e.earlier is not None and e.earlier < len(history_params):
                param = history_params[e.earlier]
            raise api_error(e, param) from None
        except RagError as e:
            self.trouble(str(e))
            raise api_error(e, param) from None
        self.trouble(None)
        return result

    def trouble(self, error: str | None) -> None:
        """Record whether the loaded index's store answers (None: it does), logging only the
        change: an outage is one warning and its end one line, not a warning per retry."""
        readiness = self.readiness
        if not readiness.ready or error == readiness.error:
            return
        if error is None:
            log.warning("answering again: the store is back")
        elif readiness.error is None:
            log.warning("cannot answer: %s", error)
        readiness.error = error

    def require_ready(self) -> None:
        """Raise the 503 that says why nothing can be answered yet, if that is so."""
        readiness = self.readiness
        if readiness.ready:
            return
        if readiness.error:
            raise ApiError(503, f"the server cannot answer: {readiness.error}", type="server_error",
                           code="index_unavailable")
        raise ApiError(503, "the index is still loading; try again shortly", type="server_error", code="not_ready")

    # -- the index's life cycle -----------------------------------------------------------
    async def load(self) -> None:
        """Open the index and warm up the model; on failure, say why in ``/healthz``."""
        readiness = self.readiness
        try:
            # The first question would pay for loading the model and lazy tables: pay it now.
            await self.in_thread(self.assistant.warm_up)
        except RagError as e:
            readiness.error = str(e)
            log.error("cannot serve: %s", e)
            return
        except Exception as e:  # a bug: say so in /healthz instead of dying silently
            readiness.error = f"unexpected {type(e).__name__}: {e}"
            log.exception("cannot serve")
            return
        readiness.ready, readiness.error = True, None
        log.info("ready: index %s", self.assistant.state().store.version)

    async def reload(self) -> bool:
        """Switch to a newer index generation if there is one; True when it did."""
        # Not behind the answers' limiter: a busy server must still notice a new index.
        try:
            switched = await anyio.to_thread.run_sync(self.assistant.reload_if_changed)
        except RagError as e:
            self.trouble(str(e))  # e.g. the database is down: /healthz says so until it is back
        except Exception:  # a bug: keep serving the index we have
            log.exception("index reload failed")
        else:
            self.trouble(None)
            return switched
        return False

    async def poll(self) -> None:
        """Forever: pick up new generations once ready, retry a failed load now and then."""
        if not self.reload_interval:
            return
        last_try = time.monotonic()
        while True:
            await asyncio.sleep(self.reload_interval)
            if self.readiness.ready:
                await self.reload()
            elif self.readiness.error and time.monotonic() - last_try > RETRY_SECONDS:
                last_try = time.monotonic()  # e.g. the corpus was empty and now has articles
                await self.load()


def api_error(error: RagError, param: str | None = None) -> ApiError:
    """The HTTP error for one of the Assistant's: a bad question is 400, anything else 503."""
    if isinstance(error, QuestionError):
        return ApiError(400, str(error), param=param)
    return ApiError(503, str(error), type="server_error", code="index_unavailable")


def get_service(request: Request) -> Service:
    """The app's Service (a FastAPI dependency)."""
    return request.app.state.service


#: Route parameter annotation that hands a route the app's Service.
ServiceDep = Annotated[Service, Depends(get_service)]
