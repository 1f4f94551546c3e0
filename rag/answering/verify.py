"""Is a written sentence supported by a passage? Sentence splitting, citation markers, and the check.

A language model's sentence (a *claim*) is judged in two steps:

1. Cheap signals shortlist the passage sentences worth reading, each read with the sentence
   before it (what "he" or "this" refers to): ``coverage`` (the share of the claim's stemmed
   content words they contain), ``missing`` (its numbers and capitalised names they lack)
   and ``cosine`` (the claim's vector against the sentence's, from the store), combined by
   a logistic function fitted on SQuAD calibration articles (benchmarks/llm_calibration.py).
2. The entailment judge (rag/answering/entailment.py) reads each shortlisted sentence as a
   premise and the claim as a hypothesis. The claim stands when one entails it with
   P(entailment) at or above the threshold; that sentence is the verbatim quote it cites.
   Word overlap alone kept "issued with the agreement of" against "issued without any
   agreement"; the judge is trained on such pairs.

A verdict ("No.") is judged as the statement it makes of the question (rag/answering/verdicts.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from rag.analysis import content_terms
from rag.answering.entailment import ENTAILMENT, premise_text
from rag.answering.quotes import quotes
from rag.answering.verdicts import says_no, statements
from rag.store.base import Store
from rag.types import Hit, Sentence

if TYPE_CHECKING:
    import numpy as np

    from rag.answering.entailment import EntailmentModel

#: A citation marker as models write them: [1], [2, 3], [1][2] (each bracket on its own), [Passage 1].
MARKER = re.compile(r"\s*\[(?:[Pp]assages?\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
#: What a marker may look like before it is complete: held back from a stream until it is.
PARTIAL_MARKER = re.compile(r"\s*(\[(?:[Pp](?:a(?:s(?:s(?:a(?:g(?:e(?:s)?)?)?)?)?)?)?\s*)?[\d\s,;]{0,12})?$")
#: Passage sentences the entailment judge reads for one claim (the cheap signals' best).
SHORTLIST = 2
#: Sentences before the judged one that the judge may read with it (within a passage).
CONTEXT = 2
#: The premises the judge reads for a sentence: alone, after the sentence before it, after
#: :data:`CONTEXT` sentences. A longer premise resolves "it" but dilutes the judge's confidence.
READINGS = ("before", "context")
#: Sentences the cheap signals score below this are not read (see benchmarks/RESULTS.md, "Meaning").
FLOOR = 0.15
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NAME = re.compile(r"\b[A-Z][\w'’-]*")
WORD = re.compile(r"[\w'’-]+")
#: A model saying the passages do not answer: its abstention, not a claim to check.
NO_ANSWER = re.compile(r"\b(passages?|documents?|articles?|context|texts?|sources?)\b[^.]*"
                       r"\b(do|does|did)\s*(not|n['’]t)\s"
                       r"[^.]*\b(say|mention|contain|answer|provide|state|include|specify|give)", re.I)

#: Fitted on the SQuAD calibration articles by benchmarks/llm_calibration.py (see RESULTS.md); they
#: rank the sentences the entailment judge reads.
WEIGHTS = {"bias": -3.546, "coverage": 3.852, "missing": -1.847, "cosine": 2.668, "uncovered": -0.443}


@dataclass(frozen=True)
class Signals:
    """What the support score is made of, for one claim against one sentence."""

    coverage: float
    missing: int
    cosine: float
    #: Content words of the claim the sentence and its context lack (a count, where coverage is a share).
    uncovered: int = 0
    #: Numbers of the claim the sentence and its context lack: no premise entails a figure it lacks.
    missing_numbers: int = 0

    def score(self, weights: dict[str, float] = WEIGHTS) -> float:
        z = (weights["bias"] + weights["coverage"] * self.coverage + weights["missing"] * min(self.missing, 3)
             + weights["cosine"] * self.cosine + weights.get("uncovered", 0.0) * min(self.uncovered, 4))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Judgement:
    """A claim against the passages: the sentence that best entails it, and how surely."""

    #: P(entailment) of the best premise (the model's; 0 when no sentence was judged).
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
    missing = [s for s in specifics(claim) if s not in said]
    return Signals(coverage=coverage, missing=len(missing), cosine=float(cosine), uncovered=len(terms - have),
                   missing_numbers=sum(1 for s in missing if NUMBER.fullmatch(s)))


# -- the check ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A passage sentence the cheap signals put forward for the entailment judge."""

    sentence: Sentence
    before: str
    signals: Signals
    cheap: float
    #: Up to :data:`CONTEXT` sentences before it ("it" may name the subject of the sentence
    #: before the one before).
    context: str = ""

    def premises(self) -> list[str]:
        """What the judge reads, in turn: see :data:`READINGS`."""
        texts = {"alone": self.sentence.text, "before": premise_text(self.sentence.text, self.before),
                 "context": premise_text(self.sentence.text, self.context)}
        return list(dict.fromkeys(texts[r] for r in READINGS))


