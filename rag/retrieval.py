"""Index -> hits: dense search in FAISS fused with BM25 (bm25s) by reciprocal-rank fusion.

Dense vectors catch paraphrase; BM25 catches rare names and numbers the embedding
blurs. Fusing ranks rather than scores needs no score calibration between the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.chunking import Chunk
from rag.index_store import Index

if TYPE_CHECKING:
    import numpy as np

TOKEN_PATTERN = r"(?u)\b\w+\b"


@dataclass(frozen=True)
class Hit:
    chunk_index: int
    chunk: Chunk
    score: float  # fused reciprocal-rank score
    dense: float | None  # cosine similarity, when the dense search found it
    bm25: float | None
    rank: int  # 1-based


def stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, Snowball-stemmed terms: BM25's view of a text."""
    import bm25s

    return bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=stemmer(),
                          return_ids=False, show_progress=False)


def bm25_model(index: Index):
    """BM25 over the index's chunk texts, built once per loaded index."""
    model = index.cache.get("bm25")
    if model is None:
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index(bm25_tokens([c.text for c in index.chunks]), show_progress=False)
        index.cache["bm25"] = model
    return model


def dense_ranking(index: Index, query_vector: "np.ndarray", depth: int) -> list[tuple[int, float]]:
    import numpy as np

    depth = min(depth, index.vectors.ntotal)
    if depth == 0:
        return []
    scores, ids = index.vectors.search(np.asarray(query_vector, dtype=np.float32).reshape(1, -1), depth)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def bm25_ranking(index: Index, query: str, depth: int) -> list[tuple[int, float]]:
    terms = bm25_tokens([query])[0]
    depth = min(depth, len(index.chunks))
    if not terms or depth == 0:
        return []
    model = bm25_model(index)
    known = [t for t in terms if t in model.vocab_dict]
    if not known:
        return []
    ids, scores = model.retrieve([known], k=depth, show_progress=False, n_threads=1)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]


def fuse(rankings: list[list[tuple[int, float]]], weights: list[float], k: int) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class Retriever:
    def __init__(self, index: Index, candidates: int = 100, rrf_k: int = 60,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0) -> None:
        self.index = index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.weights = [dense_weight, bm25_weight]

    def search(self, query: str, query_vector: "np.ndarray", top_k: int) -> list[Hit]:
        dense = dense_ranking(self.index, query_vector, self.candidates)
        lexical = bm25_ranking(self.index, query, self.candidates)
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        fused = fuse([dense, lexical], self.weights, self.rrf_k)[:top_k]
        return [Hit(chunk_index=i, chunk=self.index.chunks[i], score=s, dense=dense_scores.get(i),
                    bm25=bm25_scores.get(i), rank=r) for r, (i, s) in enumerate(fused, 1)]


def words(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text.lower())
