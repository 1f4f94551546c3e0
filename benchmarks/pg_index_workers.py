"""Indexing into the PostgreSQL store with one and with two ``rag index`` workers at once.

    python benchmarks/pg_index_workers.py DATA_DIR [--docs 150] [--url URL] [--out FILE]

The first ``--docs`` documents of a BEIR ``corpus.jsonl`` (DATA_DIR) become one text file
each (title, blank line, abstract). Each run starts from an empty database and times real
``rag index`` processes (the default model) from start to the moment the last one exits:
chunks per second with one worker, then with two started together on this machine. It also
times writing the same rows again with the store's writer alone (no embedding, 8 files a
commit, as the workers commit): commits are serialised on ``rag_state``, so that rate is the
ceiling that many machines approach.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rag.store.postgres import PostgresBackend  # noqa: E402
from rag.store.postgres_writer import PostgresWriter  # noqa: E402


def make_corpus(data_dir: Path, docs: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "corpus.jsonl", encoding="utf-8") as f:
        for _, line in zip(range(docs), f):
            d = json.loads(line)
            (folder / f"{d['_id']}.txt").write_text(f"{d.get('title', '')}\n\n{d['text']}\n", encoding="utf-8")
    return folder


def run_workers(url: str, corpus: Path, workers: int) -> dict:
    env = dict(os.environ, RAG_STORE=url, RAG_CORPUS=str(corpus))
    rag = Path(sys.executable).parent / "rag"
    t0 = time.perf_counter()
    procs = [subprocess.Popen([str(rag), "index"], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    lines = [p.communicate()[1].strip().splitlines()[-1] for p in procs]
    seconds = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise SystemExit(f"rag index failed: {lines}")
    counts = PostgresBackend(url).manifest()["counts"]
    return {"workers": workers, "seconds": round(seconds, 1), "chunks": counts["chunks"],
            "sentences": counts["sentences"], "chunks_per_second": round(counts["chunks"] / seconds, 2),
            "reports": lines}


def write_only(source_url: str, url: str) -> dict:
    """The same rows written again by the writer alone, 8 files a commit."""
    import numpy as np

    from rag.types import Chunk, Sentence

    store = PostgresBackend(source_url).open()
    groups = []
    with store.db.connection() as conn:
        for source in sorted(store.manifest["files"]):
            rows = [conn.execute(f"SELECT data, embedding FROM {table} WHERE source = %s AND valid_to IS NULL "
                                 "ORDER BY seq", (source,)).fetchall() for table in ("rag_chunks", "rag_sentences")]
            groups.append((source, [Chunk(**d) for d, _ in rows[0]], [Sentence(**d) for d, _ in rows[1]],
                           np.stack([v.to_numpy() for _, v in rows[0]]) if rows[0] else np.zeros((0, 384)),
                           np.stack([v.to_numpy() for _, v in rows[1]]) if rows[1] else None))
    target = PostgresBackend(url)
    meta = {k: v for k, v in store.manifest.items() if k not in ("files", "pages", "counts")}
    t0 = time.perf_counter()
    for start in range(0, len(groups), 8):
        writer = PostgresWriter(target, full=start == 0)
        for source, chunks, sentences, cv, sv in groups[start:start + 8]:
            writer.replace(source, chunks, sentences, cv, sv)
        writer.commit(dict(meta, files={g[0]: store.manifest["files"][g[0]] for g in groups[start:start + 8]}))
    seconds = time.perf_counter() - t0
    n = sum(len(g[1]) for g in groups)
    return {"seconds": round(seconds, 1), "chunks": n, "chunks_per_second": round(n / seconds, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--docs", type=int, default=150)
    p.add_argument("--url", help="a server (postgres database URL); databases rag_w1, rag_w2, rag_w0 are made on it")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    import psycopg

    server = None
    base = a.url
    if base is None:
        from pg_server import PgServer

        server = PgServer(Path(tempfile.mkdtemp(prefix="rag-pg-"))).init()
        server.start()
        base = server.url
    try:
        corpus = make_corpus(a.data_dir, a.docs, Path(tempfile.mkdtemp(prefix="rag-corpus-")) / "scifact")
        urls = {}
        with psycopg.connect(base, autocommit=True) as conn:
            for name in ("rag_w1", "rag_w2", "rag_w0"):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
                urls[name] = base.rsplit("/", 1)[0] + f"/{name}"
        result = {"docs": a.docs, "cores": os.cpu_count(), "one": run_workers(urls["rag_w1"], corpus, 1),
                  "two": run_workers(urls["rag_w2"], corpus, 2)}
        result["write_only"] = write_only(urls["rag_w1"], urls["rag_w0"])
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(result, indent=2))
    if a.out:
        a.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
