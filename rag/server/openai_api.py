"""The OpenAI-compatible API: ``POST /v1/chat/completions`` (plain and streaming) and ``/v1/models``.

The last user message is the question; the user's earlier messages resolve follow-ups.
The reply text is the answer with ``[n]`` markers and its Sources list; the structured
answer (``citations`` as in CONTRACT.md, ``abstained``, ``sentences``, ``body``) rides along
in ``message`` (in the final chunk's ``delta`` when streaming).
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from rag.conversation import MAX_HISTORY
from rag.server.errors import ApiError
from rag.server.schemas import ChatCompletionRequest, ChatMessage
from rag.server.service import ServiceDep
from rag.server.streaming import Completion, answer_fields, stream_completion

router = APIRouter(prefix="/v1")


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep):
    """The answer to the last user message, whole or (``"stream": true``) a sentence at a time."""
    question, history, param, history_params = split_conversation(body.messages)
    completion = Completion(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), service.model_id)
    assistant = service.assistant
    if body.stream:
        # The question is checked and the passages retrieved here, before the response
        # starts: a bad question is still a 400, a missing index a 503.
        events = await service.call(assistant.stream, question, param=param, top_k=body.top_k, history=history,
                                     history_params=history_params)
        return StreamingResponse(stream_completion(service, events, completion), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answer = await service.call(assistant.ask, question, param=param, top_k=body.top_k, history=history,
                                     history_params=history_params)
    message = {"role": "assistant", "content": answer.answer, "refusal": None, **answer_fields(answer)}
    return {"id": completion.id, "object": "chat.completion", "created": completion.created,
            "model": completion.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}


@router.get("/models")
async def models(service: ServiceDep):
    """The one model: front ends list it in their picker."""
    return {"object": "list", "data": [model_card(service.model_id)]}


@router.get("/models/{name:path}")
async def model(name: str, service: ServiceDep):
    """The model card, or a 404 for any other name."""
    if name != service.model_id:
        raise ApiError(404, f"the model {name!r} does not exist; this server offers {service.model_id!r}",
                       param="model", code="model_not_found")
    return model_card(service.model_id)


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[str], str, list[str]]:
    """The question (last message, from the user), the user's earlier messages (the last
    :data:`MAX_HISTORY`: a chat front end sends the whole conversation), and the parameter
    paths of the question and of each earlier message, for error messages."""
    last = len(messages) - 1
    if messages[last].role != "user":
        raise ApiError(400, f"the last message must be the user's question (role 'user'), "
                            f"not role {messages[last].role!r}", param=f"messages[{last}].role")
    question = messages[last].content or ""
    if not question.strip():
        raise ApiError(400, "the last user message is empty", param=f"messages[{last}].content")
    earlier = [i for i, m in enumerate(messages[:last]) if m.role == "user" and m.content and m.content.strip()]
    earlier = earlier[-MAX_HISTORY:]
    return (question, [messages[i].content for i in earlier], f"messages[{last}].content",
            [f"messages[{i}].content" for i in earlier])


def model_card(model_id: str) -> dict:
    """The one model this server offers, as ``/v1/models`` lists it."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "rag"}
