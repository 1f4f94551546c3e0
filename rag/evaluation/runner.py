"""The real run: every question asked exactly as ``rag ask`` asks it, then scored.

Each question goes through ``Assistant.ask_with_passages`` (timed as wall time around the
call): the answer and the ranked passages it was built from, so the retrieval metrics
rank what the answer saw.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.evaluation.errors import EvalError
from rag.evaluation.metrics import score
from rag.evaluation.questions import Question, base_name
from rag.evaluation.results import Outcome, Report

if TYPE_CHECKING:
    from rag.assistant import Assistant
    from rag.settings import Settings

log = logging.getLogger("rag")

#: ``progress(done, total, question)``: called before the first question (``None``) and after each.
Progress = Callable[[int, int, "Question | None"], None]


def run(assistant: Assistant, questions: list[Question], top_k: int | None = None,
        progress: Progress | None = None, questions_file: str | Path | None = None) -> Report:
    """Ask every question as ``rag ask`` does and score the answers.

    Every question is checked before any model or index is loaded. The model and index
    are then loaded (by a search for a text not in the set) before timing starts, so
    latency is per question, not start-up.
    """
    settings = assistant.settings
    try:
        k = assistant.resolve_top_k(top_k)
    except RagError as e:
        raise EvalError(str(e)) from None
    from rag.assistant import check_question

    for q in questions:
        try:
            check_question(q.question, settings.max_question_chars)
        except RagError as e:
            raise EvalError(f"{q.where}: question {q.id!r}: {e}") from None
    warn_unknown_sources(settings, questions)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    if progress:
        progress(0, len(questions), None)
    assistant.warm_up()  # models and tables loaded before the first timed question
    outcomes = []
    for n, q in enumerate(questions, 1):
        t0 = time.perf_counter()
        try:
            answer, hits = assistant.ask_with_passages(q.question, top_k=k)
        except RagError as e:
            raise EvalError(f"{q.where}: question {q.id!r}: {e}") from None
        latency = round((time.perf_counter() - t0) * 1000, 2)  # as the report stores it, so rescoring agrees
        retrieved = tuple(dict.fromkeys(base_name(h.chunk.source) for h in hits))
        outcomes.append(Outcome(question=q, response=answer.to_dict(), retrieved=retrieved, latency_ms=latency))
        if progress:
            progress(n, len(questions), q)
    state = assistant.state()
    info = {"questions_file": str(questions_file) if questions_file else None, "model": settings.model,
            "top_k": k, "corpus": str(settings.corpus), "index": str(settings.index_dir),
            "generation": state.store.version, "abstain_threshold": settings.abstain_threshold,
            "answerer": settings.answerer,
            "started_at": started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t_start, 2)}
    return score(outcomes, k, settings.corpus.parent, info)


def warn_unknown_sources(settings: Settings, questions: list[Question]) -> None:
    """A source the corpus does not hold is a typo in the question set: say so, it cannot be hit."""
    from rag.loaders import corpus_files

    known = {base_name(f.source) for f in corpus_files(settings)}
    for q in questions:
        for s in sorted(q.source_names - known):
            log.warning("%s: source %r of question %r is not in the corpus %s", q.where, s, q.id, settings.corpus)
