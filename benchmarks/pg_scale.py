"""The PostgreSQL store at scale: synthetic chunks, their build, size, HNSW recall and query times.

    python benchmarks/pg_scale.py [--chunks 1000000] [--url URL] [--serve] [--out FILE]

What is made (seeded, so every run makes the same):

- vectors: 384 numbers (MiniLM's size) from ``synthetic_vectors.Vectors`` (``--vectors``):
  by default points on a smooth random surface, in documents of four chunks, shaped to match
  real all-MiniLM-L6-v2 embeddings of SciFact (local intrinsic dimension about 13, neighbour
  cosines; see that module); ``isotropic`` is the earlier generator (1,000 centroids plus
  Gaussian noise in all 384 dimensions), which no real corpus resembles at a million.
- text: 60 words a chunk from a 50,000-word vocabulary of made-up words (one to three of
  1,856 syllables such as "stoun" or "brack"), drawn with
  Zipf's law (exponent 1.1), plus three of the chunk's cluster's five topic words; one
  sentence a chunk; 1,000 chunks a file.
- queries: 200 new points (new documents) of the same topics; their text two topic words and two others.

Build: the store's own writer (tokenising, BM25 weights, COPY), 25 files a commit, with the
HNSW and GIN indexes dropped during the load and created after it (as a bulk load should).
Recall@10 of the HNSW search against exact inner products over the same vectors (numpy), for
several ``hnsw.ef_search``; query times of ``store.dense`` and of the product's
``Retriever.search`` (dense + BM25 words + character 4-grams, top 10 of 100 candidates) at
concurrency 1 and 8; with ``--serve``, the resident memory of a ``rag serve`` process on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthetic_vectors import CLUSTERS, DIM, PER_DOC, Vectors  # noqa: E402

from rag import indexing  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.postgres import PostgresBackend  # noqa: E402
from rag.store.postgres_db import SEARCH_INDEXES  # noqa: E402
from rag.store.postgres_writer import PostgresWriter  # noqa: E402
from rag.types import Chunk, Sentence  # noqa: E402

VOCAB, WORDS, PER_FILE, FILES_PER_COMMIT = 50_000, 60, 1000, 25
ONSETS = "b d f g h k l m n p r s t v w z br cr dr fl gr pl pr sh st th tr ch sp".split()
SYLLABLES = [o + v + c for o in ONSETS for v in ("a", "e", "i", "o", "u", "ai", "ea", "ou")
             for c in ("", "n", "r", "s", "t", "l", "m", "ck")]


def vocabulary() -> list[str]:
    rng = np.random.default_rng(7)
    words: list[str] = []
    seen = set()
    while len(words) < VOCAB:
        w = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), rng.integers(1, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Maker:
    """The synthetic corpus, file by file."""

    def __init__(self, vectors: str = "manifold") -> None:
        rng = np.random.default_rng(2)
        self.vectors = Vectors(vectors)
        self.words = np.array(vocabulary())
        p = 1 / np.arange(1, VOCAB + 1) ** 1.1
        self.p = p / p.sum()
        self.topics = rng.integers(500, 20_000, size=(CLUSTERS, 5))  # mid-frequency words

    def file(self, n: int):
        rng = np.random.default_rng(1000 + n)
        per_doc = 1 if self.vectors.kind == "isotropic" else PER_DOC
        docs = rng.integers(0, CLUSTERS, PER_FILE // per_doc)
        vectors = self.vectors.points(rng, docs, per_doc)
        clusters = np.repeat(docs, per_doc)
        source = f"synthetic/f{n:05d}.txt"
        draws = rng.choice(VOCAB, size=(PER_FILE, WORDS), p=self.p)
        chunks, sentences, offset = [], [], 0
        for i, c in enumerate(clusters):
            ids = np.concatenate([draws[i], self.topics[c][rng.integers(0, 5, 3)]])
            rng.shuffle(ids)
            text = " ".join(self.words[ids]).capitalize() + "."
            chunks.append(Chunk(source, source, offset, offset + len(text), i + 1, i + 1, text, 80, i, i + 1))
            sentences.append(Sentence(source, source, offset, offset + len(text), i + 1, i + 1, text, 80))
            offset += len(text) + 1
        return source, chunks, sentences, vectors

    def queries(self, count: int):
        rng = np.random.default_rng(99)
        clusters = rng.integers(0, CLUSTERS, count)
        texts = [" ".join(list(self.words[self.topics[c][:2]]) + list(self.words[rng.integers(100, 5000, 2)]))
                 for c in clusters]
        return texts, self.vectors.points(rng, clusters)


def build(backend: PostgresBackend, maker: Maker, files: int) -> tuple[dict, np.ndarray, dict[str, int]]:
    manifest = dict(indexing.fingerprint(Settings.load()), dim=DIM, corpus="synthetic", sentence_vectors=False)
    all_vectors = np.empty((files * PER_FILE, DIM), dtype=np.float32)
    rows: dict[str, int] = {}
    times = {}
    t0 = time.perf_counter()
    PostgresWriter(backend, full=True).commit(dict(manifest, files={}))  # the tables, empty
    with backend.db.connection() as conn:  # loaded without the search indexes, which are made after
        for name in SEARCH_INDEXES:
            conn.execute(f"DROP INDEX {name}")
    for start in range(0, files, FILES_PER_COMMIT):
        writer = PostgresWriter(backend, full=False)
        names = {}
        for n in range(start, min(files, start + FILES_PER_COMMIT)):
            source, chunks, sentences, vectors = maker.file(n)
            all_vectors[n * PER_FILE:(n + 1) * PER_FILE] = vectors
            rows.update((c.id, n * PER_FILE + i) for i, c in enumerate(chunks))
            writer.replace(source, chunks, sentences, vectors, None)
            names[source] = f"sha-{n}"
        writer.commit(dict(manifest, files=names))
        print(f"loaded {min(files, start + FILES_PER_COMMIT) * PER_FILE} chunks, {time.perf_counter() - t0:.0f}s",
              file=sys.stderr, flush=True)
    times["load_seconds"] = round(time.perf_counter() - t0, 1)
    with backend.db.connection() as conn:
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for name, ddl in SEARCH_INDEXES.items():
            t1 = time.perf_counter()
            conn.execute(ddl)
            times[f"{name}_seconds"] = round(time.perf_counter() - t1, 1)
            print(f"{name}: {times[f'{name}_seconds']}s", file=sys.stderr, flush=True)
        conn.execute("VACUUM ANALYZE rag_chunks")
        conn.execute("VACUUM ANALYZE rag_sentences")
    times["build_seconds"] = round(time.perf_counter() - t0, 1)
    return times, all_vectors, rows


def term_tables(url: str) -> dict:
    """Seconds a new reader takes for the answerer's term tables: read as the writer counted
    them, and counted by the reader over every chunk (as before issue 27), in the same run."""
    from rag.analysis import COUNTED

    out = {}
    for name, analyse in COUNTED.items():
        t0 = time.perf_counter()
        stored = PostgresBackend(url).open().term_frequencies(name, analyse)
        t1 = time.perf_counter()
        scanned = PostgresBackend(url).open().term_frequencies(name, lambda texts, f=analyse: f(texts))
        t2 = time.perf_counter()
        out[name] = {"read_seconds": round(t1 - t0, 2), "counted_by_reader_seconds": round(t2 - t1, 2),
                     "same": stored == scanned, "terms": len(stored[1])}
        print(f"term table {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = np.concatenate([queries @ vectors[i:i + 200_000].T for i in range(0, len(vectors), 200_000)], axis=1)
    return np.argsort(-scores, axis=1)[:, :k]


def percentiles(values: list[float]) -> dict:
    return {"p50_ms": round(1000 * float(np.percentile(values, 50)), 1),
            "p95_ms": round(1000 * float(np.percentile(values, 95)), 1)}


def timed(fn, items, threads: int) -> dict:
    def one(item):
        t0 = time.perf_counter()
        fn(item)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(one, items))
    return dict(percentiles(times), queries_per_second=round(len(items) / (time.perf_counter() - t0), 1))


def serve_memory(url: str, port: int = 8765) -> dict:
    env = dict(os.environ, RAG_STORE=url, RAG_CORPUS=tempfile.mkdtemp())
    rag = Path(sys.executable).parent / "rag"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(rag), "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError("rag serve exited") from None
            time.sleep(1)
        ready = time.perf_counter() - t0
        for q in ("lantern orchard", "copper comet", "what do the kabo say"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q={q.replace(' ', '%20')}", timeout=60).read()
        rss = int(next(l for l in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                       if l.startswith("VmRSS")).split()[1]) * 1024
        return {"ready_seconds": round(ready, 1), "rss_bytes": rss}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--url", help="a database to use (its rag_* tables are replaced)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ef", default="40,64,100,200,400", help="hnsw.ef_search values for the recall table")
    p.add_argument("--vectors", choices=("manifold", "isotropic"), default="manifold",
                   help="how the vectors are made (see benchmarks/synthetic_vectors.py)")
    p.add_argument("--serve", action="store_true", help="also measure a rag serve process")
    p.add_argument("--term-tables-only", action="store_true",
                   help="after the build, only time the answerer's term tables (read, and counted by a reader)")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    files = max(1, a.chunks // PER_FILE)
    server = None
    url = a.url
    if url is None:
        from pg_server import PgServer

        server = PgServer(Path(tempfile.mkdtemp(prefix="rag-pg-", dir=os.environ.get("TMPDIR"))),
                          settings=("shared_buffers=4GB", "max_wal_size=8GB", "checkpoint_timeout=30min"))
        server.init().start()
        url = server.url
    try:
        maker = Maker(a.vectors)
        backend = PostgresBackend(url)
        result: dict = {"chunks": files * PER_FILE, "files": files, "vectors": a.vectors}
        times, vectors, row = build(backend, maker, files)
        result.update(times)
        result["database_bytes"] = backend.describe()["bytes"]
        result["term_tables"] = term_tables(url)
        if a.term_tables_only:
            print(json.dumps(result, indent=1))
            return 0
        texts, qvecs = maker.queries(a.queries)
        truth = exact_top(vectors, qvecs, 10)
        result["recall@10"] = {}
        for ef in (int(x) for x in a.ef.split(",")):
            store = PostgresBackend(url, ef_search=ef).open()
            found, lat = [], []
            for v in qvecs:
                t0 = time.perf_counter()
                ids = [i for i, _ in store.dense(v, 10)]
                lat.append(time.perf_counter() - t0)
                found.append(ids)
            rows = [[row[i] for i in ids] for ids in found]
            recall = np.mean([len(set(r) & set(t.tolist())) / 10 for r, t in zip(rows, truth)])
            result["recall@10"][ef] = dict(recall=round(float(recall), 4), **percentiles(lat))
            print(f"ef_search {ef}: recall@10 {recall:.4f}", file=sys.stderr, flush=True)
        store = backend.open()
        retriever = Retriever.from_settings(store, Settings.load())
        items = list(zip(texts, qvecs))
        for threads in (1, 8):
            result[f"dense_c{threads}"] = timed(lambda x: store.dense(x[1], 10), items, threads)
            result[f"hybrid_c{threads}"] = timed(lambda x: retriever.search(x[0], x[1], 10), items, threads)
            print(f"concurrency {threads}: {result[f'hybrid_c{threads}']}", file=sys.stderr, flush=True)
        if a.serve:
            result["serve"] = serve_memory(url)
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(result, indent=2))
    if a.out:
        a.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
