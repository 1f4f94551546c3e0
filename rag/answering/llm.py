"""Answers written by a language model (any OpenAI-compatible endpoint), every sentence checked.

The model gets the rules and the retrieved passages, numbered and fenced as data
(``rag/prompts/llm_system.md.j2``, ``llm_user.md.j2``), with the user's earlier questions
for follow-ups. Its reply streams back token by token; each sentence is judged against the
passage it cites as soon as it is complete (:mod:`rag.answering.draft`): kept with the
verbatim sentence that supports it, given a citation when it had none and a passage
supports it, or retracted. When nothing is supported, or the model is unreachable, slow,
failing or sends garbage, the answer is the offline answerer's, with a notice saying why.

With no endpoint configured the offline answer is given unchanged. Ranking passages is
always the offline answerer's.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator

from rag.answering.draft import Draft
from rag.answering.llm_client import Endpoint, LLMClient, LLMError
from rag.answering.verify import Verifier
from rag.types import Answer, AnswerDone, AnswerEvent, Hit, NoticeEvent, Query, SentenceEvent

if TYPE_CHECKING:
    from rag.answering.base import Answerer
    from rag.embeddings import Embedder
    from rag.settings import Settings
    from rag.store.base import Store

log = logging.getLogger("rag")

#: The answerer that answers when the model cannot (and ranks passages).
OFFLINE = "extractive"
#: What the rules tell the model to say when the passages do not answer.
NO_ANSWER = "The passages do not say."
#: Sentences the model is asked to keep to.
MAX_SENTENCES = 4


def fence(text: object) -> str:
    """Text as data inside the prompt's tags: ``<``, ``>`` and ``&`` escaped, so a passage
    cannot close its fence or open a new section of the prompt."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class LLMAnswerer:
    """Writes answers with a language model and keeps only what the passages support."""

    def __init__(self, store: "Store", settings: "Settings", embedder: "Embedder",
                 client: LLMClient | None = None) -> None:
        from rag.answering import ANSWERERS

        self.store = store
        self.settings = settings
        self.offline: Answerer = ANSWERERS[OFFLINE](store, settings, embedder)
        self.client = client or (shared_client(Endpoint.from_settings(settings)) if settings.llm_url else None)
        self.verifier = Verifier(store, embedder.encode_query, settings.verify_threshold)
        if self.client is not None:
            self.verifier.model  # noqa: B018  a missing or damaged judge is an error now, not mid-stream
        self.env = _environment(settings)

    # -- the protocol ---------------------------------------------------------------------
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        for event in self.stream(query, hits):
            if isinstance(event, AnswerDone):
                return event.answer
        raise AssertionError("the stream ended without its answer")  # pragma: no cover

    def rank(self, query: Query, hits: list[Hit]) -> list[Hit]:
        return self.offline.rank(query, hits)

    def warm_up(self, query: Query, hits: list[Hit]) -> None:
        """The offline answerer's tables, the verifier's encoder and entailment judge, without asking
        the model anything."""
        self.offline.answer(query, hits)
        self.verifier.encode(query.text)
        if self.client is not None:
            self.verifier.model.probabilities([(query.text, query.text)])

    def stream(self, query: Query, hits: list[Hit]) -> Iterator[AnswerEvent]:
        """Tokens as they come, each sentence's verdict, then the answer (see the module's doc)."""
        if self.client is None or not hits:
            yield from self.offline.stream(query, hits)
            return
        draft = Draft(hits=hits, verifier=self.verifier, show_unsupported=self.settings.unverified == "show",
                      question=query.question)
        t0 = time.perf_counter()
        try:
            written_by = f"llm:{self.client.model()}"
            for piece in self.client.stream(self.messages(query, hits)):
                draft.timings.setdefault("first_token", (time.perf_counter() - t0) * 1000)
                yield from draft.feed(piece)
            yield from draft.finish()
            draft.timings["model"] = (time.perf_counter() - t0) * 1000 - draft.verify_ms
        except LLMError as e:
            log.warning("%s; answering offline", e)
            yield from self._fallback(query, hits, draft, "fault", str(e), "llm")
            return
        if not draft.supported:
            yield from self._fallback(query, hits, draft, "unsupported", "", written_by)
            return
        citations = tuple(sorted(draft.citations.values(), key=lambda c: c.id))
        yield AnswerDone(Answer(question=query.question, abstained=False, sentences=tuple(draft.kept),
                                citations=citations, support=max(s.support or 0.0 for s in draft.kept),
                                removed=tuple(draft.removed), written_by=written_by,
                                timings_ms={**draft.timings, "verify": draft.verify_ms}))

    # -- the prompt -----------------------------------------------------------------------
    def messages(self, query: Query, hits: list[Hit]) -> list[dict]:
        """The chat the model is sent: the rules, then the passages and the question."""
        passages = [{"n": n, "source": h.chunk.source, "text": h.chunk.text} for n, h in enumerate(hits, 1)]
        system = self._render("llm_system.md.j2", max_sentences=MAX_SENTENCES, no_answer=NO_ANSWER)
        user = self._render("llm_user.md.j2", question=query.question, history=list(query.history),
                            passages=passages)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _render(self, name: str, **context: object) -> str:
        return self.env.get_template(name).render(**context).strip()

    # -- when the model's answer cannot be used -------------------------------------------
    def _fallback(self, query: Query, hits: list[Hit], draft: Draft, kind: str, reason: str,
                  written_by: str) -> Iterator[AnswerEvent]:
        """The offline answer, after a notice saying why; it keeps the model's removed sentences."""
        notice = self._render("llm_notice.md.j2", kind=kind, reason=reason)
        yield NoticeEvent(notice)
        removed = tuple(draft.removed) + tuple(s for s in draft.kept if not s.supported)
        for event in self.offline.stream(query, hits):
            if isinstance(event, AnswerDone):
                event = AnswerDone(replace(event.answer, notice=notice, removed=removed, written_by=written_by,
                                           timings_ms={**draft.timings, "verify": draft.verify_ms}))
            elif not isinstance(event, SentenceEvent):
                continue
            yield event


def _environment(settings: "Settings"):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(settings.prompts_dir)), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["fence"] = fence
    return env


_clients: dict[Endpoint, LLMClient] = {}
_clients_lock = threading.Lock()


def shared_client(endpoint: Endpoint) -> LLMClient:
    """One client (one connection pool) per endpoint per process: store versions share it."""
    with _clients_lock:
        if endpoint not in _clients:
            _clients[endpoint] = LLMClient(endpoint)
        return _clients[endpoint]
