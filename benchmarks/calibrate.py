"""Calibrate the answerer's evidence weights and abstention threshold on a development set.

    python benchmarks/calibrate.py [--questions eval/calibration.jsonl] [--top-k 5]

Runs every question through the real retrieval and sentence scoring once, then searches a
coarse grid of evidence weights and, for each, the threshold that best separates
"answerable and the best sentence comes from a supporting source" from "unanswerable"
(balanced accuracy). Among equally good thresholds it takes the middle of the widest
run, so the boundary sits away from both classes. Fit on eval/calibration.jsonl, never
on the shipped evaluation set (eval/questions.jsonl), which measures the result.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collect(questions: list[dict], top_k: int) -> list[dict]:
    from rag import Assistant
    from rag.conversation import standalone_question

    assistant = Assistant()
    state = assistant.state()
    rows = []
    for q in questions:
        query = standalone_question(q["question"], [])
        vector = assistant.embedder.encode_query(query)
        hits = state.retriever.search(query, vector, top_k)
        scored = state.answerer.score(query, vector, hits)
        rows.append({"q": q, "candidates": [(s.features, Path(s.sentence.source).name) for s in scored]})
    return rows


def evaluate(rows: list[dict], weights, penalty) -> tuple[float, float, list[tuple[float, bool, bool]]]:
    """Best threshold and its balanced accuracy for these weights."""
    points = []  # (best evidence, answerable, best sentence from a supporting source)
    for row in rows:
        cands = row["candidates"]
        if not cands:
            points.append((-1.0, row["q"]["answerable"], False))
            continue
        best = max(cands, key=lambda c: c[0].evidence(weights, penalty))
        points.append((best[0].evidence(weights, penalty), row["q"]["answerable"],
                       best[1] in row["q"].get("sources", [])))
    n_pos = sum(1 for _, a, _ in points if a) or 1
    n_neg = sum(1 for _, a, _ in points if not a) or 1
    grid = sorted({round(e, 3) for e, _, _ in points} | {0.0, 1.0})
    cuts = [(a + b) / 2 for a, b in zip(grid, grid[1:])]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "calibration.jsonl")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    rows = collect(questions, args.top_k)
    results = []
    for w_cos in (0.4, 0.5, 0.6, 0.7, 0.8):
        for w_sent in (0.1, 0.2, 0.3, 0.4):
            w_pass = round(1 - w_cos - w_sent, 2)
            if w_pass < 0:
                continue
            for penalty in (0.0, 0.1, 0.2, 0.3):
                t, acc, _ = evaluate(rows, (w_cos, w_sent, w_pass), penalty)
                results.append((acc, (w_cos, w_sent, w_pass), penalty, t))
    results.sort(key=lambda r: -r[0])
    print(f"{len(questions)} questions from {args.questions}")
    print("balanced accuracy | weights (cosine, sentence coverage, passage coverage) | type penalty | threshold")
    for acc, w, p, t in results[:10]:
        print(f"{acc:.3f} | {w} | {p} | {t:.3f}")
    from rag.answering import EVIDENCE_WEIGHTS, TYPE_PENALTY
    from rag.settings import Settings

    t, acc, points = evaluate(rows, EVIDENCE_WEIGHTS, TYPE_PENALTY)
    print(f"\ncurrent weights {EVIDENCE_WEIGHTS}, penalty {TYPE_PENALTY}: balanced accuracy {acc:.3f} "
          f"at threshold {t:.3f} (configured: {Settings.load().abstain_threshold})")
    for row, (e, a, ok) in sorted(zip(rows, points), key=lambda x: x[1][0]):
        mark = "ANS" if a else "---"
        print(f"  {e:6.3f} {mark} {'src-ok' if ok else '      '} {row['q']['id']}: {row['q']['question']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
