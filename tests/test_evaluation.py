"""Evaluation: question files, metrics on known outcomes, the real run, and the `rag eval` command.

Metric arithmetic is checked by scoring hand-made outcomes (responses written here,
quotes checked against real files in a tmp folder) whose right figures are known. The
real path is checked against the session's seed index: a run must hold exactly what
``ask`` and ``search`` return, and ``rag eval`` is run as a real subprocess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import SEEDS, assert_one_line_error

from rag import evaluation as ev
from rag.cli.eval_view import describe, describe_failure
from rag.evaluation import EvalError, Outcome, Question
from rag.evaluation.checks import QuoteChecker, missing_facts

DATA = Path(__file__).parent / "data"
SMALL = DATA / "eval_small.jsonl"

GOOD = {"id": "q1", "question": "What replaced CCGs?", "sources": ["a.txt"], "facts": [["ICS"]], "answerable": True}
TRAP = {"id": "q2", "question": "Who founded the NHS?", "sources": [], "facts": [], "answerable": False}


def jsonl(*rows: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


# -- question files ----------------------------------------------------------------------
def test_load_questions_reads_the_contract_format():
    questions = ev.load_questions(SMALL)
    assert [q.id for q in questions] == ["ccg", "ccg-mislabelled", "mercury"]
    ccg = questions[0]
    assert ccg.question == "What has replaced clinical commissioning groups?"
    assert ccg.sources == ("000_5f02ec8ebbba9bda.txt",)
    assert ccg.facts == (("integrated care system", "ICS"),)
    assert ccg.answerable and ccg.kind == "fact"
    assert ccg.where.endswith("eval_small.jsonl:1")
    assert not questions[2].answerable and questions[2].where.endswith(":4")  # blank line 3 skipped


def test_sources_given_as_paths_count_by_base_name(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(jsonl({**GOOD, "sources": ["seeds/a.txt"]}))
    assert ev.load_questions(path)[0].source_names == {"a.txt"}


BAD_FILES = {
    "malformed JSON": (jsonl(GOOD, '{"id": "q2", "question": '), 2, "malformed JSON"),
    "not an object": (jsonl(GOOD, [1, 2]), 2, "expected a JSON object"),
    "unknown field": (jsonl(GOOD, {**TRAP, "answer": "x"}), 2, "unknown field 'answer'"),
    "missing field": (jsonl({k: v for k, v in GOOD.items() if k != "facts"}), 1, "missing field 'facts'"),
    "wrong type": (jsonl(TRAP, {**GOOD, "id": "q3", "answerable": "yes"}), 2, "'answerable' must be true or false"),
    "id not a string": (jsonl({**GOOD, "id": 7}), 1, "'id' must be a string"),
    "fact not a list": (jsonl({**GOOD, "facts": ["ICS"]}), 1, "'facts' must be a list of facts"),
    "empty question": (jsonl({**GOOD, "question": "  "}), 1, "'question' is empty"),
    "unanswerable with sources": (jsonl({**TRAP, "sources": ["a.txt"]}), 1, "must have empty 'sources'"),
    "answerable without facts": (jsonl({**GOOD, "facts": []}), 1, "needs at least one source and one fact"),
    "duplicate ids": (jsonl(GOOD, TRAP, {**TRAP, "id": "q1"}), 3, r"duplicate id 'q1' \(first on line 1\)"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_question_lines_name_file_and_line(tmp_path, case):
    text, line, fragment = BAD_FILES[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(EvalError, match=rf"bad\.jsonl:{line}: .*{fragment}"):
        ev.load_questions(path)


def test_missing_empty_and_undecodable_question_files(tmp_path):
    with pytest.raises(EvalError, match="question file not found: .*nope.jsonl"):
        ev.load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(EvalError, match="is a folder"):
        ev.load_questions(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n  \n")
    with pytest.raises(EvalError, match="empty.jsonl: the question set is empty"):
        ev.load_questions(tmp_path / "empty.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(jsonl(GOOD).encode() + '{"id": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(EvalError, match=r"latin1.jsonl:2: not UTF-8"):
        ev.load_questions(tmp_path / "latin1.jsonl")


# -- metrics on known outcomes -----------------------------------------------------------
A_LINES = ["Integrated care systems replaced clinical commissioning groups in 2022.", "",
           "The four aims of an ICS are",
           "    improving outcomes and tackling inequalities."]
B_LINES = ["GP nationalisation was floated by the health secretary.", "It is unlikely to happen."]


@pytest.fixture
def corpus_root(tmp_path) -> Path:
    """Two real article files under ``root/seeds``, as citations name them."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text("\n".join(A_LINES) + "\n")
    (tmp_path / "seeds" / "b.txt").write_text("\n".join(B_LINES) + "\n")
    return tmp_path


