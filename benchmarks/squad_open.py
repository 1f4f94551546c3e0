"""Open SQuAD articles through ``rag eval``: answers and abstention on articles nobody here wrote.

    python benchmarks/squad_open.py --split test [--threshold T] [--out report.json]
    python benchmarks/squad_open.py --split test --make-eval eval/foreign --answerable 120 --unanswerable 60

Writes a split's articles (training/squad_corpus.py; CC BY-SA 4.0) as text files and its
questions as a question set (facts: the gold answers; SQuAD 2.0's unanswerable questions
have none), then runs the real ``rag eval`` on them with a fresh index and prints the
summary. ``--make-eval`` instead writes a sampled question set with its articles, the
foreign set CI gates (eval/foreign/). Nothing here is fitted: the TEST split only measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import squad_corpus  # noqa: E402

SEED = 7


def question_lines(split: str) -> list[dict]:
    data = squad_corpus.load()
    lines = []
    for title in squad_corpus.SPLITS[split]:
        for qa in squad_corpus.questions(data[title]):
            lines.append({"id": qa.id, "question": qa.question, "sources": [] if qa.impossible else [f"{title}.txt"],
                          "facts": [] if qa.impossible else [list(qa.answers)], "answerable": not qa.impossible,
                          "kind": "unanswerable" if qa.impossible else "fact"})
    return lines


def write_lines(lines: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return path


def run_eval(questions: Path, corpus: Path, index: Path, out: Path, threshold: float | None = None,
             answerer: str = "extractive") -> dict:
    """The real ``rag eval --json`` with ``answerer`` (and its threshold); the report is also left in ``out``."""
    env = dict(os.environ, RAG_ANSWERER=answerer)
    if threshold is not None:
        env["RAG_READER_THRESHOLD" if answerer == "reader" else "RAG_ABSTAIN_THRESHOLD"] = str(threshold)
    rag = Path(sys.executable).with_name("rag")
    subprocess.run([str(rag), "index", "--corpus", str(corpus), "--index", str(index)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(rag), "eval", "--questions", str(questions), "--corpus", str(corpus), "--index", str(index),
                    "--json", "--out", str(out)], env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))


def make_eval(split: str, folder: Path, answerable: int, unanswerable: int) -> None:
    lines = question_lines(split)
    rng = random.Random(SEED)
    picked = (rng.sample([x for x in lines if x["answerable"]], answerable)
              + rng.sample([x for x in lines if not x["answerable"]], unanswerable))
    picked.sort(key=lambda x: x["id"])
    write_lines(picked, folder / "questions.jsonl")
    squad_corpus.write_corpus(squad_corpus.SPLITS[split], folder / "articles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["calibration", "test"], default="test")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--answerer", default="extractive", help="extractive (the default) or reader")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--make-eval", type=Path)
    parser.add_argument("--work", type=Path, help="keep articles and index here between runs")
    parser.add_argument("--answerable", type=int, default=120)
    parser.add_argument("--unanswerable", type=int, default=60)
    args = parser.parse_args()
    if args.make_eval:
        make_eval(args.split, args.make_eval, args.answerable, args.unanswerable)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.work or Path(tmp)
        questions = write_lines(question_lines(args.split), tmp / "questions.jsonl")
        corpus = squad_corpus.write_corpus(squad_corpus.SPLITS[args.split], tmp / "articles")
        report = run_eval(questions, corpus, tmp / "index", args.out or tmp / "report.json", args.threshold,
                          args.answerer)
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
