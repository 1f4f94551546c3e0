"""Evaluation: run a question set through the same path as ``rag ask`` and score it.

A run asks every question exactly as ``rag ask`` does (``Assistant.ask(question, top_k)``,
timed as wall time around the call) and, for the retrieval metrics, also asks
``Assistant.search(question, top_k)`` for the ranked passages. ``search`` runs the same
retriever on the same query and vector as ``ask`` (a question without history is its own
standalone query), so its ranking is the one the answer was built from.

Metrics (every rate is in [0, 1]; ``None`` when nothing was there to measure):

- ``hit@1``, ``hit@k``, ``mrr``: over answerable questions, with ``ranx``. The run ranks the
  distinct source base names of the top-k passages; a question's qrels are its ``sources``.
- ``fact_recall``: over answerable questions, the share whose answer (not abstained) holds at
  least one spelling of every fact, case-insensitively, in its text before the Sources list.
- ``citation_precision``: over the citations of answered answerable questions, the share
  whose source base name is one of the question's sources.
- ``quote_validity``: over every citation of every response (abstentions' nearest passages
  too), the share whose quote is verbatim, whitespace collapsed, in the cited lines of the
  cited file, read from disk.
- ``declined_when_unanswerable`` / ``answered_when_answerable``: abstention behaviour.
- ``latency_p50_ms`` / ``latency_p95_ms``: wall time of ``ask`` per question, after a warm-up.

Scoring is separate from running (:func:`score`), so a report can be recomputed from
its own results. Wording for people lives in the rendering helpers at the end.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, Iterable

from rag.errors import RagError
from rag.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from rich.console import Console

    from rag.assistant import Assistant

log = logging.getLogger("rag")

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
#: Fields of a question line (../shared/CONTRACT.md) and the JSON type each must have.
FIELDS: dict[str, type] = {"id": str, "question": str, "sources": list, "facts": list, "answerable": bool}
#: Optional fields a question may carry: its kind (fact, paraphrase, list, ...) groups
#: results in the report; notes are for people.
OPTIONAL_FIELDS: dict[str, type] = {"kind": str, "notes": str}


class EvalError(RagError):
    """A question file, report or threshold the evaluation cannot use."""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    #: What the metric is averaged over, for the summary table.
    over: str
    higher_is_better: bool = True
    #: Thresholds (``--fail-under``) make sense only for rates.
    gate: bool = True


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


# -- questions -------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    id: str
    question: str
    sources: tuple[str, ...]
    facts: tuple[tuple[str, ...], ...]
    answerable: bool
    kind: str = ""
    #: ``file:line`` the question came from, for messages.
    where: str = ""

    @property
    def source_names(self) -> frozenset[str]:
        return frozenset(base_name(s) for s in self.sources)

    def to_dict(self) -> dict:
        data = {"id": self.id, "question": self.question, "sources": list(self.sources),
                "facts": [list(f) for f in self.facts], "answerable": self.answerable}
        if self.kind:
            data["kind"] = self.kind
        return data


def base_name(source: str) -> str:
    return PurePosixPath(source.replace("\\", "/")).name


def load_questions(path: Path | str) -> list[Question]:
    """The question set in ``path`` (JSON Lines), checked line by line; blank lines are skipped."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EvalError(f"question file not found: {path}") from None
    except IsADirectoryError:
        raise EvalError(f"question file {path} is a folder, not a file") from None
    except OSError as e:
        raise EvalError(f"cannot read question file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise EvalError(f"{path}:{line}: not UTF-8 text") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        q = _parse_question(line, f"{path}:{n}")
        if q.id in first_line:
            raise EvalError(f"{path}:{n}: duplicate id {q.id!r} (first on line {first_line[q.id]})")
        first_line[q.id] = n
        questions.append(q)
    if not questions:
        raise EvalError(f"{path}: the question set is empty")
    return questions


def _parse_question(line: str, where: str) -> Question:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise EvalError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, dict):
        raise EvalError(f"{where}: expected a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise EvalError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} (expected {', '.join(FIELDS)})")
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise EvalError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    for name, kind in {**FIELDS, **OPTIONAL_FIELDS}.items():
        if name in data and not isinstance(data[name], kind):
            raise EvalError(f"{where}: field {name!r} must be {_type_name(kind)}, got {_json_type(data[name])}")
    qid, question = data["id"].strip(), data["question"]
    if not qid:
        raise EvalError(f"{where}: field 'id' is empty")
    if not question.strip():
        raise EvalError(f"{where}: field 'question' is empty")
    sources = data["sources"]
    if not all(isinstance(s, str) and s.strip() for s in sources):
        raise EvalError(f"{where}: field 'sources' must be a list of file names")
    facts = data["facts"]
    for fact in facts:
        if not isinstance(fact, list) or not fact or not all(isinstance(s, str) and s.strip() for s in fact):
            raise EvalError(f"{where}: field 'facts' must be a list of facts, each a non-empty list of spellings")
    if data["answerable"]:
        if not sources or not facts:
            raise EvalError(f"{where}: an answerable question needs at least one source and one fact")
    elif sources or facts:
        raise EvalError(f"{where}: an unanswerable question must have empty 'sources' and 'facts'")
    return Question(id=qid, question=question, sources=tuple(s.strip() for s in sources),
                    facts=tuple(tuple(s.strip() for s in fact) for fact in facts),
                    answerable=data["answerable"], kind=data.get("kind", "").strip(), where=where)


