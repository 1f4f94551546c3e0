"""Synthetic embeddings shaped like real ones, for scale benchmarks (benchmarks/pg_scale.py).

    python benchmarks/synthetic_vectors.py --real INDEX.faiss [--points 19228] [--big 200000]

How hard approximate search is depends on the local shape of the data: how many directions
the neighbourhood of a point spreads in (its local intrinsic dimension, LID) and how far its
neighbours are. Real sentence embeddings lie near a low-dimensional surface (all-MiniLM-L6-v2
on SciFact's 19,228 chunks: LID about 13, nearest-neighbour cosine about 0.77, tenth about
0.55). Clusters with isotropic noise in all 384 dimensions do not: once a cluster holds about
a thousand points their LID is near 90 and every point is nearly as far as any other, the
hardest case for HNSW, which no real corpus is.

``manifold`` (the default) draws points on a smooth random surface: a latent point in
``LATENT`` dimensions (a topic's centre plus spread), mapped into 384 dimensions by a fixed
random two-layer network (tanh), normalised, plus a little isotropic noise; chunks come in
documents of ``PER_DOC`` that share a latent point (plus jitter), as a document's chunks do.
Its parameters were chosen so that 19,228 of its points are a little harder than those
SciFact chunks (LID about 17, neighbours farther, HNSW recall@10 0.979 against 0.9875 at
ef_search 40 and 0.9965 against 0.996 at 100), so that a result at scale does not flatter the store; ``main`` prints the
comparison (benchmarks/RESULTS.md has it). ``isotropic`` is the older generator
(centroid plus Gaussian noise of the same norm), kept to reproduce earlier figures.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

DIM, CLUSTERS = 384, 1000
LATENT, HIDDEN, SPREAD, JITTER, NOISE, PER_DOC = 32, 256, 1.5, 0.6, 0.6, 4
KINDS = ("manifold", "isotropic")


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


class Vectors:
    """Seeded vectors of ``CLUSTERS`` topics: the same seed always makes the same points."""

    def __init__(self, kind: str = "manifold", seed: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        rng = np.random.default_rng(seed)
        self.kind = kind
        self.centroids = _unit(rng.normal(size=(CLUSTERS, DIM)))  # isotropic topics
        self.means = rng.normal(size=(CLUSTERS, LATENT))  # manifold topics, in the latent space
        self.w1 = rng.normal(size=(HIDDEN, LATENT)) / np.sqrt(LATENT)
        self.w2 = rng.normal(size=(DIM, HIDDEN)) / np.sqrt(HIDDEN)

    def points(self, rng: np.random.Generator, clusters: np.ndarray, per_doc: int = 1) -> np.ndarray:
        """``per_doc`` points for each entry of ``clusters`` (a document's chunks), in order."""
        if self.kind == "isotropic":
            c = np.repeat(clusters, per_doc)
            return _unit(self.centroids[c] + rng.normal(size=(len(c), DIM)) / np.sqrt(DIM)).astype(np.float32)
        docs = self.means[clusters] + SPREAD * rng.normal(size=(len(clusters), LATENT))
        z = np.repeat(docs, per_doc, axis=0) + JITTER * rng.normal(size=(len(clusters) * per_doc, LATENT))
        x = _unit(np.tanh(z @ self.w1.T) @ self.w2.T)
        return _unit(x + NOISE * rng.normal(size=x.shape) / np.sqrt(DIM)).astype(np.float32)

    def sample(self, n: int, seed: int = 5) -> np.ndarray:
        """``n`` points in documents of ``PER_DOC``, shuffled."""
        rng = np.random.default_rng(seed)
        x = self.points(rng, rng.integers(0, CLUSTERS, -(-n // PER_DOC)), PER_DOC)[:n]
        return x[rng.permutation(len(x))]


def structure(x: np.ndarray, probes: int = 500, k: int = 20) -> dict:
    """Median LID (maximum likelihood over ``k`` neighbours, Levina and Bickel 2004) and the
    median cosine of the first and tenth neighbour, for ``probes`` points of ``x``."""
    import faiss

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, _ = index.search(x[:probes], k + 1)
    dist = np.sqrt(np.maximum(2 - 2 * sims[:, 1:], 1e-12))  # the first hit is the point itself
    lid = -1 / np.mean(np.log(dist[:, :-1] / dist[:, -1:]), axis=1)
    return {"lid": round(float(np.median(lid)), 1), "nn1_cosine": round(float(np.median(sims[:, 1])), 3),
            "nn10_cosine": round(float(np.median(sims[:, 10])), 3)}


def hnsw_recall(x: np.ndarray, queries: np.ndarray, efs=(40, 64, 100, 200)) -> dict:
    """Recall@10 of FAISS's HNSW with pgvector's default build (m 16, ef_construction 64)."""
    import faiss

    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    _, truth = flat.search(queries, 10)
    hnsw = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 64
    hnsw.add(x)
    out = {}
    for ef in efs:
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(queries, 10)
        out[ef] = round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])), 4)
    return out


def describe(name: str, x: np.ndarray, queries: int = 200) -> dict:
    row = {"data": name, "points": len(x) - queries, **structure(x[queries:]),
           "hnsw_recall@10": hnsw_recall(x[queries:], x[:queries])}
    print(row, flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--real", help="a FAISS index of real embeddings (a rag index's chunks.faiss)")
    p.add_argument("--points", type=int, default=19_228)
    p.add_argument("--big", type=int, nargs="*", default=[], help="also these sizes of the synthetic data")
    a = p.parse_args()
    if a.real:
        import faiss

        index = faiss.read_index(a.real)
        real = index.reconstruct_n(0, index.ntotal).astype(np.float32)
        describe("real", real[np.random.default_rng(0).permutation(len(real))])
    for n in [a.points, *a.big]:
        for kind in KINDS:
            describe(f"{kind} (documents of {PER_DOC})", Vectors(kind).sample(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
