"""Hits -> answer with citations: pick the sentences that best answer, quote them verbatim.

Answers are extractive and deterministic: every sentence of an answer is a sentence of
an article, cited to the file and lines it stands on. Every sentence of the retrieved
passages is scored (:mod:`rag.answering.features`): *evidence* picks which ones answer,
*support* whether any does; when the best support falls below a calibrated threshold the
documents are taken not to say, and the answer abstains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from rag.analysis import content_terms, lowercase_words
from rag.answering.base import events_of
from rag.answering.context import (
    abstention,
    answer_like,
    by_best_sentence,
    idf_table,
    quoted,
    sentence_vectors,
    similarity,
)
from rag.answering.features import EVIDENCE_WEIGHTS, SUPPORT_WEIGHTS, Features, QueryTerms
from rag.answering.kinds import NAME, gives, kinds_asked
from rag.store.base import Store
from rag.types import Answer, AnswerEvent, Hit, Query, Sentence

if TYPE_CHECKING:
    import numpy as np

#: Further sentences join the answer only when this close to the best one.
FOLLOW_MARGIN = 0.12
#: A neighbouring sentence joins the best one when it adds this much question coverage.
NEIGHBOUR_GAIN = 0.1
#: Share of a follow-up's own vocabulary its answer must contain.
FOLLOW_UP_COVERAGE = 0.5
#: Sentences this similar to one already chosen add nothing.
REDUNDANT_COSINE = 0.9
#: A name in more than this share of the passages is what the collection is about ("GP",
#: "NHS" in the seeds), not what tells one answer from another: missing it is no penalty.
#: Anywhere from 0.15 to 0.4 gave the same development-set figures (benchmarks/RESULTS.md).
COMMON_NAME_SHARE = 0.25


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    evidence: float  # how well it answers, to rank sentences (EVIDENCE_WEIGHTS)
    support: float  # how surely it answers, to decide whether to abstain (SUPPORT_WEIGHTS)
    features: Features


class ExtractiveAnswerer:
    """Quotes the sentences of one store version that answer best."""

    def __init__(self, store: Store, threshold: float, max_sentences: int = 3,
                 encode: Callable[[list[str]], "np.ndarray"] | None = None) -> None:
        self.store = store
        self.threshold = threshold
        self.max_sentences = max_sentences
        #: Encodes sentences when the store keeps no sentence vectors.
        self.encode = encode
        self._terms_of: dict[str, set[str]] = {}  # sentence or chunk id -> content terms
        self._last: tuple[tuple, list[Scored]] | None = None
        self._tables: dict[str, object] = {}
        self._lock = threading.Lock()

    # -- the protocol ---------------------------------------------------------------------
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        scored = self.score(query, hits)
        support = max((s.support for s in scored), default=-1.0)
        if not scored or support < self.threshold:
            return self._abstain(query.question, scored, support)
        # Support says whether the documents answer, evidence which sentence does: quoting only
        # sentences that pass the threshold lowered fact recall on the development set (0.645 -> 0.600).
        chosen = self._choose(scored, query.text)
        if query.text != query.question and not self._covers_own_words(query.question, chosen):
            return self._abstain(query.question, scored, support)
        return quoted(query.question, chosen, support)

    def stream(self, query: Query, hits: list[Hit]) -> Iterator[AnswerEvent]:
        return events_of(self.answer(query, hits))

    def rank(self, query: Query, hits: list[Hit]) -> list[Hit]:
        """Passages ordered by the best evidence among their sentences, fused rank breaking ties.

        Fusion ranks passages by the whole question; evidence says which passage holds the
        sentence that answers it, so the passage an answer quotes comes first.
        """
        evidence = {s.sentence.id: s.evidence for s in self.score(query, hits)}
        return by_best_sentence(self.store, hits, evidence)

    # -- scoring --------------------------------------------------------------------------
    def score(self, query: Query, hits: list[Hit]) -> list[Scored]:
        """Every sentence of the retrieved passages, best evidence first (the last scoring is
        kept: answering and ranking the same hits score them once)."""
        key = (query.text, query.vector.tobytes(), tuple(h.id for h in hits))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        scored = self._score(query.text, query.vector, hits)
        self._last = (key, scored)
        return scored

    def _score(self, text: str, vector: "np.ndarray", hits: list[Hit]) -> list[Scored]:
        import numpy as np

        if not hits:
            return []
        idf = self._idf()
        terms = QueryTerms(text, idf)
        names = QueryTerms(" ".join(NAME.findall(text)), idf, known_only=True, ignore=self._common_terms())
        candidates: dict[str, Sentence] = {}
        passage_cov: dict[str, float] = {}
        for hit in hits:
            cov = terms.coverage(self._terms([hit.chunk])[0])
            for s in self.store.sentences(hit.id):
                candidates.setdefault(s.id, s)
                passage_cov[s.id] = max(passage_cov.get(s.id, 0.0), cov)
        sentences = [s for s in candidates.values() if answer_like(s)]
        if not sentences:
            return []
        cosines = self._sentence_vectors(sentences) @ np.asarray(vector, dtype=np.float32)
        expected = kinds_asked(text)
        lowercase = self._lowercase_words()
        scored = []
        for s, c, own in zip(sentences, cosines, self._terms(sentences)):
            features = Features(cosine=float(c), coverage=terms.coverage(own), passage_coverage=passage_cov[s.id],
                                missing_type=sum(1 for kind in expected if not gives(kind, s.text, text, lowercase)),
                                restates=int(own <= terms.terms),
                                missing_names=1.0 - names.coverage(own | self._context_terms(s))
                                if names.terms else 0.0)
            scored.append(Scored(sentence=s, evidence=features.score(EVIDENCE_WEIGHTS),
                                 support=features.score(SUPPORT_WEIGHTS), features=features))
        scored.sort(key=lambda s: (-s.evidence, s.sentence.order))
        return scored

    # -- choosing -------------------------------------------------------------------------
    def _choose(self, scored: list[Scored], query: str) -> list[tuple[Sentence, float]]:
        """The best sentence, its neighbour when that completes it, and close runners-up.

        The best-matching sentence is often the set-up ("... comprised of the various
        system partners.") and its neighbour the answer ("The acute trust, ..."); see
        :meth:`_completed`.
        """
        terms, kinds = QueryTerms(query, self._idf()), kinds_asked(query)
        evidence = {s.sentence.id: s.evidence for s in scored}
        best = scored[0]
        # Sentence -> its evidence; a neighbour that was not scored shows the one it completes.
        picked = {s.id: (s, evidence.get(s.id, best.evidence))
                  for s in self._completed(best.sentence, query, kinds, terms)}
        for s in scored[1:]:
            if len(picked) >= self.max_sentences or s.evidence < best.evidence - FOLLOW_MARGIN:
                break
            if s.support >= self.threshold and s.sentence.id not in picked and all(
                    self._similarity(s.sentence, c) < REDUNDANT_COSINE for c, _ in picked.values()):
                new = [n for n in self._completed(s.sentence, query, kinds) if n.id not in picked]
                if len(picked) + len(new) > self.max_sentences:
                    new = [s.sentence]
                picked.update((n.id, (n, evidence.get(n.id, s.evidence))) for n in new)
        # Each sentence and its neighbour read in document order; runners-up follow the best.
        return list(picked.values())

    def _covers_own_words(self, question: str, chosen: list[tuple[Sentence, float]]) -> bool:
        """A follow-up searched with the previous question must still be answered on its own
        terms: "What about the weather in Paris?" after a question on GPs is not about GPs."""
        own = QueryTerms(question, self._idf())
        if not own.terms:  # "And why?": nothing of its own to check
            return True
        said = set().union(*(content_terms([s.text])[0] for s, _ in chosen))
        return own.coverage(said) >= FOLLOW_UP_COVERAGE

    def _completed(self, s: Sentence, query: str, kinds: list, terms: QueryTerms | None = None) -> list[Sentence]:
        """Sentence ``s`` with the sentence before or after it when that one completes it, in
        document order. A neighbour completes a sentence when it gives a kind of answer the
        sentence lacks ("... chaired by Jeremy Hunt." before "... between the former and current
        Secretary of State"), or, given the question's ``terms``, adds enough of them."""
        lowercase = self._lowercase_words()
        lacking = [k for k in kinds if not gives(k, s.text, query, lowercase)]
        base = self._terms([s])[0]
        have = terms.coverage(base) if terms else 0.0
        for n in self.store.neighbours(s.id):
            if answer_like(n) and (
                    any(gives(k, n.text, query, lowercase) for k in lacking)
                    or terms and terms.coverage(base | self._terms([n])[0]) - have >= NEIGHBOUR_GAIN):
                return sorted([s, n], key=lambda x: x.start)
        return [s]

    def _abstain(self, question: str, scored: list[Scored], support: float) -> Answer:
        return abstention(question, [(s.sentence, s.evidence) for s in scored], support)

    # -- what the store knows -------------------------------------------------------------
    def _terms(self, items: list) -> list[set[str]]:
        """Content terms of sentences or chunks, worked out once per id."""
        missing = [x for x in items if x.id not in self._terms_of]
        if missing:
            for x, t in zip(missing, content_terms([x.text for x in missing])):
                self._terms_of[x.id] = set(t)
        return [self._terms_of[x.id] for x in items]

    def _context_terms(self, s: Sentence) -> set[str]:
        """Terms of the sentences either side of ``s`` in its document: a name said just before counts."""
        return set().union(*self._terms(self.store.neighbours(s.id)))

    def _sentence_vectors(self, sentences: list[Sentence]) -> "np.ndarray":
        return sentence_vectors(self.store, sentences, self.encode)

    def _similarity(self, a: Sentence, b: Sentence) -> float:
        return similarity(self.store, a, b, self.encode)

    def _idf(self) -> dict[str, float]:
        """Inverse document frequency of every term over the store's passages."""
        return self._once("idf", lambda: idf_table(self.store))

    def _lowercase_words(self) -> frozenset[str]:
        """Words the articles write in lower case ("general")."""
        _, counts = self.store.term_frequencies("lowercase", lowercase_words)
        return self._once("lowercase", lambda: frozenset(counts))

    def _common_terms(self) -> frozenset[str]:
        """Terms in more than COMMON_NAME_SHARE of the passages."""
        n, counts = self.store.term_frequencies("content", content_terms)
        return self._once("common", lambda: frozenset(t for t, d in counts.items() if d > COMMON_NAME_SHARE * n))

    def _once(self, key: str, compute):
        """``compute()``, once per answerer (so once per store version)."""
        value = self._tables.get(key)
        if value is None:
            with self._lock:
                value = self._tables.setdefault(key, compute())
        return value
