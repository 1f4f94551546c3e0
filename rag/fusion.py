"""Combining rankings: a convex combination of min-max normalised scores, or reciprocal ranks.

``minmax`` (the default) keeps how far ahead the top hits are, which ranks throw away
(Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023); ``rrf`` uses
ranks only. On BEIR SciFact and on the seed questions minmax wins (benchmarks/RESULTS.md).
Ties go in key order, so results never depend on dict order.
"""

from __future__ import annotations

from typing import Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
FUSIONS = ("minmax", "rrf")


def rrf(rankings: list[list[tuple[K, float]]], weights: list[float], k: int) -> list[tuple[K, float]]:
    """Weighted reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    fused: dict = {}
    for ranking, w in zip(rankings, weights):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def minmax(rankings: list[list[tuple[K, float]]], weights: list[float]) -> list[tuple[K, float]]:
    """Convex combination of scores min-max normalised per ranking; absent from one counts 0 there."""
    total = sum(weights) or 1.0
    fused: dict = {}
    for ranking, w in zip(rankings, weights):
        if not ranking:
            continue
        top, low = ranking[0][1], ranking[-1][1]
        span = top - low
        for i, s in ranking:
            fused[i] = fused.get(i, 0.0) + (w / total) * ((s - low) / span if span > 0 else 1.0)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
