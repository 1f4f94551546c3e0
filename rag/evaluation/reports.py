"""Saved reports, baselines and thresholds: what ``--out``, ``--baseline`` and ``--fail-under`` use.

Reports are the ``rag eval --json`` objects (CONTRACT.md); comparing and checking read
only their ``summary``, so a report from an older run still serves as a baseline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.evaluation.errors import EvalError
from rag.evaluation.metrics import METRICS, Metric
from rag.files import write_text_atomic


def save_report(data: dict, path: Path | str) -> None:
    """Write a report atomically (a half-written report must never serve as a baseline)."""
    path = Path(path)
    try:
        write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    except OSError as e:
        raise EvalError(f"cannot write report {path}: {e.strerror}") from None


def load_report(path: Path | str) -> dict:
    """A report written by ``rag eval --json`` or ``--out``, to compare against."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"baseline report not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"cannot read baseline report {path}: {getattr(e, 'strerror', None) or e}") from None
    except json.JSONDecodeError as e:
        raise EvalError(f"{path}:{e.lineno}: malformed JSON in baseline report ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise EvalError(f"{path}: not an evaluation report (no \"summary\" object)")
    return data


@dataclass(frozen=True)
class Delta:
    """One metric in a baseline and now; either may be unmeasured (None)."""

    metric: Metric
    old: float | None
    new: float | None

    @property
    def change(self) -> float | None:
        return None if self.old is None or self.new is None else round(self.new - self.old, 6)

    @property
    def better(self) -> bool | None:
        """True when the change is an improvement, False when worse, None when none."""
        if not self.change:
            return None
        return (self.change > 0) == self.metric.higher_is_better


def compare(report: dict, baseline: dict) -> list[Delta]:
    """Every metric of ``report`` against ``baseline`` (both ``to_dict()`` shapes)."""
    new, old = report.get("summary", {}), baseline.get("summary", {})
    return [Delta(m, _number(old.get(m.key)), _number(new.get(m.key))) for m in METRICS]


def parse_fail_under(items: Iterable[str]) -> dict[str, float]:
    """``["hit@1=0.9", "fact_recall=0.85,quote_validity=1"]`` -> ``{metric: threshold}``."""
    gates = [m.key for m in METRICS if m.gate]
    thresholds: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().lower().replace("-", "_")
            if not sep or not name:
                raise EvalError(f"--fail-under expects METRIC=VALUE, got {part!r}")
            if name not in gates:
                raise EvalError(f"--fail-under: unknown metric {name!r} (one of {', '.join(gates)})")
            try:
                threshold = float(value)
            except ValueError:
                raise EvalError(f"--fail-under {name}: {value.strip()!r} is not a number") from None
            if not 0.0 <= threshold <= 1.0:
                raise EvalError(f"--fail-under {name}: {threshold:g} is not between 0 and 1")
            thresholds[name] = threshold
    return thresholds


@dataclass(frozen=True)
class Failure:
    """A threshold the summary falls below; ``value`` is None when the metric was not measured."""

    metric: str
    value: float | None
    threshold: float


def check(summary: dict, thresholds: dict[str, float]) -> list[Failure]:
    """The thresholds the summary falls below; a metric that could not be measured fails too."""
    failures = []
    for name, threshold in thresholds.items():
        value = _number(summary.get(name))
        if value is None or value + 1e-9 < threshold:
            failures.append(Failure(name, value, threshold))
    return failures


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
