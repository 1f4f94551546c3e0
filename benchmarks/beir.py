"""Retrieval quality on a BEIR data set, through the product's own code path.

    python benchmarks/beir.py DATA_DIR --split test [--max-docs N] [--out FILE] [--cache DIR]

DATA_DIR is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). The corpus is
indexed by ``rag.indexing.build`` (the loader, chunker, embedder and local store users run),
every query of the split is ranked by ``doc_ranking.DocumentRanker`` (whole documents: dense
MaxP over chunks, BM25 over words and over character 4-grams, fused as ``rag.fusion`` fuses
passages), and ranx scores nDCG@10, Recall@100 and MRR@10 for dense alone, BM25 alone,
character BM25 alone and the fused ranking (a document whose id is the query's does not
count, as in BEIR). It also reports index time, embedding throughput, peak memory, and the
indexing overhead over a bare ``SentenceTransformer.encode`` of the same chunk texts.

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

from doc_ranking import DEPTH, METRICS, DocumentRanker, score_modes, sweep  # benchmarks/, beside this script

from rag import indexing
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.loaders import list_sources
from rag.settings import Settings
from rag.store import generations
from rag.store.local import LocalBackend, LocalStore

log = logging.getLogger("rag.bench")


#: Chunk size in model tokens: the product default. On a SciFact train slice 128-token chunks
#: (MiniLM was trained on 128) beat chunks filling the model's 256-token window, dense and fused.
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 32
#: Documents each retriever brings to the fusion: twice the depth scored, so a document ranked
#: ~100th by the fusion had the chance to be seen by both retrievers (train: +0.005 Recall@100).
CANDIDATES = 2 * DEPTH
#: Settings the command line can change (recorded with the figures), and their types.
TUNABLE = {"model": str, "chunk_tokens": int, "chunk_overlap": int, "candidates": int, "fusion": str, "rrf_k": int,
           "dense_weight": float, "bm25_weight": float, "char_weight": float, "bm25_k1": float, "bm25_b": float,
           "batch_size": int}


class BenchError(RagError):
    """The data folder or the options cannot be used."""


@dataclass
class Data:
    """A BEIR split: the corpus file, query texts and positive relevance judgements by query id."""

    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_data(data_dir: Path, split: str) -> Data:
    """The split's queries that have a positive judgement, and those judgements."""
    corpus, queries_file = data_dir / "corpus.jsonl", data_dir / "queries.jsonl"
    qrels_file = data_dir / "qrels" / f"{split}.tsv"
    for f in (corpus, queries_file, qrels_file):
        if not f.is_file():
            raise BenchError(f"not a BEIR folder: {f} is missing")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_file, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) >= 3 and row[0] != "query-id" and int(float(row[2])) > 0:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
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
    """Size and cost of the index; kept beside a cached index, so a reuse reports its build."""

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


def cache_key(data: Data, s: Settings, max_docs: int | None) -> str:
    """Names a cached index by what its vectors depend on, never by the whole Settings: a
    field added to Settings (``store``, ``answerer``, a per-corpus ``index_dir``) keeps the key."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(data.corpus.read_bytes()).digest())
    h.update(json.dumps([s.model, s.chunk_tokens, s.chunk_overlap, max_docs]
                        + ([] if s.encoder == "torch" else [s.encoder])).encode())
    return h.hexdigest()[:12]


def machine() -> dict:
    """Where the figures were taken."""
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    """The command line; a bad folder or option is one ``error:`` line and exit status 1."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument("--split", default="test")
    p.add_argument("--max-docs", type=int, help="index at most N documents (and only queries they answer)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--cache", type=Path, help="keep one index per configuration under this folder")
    p.add_argument("--no-overhead", action="store_true", help="skip the bare-encode comparison")
    p.add_argument("--sweep", action="store_true", help="tune: evaluate a grid of settings (train only!)")
    defaults = {"chunk_tokens": CHUNK_TOKENS, "chunk_overlap": CHUNK_OVERLAP, "candidates": CANDIDATES}
    for name, kind in TUNABLE.items():  # unset ones keep the product's setting (or RAG_*)
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults.get(name))
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return run(a)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(a: argparse.Namespace) -> int:
    """Index (or reuse), rank every query, score, print the report and write ``--out``."""
    data = load_data(a.data_dir, a.split)
    if a.max_docs is not None and a.max_docs < 2:
        raise BenchError("--max-docs must be at least 2")
    if a.sweep and a.split == "test":
        raise BenchError("--sweep tunes settings: run it on the train split, not test")
    with tempfile.TemporaryDirectory(prefix="rag-beir-") as tmp:
        base = Settings.load(**{k: getattr(a, k) for k in TUNABLE}, sentence_vectors=False)
        work = Path(tmp)
        if a.cache:
            work = a.cache / f"{a.data_dir.resolve().name}-{cache_key(data, base, a.max_docs)}"
        if a.max_docs:
            data = subset(data, a.max_docs, work / "subset")
        settings = base.replace(corpus=data.corpus, index_dir=work / "index")
        # Documents go through RAG_ENCODER's encoder; queries through the full sentence-transformers
        # model (no ONNX query encoder export: the same vectors within 1e-5).
        embedder = TimedEmbedder(settings.model, batch_size=settings.batch_size, fast_query=False,
                                 encoder=settings.encoder)
        store, stats = index_corpus(settings, embedder, fresh=not a.cache, overhead=not a.no_overhead)

        t0 = time.perf_counter()
        # Queries in fp32, as the product encodes them whichever encoder built the index.
        queries = embedder if settings.encoder == "torch" else Embedder(settings.model, fast_query=False,
                                                                         encoder="torch")
        vectors = queries.encode(list(data.queries.values()))
        query_seconds = time.perf_counter() - t0
        if a.sweep:
            rows = sweep(store, data.queries, data.qrels, vectors, settings)
            result = {"sweep": rows}
        else:
            ranker = DocumentRanker.from_settings(store, settings)
            metrics, search_ms = score_modes(ranker, data.queries, data.qrels, vectors)
            result = {"metrics": metrics, "search_ms_per_query": search_ms}
        result.update(
            data=str(a.data_dir), split=a.split, queries=len(data.queries), max_docs=a.max_docs,
            settings={k: getattr(settings, k) for k in TUNABLE},
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
    """Throughput and overhead figures computed from the recorded timings."""
    i = result["index"]
    if i["embed_seconds"]:
        i["chunks_per_second"] = round(i["chunks"] / i["embed_seconds"], 1)
        i["tokens_per_second"] = round(i["chunk_tokens_total"] / i["embed_seconds"], 1)
    if i["raw_encode_seconds"] and i["index_seconds"]:
        i["overhead_vs_raw_encode"] = round(i["index_seconds"] / i["raw_encode_seconds"] - 1, 4)


def report(r: dict) -> str:
    """The figures as Markdown, for the terminal and RESULTS.md."""
    i = r["index"]
    lines = [(f"# {Path(r['data']).name} {r['split']}: {r['queries']} queries, {i['docs']} docs, "
              f"{i['chunks']} chunks (max {i['max_chunk_tokens']} tokens)")]
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
