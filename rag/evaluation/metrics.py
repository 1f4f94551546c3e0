"""The metrics, and scoring: outcomes -> per-question results and the summary.

Scoring is separate from running, so a saved report can be scored again from its own
results (:func:`rescore`). Every rate is in [0, 1], or ``None`` when nothing was there
to measure; what each is averaged over is in :data:`METRICS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rag.evaluation.checks import QuoteChecker, missing_facts
from rag.evaluation.errors import EvalError
from rag.evaluation.metric import Metric
from rag.evaluation.questions import Question, base_name
from rag.evaluation.results import Outcome, QuestionResult, Report

METRICS: tuple[Metric, ...] = (
    Metric("hit@1", "source hit@1", "answerable questions"),
    Metric("hit@k", "source hit@k", "answerable questions"),
    Metric("mrr", "source MRR", "answerable questions"),
    Metric("fact_recall", "fact recall", "answerable questions"),
    Metric("citation_precision", "citation precision", "citations of answered answerable questions"),
    Metric("quote_validity", "quote validity", "all citations"),
    Metric("declined_when_unanswerable", "declined when unanswerable", "unanswerable questions"),
    Metric("answered_when_answerable", "answered when answerable", "answerable questions"),
    Metric("latency_p50_ms", "latency p50 (ms)", "questions", higher_is_better=False, gate=False),
    Metric("latency_p95_ms", "latency p95 (ms)", "questions", higher_is_better=False, gate=False),
)
METRIC_KEYS = tuple(m.key for m in METRICS)
#: ranx's names for the retrieval metrics (``k`` filled in per run).
RANX_METRICS = {"hit@1": "hit_rate@1", "hit@k": "hit_rate@{k}", "mrr": "mrr"}


def score(outcomes: list[Outcome], top_k: int, root: Path, run_info: dict | None = None) -> Report:
    """Every metric, from what the run produced; quotes are checked against files under ``root``.

    - ``hit@1``, ``hit@k``, ``mrr``: over answerable questions, ranking the distinct source
      base names of the top-k passages against the question's sources (ranx).
    - ``fact_recall``: answerable questions whose answer (not abstained) holds a spelling of
      every fact, in its sentences.
    - ``citation_precision``: citations of answered answerable questions whose source is
      one of the question's.
    - ``quote_validity``: every citation (abstentions' nearest passages too) whose quote
      is verbatim, whitespace collapsed, in the cited lines of the cited file.
    - ``declined_when_unanswerable`` / ``answered_when_answerable``: abstention.
    - ``latency_p50_ms`` / ``latency_p95_ms``: wall time of ``ask`` per question.
    """
    quotes = QuoteChecker(root)
    retrieval = _retrieval_scores([o for o in outcomes if o.question.answerable], top_k)
    results = []
    for o in outcomes:
        q, response = o.question, o.response
        citations = response.get("citations") or []
        answered = not response.get("abstained")
        off_source = [c["id"] for c in citations if base_name(str(c["source"])) not in q.source_names] \
            if q.answerable and answered else []
        bad = {c["id"]: why for c in citations if (why := quotes.problem(c))}
        results.append(QuestionResult(outcome=o, retrieval=retrieval.get(q.id, {}),
                                      facts_missing=missing_facts(q, response) if q.answerable else [],
                                      off_source=off_source, bad_quotes=bad))
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    answered = [r for r in answerable if not r.abstained]
    cited = sum(len(r.outcome.response.get("citations") or []) for r in answered)
    all_citations = sum(len(r.outcome.response.get("citations") or []) for r in results)
    latencies = [o.latency_ms for o in outcomes]
    summary: dict[str, float | int | None] = {
        "questions": len(results), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "top_k": top_k, "citations": all_citations, "failing": sum(not r.passed for r in results)}
    summary.update({key: _mean(r.retrieval[key] for r in answerable) if answerable else None
                    for key in RANX_METRICS})
    summary["fact_recall"] = _share(sum(not r.abstained and not r.facts_missing for r in answerable), len(answerable))
    summary["citation_precision"] = _share(cited - sum(len(r.off_source) for r in answered), cited)
    summary["quote_validity"] = _share(all_citations - sum(len(r.bad_quotes) for r in results), all_citations)
    summary["declined_when_unanswerable"] = _share(sum(r.abstained for r in unanswerable), len(unanswerable))
    summary["answered_when_answerable"] = _share(len(answered), len(answerable))
    summary["latency_p50_ms"] = percentile(latencies, 50)
    summary["latency_p95_ms"] = percentile(latencies, 95)
    from rag.evaluation.written import written_summary

    summary.update(written_summary(outcomes))  # rag eval --llm
    kinds = sorted({r.question.kind for r in results if r.question.kind})
    if kinds:
        summary["by_kind"] = {k: {"questions": sum(r.question.kind == k for r in results),
                                  "failing": sum(r.question.kind == k and not r.passed for r in results)}
                              for k in kinds}
    return Report(summary=summary, results=results, run=dict(run_info or {}))


def rescore(data: dict, root: Path) -> Report:
    """Score a saved report again from its results alone (what CONTRACT.md promises is possible)."""
    outcomes = []
    for r in data["results"]:
        q = Question(id=r["id"], question=r["question"], sources=tuple(r["sources"]),
                     facts=tuple(tuple(f) for f in r["facts"]), answerable=r["answerable"], kind=r.get("kind", ""))
        outcomes.append(Outcome(question=q, response=r["response"], retrieved=tuple(r["retrieved"]),
                                latency_ms=r["latency_ms"]))
    return score(outcomes, int(data["summary"]["top_k"]), root, data.get("run"))


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (numpy's linear interpolation), to 0.01; None for no values."""
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(values, q)), 2)


def _retrieval_scores(outcomes: list[Outcome], top_k: int) -> dict[str, dict[str, float]]:
    """Per-question hit@1, hit@k and reciprocal rank, computed by ranx.

    ranx takes qrels and run as dicts or as arrays of ``[doc id, score]`` rows per query.
    Arrays skip numba's typed containers, which compile anew in every process (seconds);
    rows are padded with id -1, which no relevant document has (qrels padding has
    relevance 0, which ranx drops). Run rows are already in rank order, best first.
    """
    if not outcomes:
        return {}
    import warnings

    import numpy as np

    names = sorted({s for o in outcomes for s in (*o.question.source_names, *o.retrieved)})
    number = {name: i for i, name in enumerate(names)}
    qrels = np.zeros((len(outcomes), max(len(o.question.source_names) for o in outcomes), 2))
    run = np.zeros((len(outcomes), max(1, max(len(o.retrieved) for o in outcomes)), 2))
    qrels[:, :, 0] = run[:, :, 0] = -1
    for i, o in enumerate(outcomes):
        for j, name in enumerate(sorted(o.question.source_names)):
            qrels[i, j] = (number[name], 1)
        for j, name in enumerate(o.retrieved):
            run[i, j] = (number[name], len(o.retrieved) - j)
    metrics = {key: name.format(k=top_k) for key, name in RANX_METRICS.items()}
    with warnings.catch_warnings():  # numba's notes on its own internals
        warnings.simplefilter("ignore")
        try:
            from ranx import evaluate
        except ImportError:
            raise EvalError("rag eval needs ranx for its ranking metrics: pip install 'rag[eval]'") from None
        scores = evaluate(qrels, run, list(metrics.values()), return_mean=False)
    return {o.question.id: {key: float(scores[name][i]) for key, name in metrics.items()}
            for i, o in enumerate(outcomes)}


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 6)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