def cite(n: int, source: str, start: int, end: int, quote: str) -> dict:
    return {"id": n, "source": f"seeds/{source}", "start_line": start, "end_line": end, "quote": quote, "score": 0.7}


def response(answer: str, citations: list[dict], abstained: bool = False) -> dict:
    """An ``Answer.to_dict()``: ``answer`` is the body, each sentence ending at its ``[n]`` markers."""
    sources = "\n".join(f"[{c['id']}] {c['source']}, line {c['start_line']}" for c in citations)
    sentences = []
    if not abstained:
        for text, markers in re.findall(r"(.*?)((?:\s*\[\d+\])+|$)", answer):
            if text.strip():
                sentences.append({"text": text.strip(), "citations": [int(n) for n in re.findall(r"\d+", markers)]})
    return {"question": "?", "answer": f"{answer}\n\nSources:\n{sources}", "abstained": abstained,
            "citations": citations, "timings_ms": {"total": 1.0}, "sentences": sentences, "body": answer}


def question(qid: str, sources=(), facts=(), answerable=True) -> Question:
    return Question(id=qid, question=f"question {qid}", sources=tuple(sources),
                    facts=tuple(tuple(f) for f in facts), answerable=answerable)


def known_outcomes() -> list[Outcome]:
    good_a = cite(1, "a.txt", 1, 1, A_LINES[0])
    list_a = cite(2, "a.txt", 3, 4, "The four aims of an ICS are improving outcomes")  # spans two lines
    from_b = cite(2, "b.txt", 1, 1, B_LINES[0])
    forged = cite(3, "b.txt", 2, 2, "It is certain to happen.")
    return [
        # Right source first, every fact, two good citations.
        Outcome(question("right", ["a.txt"], [["integrated care system"], ["2022"]]),
                response(f"{A_LINES[0]} [1] {list_a['quote']} [2]", [good_a, list_a]),
                retrieved=("a.txt", "b.txt"), latency_ms=10),
        # Right source second; one fact missing; one citation off-source; one quote not in the file.
        Outcome(question("second", ["a.txt"], [["integrated care system"], ["2021", "twenty twenty-one"]]),
                response(f"{A_LINES[0]} [1] {B_LINES[0]} [2] It is certain to happen. [3]",
                         [good_a, from_b, forged]),
                retrieved=("b.txt", "a.txt"), latency_ms=20),
        # Never retrieves the source and declines: wrongly declined.
        Outcome(question("missed", ["a.txt"], [["ICS"]]),
                response("The documents don't say.", [], abstained=True),
                retrieved=("b.txt",), latency_ms=30),
        # Unanswerable and declined, listing a nearest passage.
        Outcome(question("trap", answerable=False),
                response("The documents don't say.", [cite(1, "b.txt", 2, 2, B_LINES[1])], abstained=True),
                retrieved=("b.txt",), latency_ms=40),
        # Unanswerable but answered.
        Outcome(question("trap-answered", answerable=False),
                response(f"{B_LINES[1]} [1]", [cite(1, "b.txt", 2, 2, B_LINES[1])]),
                retrieved=("b.txt", "a.txt"), latency_ms=50),
    ]


