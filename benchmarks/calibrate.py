"""Calibrate the answerer's evidence and support weights and abstention threshold on a development set.

    python benchmarks/calibrate.py [--questions eval/calibration.jsonl] [--top-k 5]

Runs every question through the real retrieval and sentence scoring once, then searches a
grid of weights (one per :class:`rag.answering.features.Features` field) twice:
- evidence weights, which rank sentences: the best sentence of an answerable question
  should hold one of its facts (ties: come from a supporting source);
- support weights and threshold, which decide whether to answer: the best support should
  separate "answerable, and the best-ranked sentence comes from a supporting source"
  from "unanswerable" (balanced accuracy). Among equally good thresholds it takes the
  middle of the widest run, so the boundary sits away from both classes.
Fit on eval/calibration.jsonl, never on the shipped evaluation set (eval/questions.jsonl),
which measures the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.evaluation import Question
    from rag.store.base import Store
    from rag.types import Sentence

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Row:
    answerable: bool
    features: np.ndarray  # one row of Features values per candidate sentence
    supported: np.ndarray  # per candidate: it comes from a supporting source
    has_fact: np.ndarray  # per candidate: it, or a neighbour, holds a fact of the answer
    question: Question


def collect(questions: list[Question], top_k: int) -> list[Row]:
    from rag import Assistant
    from rag.answering.features import Weights
    from rag.evaluation import normalise
    from rag.types import Query

    assistant = Assistant()
    state = assistant.state()
    names = list(Weights.__dataclass_fields__)
    rows = []
    for q in questions:
        text = q.question  # no history: what `rag ask` searches
        query = Query(question=text, text=text, vector=assistant.embedder.encode_query(text))
        scored = state.answerer.score(query, state.retriever.search(query.text, query.vector, top_k))
        spellings = [normalise(s) for fact in q.facts for s in fact]
        features = np.array([[getattr(s.features, n) for n in names] for s in scored]).reshape(-1, len(names))
        rows.append(Row(answerable=q.answerable, features=features,
                        supported=np.array([Path(s.sentence.source).name in q.source_names for s in scored]),
                        has_fact=np.array([holds_fact(state.store, s.sentence, spellings) for s in scored]),
                        question=q))
    return rows


def holds_fact(store: Store, sentence: Sentence, spellings: list[str]) -> bool:
    """Whether the sentence, read with its neighbours in the same document, holds one of the
    (normalised) spellings of a fact."""
    from rag.evaluation import normalise

    near = sorted([sentence, *store.neighbours(sentence.id)], key=lambda s: s.start)  # reading order
    text = normalise(" ".join(n.text for n in near))
    return any(s in text for s in spellings)


def ranking(rows: list[Row], weights: np.ndarray) -> tuple[float, float]:
    """Over answerable questions: how often the best-ranked sentence holds a fact, and how
    often it comes from a supporting source."""
    facts = supported = n = 0
    for row in rows:
        if row.answerable:
            n += 1
            if len(row.features):
                best = int(np.argmax(row.features @ weights))
                facts += bool(row.has_fact[best])
                supported += bool(row.supported[best])
    return facts / max(n, 1), supported / max(n, 1)


def separation(rows: list[Row], ranking_weights: np.ndarray,
               weights: np.ndarray) -> tuple[float, float, list[tuple[float, bool, bool]]]:
    """Best threshold for these support weights, and its balanced accuracy."""
    points = []  # (best support, answerable, best-ranked sentence from a supporting source)
    for row in rows:
        if not len(row.features):
            points.append((-1.0, row.answerable, False))
            continue
        best = int(np.argmax(row.features @ ranking_weights))
        points.append((float(np.max(row.features @ weights)), row.answerable, bool(row.supported[best])))
    n_pos = sum(1 for _, a, _ in points if a) or 1
    n_neg = sum(1 for _, a, _ in points if not a) or 1
    grid = sorted({round(e, 3) for e, _, _ in points} | {-1.0, 2.0})
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(grid)]
    scores = []
    for t in cuts:
        tp = sum(1 for e, a, ok in points if a and ok and e >= t)
        tn = sum(1 for e, a, _ in points if not a and e < t)
        scores.append((tp / n_pos + tn / n_neg) / 2)
    top = max(scores)
    best_run = max((list(g) for k, g in itertools.groupby(range(len(cuts)), key=lambda i: scores[i] == top) if k),
                   key=len)
    lo, hi = cuts[best_run[0]], cuts[best_run[-1]]
    # The middle of the widest run of best thresholds, measured between the neighbouring points.
    left = max((e for e, _, _ in points if e < lo), default=lo)
    right = min((e for e, _, _ in points if e > hi), default=hi)
    return (left + right) / 2, top, points


def grid():
    """Meaning and coverage weights sum to one; the penalties are searched beside them."""
    for w_cos in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        for w_sent in (0.0, 0.1, 0.2, 0.3, 0.4):
            w_pass = round(1 - w_cos - w_sent, 2)
            if w_pass < 0:
                continue
            for penalties in itertools.product((0.0, -0.1, -0.2, -0.3, -0.4, -0.5), repeat=3):
                yield (w_cos, w_sent, w_pass, *penalties)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "calibration.jsonl")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    from rag.evaluation import EvalError, load_questions

    try:
        questions = load_questions(args.questions)
    except EvalError as e:
        sys.exit(f"error: {e}")
    rows = collect(questions, args.top_k)
    from rag.answering.features import EVIDENCE_WEIGHTS, SUPPORT_WEIGHTS, Weights
    from rag.settings import Settings

    names = list(Weights.__dataclass_fields__)
    print(f"{len(questions)} questions from {args.questions}; weights are ({', '.join(names)})")
    ranked = sorted(((ranking(rows, np.array(w)), w) for w in grid()), key=lambda r: (-r[0][0], -r[0][1]))
    print("\nevidence (ranking) | best sentence holds a fact | from a supporting source")
    for (facts, supported), w in ranked[:5]:
        print(f"{w} | {facts:.3f} | {supported:.3f}")
    evidence = np.array([getattr(EVIDENCE_WEIGHTS, n) for n in names])
    print("current evidence weights {} | {:.3f} | {:.3f}".format(tuple(evidence.tolist()), *ranking(rows, evidence)))

    results = []
    for w in grid():
        t, acc, _ = separation(rows, evidence, np.array(w))
        results.append((acc, w, t))
    results.sort(key=lambda r: -r[0])
    print("\nsupport (abstention), with the current evidence weights | balanced accuracy | threshold")
    for acc, w, t in results[:10]:
        print(f"{w} | {acc:.3f} | {t:.3f}")
    support = np.array([getattr(SUPPORT_WEIGHTS, n) for n in names])
    t, acc, points = separation(rows, evidence, support)
    print(f"current support weights {tuple(support.tolist())} | {acc:.3f} | {t:.3f} "
          f"(configured threshold: {Settings.load().abstain_threshold})")
    for row, (e, a, ok) in sorted(zip(rows, points), key=lambda x: x[1][0]):
        mark = "ANS" if a else "---"
        print(f"  {e:6.3f} {mark} {'src-ok' if ok else '      '} {row.question.id}: {row.question.question}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
