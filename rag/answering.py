"""Hits -> answer with citations: pick the sentences that best answer, quote them verbatim.

Answers are extractive and deterministic: every sentence of an answer is a sentence of
an article, followed by its ``[n]`` marker, and the Sources list says where it stands.
Each candidate sentence gets an *evidence* score mixing meaning (cosine to the
question) with coverage (how much of the question's rarer vocabulary the sentence and
its passage contain). When the best evidence falls below a calibrated threshold the
documents are taken not to say, and the answer abstains. Wording lives in templates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.chunking import Sentence
from rag.index_store import Index
from rag.retrieval import Hit, bm25_tokens

if TYPE_CHECKING:
    import numpy as np

#: Evidence = weights . (sentence cosine, sentence coverage, passage coverage).
#: Fitted with benchmarks/calibrate.py on eval/calibration.jsonl (not the eval set).
EVIDENCE_WEIGHTS = (0.6, 0.25, 0.15)
#: Further sentences join the answer only when this close to the best one.
FOLLOW_MARGIN = 0.08
#: Sentences this similar to one already chosen add nothing.
REDUNDANT_COSINE = 0.9
MIN_WORDS = 4


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
    #: Best evidence score, what the abstention threshold was compared with.
    evidence: float = 0.0

    def to_dict(self) -> dict:
        """The ``rag ask --json`` shape of ../shared/CONTRACT.md."""
        return {"question": self.question, "answer": self.answer, "abstained": self.abstained,
                "citations": [asdict(c) for c in self.citations],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "evidence": round(self.evidence, 4)}


@dataclass(frozen=True)
class Scored:
    sentence_index: int
    sentence: Sentence
    evidence: float
    cosine: float


class Templates:
    """The Jinja2 templates in ``prompts/``: the answer layout and the abstention wording."""

    def __init__(self, prompts_dir: Path) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        self.env = Environment(loader=FileSystemLoader(str(prompts_dir)), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)

    def render(self, name: str, **context: object) -> str:
        return self.env.get_template(name).render(**context).strip()


class Answerer:
    def __init__(self, index: Index, templates: Templates, threshold: float,
                 max_sentences: int = 3, encode=None) -> None:
        self.index = index
        self.templates = templates
        self.threshold = threshold
        self.max_sentences = max_sentences
        #: Encodes sentences when the index holds no sentence vectors.
        self.encode = encode

    def answer(self, question: str, query: str, query_vector: "np.ndarray", hits: list[Hit]) -> Answer:
        """Answer ``question``; ``query`` is what was searched (a follow-up made standalone)."""
        scored = self.score(query, query_vector, hits)
        best = scored[0].evidence if scored else 0.0
        if best < self.threshold:
            return self._abstain(question, scored, best)
        chosen = self._choose(scored)
        citations = [Citation(id=n, source=s.sentence.source, start_line=s.sentence.start_line,
                              end_line=s.sentence.end_line, quote=s.sentence.text,
                              score=round(s.evidence, 4)) for n, s in enumerate(chosen, 1)]
        text = self.templates.render("answer.md.j2", question=question, citations=citations)
        return Answer(question=question, answer=text, abstained=False, citations=citations, evidence=best)

    def score(self, query: str, query_vector: "np.ndarray", hits: list[Hit]) -> list[Scored]:
        """Every sentence of the retrieved passages, best evidence first."""
        import numpy as np

        if not hits:
            return []
        idf = self._idf()
        q_terms = set(bm25_tokens([query])[0])
        rare = max(idf.values(), default=1.0)
        q_mass = sum(idf.get(t, rare) for t in q_terms) or 1.0

        def coverage(terms: set[str]) -> float:
            return sum(idf.get(t, rare) for t in q_terms & terms) / q_mass

        ids: list[int] = []
        passage_cov: dict[int, float] = {}
        for hit in hits:
            cov = coverage(set(bm25_tokens([hit.chunk.text])[0]))
            for i in range(hit.chunk.first_sentence, hit.chunk.last_sentence):
                if i not in passage_cov:
                    ids.append(i)
                passage_cov[i] = max(passage_cov.get(i, 0.0), cov)
        ids = [i for i in ids if _answer_like(self.index.sentences[i])]
        if not ids:
            return []
        vectors = self._sentence_vectors(ids)
        cosines = vectors @ np.asarray(query_vector, dtype=np.float32)
        sentence_terms = bm25_tokens([self.index.sentences[i].text for i in ids])
        w_cos, w_sent, w_pass = EVIDENCE_WEIGHTS
        scored = [Scored(sentence_index=i, sentence=self.index.sentences[i], cosine=float(c),
                         evidence=w_cos * float(c) + w_sent * coverage(set(t)) + w_pass * passage_cov[i])
                  for i, c, t in zip(ids, cosines, sentence_terms)]
        scored.sort(key=lambda s: (-s.evidence, s.sentence_index))
        return scored

    def _choose(self, scored: list[Scored]) -> list[Scored]:
        best = scored[0].evidence
        chosen = [scored[0]]
        for s in scored[1:]:
            if len(chosen) >= self.max_sentences or s.evidence < max(best - FOLLOW_MARGIN, self.threshold):
                break
            if all(self._similarity(s, c) < REDUNDANT_COSINE for c in chosen):
                chosen.append(s)
        return chosen

    def _abstain(self, question: str, scored: list[Scored], best: float) -> Answer:
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
        return Answer(question=question, answer=text, abstained=True, citations=citations, evidence=best)

    def _sentence_vectors(self, ids: list[int]) -> "np.ndarray":
        if self.index.sentence_vectors is not None:
            return self.index.sentence_vectors[ids]
        return self.encode([self.index.sentences[i].text for i in ids])

    def _similarity(self, a: Scored, b: Scored) -> float:
        va, vb = self._sentence_vectors([a.sentence_index, b.sentence_index])
        return float(va @ vb)

    def _idf(self) -> dict[str, float]:
        """Inverse document frequency of every term over the index's passages."""
        idf = self.index.cache.get("idf")
        if idf is None:
            df: dict[str, int] = {}
            for terms in bm25_tokens([c.text for c in self.index.chunks]):
                for t in set(terms):
                    df[t] = df.get(t, 0) + 1
            n = len(self.index.chunks)
            idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
            self.index.cache["idf"] = idf
        return idf


def _answer_like(s: Sentence) -> bool:
    """Questions and fragments (a byline, a lone heading word) do not answer anything."""
    return not s.text.rstrip().endswith("?") and len(s.text.split()) >= MIN_WORDS
