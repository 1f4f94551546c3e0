"""SciFact through the PostgreSQL store and through the local store, by the same path.

    python benchmarks/pg_scifact.py DATA_DIR LOCAL_INDEX [--url URL] [--split test] [--out FILE]

LOCAL_INDEX is a local index of DATA_DIR's corpus built by ``rag.indexing.build`` (what
``benchmarks/beir.py --cache`` keeps). Its chunks, sentences and vectors are written into the
PostgreSQL store with the store's own writer (one commit: what ``rag index`` writes, without
embedding the corpus again), then every query of the split is ranked against each store through
the Store protocol alone: ``dense`` (HNSW in PostgreSQL, FAISS locally), ``lexical`` over words
and over character 4-grams (sparsevec BM25 in PostgreSQL, bm25s locally), each chunk ranking
turned into documents by their best chunk (MaxP) and fused by the product's ``Retriever.fuse``.
ranx scores nDCG@10 and Recall@100 per store; the query time is that of the three store calls,
and separately of the product's ``Retriever.search`` (top 10 of 100 candidates each).
PostgreSQL is run twice: as shipped (BM25 over character n-grams exact over candidates, the
store being over 5,000 chunks) and with that BM25 exact over every chunk.

Without ``--url`` a throwaway server is started in a temporary folder (tests/pg_server.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from beir import load_data  # noqa: E402  (benchmarks/, beside this script)

from rag.embeddings import Embedder  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.local import LocalBackend  # noqa: E402
from rag.store.postgres import PostgresBackend  # noqa: E402

DEPTH = 100  # documents scored (Recall@100)
CHUNKS = 800  # chunks each store call returns: enough for DEPTH * 2 documents after MaxP


def copy_into(local, backend: PostgresBackend) -> float:
    """Write the local store's rows into ``backend`` in one commit; seconds taken."""
    gen = local.generation
    vectors = gen.chunk_vectors()
    svecs = gen.sentence_vectors
    writer = backend.writer(None)
    by_source: dict[str, list[int]] = {}
    for i, c in enumerate(gen.chunks):
        by_source.setdefault(c.source, []).append(i)
    s_rows: dict[str, list[int]] = {}
    for i, s in enumerate(gen.sentences):
        s_rows.setdefault(s.source, []).append(i)
    from dataclasses import replace

    for source, rows in by_source.items():
        first = s_rows[source][0]
        chunks = [replace(gen.chunks[i], first_sentence=gen.chunks[i].first_sentence - first,
                          last_sentence=gen.chunks[i].last_sentence - first) for i in rows]
        writer.replace(source, chunks, [gen.sentences[i] for i in s_rows[source]], vectors[rows],
                       None if svecs is None else svecs[s_rows[source]])
    t0 = time.perf_counter()
    writer.commit(dict(local.manifest))
    return time.perf_counter() - t0


def rank(store, text: str, vector, fuse) -> tuple[dict[str, dict[str, float]], float]:
    """Each mode's document ranking for one query, and the seconds the store calls took."""
    t0 = time.perf_counter()
    calls = {"dense": store.dense(vector, CHUNKS), "bm25": store.lexical(text, CHUNKS, "words"),
             "chars": store.lexical(text, CHUNKS, "chars")}
    seconds = time.perf_counter() - t0
    docs = {}
    for mode, ranking in calls.items():
        chunks = store.chunks([i for i, _ in ranking]) if ranking else []
        best: dict[str, float] = {}
        for c, (_, s) in zip(chunks, ranking):
            best.setdefault(c.doc_id, s)
        docs[mode] = list(best.items())[:2 * DEPTH]
    docs["fused"] = fuse([docs["dense"], docs["bm25"], docs["chars"]])
    return {m: {d: float(len(r) - n) for n, (d, _) in enumerate(r[:DEPTH])} or {"__none__": 0.0}
            for m, r in docs.items()}, seconds


def evaluate(store, data, vectors, settings: Settings) -> dict:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    retriever = Retriever.from_settings(store, settings.replace(candidates=2 * DEPTH))
    runs: dict[str, dict] = {m: {} for m in ("fused", "dense", "bm25", "chars")}
    calls, product = [], []
    for (q, text), vec in zip(data.queries.items(), vectors):
        ranked, seconds = rank(store, text, vec, retriever.fuse)
        calls.append(seconds)
        for m, r in ranked.items():
            runs[m][q] = {d: s for d, s in r.items() if d != q} or {"__none__": 0.0}
    product_retriever = Retriever.from_settings(store, settings)
    for (_, text), vec in zip(data.queries.items(), vectors):
        t0 = time.perf_counter()
        product_retriever.search(text, vec, 10)
        product.append(time.perf_counter() - t0)
    qrels = Qrels(data.qrels)
    out = {m: {k: round(float(v), 4) for k, v in ranx_evaluate(qrels, Run(r), ["ndcg@10", "recall@100"]).items()}
           for m, r in runs.items()}
    out["store_calls_ms"] = {"p50": round(1000 * float(np.percentile(calls, 50)), 1),
                             "p95": round(1000 * float(np.percentile(calls, 95)), 1)}
    out["retriever_search_ms"] = {"p50": round(1000 * float(np.percentile(product, 50)), 1),
                                  "p95": round(1000 * float(np.percentile(product, 95)), 1)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("local_index", type=Path)
    p.add_argument("--url", help="a database to use (its rag_* tables are replaced)")
    p.add_argument("--split", default="test")
    p.add_argument("--ef-search", type=int, default=100)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    data = load_data(a.data_dir, a.split)
    local = LocalBackend(a.local_index).open()
    settings = Settings.load()
    server = None
    if a.url is None:
        from pg_server import PgServer

        server = PgServer(Path(tempfile.mkdtemp(prefix="rag-pg-"))).init()
        server.start()
    try:
        url = a.url or server.url
        backend = PostgresBackend(url, settings.bm25_k1, settings.bm25_b, ef_search=a.ef_search)
        load_seconds = copy_into(local, backend)
        pg = backend.open()
        exact = PostgresBackend(url, settings.bm25_k1, settings.bm25_b, ef_search=a.ef_search,
                                exact_chars_up_to=10**9).open()
        embedder = Embedder(local.manifest["model"])
        vectors = embedder.encode(list(data.queries.values()))
        result = {"split": a.split, "queries": len(data.queries), "chunks": pg.manifest["counts"]["chunks"],
                  "load_seconds": round(load_seconds, 1), "database_bytes": backend.describe()["bytes"],
                  "ef_search": a.ef_search, "local": evaluate(local, data, vectors, settings),
                  "postgresql": evaluate(pg, data, vectors, settings),
                  "postgresql_exact_chars": evaluate(exact, data, vectors, settings)}
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(result, indent=2))
    if a.out:
        a.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