def test_metrics_on_known_outcomes(corpus_root):
    report = ev.score(known_outcomes(), top_k=5, root=corpus_root)
    s = report.summary
    assert (s["questions"], s["answerable"], s["unanswerable"], s["citations"]) == (5, 3, 2, 7)
    assert s["hit@1"] == pytest.approx(1 / 3, abs=1e-6)
    assert s["hit@k"] == pytest.approx(2 / 3, abs=1e-6)
    assert s["mrr"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-6)
    assert s["fact_recall"] == pytest.approx(1 / 3, abs=1e-6)  # only "right" has every fact
    assert s["citation_precision"] == pytest.approx(3 / 5, abs=1e-6)  # answered answerable: 2 + 3 cited, 2 off
    assert s["quote_validity"] == pytest.approx(6 / 7, abs=1e-6)  # the forged quote
    assert s["declined_when_unanswerable"] == 0.5
    assert s["answered_when_answerable"] == pytest.approx(2 / 3, abs=1e-6)
    assert s["latency_p50_ms"] == 30.0 and s["latency_p95_ms"] == 48.0
    assert s["failing"] == 3

    by_id = {r.question.id: r for r in report.results}
    assert by_id["right"].passed and by_id["trap"].passed
    assert by_id["second"].retrieval == {"hit@1": 0.0, "hit@k": 1.0, "mrr": 0.5}
    kinds = {qid: sorted(p.kind for p in r.problems) for qid, r in by_id.items()}
    assert kinds["second"] == ["bad_quote", "missing_fact", "off_source_citation", "off_source_citation",
                               "wrong_source"]
    assert kinds["missed"] == ["wrong_source", "wrongly_declined"]
    assert kinds["trap-answered"] == ["wrongly_answered"]
    assert by_id["second"].facts_missing == [("2021", "twenty twenty-one")]
    assert by_id["second"].bad_quotes == {3: "quote not found in the cited lines"}
    words = [describe(p) for p in by_id["second"].problems]
    assert "wrong source: retrieved b.txt first; a.txt first at rank 2" in words
    assert "missing fact: 2021 / twenty twenty-one" in words


def test_no_answerable_or_no_unanswerable_questions_leave_those_metrics_unmeasured(corpus_root):
    traps = [o for o in known_outcomes() if not o.question.answerable]
    s = ev.score(traps, top_k=5, root=corpus_root).summary
    assert s["hit@1"] is s["mrr"] is s["fact_recall"] is s["answered_when_answerable"] is None
    assert s["declined_when_unanswerable"] == 0.5


def test_facts_are_matched_in_the_answer_not_in_its_sources_list():
    q = question("n", ["004_x.txt"], [["four", "4"]])
    cited = [{"id": 1, "source": "seeds/004_x.txt", "start_line": 4, "end_line": 4, "quote": "q"}]
    assert missing_facts(q, response("There are three aims. [1]", cited)) == [("four", "4")]
    assert missing_facts(q, response("There are FOUR aims. [1]", cited)) == []
    # Curly apostrophes and case do not matter; an abstention has no facts whatever it lists.
    q = question("p", ["a.txt"], [["the NHS's plan"]])
    assert missing_facts(q, response("The nhs\u2019s  plan. [1]", cited)) == []
    assert missing_facts(q, response("The NHS's plan", [], abstained=True)) == [("the NHS's plan",)]


def test_quotes_are_checked_against_the_cited_lines_of_the_file(corpus_root):
    check = QuoteChecker(corpus_root).problem
    assert check(cite(1, "a.txt", 3, 4, "aims of an ICS are improving outcomes and")) is None
    assert check(cite(1, "a.txt", 1, 1, A_LINES[0][:-1] + "!")) == "quote not found in the cited lines"
    assert check(cite(1, "a.txt", 3, 3, "improving outcomes")) == "quote not found in the cited lines"
    assert check(cite(1, "a.txt", 4, 9, "improving")) == "lines 4-9 are outside the file (4 lines)"
    assert check(cite(1, "gone.txt", 1, 1, "x")) == "file not found"
    # HTML: the quote is the text a reader sees on those lines.
    (corpus_root / "seeds" / "c.html").write_text("<html><body>\n<p>Fish &amp; chips\nare <b>popular</b>.</p>\n"
                                                  "</body></html>\n")
    assert check(cite(1, "c.html", 2, 3, "Fish & chips are popular.")) is None
    assert check(cite(1, "c.html", 2, 2, "are popular")) is not None


def test_quotes_of_every_format_are_checked_through_the_loader_registry(corpus_root, monkeypatch):
    from rag import loaders
    from rag.types import Document

    # A BEIR record: the quote is the record's text, not its JSON (escapes and all).
    (corpus_root / "seeds" / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "Caf\u00e9 owners", "text": 'He said "yes" to the plan.'}) + "\n"
        + json.dumps({"_id": "d2", "text": "Second record."}) + "\n")
    check = QuoteChecker(corpus_root).problem
    assert check(cite(1, "corpus.jsonl", 1, 1, 'He said "yes" to the plan.')) is None
    assert check(cite(1, "corpus.jsonl", 1, 1, "Caf\u00e9 owners")) is None
    assert check(cite(1, "corpus.jsonl", 2, 2, 'He said "yes"')) == "quote not found in the cited lines"
    # Any suffix the registry reads is checked by its loader, not by a fixed list of formats.
    (corpus_root / "seeds" / "d.rev").write_text(".god taht\n")

    class Reversed:
        suffixes = (".rev",)

        def load(self, f, rules):
            text = f.path.read_text()[::-1].strip()
            return [Document(doc_id=f.source, source=f.source, text=text, line_numbers=(1,))]

    assert check(cite(1, "d.rev", 1, 1, "that dog.")) == "quote not found in the cited lines"
    monkeypatch.setitem(loaders.LOADERS, ".rev", Reversed())
    assert QuoteChecker(corpus_root).problem(cite(1, "d.rev", 1, 1, "that dog.")) is None


