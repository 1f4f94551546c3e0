"""Whole-document ranking over a local store, scored as IR benchmarks score it (benchmark-only).

The product ranks passages (:mod:`rag.retrieval`); BEIR judges whole documents.
:class:`DocumentRanker` ranks those: a document's dense score is its best chunk (MaxP, Dai &
Callan 2019: a long document split into chunks is never truncated), its BM25 scores (words,
character n-grams) come from BM25 over the whole document text rebuilt from the store's
sentence table, so overlapping chunks do not count a term twice, and the three rankings are
fused as the product fuses passages. :func:`run_queries` and :func:`evaluate` score a query
set with ranx, :func:`score_modes` each ranking alone and fused, :func:`sweep` a grid of the
ranker's settings (tuning).

Documents and chunks are numbered by their row in the store's tables and ties are broken
by those numbers, so the figures do not depend on dict order.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.store import bm25

if TYPE_CHECKING:
    import numpy as np

    from rag.store.local import LocalStore

MODES = ("fused", "dense", "bm25", "chars")
METRICS = ["ndcg@10", "recall@100", "mrr@10"]
DEPTH = 100  # documents kept per query: enough for Recall@100

Ranking = list[tuple[int, float]]  # (chunk or document number, score), best first


class RankingError(RagError):
    """A ranking setting or mode has a value the document ranker cannot work with."""


@dataclass(frozen=True)
class DocHit:
    """One ranked document."""

    doc_id: str
    score: float  # fused score, or the single retriever's score in "dense"/"bm25"/"chars" mode
    dense: float | None  # cosine of the document's best chunk, when dense search found it
    bm25: float | None  # BM25 of the whole document
    chunk_row: int  # the document's best-matching chunk (its first when only BM25 found it)
    rank: int  # 1-based


@dataclass(frozen=True)
class DocumentTable:
    """Documents of a store in first-seen order: ids, full texts, and chunk row -> document."""

    ids: list[str]
    texts: list[str]
    of_chunk: np.ndarray  # document number of each chunk row
    first_chunk: list[int]


def documents(store: LocalStore) -> DocumentTable:
    """Whole documents rebuilt from the sentence table (which, unlike chunks, does not
    overlap); computed once per loaded store."""
    return store.memo(("bench", "documents"), lambda: _documents(store))


def _documents(store: LocalStore) -> DocumentTable:
    import numpy as np

    gen = store.generation
    number: dict[tuple[str, str], int] = {}
    sentences: list[list[str]] = []
    for s in gen.sentences:
        key = (s.source, s.doc_id)
        if key not in number:
            number[key] = len(number)
            sentences.append([])
        sentences[number[key]].append(s.text)
    of_chunk = np.empty(len(gen.chunks), dtype=np.int64)
    first_chunk = [-1] * len(number)
    for i, c in enumerate(gen.chunks):
        d = number.setdefault((c.source, c.doc_id), len(number))
        if d == len(first_chunk):  # a chunk whose document has no sentence (cannot happen today)
            first_chunk.append(-1)
            sentences.append([c.text])
        of_chunk[i] = d
        if first_chunk[d] < 0:
            first_chunk[d] = i
    ids = [doc_id for (_, doc_id) in number]
    return DocumentTable(ids=ids, texts=[" ".join(t) for t in sentences], of_chunk=of_chunk,
                         first_chunk=first_chunk)


def dense_rows(store: LocalStore, vector: np.ndarray, depth: int) -> Ranking:
    """(chunk row, cosine) of the ``depth`` nearest chunks, straight from the FAISS index."""
    import numpy as np

    index = store.generation.vectors
    depth = min(depth, index.ntotal)
    if depth == 0:
        return []
    scores, rows = index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), depth)
    return [(int(i), float(s)) for i, s in zip(rows[0], scores[0]) if i >= 0]


def max_per_document(ranking: Ranking, of_chunk: np.ndarray) -> tuple[Ranking, dict[int, int]]:
    """Chunk ranking -> document ranking, a document scoring as its best chunk (MaxP);
    also each document's best chunk row."""
    best: dict[int, tuple[float, int]] = {}
    for i, s in ranking:  # best first, so the first chunk seen of a document is its best
        d = int(of_chunk[i])
        if d not in best:
            best[d] = (s, i)
    return [(d, s) for d, (s, _) in best.items()], {d: i for d, (_, i) in best.items()}


def document_bm25(store: LocalStore, tokens: str, k1: float, b: float):
    """BM25 over whole document texts, once per loaded store and parameters (None when the
    texts hold no term)."""
    return store.memo(("bench", "bm25", tokens, k1, b),
                      lambda: bm25.build(documents(store).texts, tokens, k1, b))


