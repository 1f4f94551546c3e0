"""Hits -> answer with citations: pick the sentences that best answer, quote them verbatim.

Answers are extractive and deterministic: every sentence of an answer is a sentence of
an article, followed by its ``[n]`` marker, and the Sources list says where it stands.
Each candidate sentence is described by a few :class:`Features`: meaning (the cosine to
the question), coverage (how much of the question's rarer vocabulary the sentence and
its passage contain), whether it has the kind of answer asked for, whether it says more
than the question, and whether the names the question asks about stand near it. Two
weighted sums of them do two jobs: *evidence* ranks the sentences (which answers best);
*support* decides whether any answers at all. When the best support falls below a
calibrated threshold the documents are taken not to say, and the answer abstains.
Wording lives in templates.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer_kinds import NAME, gives, kinds_asked
from rag.chunking import Sentence
from rag.index_store import Index
from rag.retrieval import TOKEN_PATTERN, Hit, singular_acronyms, stemmer

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
MIN_WORDS = 4

#: A name in more than this share of the passages is what the collection is about ("GP",
#: "NHS" in the seeds), not what tells one answer from another: missing it is no penalty.
#: Anywhere from 0.15 to 0.4 gave the same development-set figures (benchmarks/RESULTS.md).
COMMON_NAME_SHARE = 0.25
#: Words that frame a question rather than say what it is about.
QUESTION_FRAME = {"many", "much", "according", "mention", "mentioned", "say", "says", "said", "tell",
                  "describe", "explain", "name", "named", "kind", "type", "does", "did", "do"}


@dataclass(frozen=True)
class Features:
    """What is known of one sentence as an answer to the question."""

    cosine: float  # meaning: cosine between question and sentence
    coverage: float  # share of the question's IDF mass the sentence contains
    passage_coverage: float  # the same for the best passage the sentence stands in
    missing_type: int  # kinds of answer asked for (a number, a time, a sum of money) the sentence lacks
    restates: int  # 1 when the sentence has no content word the question lacks: it cannot answer it
    missing_names: float  # share of the IDF mass of names in the question absent around the sentence

    def score(self, weights: "Weights") -> float:
        return sum(getattr(weights, f) * getattr(self, f) for f in Weights.__dataclass_fields__)


@dataclass(frozen=True)
class Weights:
    """One weight per feature (see :class:`Features`); a score is their weighted sum."""

    cosine: float
    coverage: float
    passage_coverage: float
    missing_type: float
    restates: float
    missing_names: float


#: Two scores, both fitted with benchmarks/calibrate.py on eval/calibration.jsonl (never on
#: the evaluation set). *Evidence* ranks sentences: which one answers best.
EVIDENCE_WEIGHTS = Weights(cosine=0.5, coverage=0.2, passage_coverage=0.3, missing_type=-0.3,
                           restates=-0.1, missing_names=0.0)
#: *Support* decides whether any sentence answers at all; below the threshold the answer abstains.
#: It leans on what a mere mention lacks: the kind of answer asked for, something beyond
#: the question's own words, the names the question asks about.
SUPPORT_WEIGHTS = Weights(cosine=0.8, coverage=0.2, passage_coverage=0.0, missing_type=-0.4,
                          restates=-0.3, missing_names=-0.4)


@dataclass(frozen=True)
class Citation:
    id: int
    source: str
    start_line: int
    end_line: int
    quote: str
    score: float


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: Best support score, what the abstention threshold was compared with.
    support: float = 0.0

    def to_dict(self) -> dict:
        """The ``rag ask --json`` shape of ../shared/CONTRACT.md."""
        return {"question": self.question, "answer": self.answer, "abstained": self.abstained,
                "citations": [asdict(c) for c in self.citations],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "support": round(self.support, 4)}


@dataclass(frozen=True)
class Scored:
    sentence_index: int
    sentence: Sentence
    evidence: float  # how well it answers, to rank sentences (EVIDENCE_WEIGHTS)
    support: float  # how surely it answers, to decide whether to abstain (SUPPORT_WEIGHTS)
    features: Features


class Templates:
    """The Jinja2 templates in ``prompts/``: the answer layout and the abstention wording."""

    def __init__(self, prompts_dir: Path) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        self.env = Environment(loader=FileSystemLoader(str(prompts_dir)), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)

    def render(self, name: str, **context: object) -> str:
        return self.env.get_template(name).render(**context).strip()


def content_terms(texts: list[str]) -> list[list[str]]:
    """Stemmed content words: bm25s's fuller English stop list plus question-framing words."""
    from rag.light_imports import bm25s as light_bm25s

    bm25s = light_bm25s()
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return bm25s.tokenize(singular_acronyms(texts), token_pattern=TOKEN_PATTERN, stopwords=list(STOPWORDS_EN_PLUS) +
                          sorted(QUESTION_FRAME), stemmer=stemmer(), return_ids=False, show_progress=False)


