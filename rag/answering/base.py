"""The answerer: retrieved passages in, an :class:`~rag.types.Answer` (or its events) out.

Implementations: :mod:`rag.answering.extractive` (quotes sentences; the default),
:mod:`rag.answering.learned` (quotes the sentences the reader model picks) and
:mod:`rag.answering.llm` (a language model writes, every sentence checked). Each passes
tests/contract/test_answerer.py.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from rag.types import Answer, AnswerDone, AnswerEvent, Hit, Query, SentenceEvent


class Answerer(Protocol):
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        """Answer ``query`` from ``hits``, or abstain; every sentence cites what supports it."""
        ...

    def stream(self, query: Query, hits: list[Hit]) -> Iterator[AnswerEvent]:
        """The same answer as events: each sentence as it is ready, then the whole answer."""
        ...

    def rank(self, query: Query, hits: list[Hit]) -> list[Hit]:
        """``hits`` in the order of how well they answer ``query`` (ranks renumbered)."""
        ...


def events_of(answer: Answer) -> Iterator[AnswerEvent]:
    """``stream`` for an answerer that has the whole answer at once: its sentences, then it."""
    for sentence in answer.sentences:
        yield SentenceEvent(sentence)
    yield AnswerDone(answer)