# -- baselines and thresholds ------------------------------------------------------------
def test_compare_gives_every_metric_old_new_and_change(corpus_root):
    new = ev.score(known_outcomes(), top_k=5, root=corpus_root).to_dict()
    old = json.loads(json.dumps(new))
    old["summary"].update({"hit@1": 0.5, "latency_p50_ms": 10.0, "quote_validity": None})
    deltas = {d.metric.key: d for d in ev.compare(new, old)}
    assert list(deltas) == list(ev.METRIC_KEYS)
    assert deltas["hit@1"].change == pytest.approx(1 / 3 - 0.5, abs=1e-6) and deltas["hit@1"].better is False
    assert deltas["latency_p50_ms"].change == 20.0 and deltas["latency_p50_ms"].better is False
    assert deltas["mrr"].change == 0 and deltas["mrr"].better is None
    assert deltas["quote_validity"].old is None and deltas["quote_validity"].change is None


def test_parse_fail_under_and_check():
    thresholds = ev.parse_fail_under(["hit@1=0.9", "fact-recall=0.85,quote_validity=1"])
    assert thresholds == {"hit@1": 0.9, "fact_recall": 0.85, "quote_validity": 1.0}
    summary = {"hit@1": 0.9, "fact_recall": 0.8, "quote_validity": None}
    failures = ev.check(summary, thresholds)
    assert [(f.metric, f.value) for f in failures] == [("fact_recall", 0.8), ("quote_validity", None)]
    assert describe_failure(failures[0]) == "fact_recall 0.800 is below 0.85"
    for bad, message in [("hit@1", "expects METRIC=VALUE"), ("recall=0.5", "unknown metric 'recall'"),
                         ("mrr=high", "'high' is not a number"), ("mrr=90", "not between 0 and 1"),
                         ("latency_p50_ms=0.5", "unknown metric")]:
        with pytest.raises(EvalError, match=message):
            ev.parse_fail_under([bad])


def test_reports_save_atomically_and_bad_baselines_are_named(tmp_path, corpus_root):
    data = ev.score(known_outcomes(), top_k=5, root=corpus_root).to_dict()
    path = tmp_path / "report.json"
    ev.save_report(data, path)
    assert ev.load_report(path) == json.loads(json.dumps(data))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with pytest.raises(EvalError, match="baseline report not found"):
        ev.load_report(tmp_path / "old.json")
    (tmp_path / "bad.json").write_text('{"summary": ')
    with pytest.raises(EvalError, match=r"bad.json:1: malformed JSON"):
        ev.load_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"results": []}')
    with pytest.raises(EvalError, match="not an evaluation report"):
        ev.load_report(tmp_path / "other.json")


def test_a_report_can_be_scored_again_from_its_results_alone(corpus_root):
    report = ev.score(known_outcomes(), top_k=5, root=corpus_root)
    data = json.loads(json.dumps(report.to_dict()))
    assert ev.rescore(data, corpus_root).to_dict() == data


# -- the real path -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_report(seed_assistant):
    calls = []
    report = ev.run(seed_assistant, ev.load_questions(SMALL), progress=lambda *a: calls.append(a))
    return report, calls


def test_run_records_exactly_what_ask_and_search_return(seed_assistant, small_report):
    report, calls = small_report
    assert [(done, total) for done, total, _ in calls] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    for result in report.results:
        q = result.question
        expected = seed_assistant.ask(q.question).to_dict()
        got = result.outcome.response
        assert {k: v for k, v in got.items() if k != "timings_ms"} == \
               {k: v for k, v in expected.items() if k != "timings_ms"}
        hits = seed_assistant.search(q.question)
        assert list(result.outcome.retrieved) == list(dict.fromkeys(Path(h.chunk.source).name for h in hits))
        assert result.outcome.latency_ms > 0


