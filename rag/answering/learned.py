"""Hits -> answer with citations: the sentences the reader model judges to answer, quoted verbatim.

The ``reader`` answerer (``RAG_ANSWERER=reader``), an alternative to the default
``extractive`` one: the same kind of answer, judged by a learned model instead of
hand-written features. It declines far more often on articles nobody here wrote, and
answers the seeds worse (benchmarks/RESULTS.md, "The reader model"), so it is not the
default. Answers are extractive: every sentence of an answer is a sentence of an article, cited to
the file and lines it stands on. The candidates are the sentences of the retrieved
passages; a shortlist of them (rag/answering/context.py) is read by the reader model
(rag/answering/reader.py), which gives each the probability that it answers the question.
The best probability decides whether the documents answer at all: below the calibrated
threshold the answer abstains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from rag.analysis import content_terms
from rag.answering.base import events_of
from rag.answering.context import (
    abstention,
    by_best_sentence,
    candidates,
    context_of,
    idf_table,
    quoted,
    sentence_before,
    sentence_vectors,
    shortlist,
    similarity,
)
from rag.store.base import Store
from rag.types import Answer, AnswerEvent, Hit, Query, Sentence

if TYPE_CHECKING:
    import numpy as np

    from rag.answering.reader import Reader

#: How many candidate sentences the reader reads (about 3 ms each).
SHORTLIST = 8
#: Further sentences join the answer when at least this share of the best one's probability.
FOLLOW_SHARE = 0.5
#: Share of a follow-up's own vocabulary its answer must contain.
FOLLOW_UP_COVERAGE = 0.5
#: Sentences this similar to one already chosen add nothing.
REDUNDANT_COSINE = 0.9
#: A quoted sentence brings the sentence before it when reading it with that one raises the
#: reader's probability by this much ("He wrote the foreword" needs who "he" is); None: never.
CONTEXT_GAIN: float | None = 0.2
#: Order passages by the reader's probabilities (True) or keep the fused order (False).
REORDER = True


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    probability: float  # the reader's: that this sentence answers the question


class ReaderAnswerer:
    """Quotes the sentences of one store version that the reader judges to answer."""

    def __init__(self, store: Store, threshold: float, max_sentences: int = 3,
                 encode: Callable[[list[str]], "np.ndarray"] | None = None,
                 reader: "Reader | None" = None) -> None:
        self.store = store
        self.threshold = threshold
        self.max_sentences = max_sentences
        #: Encodes sentences when the store keeps no sentence vectors.
        self.encode = encode
        self._reader = reader
        self._last: tuple[tuple, list[Scored]] | None = None
        self._idf_table: dict[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def reader(self) -> "Reader":
        if self._reader is None:
            from rag.answering.reader import shared_reader

            self._reader = shared_reader()
        return self._reader

    # -- the protocol ---------------------------------------------------------------------
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        scored = self.score(query, hits)
        support = scored[0].probability if scored else 0.0
        if not scored or support < self.threshold:
            return self._abstain(query.question, scored, support)
        chosen = self._choose(scored)
        if query.text != query.question and not self._covers_own_words(query.question, chosen):
            return self._abstain(query.question, scored, support)
        chosen = self._with_context(query.text, chosen)
        return quoted(query.question, [(s.sentence, s.probability) for s in chosen], round(support, 4))

    def stream(self, query: Query, hits: list[Hit]) -> Iterator[AnswerEvent]:
        return events_of(self.answer(query, hits))

    def rank(self, query: Query, hits: list[Hit]) -> list[Hit]:
        """Passages ordered by the reader's best probability among their sentences, fused rank
        breaking ties (and ordering the passages none of whose sentences was read)."""
        probability = {s.sentence.id: s.probability for s in self.score(query, hits)}
        return by_best_sentence(self.store, hits, probability, reorder=REORDER)

    # -- scoring --------------------------------------------------------------------------
    def score(self, query: Query, hits: list[Hit]) -> list[Scored]:
        """The shortlisted sentences with the reader's probabilities, most probable first (the
        last scoring is kept: answering and ranking the same hits read them once)."""
        key = (query.text, query.vector.tobytes(), tuple(h.id for h in hits))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        scored = self._score(query, hits)
        self._last = (key, scored)
        return scored

    def _score(self, query: Query, hits: list[Hit]) -> list[Scored]:
        import numpy as np

        found = candidates(self.store, hits)
        if not found:
            return []
        cosines = self._sentence_vectors(found) @ np.asarray(query.vector, dtype=np.float32)
        picked = [found[i] for i in shortlist(query.text, [s.text for s in found], cosines, SHORTLIST)]
        probabilities = self.reader.probabilities(query.text, [(s.text, context_of(self.store, s)) for s in picked])
        scored = [Scored(s, float(p)) for s, p in zip(picked, probabilities)]
        scored.sort(key=lambda s: (-s.probability, s.sentence.order))
        return scored

    # -- choosing -------------------------------------------------------------------------
    def _choose(self, scored: list[Scored]) -> list[Scored]:
        """The best sentence, and runners-up that also answer and say something new."""
        best = scored[0]
        picked = [best]
        for s in scored[1:]:
            if len(picked) >= self.max_sentences or s.probability < max(self.threshold,
                                                                        FOLLOW_SHARE * best.probability):
                break
            if all(self._similarity(s.sentence, c.sentence) < REDUNDANT_COSINE for c in picked):
                picked.append(s)
        return picked

    def _with_context(self, question: str, chosen: list[Scored]) -> list[Scored]:
        """Each chosen sentence, preceded by the sentence before it when it answers only with
        that one read too (the reader read both; here it reads the sentence alone)."""
        if CONTEXT_GAIN is None:
            return chosen
        alone = self.reader.probabilities(question, [(s.sentence.text, "") for s in chosen])
        taken = {s.sentence.id for s in chosen}
        out: list[Scored] = []
        for s, p in zip(chosen, alone):
            before = sentence_before(self.store, s.sentence)
            if before is not None and before.id not in taken and s.probability - float(p) >= CONTEXT_GAIN:
                out.append(Scored(before, s.probability))
                taken.add(before.id)
            out.append(s)
        return out

    def _covers_own_words(self, question: str, chosen: list[Scored]) -> bool:
        """A follow-up searched with the previous question must still be answered on its own
        terms: "What about the weather in Paris?" after a question on GPs is not about GPs."""
        own = set(content_terms([question])[0])
        if not own:  # "And why?": nothing of its own to check
            return True
        idf = self._idf()
        rare = max(idf.values(), default=1.0)
        said = set().union(*(content_terms([s.sentence.text])[0] for s in chosen))
        mass = sum(idf.get(t, rare) for t in own)
        return sum(idf.get(t, rare) for t in own & said) / mass >= FOLLOW_UP_COVERAGE

    def _abstain(self, question: str, scored: list[Scored], support: float) -> Answer:
        return abstention(question, [(s.sentence, s.probability) for s in scored], round(support, 4))

    # -- what the store knows -------------------------------------------------------------
    def _sentence_vectors(self, sentences: list[Sentence]) -> "np.ndarray":
        return sentence_vectors(self.store, sentences, self.encode)

    def _similarity(self, a: Sentence, b: Sentence) -> float:
        return similarity(self.store, a, b, self.encode)

    def _idf(self) -> dict[str, float]:
        """Inverse document frequency of every term over the store's passages, once per version."""
        with self._lock:
            if self._idf_table is None:
                self._idf_table = idf_table(self.store)
            return self._idf_table

