"""Evaluation: run a question set through the same path as ``rag ask`` and score it.

- :mod:`~rag.evaluation.questions`: question sets (JSON Lines), checked line by line;
- :mod:`~rag.evaluation.checks`: facts in an answer, quotes against the files;
- :mod:`~rag.evaluation.results`: what a run produced and what scoring found, as data;
- :mod:`~rag.evaluation.metrics`: the metrics and :func:`score` (a saved report can be
  scored again, :func:`rescore`);
- :mod:`~rag.evaluation.runner`: :func:`run`, the real run through an Assistant;
- :mod:`~rag.evaluation.reports`: saved reports, baselines and ``--fail-under`` thresholds.

This package holds data and logic only; the words and tables for people are the CLI's
(:mod:`rag.cli.eval_view`).
"""

from __future__ import annotations

from rag.evaluation.checks import QuoteChecker, answer_body, missing_facts, normalise
from rag.evaluation.errors import EvalError
from rag.evaluation.metrics import METRIC_KEYS, METRICS, Metric, percentile, rescore, score
from rag.evaluation.questions import DEFAULT_QUESTIONS, Question, base_name, load_questions
from rag.evaluation.reports import Delta, Failure, check, compare, load_report, parse_fail_under, save_report
from rag.evaluation.results import PROBLEM_KINDS, Outcome, Problem, QuestionResult, Report
from rag.evaluation.runner import Progress, run

__all__ = ["DEFAULT_QUESTIONS", "METRICS", "METRIC_KEYS", "PROBLEM_KINDS", "Delta", "EvalError", "Failure",
           "Metric", "Outcome", "Problem", "Progress", "Question", "QuestionResult", "QuoteChecker", "Report",
           "answer_body", "base_name", "check", "compare", "load_questions", "load_report", "missing_facts",
           "normalise", "parse_fail_under", "percentile", "rescore", "run", "save_report", "score"]
