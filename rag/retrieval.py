"""Store -> hits: dense search fused with BM25 over words and over character n-grams.

Dense vectors catch paraphrase; BM25 catches rare names and numbers the embedding
blurs; BM25 over character 4-grams catches the word forms a stemmer splits and
misspellings. Scores are fused (:mod:`rag.fusion`) with weights 1, 1 and 0.25, tuned on
SciFact train and the development questions (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag import fusion
from rag.errors import RagError
from rag.settings import Settings
from rag.store.base import Ranking, Store
from rag.types import Hit

if TYPE_CHECKING:
    import numpy as np


class RetrievalError(RagError):
    """A retrieval setting has a value the retriever cannot work with."""


class Retriever:
    """Hybrid search over one store version."""

    def __init__(self, store: Store, candidates: int = 100, rrf_k: int = 60,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0, *,
                 char_weight: float = Settings.char_weight, fusion: str = Settings.fusion) -> None:
        if fusion not in FUSIONS:
            raise RetrievalError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.weights = [dense_weight, bm25_weight, char_weight]  # dense, BM25 words, BM25 character n-grams
        if min(self.weights) < 0 or sum(self.weights) <= 0:
            raise RetrievalError("fusion weights must be non-negative and not all zero")
        self.store = store
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.fusion = fusion

    @classmethod
    def from_settings(cls, store: Store, s: Settings) -> "Retriever":
        return cls(store, candidates=s.candidates, rrf_k=s.rrf_k, dense_weight=s.dense_weight,
                   bm25_weight=s.bm25_weight, char_weight=s.char_weight, fusion=s.fusion)

    def fuse(self, rankings: list[Ranking]) -> Ranking:
        """One ranking from several of the same ids (ties in id order)."""
        if self.fusion == "minmax":
            return fusion.minmax(rankings, self.weights)
        return fusion.rrf(rankings, self.weights, self.rrf_k)

    def search(self, query: str, query_vector: "np.ndarray", top_k: int) -> list[Hit]:
        """The ``top_k`` best passages (chunks) by the fused score."""
        dense = self.store.dense(query_vector, self.candidates)
        lexical = self.store.lexical(query, self.candidates, "words")
        chars = self.store.lexical(query, self.candidates, "chars") if self.weights[2] > 0 else []
        fused = self.fuse([dense, lexical, chars])[:top_k]
        chunks = self.store.chunks([i for i, _ in fused])
        dense_scores, bm25_scores, char_scores = dict(dense), dict(lexical), dict(chars)
        return [Hit(chunk=c, score=s, dense=dense_scores.get(i), bm25=bm25_scores.get(i),
                    chars=char_scores.get(i), rank=r)
                for r, ((i, s), c) in enumerate(zip(fused, chunks), 1)]


FUSIONS = fusion.FUSIONS