def _type_name(kind: type) -> str:
    return {str: "a string", list: "a list", bool: "true or false"}[kind]


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


# -- checks on one response --------------------------------------------------------------
def normalise(text: str) -> str:
    """Text as facts are matched: NFKC, straight quotes and dashes, case-folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-", "\u00a0": " "}))
    return " ".join(text.casefold().split())


def answer_body(response: dict) -> str:
    """What the answer says, without citation markers or the Sources list: its sentences.

    File names and line numbers in the Sources list must not count as facts ("4" in
    ``004_....txt``), so only the sentences are matched.
    """
    return " ".join(s["text"] for s in response.get("sentences") or [])


def missing_facts(question: Question, response: dict) -> list[tuple[str, ...]]:
    """The facts of which no spelling is in the answer; all of them when it abstained."""
    if response.get("abstained"):
        return list(question.facts)
    body = normalise(answer_body(response))
    return [fact for fact in question.facts if not any(normalise(s) in body for s in fact)]


class QuoteChecker:
    """Checks quotes against the files on disk, each file read once."""

    def __init__(self, root: Path) -> None:
        #: Citation sources are relative to this folder (the corpus folder's parent).
        self.root = root
        self._lines: dict[str, list[str] | None] = {}
        self._visible: dict[str, list[tuple[int, str]]] = {}

    def problem(self, citation: dict) -> str | None:
        """None when the quote is verbatim in the cited lines, else what is wrong."""
        source = str(citation.get("source", ""))
        lines = self._file_lines(source)
        if lines is None:
            return "file not found"
        start, end = int(citation.get("start_line", 0)), int(citation.get("end_line", 0))
        if not 1 <= start <= end <= len(lines):
            return f"lines {start}-{end} are outside the file ({len(lines)} lines)"
        quote = " ".join(str(citation.get("quote", "")).split())
        if not quote:
            return "empty quote"
        if quote in " ".join(" ".join(lines[start - 1:end]).split()):
            return None
        # Markup formats (HTML, BEIR records): the text a reader sees on those lines.
        visible = " ".join(t for n, t in self._visible_lines(source) if start <= n <= end)
        if quote in " ".join(visible.split()):
            return None
        return "quote not found in the cited lines"

    def _file_lines(self, source: str) -> list[str] | None:
        if source not in self._lines:
            from rag.loaders import decode, split_lines

            try:
                self._lines[source] = split_lines(decode((self.root / source).read_bytes(), source))
            except OSError:
                self._lines[source] = None
        return self._lines[source]

    def _visible_lines(self, source: str) -> list[tuple[int, str]]:
        if source not in self._visible:
            pairs: list[tuple[int, str]] = []
            if Path(source).suffix.lower() in (".html", ".htm", ".jsonl"):
                from rag.loaders import SourceFile, load_file

                for doc in load_file(SourceFile(path=self.root / source, source=source, sha256=""), rules=[]):
                    pairs += list(zip(doc.line_numbers, doc.text.split("\n")))
            self._visible[source] = pairs
        return self._visible[source]


# -- results and report ------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What running one question produced: everything scoring needs."""

    question: Question
    #: ``Answer.to_dict()``: the ``rag ask --json`` object.
    response: dict
    #: Distinct source base names of the retrieved passages, best first.
    retrieved: tuple[str, ...]
    latency_ms: float


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an answer; ``kind`` is a key, ``data`` the particulars."""

    kind: str  # wrong_source | wrongly_declined | wrongly_answered | missing_fact | off_source_citation | bad_quote
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionResult:
    outcome: Outcome
    #: ranx's per-question hit@1, hit@k and reciprocal rank (answerable questions only).
    retrieval: dict[str, float]
    facts_missing: list[tuple[str, ...]]
    #: Ids of citations (of an answered answerable question) outside the question's sources.
    off_source: list[int]
    #: Citation id -> what is wrong with its quote.
    bad_quotes: dict[int, str]

    @property
    def question(self) -> Question:
        return self.outcome.question

    @property
    def abstained(self) -> bool:
        return bool(self.outcome.response.get("abstained"))

    @property
    def problems(self) -> list[Problem]:
        q, found = self.question, []
        if q.answerable:
            if self.retrieval.get("hit@1", 0.0) < 1.0:
                retrieved = list(self.outcome.retrieved)
                rank = next((i for i, s in enumerate(retrieved, 1) if s in q.source_names), None)
                found.append(Problem("wrong_source", {"retrieved": retrieved, "expected": sorted(q.source_names),
                                                      "rank": rank}))
            if self.abstained:
                found.append(Problem("wrongly_declined"))
            else:
                found += [Problem("missing_fact", {"fact": list(f)}) for f in self.facts_missing]
        elif not self.abstained:
            found.append(Problem("wrongly_answered"))
        by_id = {c["id"]: c for c in self.outcome.response.get("citations", [])}
        found += [Problem("off_source_citation", {"id": i, "source": by_id[i]["source"],
                                                  "expected": sorted(q.source_names)}) for i in self.off_source]
        found += [Problem("bad_quote", {"id": i, "source": by_id[i]["source"], "reason": why})
                  for i, why in self.bad_quotes.items()]
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        o = self.outcome
        return {"id": o.question.id, **{k: v for k, v in o.question.to_dict().items() if k != "id"},
                "response": o.response, "retrieved": list(o.retrieved), "latency_ms": round(o.latency_ms, 2),
                "retrieval": {k: round(v, 6) for k, v in self.retrieval.items()},
                "facts_missing": [list(f) for f in self.facts_missing], "off_source_citations": self.off_source,
                "bad_quotes": [{"id": i, "reason": why} for i, why in self.bad_quotes.items()],
                "passed": self.passed, "problems": [{"kind": p.kind, **p.data} for p in self.problems]}


@dataclass(frozen=True)
class Report:
    summary: dict[str, float | int | None]
    results: list[QuestionResult]
    #: How the run was made: question file, model, top-k, index generation, time.
    run: dict = field(default_factory=dict)

    @property
    def failing(self) -> list[QuestionResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict:
        """``{"summary", "results", "run"}``: the ``rag eval --json`` shape of CONTRACT.md."""
        return {"summary": dict(self.summary), "results": [r.to_dict() for r in self.results], "run": dict(self.run)}


def score(outcomes: list[Outcome], top_k: int, root: Path, run_info: dict | None = None) -> Report:
    """Every metric of the module docstring, from what the run produced."""
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
    summary["latency_p50_ms"] = _percentile(latencies, 50)
    summary["latency_p95_ms"] = _percentile(latencies, 95)
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


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(values, q)), 2)


# -- running -----------------------------------------------------------------------------
Progress = Callable[[int, int, "Question | None"], None]


def run(assistant: "Assistant", questions: list[Question], top_k: int | None = None,
        progress: Progress | None = None, questions_file: str | Path | None = None) -> Report:
    """Ask every question as ``rag ask`` does and score the answers.

    ``progress(done, total, question)`` is called once before the first question (with
    ``None``) and after each one. The model and
    index are loaded (by a search for a text not in the set) before timing starts, so
    latency is per question, not start-up.
    """
    settings = assistant.settings
    try:
        k = assistant.resolve_top_k(top_k)
    except RagError as e:
        raise EvalError(str(e)) from None
    from rag.assistant import check_question

    for q in questions:  # refuse a bad question before any model or index is loaded
        try:
            check_question(q.question, settings.max_question_chars)
        except RagError as e:
            raise EvalError(f"{q.where}: question {q.id!r}: {e}") from None
    _warn_unknown_sources(settings, questions)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    if progress:
        progress(0, len(questions), None)
    assistant.search("warm-up query before the timed questions", top_k=k)
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
            "started_at": started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t_start, 2)}
    return score(outcomes, k, settings.corpus.parent, info)


def _warn_unknown_sources(settings, questions: list[Question]) -> None:
    """A source the corpus does not hold is a typo in the question set: say so, it cannot be hit."""
    from rag.loaders import list_sources

    known = {base_name(f.source) for f in list_sources(settings.corpus, settings.extensions)}
    for q in questions:
        for s in sorted(q.source_names - known):
            log.warning("%s: source %r of question %r is not in the corpus %s", q.where, s, q.id, settings.corpus)


# -- reports, baselines, thresholds ------------------------------------------------------
def save_report(data: dict, path: Path | str) -> None:
    """Write a report atomically (a half-written report must never serve as a baseline)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
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


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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


