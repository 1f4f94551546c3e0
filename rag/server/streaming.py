"""Chat-completion streams: the Assistant's answer events as OpenAI server-sent events.

Each sentence goes out as soon as the answerer has it, rendered exactly as the whole
answer renders it (:mod:`rag.rendering`), so the streamed content joins up to
``answer.answer``; the final chunk carries the structured answer (citations, sentences,
body), so a front end never has to parse the text. The Assistant's iterator is synchronous
and CPU-bound: it is advanced in worker threads, behind the answers' limiter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from rag.errors import RagError
from rag.rendering import SECTION_SEPARATOR, SENTENCE_SEPARATOR, Renderer
from rag.server.errors import error_body
from rag.server.service import Service, api_error
from rag.types import Answer, AnswerDone, AnswerEvent, NoticeEvent, RetractEvent, SentenceEvent, TokenEvent

log = logging.getLogger("rag")

#: The answer's structured fields, sent beside the text (in ``message``, or the final ``delta``).
ANSWER_FIELDS = ("citations", "abstained", "sentences", "body")
#: Sent too when a language model wrote the answer (rag.answering.llm).
WRITTEN_FIELDS = ("written_by", "removed", "notice")


def answer_fields(answer: Answer) -> dict:
    """``citations``, ``abstained``, ``sentences`` and ``body`` as in :meth:`Answer.to_dict` (and, for
    a written answer, ``written_by``, ``removed`` and ``notice``)."""
    d = answer.to_dict()
    return {k: d[k] for k in ANSWER_FIELDS + WRITTEN_FIELDS if k in d}


@dataclass(frozen=True)
class Completion:
    """The identity every chunk of one completion repeats."""

    id: str
    created: int
    model: str

    def chunk(self, delta: dict, finish: str | None = None) -> str:
        """One ``data:`` event of OpenAI's ``chat.completion.chunk`` format."""
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return sse(body)


def sse(payload: dict | str) -> str:
    """A server-sent event carrying ``payload`` (JSON, or a literal such as ``[DONE]``)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def rendered(events: Iterator[AnswerEvent], renderer: Renderer) -> Iterator[str | Answer]:
    """The text pieces of a streamed answer, then the answer itself.

    One piece per sentence (separated as :meth:`Renderer.body` separates them); an answer
    that came without sentences (an abstention) sends its body whole; then the Sources list.
    A written answer (rag.answering.llm) sends the model's tokens as they come, each checked
    sentence's markers after it, a visible note after a sentence it takes back, and a notice
    before an offline answer that replaces it; its text then differs from ``answer.answer``.
    """
    sent = drafting = False
    for event in events:
        if isinstance(event, TokenEvent):
            yield event.text
            sent = drafting = True
        elif isinstance(event, SentenceEvent) and drafting:
            marks = renderer.render("markers.md.j2", sentence=event.sentence)
            if marks:
                yield SENTENCE_SEPARATOR + marks
        elif isinstance(event, SentenceEvent):
            yield (SENTENCE_SEPARATOR if sent else "") + renderer.sentence(event.sentence)
            sent = True
        elif isinstance(event, RetractEvent):
            yield SENTENCE_SEPARATOR + renderer.render("retract.md.j2", sentence=event.sentence)
        elif isinstance(event, NoticeEvent):
            yield (SECTION_SEPARATOR if sent else "") + event.text + SECTION_SEPARATOR
            sent = drafting = False
        elif isinstance(event, AnswerDone):
            answer = event.answer
            if not sent and answer.body:
                yield answer.body
            sources = renderer.sources(answer)
            if sources:
                yield SECTION_SEPARATOR + sources
            yield answer
            return


async def stream_completion(service: Service, events: Iterator[AnswerEvent],
                            completion: Completion) -> AsyncIterator[str]:
    """Server-sent events: role, one content piece per sentence, Sources, stop, ``[DONE]``.

    Headers are sent by then, so a failure midway becomes an error event (OpenAI's shape;
    clients raise it) instead of a status code.
    """
    yield completion.chunk({"role": "assistant", "content": ""})
    pieces = rendered(events, service.assistant.renderer)
    while True:
        try:
            piece = await service.in_thread(next, pieces, None)
        except RagError as e:
            log.warning("answer stream failed: %s", e)
            yield sse(api_error(e).body())
            return
        except Exception as e:  # a bug: end the stream with a reason, not a cut connection
            log.exception("answer stream failed")
            yield sse(error_body(f"internal error ({type(e).__name__}); see the server log", type="server_error"))
            return
        if piece is None:  # the answerer ended without its answer: a bug
            log.error("answer stream ended without an answer")
            yield sse(error_body("internal error (the answer stream ended early); see the server log",
                                 type="server_error"))
            return
        if isinstance(piece, Answer):
            yield completion.chunk(answer_fields(piece), "stop")
            break
        yield completion.chunk({"content": piece})
    yield sse("[DONE]")
