"""A language model's draft, checked sentence by sentence as it streams in.

Tokens are passed on as they arrive, without the model's own ``[n]`` markers (they number
the prompt's passages, not the answer's citations): a marker still being written, and the
space before it, are held back until it is complete. When a sentence is complete (the next
one has begun, or the draft ended) it is judged (:mod:`rag.answering.verify`) against the
passages it cites, or, citing none or the wrong one, against every retrieved passage:

- supported: a :class:`SentenceEvent` with the answer's citation (the verbatim sentence of
  the passage that supports it), so a stream can write its markers after it;
- not supported: a :class:`RetractEvent` (removed), or with ``show`` a sentence kept and
  marked unsupported;
- a verdict ("No.", "Yes, it has.") has no words of its own to check: it is judged as the
  statement it makes of a yes/no question; after any other question it is judged together
  with the sentence it introduces, or retracted when none follows;
- "the passages do not say" is the model's abstention, not a claim: left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rag.answering.verdicts import is_verdict, statements
from rag.answering.verify import (
    PARTIAL_MARKER,
    Judgement,
    Verifier,
    is_no_answer,
    markers,
    split_sentences,
    strip_markers,
)
from rag.types import AnswerEvent, AnswerSentence, Citation, Hit, RetractEvent, SentenceEvent, TokenEvent


def _has_text(piece: str) -> bool:
    """Whether ``piece`` has something besides markers (whole or still being written) and spaces."""
    rest = strip_markers(piece)
    held = PARTIAL_MARKER.search(rest)
    return bool((rest[:held.start()] if held else rest).strip())


@dataclass
class Draft:
    """Feed it the model's pieces; it gives back the events to stream, and keeps the result."""

    hits: list[Hit]
    verifier: Verifier
    show_unsupported: bool = False
    #: The question answered: what a verdict ("No.") asserts depends on it.
    question: str = ""
    raw: str = ""
    kept: list[AnswerSentence] = field(default_factory=list)
    removed: list[AnswerSentence] = field(default_factory=list)
    citations: dict[str, Citation] = field(default_factory=dict)  # passage sentence id -> citation
    model_abstained: bool = False
    #: Milliseconds spent judging sentences (the cost of verification).
    verify_ms: float = 0.0
    #: Other timings of the answer ("first_token", "model"), in milliseconds.
    timings: dict[str, float] = field(default_factory=dict)
    _settled: int = 0  # raw characters already in settled sentences
    _shown: int = 0  # characters of the visible text already sent
    _pending: tuple[str, str] = ("", "")  # a verdict waiting for the sentence it introduces: (text, draft)

    def feed(self, piece: str) -> list[AnswerEvent]:
        """The events that ``piece`` of the draft makes ready."""
        self.raw += piece
        base = self._settled  # the spans' offsets count from here; settling moves _settled
        spans = split_sentences(self.raw[base:])
        complete = spans[:-1]
        if spans and not _has_text(self.raw[base + spans[-1][0]:]):
            complete = spans[:-2]  # the last piece may be a marker still being written
        events: list[AnswerEvent] = []
        for _, end in complete:
            events += self._settle(base + end)
        events += self._show(self._visible())
        return events

    def finish(self) -> list[AnswerEvent]:
        """The events of the rest of the draft, once the model has stopped."""
        events: list[AnswerEvent] = []
        base = self._settled
        for _, end in split_sentences(self.raw[base:]):
            events += self._settle(base + end)
        if self._pending[0]:  # a verdict that introduced nothing asserts nothing checkable
            text, draft = self._pending
            self._pending = ("", "")
            events += self._retract_unchecked(text, draft)
        return events

    @property
    def supported(self) -> list[AnswerSentence]:
        return [s for s in self.kept if s.supported]

    # -- streaming text -------------------------------------------------------------------
    def _visible(self, upto: int | None = None) -> str:
        """The draft's text without markers; without ``upto``, holding back a marker in progress."""
        if upto is not None:
            return strip_markers(self.raw[:upto])
        held = PARTIAL_MARKER.search(self.raw)
        return strip_markers(self.raw[:held.start()] if held else self.raw)

    def _show(self, visible: str) -> list[AnswerEvent]:
        if len(visible) <= self._shown:
            return []
        piece, self._shown = visible[self._shown:], len(visible)
        return [TokenEvent(piece)]

    # -- judging --------------------------------------------------------------------------
    def _settle(self, end: int) -> list[AnswerEvent]:
        """Judge the sentence that ends at raw offset ``end``; its text is sent first."""
        import time

        draft = self.raw[self._settled:end]
        self._settled = end
        events = self._show(self._visible(end))
        text = " ".join(strip_markers(draft).split())
        if not text:
            return events
        if is_no_answer(text):
            self.model_abstained = True
            return events
        t0 = time.perf_counter()
        if not is_verdict(text):
            sentence = self._judge(text, markers(draft))
        elif statements(self.question)[0]:
            sentence = self._judged(text, self.verifier.judge_verdict(text, self.question, self.hits), False)
        else:  # judged with the sentence it introduces
            self._pending = (f"{self._pending[0]} {text}".strip(), self._pending[1] + draft)
            return events
        self.verify_ms += (time.perf_counter() - t0) * 1000
        if self._pending[0]:
            sentence = replace(sentence, text=f"{self._pending[0]} {sentence.text}")
            draft = self._pending[1] + draft
            self._pending = ("", "")
        return events + self._decide(sentence, draft)

    def _decide(self, sentence: AnswerSentence, draft: str) -> list[AnswerEvent]:
        """Keep a judged sentence (marked, when unsupported and shown) or take it back."""
        if sentence.supported or self.show_unsupported:
            self.kept.append(sentence)
            return [SentenceEvent(sentence)]
        self.removed.append(sentence)
        return [RetractEvent(sentence, draft=draft.strip())]

    def _retract_unchecked(self, text: str, draft: str) -> list[AnswerEvent]:
        """A verdict that introduced no sentence: nothing to judge it by, so it is not kept."""
        return self._decide(AnswerSentence(text=text, citations=(), supported=False, support=0.0), draft)

    def _judge(self, text: str, cited: tuple[int, ...]) -> AnswerSentence:
        by_model = [self.hits[n - 1] for n in cited if 1 <= n <= len(self.hits)]
        best = self.verifier.judge(text, by_model) if by_model else Judgement(0.0, None)
        from_model = self.verifier.supports(best)
        if not from_model:  # no marker, or the wrong passage: does another retrieved passage say it?
            others = self.verifier.judge(text, [h for h in self.hits if h not in by_model])
            if others.support > best.support:
                best = others
        return self._judged(text, best, from_model, bool(by_model))

    def _judged(self, text: str, best: Judgement, from_model: bool, cited: bool = False) -> AnswerSentence:
        if not self.verifier.supports(best):
            return AnswerSentence(text=text, citations=(), supported=False, support=best.support,
                                  cited_by_model=cited)
        return AnswerSentence(text=text, citations=(self._cite(best).id,), supported=True, support=best.support,
                              cited_by_model=from_model)

    def _cite(self, judgement: Judgement) -> Citation:
        s = judgement.sentence
        assert s is not None
        if s.id not in self.citations:
            self.citations[s.id] = Citation(id=len(self.citations) + 1, source=s.source, start_line=s.start_line,
                                            end_line=s.end_line, quote=s.text, score=round(judgement.support, 4),
                                            page=s.page, section=s.section or None)
        return self.citations[s.id]