# -- rendering (wording for people) ------------------------------------------------------
def _fmt(value: float | None, key: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"


def render_summary(console: "Console", report: Report) -> None:
    from rich.table import Table

    s = report.summary
    table = Table(title=f"{s['questions']} questions ({s['answerable']} answerable, "
                        f"{s['unanswerable']} unanswerable), top-k {s['top_k']}", title_justify="left")
    for col, justify in (("metric", "left"), ("value", "right"), ("over", "left")):
        table.add_column(col, justify=justify)
    for m in METRICS:
        label = m.label.replace("@k", f"@{s['top_k']}")
        table.add_row(label, _fmt(s.get(m.key), m.key), m.over)
    console.print(table)
    if s.get("by_kind"):
        kinds = Table(title="questions by kind", title_justify="left")
        for col, justify in (("kind", "left"), ("questions", "right"), ("failing", "right")):
            kinds.add_column(col, justify=justify)
        for kind, counts in s["by_kind"].items():
            kinds.add_row(kind, str(counts["questions"]), str(counts["failing"]))
        console.print(kinds)


def describe(problem: Problem) -> str:
    """One problem in words."""
    d = problem.data
    if problem.kind == "wrong_source":
        where = f"first at rank {d['rank']}" if d["rank"] else "not retrieved"
        top = d["retrieved"][0] if d["retrieved"] else "nothing"
        return f"wrong source: retrieved {top} first; {', '.join(d['expected'])} {where}"
    if problem.kind == "wrongly_declined":
        return "wrongly declined: the articles answer it"
    if problem.kind == "wrongly_answered":
        return "wrongly answered: the articles do not answer it"
    if problem.kind == "missing_fact":
        return "missing fact: " + " / ".join(d["fact"])
    if problem.kind == "off_source_citation":
        return f"cites [{d['id']}] {d['source']}, not a supporting source"
    if problem.kind == "bad_quote":
        return f"quote [{d['id']}] from {d['source']}: {d['reason']}"
    return problem.kind


def render_failures(console: "Console", report: Report) -> None:
    from rich.table import Table

    failing = report.failing
    if not failing:
        console.print("Every question passed.")
        return
    table = Table(title=f"{len(failing)} failing question{'s' if len(failing) != 1 else ''}", title_justify="left",
                  show_lines=True)
    for col in ("id", "question", "what went wrong"):
        table.add_column(col, overflow="fold")
    for r in failing:
        table.add_row(r.question.id, r.question.question, "\n".join(describe(p) for p in r.problems))
    console.print(table)


def render_comparison(console: "Console", deltas: list[Delta]) -> None:
    from rich.table import Table

    table = Table(title="change against the baseline", title_justify="left")
    for col, justify in (("metric", "left"), ("baseline", "right"), ("now", "right"), ("change", "right")):
        table.add_column(col, justify=justify)
    for d in deltas:
        style = {True: "green", False: "red", None: ""}[d.better]
        change = "-" if d.change is None else (f"{d.change:+.1f}" if d.metric.key.endswith("_ms") else f"{d.change:+.3f}")
        table.add_row(d.metric.label, _fmt(d.old, d.metric.key), _fmt(d.new, d.metric.key),
                      f"[{style}]{change}[/]" if style else change)
    console.print(table)


def describe_failure(f: Failure) -> str:
    value = "not measured" if f.value is None else f"{f.value:.3f}"
    return f"{f.metric} {value} is below {f.threshold:g}"


class progress_bar:
    """A rich progress bar on ``console`` as a ``progress`` callback for :func:`run`."""

    def __init__(self, console: "Console", enabled: bool = True) -> None:
        self.console, self.enabled = console, enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> Progress | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self._progress = Bar(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("{task.description}"), console=self.console, transient=True)
        self._progress.start()
        return self._advance

    def _advance(self, done: int, total: int, question: Question | None) -> None:
        if self._task is None:
            self._task = self._progress.add_task("", total=total)
        self._progress.update(self._task, completed=done, description=question.id if question else "")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
