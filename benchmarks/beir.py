"""Retrieval quality on a BEIR data set, through the product's own code path.

    python benchmarks/beir.py DATA_DIR --split test [--max-docs N] [--out FILE] [--cache DIR]

DATA_DIR is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). The corpus is
indexed by ``rag.indexing.build`` (the loader, chunker, embedder and local store users run),
every query of the split goes through ``doc_ranking.DocumentRanker.search`` (dense MaxP over
the store's chunks, BM25 over whole documents' words and over their character 4-grams,
fused as ``rag.fusion`` fuses passages), and ranx scores nDCG@10, Recall@100 and MRR@10 for dense alone, BM25 alone,
character BM25 alone and the fused retriever. It also reports index
time, embedding throughput, peak memory, and the indexing overhead over a bare
``SentenceTransformer.encode`` of the same chunk texts in the same process.

As in BEIR's own evaluation, a document whose id equals the query's id is not counted as
a hit (it matters for sets like ArguAna whose queries are also in the corpus).

``--sweep`` evaluates a grid of fusion and BM25 settings on the split instead (use it on
``train``, never on ``test``); ``--cache DIR`` keeps one index per configuration there so a
sweep does not re-embed the corpus.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from doc_ranking import DocumentRanker  # benchmarks/, this script's folder

from rag import indexing
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.loaders import list_sources
from rag.settings import Settings
from rag.store import generations
from rag.store.local import LocalBackend, LocalStore

log = logging.getLogger("rag.bench")

METRICS = ["ndcg@10", "recall@100", "mrr@10"]
DEPTH = 100  # documents kept per query: enough for Recall@100

#: Chunk size in model tokens: the product default. On a SciFact train slice 128-token chunks
#: (MiniLM was trained on 128) beat chunks filling the model's 256-token window, dense and fused.
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 32
#: Documents each retriever brings to the fusion: twice the depth scored, so a document ranked
#: ~100th by the fusion had the chance to be seen by both retrievers (train: +0.005 Recall@100).
CANDIDATES = 2 * DEPTH


class BenchError(RagError):
    """The data folder or the options cannot be used."""


@dataclass
class Data:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_data(data_dir: Path, split: str) -> Data:
    corpus, queries_file = data_dir / "corpus.jsonl", data_dir / "queries.jsonl"
    qrels_file = data_dir / "qrels" / f"{split}.tsv"
    for f in (corpus, queries_file, qrels_file):
        if not f.is_file():
            raise BenchError(f"not a BEIR folder: {f} is missing")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_file, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh, delimiter="\t")
        for row in rows:
            if len(row) < 3 or row[0] == "query-id":
                continue
            score = int(float(row[2]))
            if score > 0:
                qrels.setdefault(row[0], {})[row[1]] = score
    queries: dict[str, str] = {}
    with open(queries_file, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                if str(rec["_id"]) in qrels:
                    queries[str(rec["_id"])] = str(rec.get("text") or "")
    missing = set(qrels) - set(queries)
    if missing:
        raise BenchError(f"{len(missing)} queries of {qrels_file.name} are not in queries.jsonl")
    if not qrels:
        raise BenchError(f"{qrels_file} holds no relevance judgements")
    return Data(corpus=corpus, queries=queries, qrels=qrels)


def subset(data: Data, max_docs: int, folder: Path) -> Data:
    """At most ``max_docs`` documents: the relevant ones of as many queries as fit, then others.

    Queries are taken in qrels order while their relevant documents fit; the rest of the
    budget is filled with the corpus's other documents in file order, as distractors.
    """
    records = [line for line in data.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [str(json.loads(r)["_id"]) for r in records]
    keep: set[str] = set()
    qrels: dict[str, dict[str, int]] = {}
    for q, rel in data.qrels.items():
        need = set(rel) - keep
        if len(keep) + len(need) <= max_docs // 2:  # half relevant, at least half distractors
            keep |= need
            qrels[q] = rel
    for doc_id in ids:
        if len(keep) >= max_docs:
            break
        keep.add(doc_id)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.jsonl"
    text = "".join(r + "\n" for r, d in zip(records, ids) if d in keep)
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    if not qrels:
        raise BenchError(f"--max-docs {max_docs} is too small for any query's relevant documents")
    return Data(corpus=corpus, queries={q: data.queries[q] for q in qrels}, qrels=qrels)


class TimedEmbedder(Embedder):
    """The product's embedder, timing its encode calls (the only change)."""

    seconds: float = 0.0
    texts: int = 0

    def encode(self, texts, progress=False):
        t0 = time.perf_counter()
        out = super().encode(texts, progress=progress)
        self.seconds += time.perf_counter() - t0
        self.texts += len(texts)
        return out


