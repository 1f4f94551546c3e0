"""The entailment judge on held-out NLI pairs: MultiNLI dev_mismatched and its negation pairs.

    .venv/bin/python benchmarks/nli_test.py [--model rag/models/entailment]

TEST of training/nli_data.py, which no training or tuning read. Prints three-way accuracy,
the confusion table, and entailment precision and recall at the threshold the check uses
(the model's ``meta.json``), for the shipped int8 ONNX model on ONNX Runtime, with the
pairs a second through it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import nli_data  # noqa: E402

from rag.answering.entailment import LABELS, MODEL_DIR, EntailmentModel  # noqa: E402


def measure(model: EntailmentModel, pairs: list[nli_data.Pair], threshold: float, size: int = 64) -> dict:
    t0 = time.perf_counter()
    p = np.concatenate([model.probabilities([(a, b) for a, b, _ in pairs[i:i + size]])
                        for i in range(0, len(pairs), size)])
    seconds = time.perf_counter() - t0
    y = np.array([label for *_, label in pairs])
    said = p[:, 0] >= threshold
    confusion = {gold: {LABELS[k]: int(((y == g) & (p.argmax(1) == k)).sum()) for k in range(3)}
                 for g, gold in enumerate(LABELS)}
    return {"pairs": len(y), "accuracy": round(float((p.argmax(1) == y).mean()), 4),
            "threshold": threshold,
            "entailment_precision": round(float((y[said] == 0).mean()), 4) if said.any() else None,
            "entailment_recall": round(float(said[y == 0].mean()), 4),
            "gold_by_predicted": confusion, "pairs_per_second": round(len(y) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    model = EntailmentModel(args.model, checked=(args.model / "meta.json").exists())
    threshold = model.threshold
    report = {name: measure(model, pairs, threshold) for name, pairs in nli_data.test_pairs().items()}
    print(json.dumps({"model": str(args.model), **report}, indent=1))


if __name__ == "__main__":
    main()