class DocumentRanker:
    """Dense MaxP, BM25 over words and over character n-grams of whole documents, fused."""

    def __init__(self, store: LocalStore, candidates: int = 100, rrf_k: int = 60,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0, *,
                 char_weight: float = Settings.char_weight, fusion: str = Settings.fusion,
                 bm25_k1: float = Settings.bm25_k1, bm25_b: float = Settings.bm25_b) -> None:
        # The product's retriever checks the weights and fuses: documents are fused exactly as passages.
        self.retriever = Retriever(store, candidates, rrf_k, dense_weight, bm25_weight, char_weight=char_weight,
                                   fusion=fusion)
        self.weights = self.retriever.weights  # dense, BM25 words, BM25 character n-grams
        self.store = store
        self.candidates = candidates
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    @classmethod
    def from_settings(cls, store: LocalStore, s: Settings) -> DocumentRanker:
        """A ranker with the fusion and BM25 settings of ``s``."""
        return cls(store, candidates=s.candidates, rrf_k=s.rrf_k, dense_weight=s.dense_weight,
                   bm25_weight=s.bm25_weight, char_weight=s.char_weight, fusion=s.fusion,
                   bm25_k1=s.bm25_k1, bm25_b=s.bm25_b)

    def _lexical(self, query: str, depth: int, tokens: str) -> Ranking:
        model = document_bm25(self.store, tokens, self.bm25_k1, self.bm25_b)
        return bm25.search(model, query, tokens, depth)

    def search(self, query: str, query_vector: np.ndarray, top_k: int, mode: str = "fused") -> list[DocHit]:
        """The ``top_k`` best whole documents.

        ``mode`` is ``"fused"``, or ``"dense"`` / ``"bm25"`` / ``"chars"`` for one retriever alone. Each
        retriever contributes its best ``max(candidates, top_k)`` documents to the fusion.
        """
        if mode not in MODES:
            raise RankingError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        table = documents(self.store)
        depth = max(self.candidates, top_k)
        fused = mode == "fused"
        dense: Ranking = []
        best_chunk: dict[int, int] = {}
        if fused and self.weights[0] > 0 or mode == "dense":
            # Enough chunks that ``depth`` distinct documents are (nearly always) among them.
            per_doc = math.ceil(len(self.store.generation.chunks) / max(1, len(table.ids)))
            chunks = dense_rows(self.store, query_vector, depth * 2 * per_doc)
            dense, best_chunk = max_per_document(chunks, table.of_chunk)
            dense = dense[:depth]
        lexical = self._lexical(query, depth, "words") if fused and self.weights[1] > 0 or mode == "bm25" else []
        chars = self._lexical(query, depth, "chars") if fused and self.weights[2] > 0 or mode == "chars" else []
        alone = {"dense": dense, "bm25": lexical, "chars": chars}
        ranked = alone[mode] if mode in alone else self.retriever.fuse([dense, lexical, chars])
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        return [DocHit(doc_id=table.ids[d], score=s, dense=dense_scores.get(d), bm25=bm25_scores.get(d),
                       chunk_row=best_chunk.get(d, table.first_chunk[d]), rank=r)
                for r, (d, s) in enumerate(ranked[:top_k], 1)]



def run_queries(ranker: DocumentRanker, queries: dict[str, str], vectors, mode: str,
                depth: int = DEPTH) -> dict[str, dict[str, float]]:
    """A ranx run: query id -> {doc id: score}, the top ``depth`` documents of ``mode``.

    As in BEIR's own evaluation, a document whose id is the query's is not counted (it
    matters for sets like ArguAna whose queries are also in the corpus).
    """
    run: dict[str, dict[str, float]] = {}
    for (q, text), vec in zip(queries.items(), vectors):
        hits = [h for h in ranker.search(text, vec, depth + 1, mode=mode) if h.doc_id != q]
        # ranx needs a score per listed doc; keep the rank order even where scores tie.
        run[q] = {h.doc_id: float(len(hits) - n) for n, h in enumerate(hits[:depth])}
        if not run[q]:
            run[q] = {"__none__": 0.0}  # ranx wants every query present; scores as a miss
    return run


def evaluate(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """``METRICS`` of ``run`` against the relevance judgements, rounded to 4 places (ranx)."""
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    scores = ranx_evaluate(Qrels(qrels), Run(run), METRICS, make_comparable=True)
    return {m: round(float(scores[m]), 4) for m in METRICS}


def score_modes(ranker: DocumentRanker, queries: dict[str, str], qrels: dict[str, dict[str, int]], vectors,
                modes: tuple[str, ...] = ("dense", "bm25", "chars", "fused")) -> tuple[dict, dict]:
    """``METRICS`` of each mode, and its search time in milliseconds per query."""
    metrics, search_ms = {}, {}
    for mode in modes:
        t0 = time.perf_counter()
        run = run_queries(ranker, queries, vectors, mode)
        search_ms[mode] = round((time.perf_counter() - t0) * 1000 / len(queries), 2)
        metrics[mode] = evaluate(qrels, run)
    return metrics, search_ms


def sweep(store: LocalStore, queries: dict[str, str], qrels: dict[str, dict[str, int]], vectors,
          base: Settings) -> list[dict]:
    """Fusion and BM25 settings over a grid, each through the document ranker (tuning only)."""
    rows = []

    def score(modes, **changes):
        s = base.replace(**changes)
        r = DocumentRanker.from_settings(store, s)
        for mode in modes:
            t0 = time.perf_counter()
            m = evaluate(qrels, run_queries(r, queries, vectors, mode))
            rows.append(dict(mode=mode, **changes, **m, seconds=round(time.perf_counter() - t0, 1)))
            _log_row(rows[-1])

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


def _log_row(row: dict) -> None:
    print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
