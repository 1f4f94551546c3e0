"""Every question of the shipped and development sets, through the local store and a PostgreSQL
store of the same corpus: are the answers, citations and passage order the same?

    python benchmarks/pg_same_answers.py URL [--index DIR]

URL is a PostgreSQL store of the seeds (``rag --store URL index``); ``--index`` a local index
of them (built there if missing). Prints each question that differs, then the count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag import Assistant
from rag.settings import Settings

SETS = ("eval/questions.jsonl", "eval/calibration.jsonl")


def key(answer: dict) -> tuple:
    """What must not differ: text, abstention, and each citation's place and quote."""
    return (answer["answer"], answer["abstained"],
            [(c["source"], c["start_line"], c["end_line"], c["quote"]) for c in answer["citations"]])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--index", type=Path, default=Path("/tmp/rag-seed-index"))
    a = p.parse_args()
    root = Path(__file__).resolve().parent.parent
    questions = [json.loads(line) for name in SETS for line in open(root / name, encoding="utf-8") if line.strip()]
    local = Assistant(Settings.load(index_dir=a.index))
    pg = Assistant(Settings.load(store=a.url), embedder=local.embedder)
    differ = 0
    for q in questions:
        same = key(local.ask(q["question"]).to_dict()) == key(pg.ask(q["question"]).to_dict())
        same = same and [h.id for h in local.search(q["question"], 5)] == [h.id for h in pg.search(q["question"], 5)]
        if not same:
            differ += 1
            print("differs:", q["id"], q["question"])
    print(f"{len(questions)} questions; {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