class Verifier:
    """Judges claims against the passages of one store version.

    The cheap signals shortlist each claim's best :data:`SHORTLIST` passage sentences; a
    quote of one stands as it is, else the entailment judge (rag/answering/entailment.py)
    reads them (:meth:`judge`), and the claim stands when one entails it with
    P(entailment) >= ``threshold``. Meaning decides: words in common only choose what the
    judge reads.
    """

    def __init__(self, store: Store, encode: Callable[[str], "np.ndarray"], threshold: float,
                 weights: dict[str, float] | None = None, model: "EntailmentModel | None" = None) -> None:
        self.store = store
        self.encode = encode
        self.threshold = threshold
        self.weights = weights or WEIGHTS
        self._model = model
        self._vectors: dict[str, "np.ndarray"] = {}

    @property
    def model(self) -> "EntailmentModel":
        if self._model is None:
            from rag.answering.entailment import shared_model

            self._model = shared_model()
        return self._model

    def judge(self, claim: str, hits: list[Hit]) -> Judgement:
        """``claim`` against the sentences of ``hits``: the one that best entails it. A quote of
        a sentence (:func:`quotes`) stands as it is; otherwise the cheap signals' best is read
        first, and the rest of the shortlist only when it does not entail."""
        found = self.candidates(claim, hits)
        best = Judgement(0.0, found[0].sentence, found[0].signals) if found else Judgement(0.0, None)
        quoted = next((c for c in found if quotes(claim, c.sentence.text)), None)
        if quoted is not None:
            return Judgement(1.0, quoted.sentence, quoted.signals)
        readable = [c for c in found if not c.signals.missing_numbers]  # a figure it lacks is not entailed
        readings = [(c, p) for i, c in enumerate(readable) for p in (c.premises() if i == 0 else c.premises()[:1])]
        for part in (readings[:1], readings[1:]):  # the cheap signals' best first, the rest if it fails
            if not part or self.supports(best):
                break
            p = self.model.probabilities([(premise, claim) for _, premise in part])
            i = int(p[:, ENTAILMENT].argmax())
            if p[i, ENTAILMENT] > best.support:
                c = part[i][0]
                best = Judgement(float(p[i, ENTAILMENT]), c.sentence, c.signals)
        return best

    def judge_verdict(self, verdict: str, question: str, hits: list[Hit]) -> Judgement:
        """A verdict ("No.") judged as the statement it makes of a yes/no ``question``: it
        stands when a passage entails that reading better than it entails the opposite one."""
        yes, no = statements(question)
        found = self.candidates(question, hits)
        if not yes or not found:
            return Judgement(0.0, None)
        readings = [(c, premise) for c in found for premise in c.premises()]
        pairs = [(premise, h) for _, premise in readings for h in yes + no]
        p = self.model.probabilities(pairs)[:, ENTAILMENT].reshape(len(readings), 2, len(yes)).max(axis=2)
        side = 1 if says_no(verdict) else 0
        best = int(p[:, side].argmax())
        c = readings[best][0]
        support = float(p[best, side]) if p[best, side] > p[:, 1 - side].max() else 0.0
        return Judgement(support, c.sentence, c.signals)

    def supports(self, judgement: Judgement) -> bool:
        return judgement.sentence is not None and judgement.support >= self.threshold

    def candidates(self, claim: str, hits: list[Hit], size: int = SHORTLIST) -> list[Candidate]:
        """The sentences of ``hits`` the cheap signals rank best for ``claim``: at most ``size``,
        and past the first none below :data:`FLOOR` (one that shares almost nothing with the claim)."""
        import numpy as np

        if not claim.strip():
            return []
        vector = self._vector(claim)
        terms = set(content_terms([claim])[0])
        found = []
        for hit in hits:
            sentences = self.store.sentences(hit.id)
            if not sentences:
                continue
            stored = self.store.sentence_vectors([s.id for s in sentences])
            cosines = stored @ vector if stored is not None else np.zeros(len(sentences))
            lead = self._preceding(sentences[0], CONTEXT)  # the passage's sentences may lean on these
            for i, s in enumerate(sentences):
                within = (lead + sentences[:i])[-CONTEXT:]
                before, context = (within[-1].text if within else ""), " ".join(x.text for x in within)
                sig = signals(claim, s.text, context, float(cosines[i]), terms)
                found.append(Candidate(s, before, sig, sig.score(self.weights), context))
        found.sort(key=lambda c: -c.cheap)
        found = list({c.sentence.id: c for c in reversed(found)}.values())[::-1]  # overlapping chunks share some
        return found[:1] + [c for c in found[1:size] if c.cheap >= FLOOR]

    def _vector(self, claim: str) -> "np.ndarray":
        if claim not in self._vectors:
            if len(self._vectors) > 256:
                self._vectors.clear()
            self._vectors[claim] = self.encode(claim)
        return self._vectors[claim]

    def _preceding(self, s: Sentence, k: int) -> list[Sentence]:
        """Up to ``k`` sentences just before ``s`` in its document, in order."""
        out: list[Sentence] = []
        while len(out) < k:
            prev = next((n for n in self.store.neighbours(s.id) if n.start < s.start), None)
            if prev is None:
                break
            out.insert(0, prev)
            s = prev
        return out
