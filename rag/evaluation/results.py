"""What a run produced and what scoring found, per question and in all: plain data.

An :class:`Outcome` is all a run records of one question; a :class:`QuestionResult` adds
what scoring found wrong, as :class:`Problem` values (a key and its particulars: the
words for people are the CLI's); a :class:`Report` holds them all with the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.evaluation.questions import Question

#: Every kind of :class:`Problem`, in the order a result lists them.
PROBLEM_KINDS = ("wrong_source", "wrongly_declined", "wrongly_answered", "missing_fact",
                 "off_source_citation", "bad_quote")


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
    """One thing wrong with an answer; ``kind`` is one of :data:`PROBLEM_KINDS`, ``data`` the particulars."""

    kind: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionResult:
    """One question's outcome with what scoring found in it."""

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
        """Everything wrong with this answer; none when the question passed."""
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
        """One entry of the report's ``results`` (CONTRACT.md)."""
        o = self.outcome
        return {"id": o.question.id, **{k: v for k, v in o.question.to_dict().items() if k != "id"},
                "response": o.response, "retrieved": list(o.retrieved), "latency_ms": round(o.latency_ms, 2),
                "retrieval": {k: round(v, 6) for k, v in self.retrieval.items()},
                "facts_missing": [list(f) for f in self.facts_missing], "off_source_citations": self.off_source,
                "bad_quotes": [{"id": i, "reason": why} for i, why in self.bad_quotes.items()],
                "passed": self.passed, "problems": [{"kind": p.kind, **p.data} for p in self.problems]}


@dataclass(frozen=True)
class Report:
    """A scored run: the summary metrics, every question's result, and how the run was made."""

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
