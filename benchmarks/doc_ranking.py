"""Whole-document ranking over a local store, as IR benchmarks score it (benchmark-only).

The product ranks passages (:mod:`rag.retrieval`); BEIR judges whole documents. Here a
document's dense score is its best chunk (MaxP, Dai & Callan 2019: a long document split
into chunks is never truncated), and its BM25 scores (words, character n-grams) come from
BM25 over the whole document text rebuilt from the store's sentence table, so overlapping
chunks do not count a term twice. The three rankings are fused as the product fuses them.

Documents and chunks are numbered by their row in the store's tables and ties are broken
by those numbers, so the figures do not depend on dict order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag import fusion
from rag.errors import RagError
from rag.settings import Settings
from rag.store import bm25

if TYPE_CHECKING:
    import numpy as np

    from rag.store.local import LocalStore

MODES = ("fused", "dense", "bm25", "chars")

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
        if fusion not in FUSIONS:
            raise RankingError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.weights = [dense_weight, bm25_weight, char_weight]  # dense, BM25 words, BM25 character n-grams
        if min(self.weights) < 0 or sum(self.weights) <= 0:
            raise RankingError("fusion weights must be non-negative and not all zero")
        self.store = store
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.fusion = fusion
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    @classmethod
    def from_settings(cls, store: LocalStore, s: Settings) -> DocumentRanker:
        """A ranker with the fusion and BM25 settings of ``s``."""
        return cls(store, candidates=s.candidates, rrf_k=s.rrf_k, dense_weight=s.dense_weight,
                   bm25_weight=s.bm25_weight, char_weight=s.char_weight, fusion=s.fusion,
                   bm25_k1=s.bm25_k1, bm25_b=s.bm25_b)

    def _fuse(self, rankings: list[Ranking]) -> Ranking:
        if self.fusion == "minmax":
            return fusion.minmax(rankings, self.weights)
        return fusion.rrf(rankings, self.weights, self.rrf_k)

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
        ranked = alone[mode] if mode in alone else self._fuse([dense, lexical, chars])
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        return [DocHit(doc_id=table.ids[d], score=s, dense=dense_scores.get(d), bm25=bm25_scores.get(d),
                       chunk_row=best_chunk.get(d, table.first_chunk[d]), rank=r)
                for r, (d, s) in enumerate(ranked[:top_k], 1)]


FUSIONS = fusion.FUSIONS