class QueryTerms:
    """The question's terms, weighted by how rare they are in the corpus.

    ``coverage`` is the share of that weight a text contains; a term the corpus never
    uses counts as the rarest, so a question about something absent scores low.
    """

    def __init__(self, query: str, idf: dict[str, float], known_only: bool = False,
                 ignore: frozenset[str] = frozenset()) -> None:
        self.idf = idf
        self.terms = set(content_terms([query])[0]) - ignore
        if known_only:  # only terms the corpus uses
            self.terms &= idf.keys()
        self.rare = max(idf.values(), default=1.0)
        self.mass = sum(idf.get(t, self.rare) for t in self.terms) or 1.0

    def coverage(self, terms: set[str]) -> float:
        return sum(self.idf.get(t, self.rare) for t in self.terms & terms) / self.mass


class Answerer:
    def __init__(self, index: Index, templates: Templates, threshold: float,
                 max_sentences: int = 3, encode=None) -> None:
        self.index = index
        self.templates = templates
        self.threshold = threshold
        self.max_sentences = max_sentences
        #: Encodes sentences when the index holds no sentence vectors.
        self.encode = encode

    def answer(self, question: str, query: str, scored: list[Scored]) -> Answer:
        """Answer ``question`` from its scored sentences (see :meth:`score`); ``query`` is what
        was searched (a follow-up made standalone)."""
        support = max((s.support for s in scored), default=-1.0)
        if not scored or support < self.threshold:
            return self._abstain(question, scored, support)
        # Support says whether the documents answer, evidence which sentence does: quoting only
        # sentences that pass the threshold lowered fact recall on the development set (0.645 -> 0.600).
        chosen = self._choose(scored, query)
        if query != question and not self._covers_own_words(question, chosen):
            return self._abstain(question, scored, support)
        citations = [Citation(id=n, source=s.source, start_line=s.start_line, end_line=s.end_line,
                              quote=s.text, score=round(e, 4)) for n, (s, e) in enumerate(chosen, 1)]
        text = self.templates.render("answer.md.j2", question=question, citations=citations)
        return Answer(question=question, answer=text, abstained=False, citations=citations, support=support)

    def score(self, query: str, query_vector: "np.ndarray", hits: list[Hit]) -> list[Scored]:
        """Every sentence of the retrieved passages, best evidence first."""
        import numpy as np

        if not hits:
            return []
        terms = QueryTerms(query, self._idf())
        names = QueryTerms(" ".join(NAME.findall(query)), self._idf(), known_only=True,
                           ignore=self._common_terms())
        ids: list[int] = []
        passage_cov: dict[int, float] = {}
        for hit in hits:
            cov = terms.coverage(self._passage_terms()[hit.chunk_index])
            for i in range(hit.chunk.first_sentence, hit.chunk.last_sentence):
                if i not in passage_cov:
                    ids.append(i)
                passage_cov[i] = max(passage_cov.get(i, 0.0), cov)
        ids = [i for i in ids if _answer_like(self.index.sentences[i])]
        if not ids:
            return []
        vectors = self._sentence_vectors(ids)
        cosines = vectors @ np.asarray(query_vector, dtype=np.float32)
        expected = kinds_asked(query)
        lowercase = self._lowercase_words()
        scored = []
        for i, c in zip(ids, cosines):
            text = self.index.sentences[i].text
            own = self._terms(i)
            features = Features(cosine=float(c), coverage=terms.coverage(own),
                                passage_coverage=passage_cov[i],
                                missing_type=sum(1 for kind in expected if not gives(kind, text, query, lowercase)),
                                restates=int(own <= terms.terms),
                                missing_names=1.0 - names.coverage(own | self._context_terms(i))
                                if names.terms else 0.0)
            scored.append(Scored(sentence_index=i, sentence=self.index.sentences[i],
                                 evidence=features.score(EVIDENCE_WEIGHTS),
                                 support=features.score(SUPPORT_WEIGHTS), features=features))
        scored.sort(key=lambda s: (-s.evidence, s.sentence_index))
        return scored

    def rerank(self, hits: list[Hit], scored: list[Scored]) -> list[Hit]:
        """Passages ordered by the best evidence among their sentences, fused rank breaking ties.

        Fusion ranks passages by the whole question; evidence says which passage holds the
        sentence that answers it, so the passage an answer quotes comes first.
        """
        import dataclasses

        best: dict[int, float] = {}
        for hit in hits:
            inside = [s.evidence for s in scored
                      if hit.chunk.first_sentence <= s.sentence_index < hit.chunk.last_sentence]
            if inside:
                best[hit.chunk_index] = max(inside)
        order = sorted(hits, key=lambda h: (-best.get(h.chunk_index, -math.inf), h.rank))
        return [dataclasses.replace(h, rank=r, evidence=best.get(h.chunk_index))
                for r, h in enumerate(order, 1)]

    def _choose(self, scored: list[Scored], query: str) -> list[tuple[Sentence, float]]:
        """The best sentence, its neighbour when that completes it, and close runners-up.

        The best-matching sentence is often the set-up ("... comprised of the various
        system partners.") and its neighbour the answer ("The acute trust, ..."); see
        :meth:`_completed`.
        """
        terms, kinds = QueryTerms(query, self._idf()), kinds_asked(query)
        evidence = {s.sentence_index: s.evidence for s in scored}
        best = scored[0]
        # Sentence -> its evidence; a neighbour that was not scored shows the one it completes.
        picked = {i: evidence.get(i, best.evidence) for i in self._completed(best.sentence_index, query, kinds, terms)}
        for s in scored[1:]:
            if len(picked) >= self.max_sentences or s.evidence < best.evidence - FOLLOW_MARGIN:
                break
            if s.support >= self.threshold and s.sentence_index not in picked and all(
                    self._similarity(s.sentence_index, c) < REDUNDANT_COSINE for c in picked):
                new = [i for i in self._completed(s.sentence_index, query, kinds) if i not in picked]
                if len(picked) + len(new) > self.max_sentences:
                    new = [s.sentence_index]
                picked.update((i, evidence.get(i, s.evidence)) for i in new)
        # Each sentence and its neighbour read in document order; runners-up follow the best.
        return [(self.index.sentences[i], e) for i, e in picked.items()]

    def _covers_own_words(self, question: str, chosen: list[tuple[Sentence, float]]) -> bool:
        """A follow-up searched with the previous question must still be answered on its own
        terms: "What about the weather in Paris?" after a question on GPs is not about GPs."""
        own = QueryTerms(question, self._idf())
        if not own.terms:  # "And why?": nothing of its own to check
            return True
        said = set().union(*(content_terms([s.text])[0] for s, _ in chosen))
        return own.coverage(said) >= FOLLOW_UP_COVERAGE

    def _completed(self, i: int, query: str, kinds: list, terms: QueryTerms | None = None) -> list[int]:
        """Sentence ``i`` with the sentence before or after it when that one completes it, in
        document order. A neighbour completes a sentence when it gives a kind of answer the
        sentence lacks ("... chaired by Jeremy Hunt." before "... between the former and current
        Secretary of State"), or, given the question's ``terms``, adds enough of them."""
        sentences, lowercase = self.index.sentences, self._lowercase_words()
        lacking = [k for k in kinds if not gives(k, sentences[i].text, query, lowercase)]
        base = self._terms(i)
        have = terms.coverage(base) if terms else 0.0
        for j in self._adjacent(i):
            if _answer_like(sentences[j]) and (
                    any(gives(k, sentences[j].text, query, lowercase) for k in lacking)
                    or terms and terms.coverage(base | self._terms(j)) - have >= NEIGHBOUR_GAIN):
                return sorted([i, j])
        return [i]

    def _abstain(self, question: str, scored: list[Scored], support: float) -> Answer:
        nearest: list[Scored] = []
        for s in scored:
            if all(s.sentence.source != n.sentence.source for n in nearest):
                nearest.append(s)
            if len(nearest) == 3:
                break
        citations = [Citation(id=n, source=s.sentence.source, start_line=s.sentence.start_line,
                              end_line=s.sentence.end_line, quote=s.sentence.text,
                              score=round(s.evidence, 4)) for n, s in enumerate(nearest, 1)]
        text = self.templates.render("abstain.md.j2", question=question, citations=citations)
        return Answer(question=question, answer=text, abstained=True, citations=citations, support=support)

    def _terms(self, i: int) -> set[str]:
        """Content terms of sentence ``i``."""
        return self._per_index("sentence_terms", lambda: [
            set(t) for t in content_terms([s.text for s in self.index.sentences])])[i]

    def _context_terms(self, i: int) -> set[str]:
        """Terms of the sentences either side of ``i`` in its document: a name said just before counts."""
        return set().union(*(self._terms(j) for j in self._adjacent(i)))

    def _adjacent(self, i: int) -> list[int]:
        """The sentences just after and just before ``i`` in the same document."""
        sentences = self.index.sentences
        return [j for j in (i + 1, i - 1) if 0 <= j < len(sentences) and sentences[j].doc_id == sentences[i].doc_id]

    def _sentence_vectors(self, ids: list[int]) -> "np.ndarray":
        if self.index.sentence_vectors is not None:
            return self.index.sentence_vectors[ids]
        return self.encode([self.index.sentences[i].text for i in ids])

    def _similarity(self, a: int, b: int) -> float:
        va, vb = self._sentence_vectors([a, b])
        return float(va @ vb)

    def _idf(self) -> dict[str, float]:
        """Inverse document frequency of every term over the index's passages."""
        def compute() -> dict[str, float]:
            n = len(self.index.chunks)
            return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in self._passage_counts().items()}

        return self._per_index("answer_idf", compute)

    def _lowercase_words(self) -> frozenset[str]:
        """Words the articles write in lower case ("general")."""
        return self._per_index("lowercase_words", lambda: frozenset(
            w for s in self.index.sentences for w in re.findall(r"\b[a-z]+\b", s.text)))

    def _common_terms(self) -> frozenset[str]:
        """Terms in more than COMMON_NAME_SHARE of the passages."""
        n = len(self.index.chunks)
        return self._per_index("common_terms", lambda: frozenset(
            t for t, d in self._passage_counts().items() if d > COMMON_NAME_SHARE * n))

    def _passage_counts(self) -> dict[str, int]:
        """How many of the index's passages use each term."""
        def compute() -> dict[str, int]:
            counts: dict[str, int] = {}
            for terms in self._passage_terms():
                for t in terms:
                    counts[t] = counts.get(t, 0) + 1
            return counts

        return self._per_index("passage_counts", compute)

    def _passage_terms(self) -> list[set[str]]:
        """Content terms of every passage (chunk), by chunk number."""
        return self._per_index("passage_terms", lambda: [
            set(t) for t in content_terms([c.text for c in self.index.chunks])])

    def _per_index(self, key: str, compute):
        """``compute()``, worked out once per loaded index: every question needs it."""
        value = self.index.cache.get(key)
        if value is None:
            value = self.index.cache[key] = compute()
        return value


def _answer_like(s: Sentence) -> bool:
    """Questions and fragments (a byline, a lone heading word) do not answer anything."""
    return not s.text.rstrip().endswith("?") and len(s.text.split()) >= MIN_WORDS
