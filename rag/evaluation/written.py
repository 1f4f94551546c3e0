"""Metrics of written answers (``rag eval --llm``): what the check removed and how well the model cites.

Computed from the responses alone (``written_by``, ``sentences``, ``removed`` and
``notice`` of ``rag ask --json``), so a saved report can be scored again. Over the answers a
language model wrote (its offline fallbacks counted apart), with the model's drafted
sentences = the kept ones plus the removed ones:

- ``sentences_removed``: drafted sentences no passage supports, taken out;
- ``citation_support``: kept sentences supported by what they cite (1.0 with the default
  ``--unverified remove``; lower with ``show``);
- ``citation_recall``: as in the ALCE benchmark, drafted sentences that the model itself
  cited to a passage that supports them (a sentence with no marker, or the wrong one,
  counts as not recalled), judged by rag's support check;
- ``llm_fallbacks``: answers where the offline answer replaced the model's (a fault, or
  nothing supported).
"""

from __future__ import annotations

from rag.evaluation.metric import Metric
from rag.evaluation.results import Outcome

WRITTEN_METRICS: tuple[Metric, ...] = (
    Metric("sentences_removed", "sentences removed", "sentences the model wrote", higher_is_better=False),
    Metric("citation_support", "citation support", "sentences kept from the model"),
    Metric("citation_recall", "citation recall (ALCE)", "sentences the model wrote"),
    Metric("llm_fallbacks", "offline fallbacks", "questions", higher_is_better=False),
)


def written_summary(outcomes: list[Outcome]) -> dict[str, float | int | None]:
    """The written-answer metrics, or nothing when no language model wrote any answer."""
    written = [o.response for o in outcomes if o.response.get("written_by")]
    if not written:
        return {}
    fallbacks = [r for r in written if r.get("notice")]
    own = [r for r in written if not r.get("notice")]
    kept = [s for r in own for s in r.get("sentences") or []]
    removed = [s for r in written for s in r.get("removed") or []]
    drafted = kept + removed
    return {
        "written": len(written),
        "drafted_sentences": len(drafted),
        "sentences_removed": _share(len(removed), len(drafted)),
        "citation_support": _share(sum(bool(s.get("supported")) for s in kept), len(kept)),
        "citation_recall": _share(sum(bool(s.get("supported") and s.get("cited_by_model")) for s in drafted),
                                  len(drafted)),
        "llm_fallbacks": _share(len(fallbacks), len(written)),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
