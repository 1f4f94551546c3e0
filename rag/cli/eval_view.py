"""``rag eval`` on a terminal: the summary, failing questions and baseline tables, problems
in words, and the progress bar.

The evaluation package holds data only (problem kinds and their particulars); every word
a person reads about a run is here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from rag.evaluation import Delta, Failure, Problem, Progress, Question, Report


def _fmt(value: float | None, key: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"


def render_summary(console: Console, report: Report) -> None:
    """Every metric with what it is over, then the questions and failures of each kind."""
    from rich.table import Table

    from rag.evaluation import METRICS
    from rag.evaluation.written import WRITTEN_METRICS

    s = report.summary
    table = Table(title=f"{s['questions']} questions ({s['answerable']} answerable, "
                        f"{s['unanswerable']} unanswerable), top-k {s['top_k']}", title_justify="left")
    for col, justify in (("metric", "left"), ("value", "right"), ("over", "left")):
        table.add_column(col, justify=justify)
    for m in METRICS + tuple(w for w in WRITTEN_METRICS if w.key in s):
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


def render_failures(console: Console, report: Report) -> None:
    """Each failing question with everything wrong with it, or that every question passed."""
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


def render_comparison(console: Console, deltas: list[Delta]) -> None:
    """Every metric in the baseline and now; a change is green when better, red when worse."""
    from rich.table import Table

    table = Table(title="change against the baseline", title_justify="left")
    for col, justify in (("metric", "left"), ("baseline", "right"), ("now", "right"), ("change", "right")):
        table.add_column(col, justify=justify)
    for d in deltas:
        style = {True: "green", False: "red", None: ""}[d.better]
        change = "-" if d.change is None else f"{d.change:+.1f}" if d.metric.key.endswith("_ms") else f"{d.change:+.3f}"
        table.add_row(d.metric.label, _fmt(d.old, d.metric.key), _fmt(d.new, d.metric.key),
                      f"[{style}]{change}[/]" if style else change)
    console.print(table)


def describe_failure(f: Failure) -> str:
    """One threshold the run fell below, in words."""
    value = "not measured" if f.value is None else f"{f.value:.3f}"
    return f"{f.metric} {value} is below {f.threshold:g}"


class progress_bar:
    """A rich progress bar on ``console`` as a ``progress`` callback for :func:`rag.evaluation.run`."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console, self.enabled = console, enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> Progress | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

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