@dataclass
class IndexStats:
    docs: int
    chunks: int
    chunk_tokens_total: int
    max_chunk_tokens: int
    index_seconds: float | None = None  # whole build: load, split, chunk, embed, write
    embed_seconds: float | None = None  # inside the build: encode calls only
    raw_encode_seconds: float | None = None  # bare SentenceTransformer.encode, same texts
    cached: bool = False
    extra: dict = field(default_factory=dict)


def index_corpus(settings: Settings, embedder: TimedEmbedder, fresh: bool,
                 overhead: bool) -> tuple[LocalStore, IndexStats]:
    """Build (or reuse a cached) index of the corpus with the product's own indexer, in the
    local store whatever ``RAG_STORE`` says (the document ranker reads its tables and FAISS)."""
    backend = LocalBackend(settings.index_dir, settings.bm25_k1, settings.bm25_b)
    stats_file = settings.index_dir / "bench-stats.json"
    if not fresh and stats_file.exists():
        try:
            manifest = generations.read_manifest(settings.index_dir)
            files = list_sources(settings.corpus, settings.extensions)
            reason = indexing.stale_reason(manifest, settings, files)
            if reason is None:
                store = backend.open()
                stats = IndexStats(**json.loads(stats_file.read_text()))
                stats.cached = True
                return store, stats
            log.warning("not reusing the cached index in %s: %s", settings.index_dir, reason)
        except (RagError, TypeError, ValueError) as e:
            log.warning("not reusing the cached index in %s: %s", settings.index_dir, e)
    embedder.encode(["warm up the model before timing"])  # loads it: not indexing work
    embedder.seconds = embedder.texts = 0
    report = indexing.build(settings, embedder, rebuild=True, backend=backend)
    store = backend.open()
    chunks = store.generation.chunks
    tokens = [c.tokens for c in chunks]
    stats = IndexStats(docs=len({(c.source, c.doc_id) for c in chunks}), chunks=len(chunks),
                       chunk_tokens_total=sum(tokens), max_chunk_tokens=max(tokens),
                       index_seconds=report.seconds, embed_seconds=embedder.seconds)
    if overhead:
        texts = [c.text for c in chunks]
        t0 = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, convert_to_numpy=True,
                              normalize_embeddings=True, show_progress_bar=False)
        stats.raw_encode_seconds = time.perf_counter() - t0
    stats_file.write_text(json.dumps(asdict(stats), indent=2))
    return store, stats


def run_queries(ranker: DocumentRanker, data: Data, vectors, mode: str) -> dict[str, dict[str, float]]:
    """A ranx run: query id -> {doc id: score}, the top ``DEPTH`` documents of ``mode``."""
    run: dict[str, dict[str, float]] = {}
    for (q, text), vec in zip(data.queries.items(), vectors):
        hits = [h for h in ranker.search(text, vec, DEPTH + 1, mode=mode) if h.doc_id != q]
        # ranx needs a score per listed doc; keep the rank order even where scores tie.
        run[q] = {h.doc_id: float(len(hits) - n) for n, h in enumerate(hits[:DEPTH])}
        if not run[q]:
            run[q] = {"__none__": 0.0}  # ranx wants every query present; scores as a miss
    return run


