"""What a summary figure is: its report key, its label, what it is averaged over.

Its own module so that the figures of answers (rag/evaluation/metrics.py) and those of
written answers (rag/evaluation/written.py) both describe theirs without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One summary metric: its report key, its label and what it is averaged over."""

    key: str
    label: str
    #: What the metric is averaged over, for the summary table.
    over: str
    higher_is_better: bool = True
    #: Thresholds (``--fail-under``) make sense only for rates.
    gate: bool = True