def test_run_scores_the_real_answers(small_report):
    report, _ = small_report
    s = report.summary
    assert (s["questions"], s["answerable"], s["top_k"]) == (3, 2, 5)
    # The same question twice, one labelled with the wrong article: a retrieval miss by design.
    by_id = {r.question.id: r for r in report.results}
    assert by_id["ccg"].retrieval["hit@1"] == 1.0 and by_id["ccg-mislabelled"].retrieval["hit@1"] == 0.0
    assert s["hit@1"] == 0.5
    assert s["quote_validity"] == 1.0  # every quote the product makes is verbatim in its file
    assert report.run["generation"] and report.run["model"] == "all-MiniLM-L6-v2"
    data = json.loads(json.dumps(report.to_dict()))
    assert ev.rescore(data, SEEDS.parent).summary == data["summary"]


# -- the command -------------------------------------------------------------------------
def test_rag_eval_json_out_baseline_and_fail_under(run_rag, seed_index_dir, tmp_path):
    report = tmp_path / "report.json"
    proc = run_rag("eval", "--questions", str(SMALL), "--json", "--out", str(report),
                   "--fail-under", "hit@1=0.5", corpus=SEEDS, index=seed_index_dir)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(data) >= {"summary", "results"} and json.loads(report.read_text()) == data
    assert set(data["summary"]) >= set(ev.METRIC_KEYS)
    for r in data["results"]:
        assert set(r["response"]) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    assert [r["id"] for r in data["results"]] == ["ccg", "ccg-mislabelled", "mercury"]

    proc = run_rag("eval", "--questions", str(SMALL), "--baseline", str(report),
                   "--fail-under", "quote_validity=1", "--fail-under", "hit@1=0.6",
                   corpus=SEEDS, index=seed_index_dir, env={"COLUMNS": "300"})
    assert_one_line_error(proc, r"below the threshold: hit@1 0\.500 is below 0\.6$")
    assert "change against the baseline" in proc.stdout and "source hit@1" in proc.stdout
    assert "wrong source: retrieved 000_5f02ec8ebbba9bda.txt first" in proc.stdout


def test_rag_eval_without_the_default_question_set_asks_for_one(tmp_path):
    """Outside a source checkout eval/questions.jsonl does not exist: one line saying what to pass."""
    import subprocess
    import sys

    script = ("import sys, pathlib; import rag.evaluation as ev; ev.DEFAULT_QUESTIONS = pathlib.Path(sys.argv[1]); "
              "sys.argv = ['rag', 'eval']; from rag.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "eval" / "questions.jsonl")],
                          check=False, capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, r"no question set given .*questions\.jsonl does not exist: pass --questions FILE")


CLI_BAD = {
    "missing file": ([], None, r"question file not found: .*missing\.jsonl"),
    "malformed line": ([], jsonl(GOOD, "{oops"), r"bad\.jsonl:2: malformed JSON"),
    "unknown field": ([], jsonl({**GOOD, "colour": "red"}), r"bad\.jsonl:1: unknown field 'colour'"),
    "missing field": ([], jsonl(TRAP, {k: v for k, v in GOOD.items() if k != "sources"}),
                      r"bad\.jsonl:2: missing field 'sources'"),
    "duplicate ids": ([], jsonl(GOOD, TRAP, GOOD), r"bad\.jsonl:3: duplicate id 'q1'"),
    "empty set": ([], "\n", r"bad\.jsonl: the question set is empty"),
    "control characters": ([], jsonl(TRAP, {**GOOD, "question": "What\u0007 replaced CCGs?"}),
                           r"bad\.jsonl:2: question 'q1': the question contains control characters"),
    "zero top-k": (["--top-k", "0"], jsonl(GOOD), "top-k must be at least 1"),
    "bad threshold": (["--fail-under", "speed=1"], jsonl(GOOD), "unknown metric 'speed'"),
    "bad baseline": (["--baseline", "{tmp}/old.json"], jsonl(GOOD), "baseline report not found"),
}


@pytest.mark.parametrize("case", CLI_BAD)
def test_rag_eval_bad_input_is_one_line_and_non_zero(run_rag, tmp_path, case):
    extra, text, fragment = CLI_BAD[case]
    path = tmp_path / ("missing.jsonl" if text is None else "bad.jsonl")
    if text is not None:
        path.write_text(text)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    # Bad input is refused before any model or index is loaded, so no index is needed here.
    proc = run_rag("eval", "--questions", str(path), *args, corpus=SEEDS, index=tmp_path / "no-index", timeout=60)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "no-index").exists()