def evaluate(data: Data, run: dict[str, dict[str, float]]) -> dict[str, float]:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    scores = ranx_evaluate(Qrels(data.qrels), Run(run), METRICS, make_comparable=True)
    return {m: round(float(scores[m]), 4) for m in METRICS}


def sweep(store: LocalStore, data: Data, vectors, base: Settings) -> list[dict]:
    """Fusion and BM25 settings over a grid, each through the document ranker (tuning only)."""
    rows = []

    def score(modes, **changes):
        s = base.replace(**changes)
        r = DocumentRanker.from_settings(store, s)
        for mode in modes:
            t0 = time.perf_counter()
            m = evaluate(data, run_queries(r, data, vectors, mode))
            rows.append(dict(mode=mode, **changes, **m, seconds=round(time.perf_counter() - t0, 1)))
            log_row(rows[-1])

    score(["dense"])
    for k1 in (0.9, 1.2, 1.5):
        for b in (0.4, 0.75, 1.0):
            score(["bm25"], bm25_k1=k1, bm25_b=b)
    # Dense and word BM25 alone, as these rows were first recorded (before the n-grams).
    for k, wd in ((60, 1.0), (20, 1.0), (60, 1.5)):
        score(["fused"], fusion="rrf", rrf_k=k, dense_weight=wd, bm25_weight=1.0, char_weight=0.0)
    for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
        score(["fused"], fusion="minmax", dense_weight=alpha, bm25_weight=round(1 - alpha, 2), char_weight=0.0)
    for c in (50, 200, 500):
        score(["fused"], fusion="minmax", candidates=c, char_weight=0.0)
    score(["chars"])
    for w in (0.0, 0.25, 0.5, 1.0):
        score(["fused"], fusion="minmax", char_weight=w)
    return rows


def log_row(row: dict) -> None:
    print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)


