"""What the extractive answerer knows of a candidate sentence, and the weights it judges by.

Each candidate sentence is described by a few :class:`Features`: meaning (the cosine to
the question), coverage (how much of the question's rarer vocabulary the sentence and
its passage contain), whether it has the kind of answer asked for, whether it says more
than the question, and whether the names the question asks about stand near it. Two
weighted sums of them do two jobs: *evidence* ranks the sentences (which answers best);
*support* decides whether any answers at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.analysis import content_terms


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
