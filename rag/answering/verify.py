"""Is a written sentence supported by a passage? Sentence splitting, citation markers, and the check.

A language model's sentence (a *claim*) is judged against each sentence of a passage, read
with the sentence before it (what "he" or "this" refers to). Three transparent signals:

- ``coverage``: the share of the claim's content words (stemmed) that the sentence and its
  context contain;
- ``missing``: how many of the claim's specifics (numbers, capitalised names) they lack: a
  swapped name or an invented figure ("£1.3 billion") is what a fluent wrong answer has;
- ``cosine``: the claim's meaning against the sentence's, with the vectors the store keeps.

A logistic function of the three gives the support score; the weights and the threshold
were fitted on SQuAD calibration articles (benchmarks/llm_calibration.py: true claims
against the same claims with their answer swapped, and against other paragraphs), never on
the test articles or the seed questions. The best-scoring sentence is the verbatim quote a
kept sentence cites.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from rag.analysis import content_terms
from rag.store.base import Store
from rag.types import Hit, Sentence

if TYPE_CHECKING:
    import numpy as np

#: A citation marker as models write them: [1], [2, 3], [1][2] (each bracket on its own), [Passage 1].
MARKER = re.compile(r"\s*\[(?:[Pp]assages?\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
#: What a marker may look like before it is complete: held back from a stream until it is.
PARTIAL_MARKER = re.compile(r"\s*(\[(?:[Pp](?:a(?:s(?:s(?:a(?:g(?:e(?:s)?)?)?)?)?)?)?\s*)?[\d\s,;]{0,12})?$")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NAME = re.compile(r"\b[A-Z][\w'’-]*")
WORD = re.compile(r"[\w'’-]+")
#: A model saying the passages do not answer: its abstention, not a claim to check.
NO_ANSWER = re.compile(r"\b(passages?|documents?|articles?|context|texts?|sources?)\b[^.]*"
                       r"\b(do|does|did)\s*(not|n['’]t)\s"
                       r"[^.]*\b(say|mention|contain|answer|provide|state|include|specify|give)", re.I)

#: Fitted on the SQuAD calibration articles by benchmarks/llm_calibration.py (see RESULTS.md).
#: Threshold 0.49 (settings.verify_threshold). On the held-out calibration articles: 77.6% of true
#: claims kept, 5.8% of false ones (answer swapped, or the wrong paragraph cited).
WEIGHTS = {"bias": -3.546, "coverage": 3.852, "missing": -1.847, "cosine": 2.668, "uncovered": -0.443}


@dataclass(frozen=True)
class Signals:
    """What the support score is made of, for one claim against one sentence."""

    coverage: float
    missing: int
    cosine: float
    #: Content words of the claim the sentence and its context lack (a count, where coverage is a share).
    uncovered: int = 0

    def score(self, weights: dict[str, float] = WEIGHTS) -> float:
        z = (weights["bias"] + weights["coverage"] * self.coverage + weights["missing"] * min(self.missing, 3)
             + weights["cosine"] * self.cosine + weights.get("uncovered", 0.0) * min(self.uncovered, 4))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Judgement:
    """A claim against one passage: its support, and the passage sentence that gives it."""

    support: float
    sentence: Sentence | None
    signals: Signals | None = None


# -- text -----------------------------------------------------------------------------------
def markers(text: str) -> tuple[int, ...]:
    """The passage numbers a sentence cites, in order, once each."""
    found = [int(n) for m in MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1))]
    return tuple(dict.fromkeys(found))


def strip_markers(text: str) -> str:
    """``text`` without its markers (and the space before each)."""
    return MARKER.sub("", text)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``; markers after a full stop ("... CCGs. [1]")
    stay with the sentence they follow."""
    import blingfire

    if not text:
        return []  # blingfire fails an assertion on an empty string
    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    spans: list[list[int]] = []
    for start, end in offsets:
        lead = re.match(r"(?:\s*\[(?:[Pp]assages?\s*)?[\d\s,;]+\])+", text[start:end])
        if lead and spans:  # markers that open a piece close the sentence before
            spans[-1][1] = start + lead.end()
            start += lead.end()
        end = start + len(text[start:end].rstrip())
        if end > start:
            spans.append([start, end])
    return [(s, e) for s, e in spans]


def is_no_answer(text: str) -> bool:
    """Whether a written sentence says the passages do not answer."""
    return bool(NO_ANSWER.search(text))


def specifics(text: str) -> set[str]:
    """The numbers and names of a text, lower-cased: what a supporting passage must also have."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    found = {n.replace(",", "") for n in NUMBER.findall(text)}
    for name in NAME.findall(text):
        word = name.lower().rstrip("'’").removesuffix("'s").removesuffix("’s")
        if word not in STOPWORDS_EN_PLUS:
            found.add(word)
    return found


def words_of(text: str) -> set[str]:
    """Lower-cased words and numbers of a text, with an acronym's plural ("ICSs") as its singular too."""
    out = {w.lower().removesuffix("'s").removesuffix("’s") for w in WORD.findall(text)}
    out |= {n.replace(",", "") for n in NUMBER.findall(text)}
    out |= {w[:-1].lower() for w in WORD.findall(text) if len(w) > 2 and w[-1] == "s" and w[:-1].isupper()}
    return out


def signals(claim: str, text: str, context: str, cosine: float, claim_terms: set[str] | None = None) -> Signals:
    """The signals of ``claim`` against a sentence ``text`` read with ``context`` (the one before)."""
    terms = set(content_terms([claim])[0]) if claim_terms is None else claim_terms
    both = f"{context} {text}"
    have = set(content_terms([both])[0])
    coverage = len(terms & have) / len(terms) if terms else 0.0
    said = words_of(both)
    missing = sum(1 for s in specifics(claim) if s not in said)
    return Signals(coverage=coverage, missing=missing, cosine=float(cosine), uncovered=len(terms - have))


# -- the check ------------------------------------------------------------------------------
class Verifier:
    """Judges claims against the passages of one store version."""

    def __init__(self, store: Store, encode: Callable[[str], "np.ndarray"], threshold: float,
                 weights: dict[str, float] | None = None) -> None:
        self.store = store
        self.encode = encode
        self.threshold = threshold
        self.weights = weights or WEIGHTS
        self._vectors: dict[str, "np.ndarray"] = {}

    def judge(self, claim: str, hit: Hit) -> Judgement:
        """``claim`` against passage ``hit``: the support of its best sentence."""
        import numpy as np

        sentences = self.store.sentences(hit.id)
        if not sentences or not claim.strip():
            return Judgement(0.0, None)
        vector = self._vector(claim)
        stored = self.store.sentence_vectors([s.id for s in sentences])
        cosines = stored @ vector if stored is not None else np.zeros(len(sentences))
        terms = set(content_terms([claim])[0])
        best = Judgement(0.0, None)
        for i, s in enumerate(sentences):
            before = sentences[i - 1].text if i else self._before(s)
            sig = signals(claim, s.text, before, float(cosines[i]), terms)
            score = sig.score(self.weights)
            if score > best.support:
                best = Judgement(score, s, sig)
        return best

    def supports(self, judgement: Judgement) -> bool:
        return judgement.sentence is not None and judgement.support >= self.threshold

    def _vector(self, claim: str) -> "np.ndarray":
        if claim not in self._vectors:
            if len(self._vectors) > 256:
                self._vectors.clear()
            self._vectors[claim] = self.encode(claim)
        return self._vectors[claim]

    def _before(self, s: Sentence) -> str:
        return next((n.text for n in self.store.neighbours(s.id) if n.start < s.start), "")