def cache_key(data: Data, s: Settings, max_docs: int | None) -> str:
    h = hashlib.sha256()
    h.update(hashlib.sha256(data.corpus.read_bytes()).digest())
    h.update(json.dumps([s.model, s.chunk_tokens, s.chunk_overlap, max_docs]).encode())
    return h.hexdigest()[:12]


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument("--split", default="test")
    p.add_argument("--max-docs", type=int, help="index at most N documents (and only queries they answer)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--cache", type=Path, help="keep one index per configuration under this folder")
    p.add_argument("--no-overhead", action="store_true", help="skip the bare-encode comparison")
    p.add_argument("--sweep", action="store_true", help="tune: evaluate a grid of settings (train only!)")
    p.add_argument("--model")
    p.add_argument("--chunk-tokens", type=int, default=CHUNK_TOKENS)
    p.add_argument("--chunk-overlap", type=int, default=CHUNK_OVERLAP)
    p.add_argument("--candidates", type=int, default=CANDIDATES)
    p.add_argument("--fusion")
    p.add_argument("--rrf-k", type=int)
    p.add_argument("--dense-weight", type=float)
    p.add_argument("--bm25-weight", type=float)
    p.add_argument("--char-weight", type=float)
    p.add_argument("--bm25-k1", type=float)
    p.add_argument("--bm25-b", type=float)
    p.add_argument("--batch-size", type=int)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return run(a)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(a: argparse.Namespace) -> int:
    data = load_data(a.data_dir, a.split)
    if a.max_docs is not None and a.max_docs < 2:
        raise BenchError("--max-docs must be at least 2")
    if a.sweep and a.split == "test":
        raise BenchError("--sweep tunes settings: run it on the train split, not test")
    with tempfile.TemporaryDirectory(prefix="rag-beir-") as tmp:
        base = Settings.load(model=a.model, chunk_tokens=a.chunk_tokens, chunk_overlap=a.chunk_overlap,
                             candidates=a.candidates, fusion=a.fusion, rrf_k=a.rrf_k,
                             dense_weight=a.dense_weight, bm25_weight=a.bm25_weight, char_weight=a.char_weight,
                             bm25_k1=a.bm25_k1, bm25_b=a.bm25_b, batch_size=a.batch_size, sentence_vectors=False)
        work = Path(tmp)
        if a.cache:
            work = a.cache / f"{a.data_dir.resolve().name}-{cache_key(data, base, a.max_docs)}"
        if a.max_docs:
            data = subset(data, a.max_docs, work / "subset")
        settings = base.replace(corpus=data.corpus, index_dir=work / "index")
        # Queries go through the full sentence-transformers model (no ONNX query encoder export).
        embedder = TimedEmbedder(settings.model, batch_size=settings.batch_size, fast_query=False)
        store, stats = index_corpus(settings, embedder, fresh=not a.cache, overhead=not a.no_overhead)

        t0 = time.perf_counter()
        vectors = embedder.encode(list(data.queries.values()))
        query_seconds = time.perf_counter() - t0
        if a.sweep:
            rows = sweep(store, data, vectors, settings)
            result = {"sweep": rows}
        else:
            ranker = DocumentRanker.from_settings(store, settings)
            results, search_ms = {}, {}
            for mode in ("dense", "bm25", "chars", "fused"):
                t0 = time.perf_counter()
                run_ = run_queries(ranker, data, vectors, mode)
                search_ms[mode] = round((time.perf_counter() - t0) * 1000 / len(data.queries), 2)
                results[mode] = evaluate(data, run_)
            result = {"metrics": results, "search_ms_per_query": search_ms}
        result.update(
            data=str(a.data_dir), split=a.split, queries=len(data.queries), max_docs=a.max_docs,
            settings={k: getattr(settings, k) for k in (
                "model", "chunk_tokens", "chunk_overlap", "candidates", "fusion", "rrf_k",
                "dense_weight", "bm25_weight", "char_weight", "bm25_k1", "bm25_b", "batch_size")},
            index=asdict(stats), query_encode_seconds=round(query_seconds, 2),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            machine=machine(), command="python " + " ".join(sys.argv))
        add_derived(result)
    print(report(result))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def add_derived(result: dict) -> None:
    i = result["index"]
    if i["embed_seconds"]:
        i["chunks_per_second"] = round(i["chunks"] / i["embed_seconds"], 1)
        i["tokens_per_second"] = round(i["chunk_tokens_total"] / i["embed_seconds"], 1)
    if i["raw_encode_seconds"] and i["index_seconds"]:
        i["overhead_vs_raw_encode"] = round(i["index_seconds"] / i["raw_encode_seconds"] - 1, 4)


def report(r: dict) -> str:
    i = r["index"]
    lines = [f"# {Path(r['data']).name} {r['split']}: {r['queries']} queries, {i['docs']} docs, "
             f"{i['chunks']} chunks (max {i['max_chunk_tokens']} tokens)"]
    if "metrics" in r:
        lines += ["", "| retriever | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
        for mode, m in r["metrics"].items():
            lines.append(f"| {mode} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + " |")
    lines.append("")
    if i.get("cached"):
        lines.append("index: reused from the cache (timings below are from when it was built)")
    if i.get("index_seconds"):
        lines.append(f"index time {i['index_seconds']:.1f} s; embedding {i['embed_seconds']:.1f} s = "
                     f"{i.get('chunks_per_second')} chunks/s, {i.get('tokens_per_second')} tokens/s")
    if i.get("raw_encode_seconds"):
        lines.append(f"bare SentenceTransformer.encode of the same chunks {i['raw_encode_seconds']:.1f} s; "
                     f"indexing overhead {100 * i['overhead_vs_raw_encode']:+.1f}%")
    lines.append(f"peak RSS {r['peak_rss_mb']} MB; settings {r['settings']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
