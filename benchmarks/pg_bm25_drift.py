"""How far the PostgreSQL store's BM25 drifts from the local store's when a build takes several commits.

A chunk's BM25 weight is written with the average passage length of the version it joins
(rag/store/postgres_writer.py); files written in later commits move that average, and the
weights written before are not rewritten. The local store recomputes BM25 at every build,
so it is exact. This builds the same corpus (the seeds and the foreign articles: 10 files)
into the local store and, with a local PostgreSQL (``rag pg``, needs ``[pgserver]``), into
PostgreSQL stores written with 1, 8 (the default) and all files per commit, then asks every
question of both question sets through each and counts what differs from the local store:
the top-5 passages of each BM25 ranking (words, character 4-grams), their largest score
difference, the hybrid top-5, and the answers.

    python benchmarks/pg_bm25_drift.py [--files-per-commit 1 8 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (ROOT / "seeds", ROOT / "eval" / "foreign" / "articles")
QUESTIONS = (ROOT / "eval" / "questions.jsonl", ROOT / "eval" / "foreign" / "questions.jsonl")


def compare(local, pg, questions: list[str]) -> dict:
    """What differs between two assistants over ``questions``."""
    lexical_differ, worst, hybrid_differ, answers_differ = {"words": 0, "chars": 0}, 0.0, 0, 0
    a, b = local.state().store, pg.state().store
    for q in questions:
        for tokens in ("words", "chars"):
            ra, rb = a.lexical(q, 5, tokens), b.lexical(q, 5, tokens)
            lexical_differ[tokens] += [i for i, _ in ra] != [i for i, _ in rb]
            sb = dict(b.lexical(q, 50, tokens))
            worst = max([worst] + [abs(s - sb[i]) for i, s in ra if i in sb])
        hybrid_differ += [h.id for h in local.search(q, 5)] != [h.id for h in pg.search(q, 5)]
        x, y = local.ask(q).to_dict(), pg.ask(q).to_dict()
        answers_differ += (x["answer"], x["abstained"]) != (y["answer"], y["abstained"])
    return {"questions": len(questions), "lexical_top5_differ": lexical_differ,
            "largest_bm25_difference_in_top5": round(worst, 4), "hybrid_top5_differ": hybrid_differ,
            "answers_differ": answers_differ}


def main() -> int:
    from rag import indexing_shared
    from rag.assistant import Assistant
    from rag.settings import Settings
    from rag.store.pg_local import LocalPostgres

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files-per-commit", type=int, nargs="+", default=[1, 8, 1000])
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    questions = [json.loads(line)["question"] for f in QUESTIONS for line in open(f, encoding="utf-8") if line.strip()]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for folder in FOLDERS:
            for f in sorted(folder.glob("*.txt")):
                shutil.copyfile(f, corpus / f.name)
        server = LocalPostgres(Path(tmp) / "pg")
        url = server.start()
        try:
            local = Assistant(Settings.load(corpus=corpus, index_dir=Path(tmp) / "index"))
            local.index()
            for n in a.files_per_commit:
                indexing_shared.CLAIM_FILES = n
                pg = Assistant(Settings.load(corpus=corpus, store=url), embedder=local.embedder)
                built = pg.index(rebuild=True)
                report[f"{n} files per commit"] = dict(commits=-(-len(list(corpus.glob("*.txt"))) // n),
                                                       generation=built.generation,
                                                       **compare(local, pg, questions))
                print(json.dumps({f"{n} files per commit": report[f"{n} files per commit"]}), flush=True)
        finally:
            server.stop()
    if a.out:
        a.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
