"""A reader model's figures on the shortlists of a held-out split, without ``rag eval``.

    python benchmarks/reader_dev.py --model rag/models/reader [--data /tmp/rag-reader --split calibration]

Reads ``<data>/<split>.jsonl`` from training/reader_data.py (the CALIBRATION articles unless
told; never fit anything to what this prints when it reads TEST), scores every shortlist
with the exported int8 model on ONNX Runtime, and prints best-sentence accuracy, the ROC AUC
of answerable against unanswerable, and the operating point where 0.90 of answerable
questions are answered: the share of unanswerable ones declined there, and of answerable
ones answered with the right sentence. Both for the best probability (what the answerer
uses) and for the candidates' summed odds (the training objective's "something answers").
A model in training (no checksums yet) is read as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import reader as training  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from rag.answering.reader import Reader  # noqa: E402


def scores(model: Reader, questions: list[dict]) -> list[tuple[bool, float, float, bool]]:
    """(answerable, best probability, summed-odds probability, best sentence is right) a question."""
    out = []
    for q in questions:
        p = model.probabilities(q["question"], [(s, b) for s, b, _ in q["pairs"]])
        if not len(p):
            out.append((not q["impossible"], 0.0, 0.0, False))
            continue
        p = np.clip(p, 1e-7, 1 - 1e-7)
        odds = float((p / (1 - p)).sum())
        out.append((not q["impossible"], float(p.max()), odds / (1 + odds), bool(q["pairs"][int(p.argmax())][2])))
    return out


def figures(rows: list[tuple[bool, float, float, bool]], answered: float = 0.90) -> dict:
    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    out: dict = {"questions": len(rows), "unanswerable": len(unanswerable),
                 "best_sentence_accuracy": round(sum(r[3] for r in answerable) / len(answerable), 4)}
    for k, name in ((1, "best"), (2, "summed_odds")):
        cut = float(np.quantile([r[k] for r in answerable], 1 - answered))
        out[name] = {"auc": round(float(roc_auc_score([r[0] for r in rows], [r[k] for r in rows])), 4),
                     f"declined_at_answered_{answered}": round(sum(r[k] < cut for r in unanswerable)
                                                               / len(unanswerable), 3),
                     f"right_at_answered_{answered}": round(sum(r[k] >= cut and r[3] for r in answerable)
                                                            / len(answerable), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "rag" / "models" / "reader")
    parser.add_argument("--data", type=Path, default=Path("/tmp/rag-reader"))
    parser.add_argument("--split", default="calibration")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = Reader(args.model, threads=args.threads, checked=False)
    questions = training.examples(args.data / f"{args.split}.jsonl", gold_always=False)
    print(json.dumps({"model": str(args.model), "split": args.split,
                      **figures(scores(model, questions))}, indent=1))


if __name__ == "__main__":
    main()
