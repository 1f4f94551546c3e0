"""The native JSON API: the shapes of ``rag ask --json`` and ``rag search --json``, plus reload."""

from __future__ import annotations

from fastapi import APIRouter, Query

from rag.server.schemas import MAX_TOP_K, NOT_BLANK, AskRequest
from rag.server.service import ServiceDep

router = APIRouter(prefix="/api")


@router.post("/ask")
async def ask(body: AskRequest, service: ServiceDep):
    """The answer as ``rag ask --json`` prints it (with ``sentences`` and ``body``)."""
    earlier = [f"history[{i}]" for i in range(len(body.history))]
    answer = await service.call(service.assistant.ask, body.question, param="question", top_k=body.top_k,
                                history=body.history, history_params=earlier)
    return answer.to_dict()


@router.get("/search")
async def search(service: ServiceDep, q: str = Query(..., description="What to look for", json_schema_extra=NOT_BLANK),
                 top_k: int | None = Query(None, ge=1, le=MAX_TOP_K)):
    """The passages as ``rag search --json`` prints them."""
    hits = await service.call(service.assistant.search, q, param="q", top_k=top_k)
    return {"query": q, "hits": [h.to_dict() for h in hits]}


@router.post("/reload")
async def reload_now(service: ServiceDep):
    """Switch to a newer index generation now instead of at the next poll."""
    service.require_ready()
    switched = await service.reload()
    return {"reloaded": switched, "generation": service.assistant.state().store.version}
