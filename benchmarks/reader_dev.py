"""A reader model's figures on the shortlists of a held-out split, without ``rag eval``.

    python benchmarks/reader_dev.py --model rag/models/reader [--data /tmp/rag-reader --split calibration]

Reads ``<data>/<split>.jsonl`` from training/reader_data.py (the CALIBRATION articles unless
told; never fit anything to what this prints when it reads TEST), scores every shortlist
with the exported int8 model on ONNX Runtime, and prints the figures training/reader.py
reports for its own runs (``judge``): best-sentence accuracy, the ROC AUC of answerable
against unanswerable, and the operating point where 0.90 of answerable questions are
answered, for the best probability (what the answerer uses) and for the candidates' summed
odds. A model in training (no checksums yet) is read as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import reader as training  # noqa: E402

from rag.answering.reader import Reader  # noqa: E402


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
                      **training.judge(model.probabilities, questions)}, indent=1))


if __name__ == "__main__":
    main()
