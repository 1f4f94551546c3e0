"""Answers over the real seeds: facts, paraphrases and off-topic questions, with checked citations.

The questions were written from the articles before looking at the system's answers.
Each answerable question names the files that support it and the facts (any spelling)
the answer must contain; a fact must come from a citation of a supporting file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from conftest import PROJECT_ROOT, collapse, file_lines

S000, S001, S002, S003, S004 = ("000_5f02ec8ebbba9bda.txt", "001_a1af8ce10c5b3b2b.txt",
                                "002_305e029074e56b92.txt", "003_e73dfa9ff476ae68.txt",
                                "004_24a63785afbf6050.txt")


@dataclass(frozen=True)
class Q:
    question: str
    sources: tuple[str, ...]
    facts: tuple[tuple[str, ...], ...]
    kind: str = "fact"


ANSWERABLE = [
    Q("What has replaced clinical commissioning groups?", (S000, S001, S002, S004),
      (("integrated care system", "ICS"),)),
    Q("Who floated the idea of GP nationalisation in early 2022?", (S000, S002, S004), (("Sajid Javid",),)),
    Q("Since what year has the NHS organised the purchaser-provider split?", (S000,), (("1990",),)),
    Q("What are the four aims of integrated care systems?", (S003,),
      (("population health",), ("unequal access",), ("productivity",), ("social and economic development",))),
    Q("How many people do primary care networks cover?", (S002,), (("30-50,000",),)),
    Q("How many ICS chief executives signed the letter backing the Fuller Report?", (S001,), (("42",),)),
    Q("Who chairs the Health and Social Care Committee?", (S004,), (("Jeremy Hunt",),)),
    Q("Which think tank advocated ending the national GP contract?", (S004,), (("Policy Exchange",),)),
    Q("How long was the practice manager leadership programme delivered by Cheshire LMC?", (S003,),
      (("18-month", "18 month"),)),
    Q("What does the Fuller report introduce as a souped-up PCN model?", (S002,),
      (("Integrated Neighbourhood Teams",),)),
    # Paraphrases: few words in common with the sentence that answers.
    Q("Which politician suggested state ownership of family doctors' surgeries?", (S000, S002, S004),
      (("Sajid Javid",),), "paraphrase"),
    Q("Which recent public health emergency proved that organisations could collaborate rapidly "
      "and on a large scale?", (S003,), (("COVID",),), "paraphrase"),
    Q("Was the latest deal for family doctors settled with the doctors' negotiators?", (S004,),
      (("without any agreement",),), "paraphrase"),
    Q("What early scheme let family doctors hold budgets to buy care for their patients?", (S001, S002),
      (("fundholding",),), "paraphrase"),
]

UNANSWERABLE = [
    Q("What is the capital of France?", (), (), "off-topic"),
    Q("How do I bake a sourdough loaf at home?", (), (), "off-topic"),
    Q("Who won the 2018 FIFA World Cup?", (), (), "off-topic"),
    Q("What is the boiling point of water on Mount Everest?", (), (), "off-topic"),
    # On-topic traps: about the NHS, GPs or Cheshire, but not in the articles.
    Q("In what year was the NHS founded?", (), (), "trap"),
    Q("How many GPs work in England today?", (), (), "trap"),
    Q("What is the population of Cheshire?", (), (), "trap"),
    # Traps that name what the articles name, asking for a kind of answer they never give.
    Q("How much did the Cheshire practice manager leadership programme cost?", (), (), "trap"),
    Q("Which specialist FT hospital is William Greenwood lead governor of?", (), (), "trap"),
]


def check_citations(answer) -> None:
    """The contract: markers refer to citations; quotes are verbatim in the cited lines."""
    ids = [c.id for c in answer.citations]
    assert ids == list(range(1, len(ids) + 1))
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers <= set(ids), (markers, ids, answer.answer)
    if not answer.abstained:
        assert answer.citations and markers == set(ids)
    for c in answer.citations:
        path = PROJECT_ROOT / c.source
        assert path.is_file(), c.source
        assert 1 <= c.start_line <= c.end_line
        assert collapse(c.quote) and collapse(c.quote) in file_lines(path, c.start_line, c.end_line), c
        line = "line %d" % c.start_line if c.start_line == c.end_line else "lines %d-%d" % (c.start_line, c.end_line)
        assert f"[{c.id}] {c.source}, {line}" in answer.answer


#: Known failures (2026-11-22, support weights and threshold 0.332 from benchmarks/calibrate.py);
#: strict, so a fix shows up as XPASS.
CALIBRATION = "abstention calibration (rag/answering/): "
KNOWN = {
    "Which politician suggested state ownership of family doctors' surgeries?":
        CALIBRATION + "declined; the best sentence is an unrelated one ('All surgeries must begin...')",
    "Was the latest deal for family doctors settled with the doctors' negotiators?":
        CALIBRATION + "declined; the 2022/23 contract sentence of 004 is not among the candidates",
    "Which specialist FT hospital is William Greenwood lead governor of?":
        CALIBRATION + "answered with his signature block (one unit since the block chunking), which "
                      "mentions a Specialist FT Hospital without naming it",
    "In what year was the NHS founded?":
        CALIBRATION + "answered (support 0.380) with 'Sajid Javid floated ... in early 2022 ... the NHS "
                      "organisation': it has a year and says NHS, but not the founding",
}


def cases(questions):
    return [pytest.param(q, id=f"{q.kind}: {q.question}",
                         marks=[pytest.mark.xfail(reason=KNOWN[q.question], strict=True)]
                         if q.question in KNOWN else []) for q in questions]


@pytest.mark.parametrize("q", cases(ANSWERABLE))
def test_answerable_questions_are_answered_with_the_facts_from_the_right_file(seed_assistant, q):
    answer = seed_assistant.ask(q.question)
    check_citations(answer)
    assert not answer.abstained, answer.answer
    body = answer.answer.split("\n\nSources:")[0]
    for spellings in q.facts:
        assert any(s.lower() in body.lower() for s in spellings), (spellings, answer.answer)
        # The fact comes from a citation of a file that supports it.
        assert any(any(s.lower() in c.quote.lower() for s in spellings) and c.source.split("/")[-1] in q.sources
                   for c in answer.citations), (spellings, answer.citations)
    assert answer.citations[0].source.split("/")[-1] in q.sources


@pytest.mark.parametrize("q", cases(UNANSWERABLE))
def test_questions_the_articles_do_not_answer_are_declined(seed_assistant, q):
    answer = seed_assistant.ask(q.question)
    check_citations(answer)
    assert answer.abstained, answer.answer
    assert answer.answer.startswith("The documents don't say.")


def test_the_answer_layout(seed_assistant):
    answer = seed_assistant.ask("Who chairs the Health and Social Care Committee?")
    body, sources = answer.answer.split("\n\nSources:\n")
    # A direct answer first, each sentence followed by its marker, then the Sources list.
    assert re.fullmatch(r"(.+? \[\d+\] ?)+", body), body
    assert len(sources.splitlines()) == len(answer.citations)
    assert answer.timings_ms["total"] >= answer.timings_ms["answer"] > 0


def test_answers_are_deterministic(seed_assistant):
    q = "What are the four aims of integrated care systems?"
    a, b = seed_assistant.ask(q), seed_assistant.ask(q)
    assert (a.answer, a.citations, a.abstained) == (b.answer, b.citations, b.abstained)


def test_top_k_limits_the_passages(seed_assistant):
    hits = seed_assistant.search("general practice", top_k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    answer = seed_assistant.ask("Who chairs the Health and Social Care Committee?", top_k=1)
    check_citations(answer)


def test_to_dict_is_the_contract_shape(seed_assistant):
    d = seed_assistant.ask("What has replaced clinical commissioning groups?").to_dict()
    assert {"question", "answer", "abstained", "citations", "timings_ms"} <= set(d)
    assert set(d["citations"][0]) >= {"id", "source", "start_line", "end_line", "quote", "score"}
    assert set(d["timings_ms"]) >= {"retrieve", "answer", "total"}


@pytest.mark.parametrize("question, message", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * 30_000, "too long"),
    ("Who floated \x07GP nationalisation?\x1b[31m", "control characters"),
    ("What\x00 is an ICS?", "control characters"),
])
def test_bad_questions_are_refused_with_a_clear_message(seed_assistant, question, message):
    from rag.assistant import QuestionError

    with pytest.raises(QuestionError, match=message) as info:
        seed_assistant.ask(question)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_below_one_is_refused(seed_assistant, top_k):
    from rag.errors import RagError

    with pytest.raises(RagError, match="top-k must be at least 1"):
        seed_assistant.ask("Who chairs the Health and Social Care Committee?", top_k=top_k)


def test_every_quote_is_verbatim_for_the_shipped_question_set(seed_assistant):
    """Beyond our dozen: citations of every question of eval/questions.jsonl keep the contract."""
    from rag.evaluation import DEFAULT_QUESTIONS, load_questions

    if not DEFAULT_QUESTIONS.exists():
        pytest.skip("no eval/questions.jsonl")
    for q in load_questions(DEFAULT_QUESTIONS):
        check_citations(seed_assistant.ask(q.question))


def scored_sentence(assistant, question: str, containing: str):
    """The scored candidate sentence of ``question`` that contains ``containing``."""
    from rag.types import Query

    state = assistant.state()
    query = Query(question=question, text=question, vector=assistant.embedder.encode_query(question))
    scored = state.answerer.score(query, state.retriever.search(question, query.vector, 5))
    return next(s for s in scored if containing in s.sentence.text)


def test_support_scores_what_a_mere_mention_lacks(seed_assistant):
    """A sentence that only restates the question, or misses a name it asks about, is not support."""
    restating = scored_sentence(seed_assistant, "What are the reflections on a 'new' NHS and its impact on "
                                "general practice?", "Reflections on a ‘new’ NHS")
    assert restating.features.restates == 1 and restating.support < restating.evidence
    javid = scored_sentence(seed_assistant, "When did Keir Starmer float GP nationalisation?", "Sajid Javid floated")
    assert javid.features.missing_names > 0.5 and javid.support < javid.evidence


def test_a_name_most_passages_use_is_not_missed(seed_assistant):
    """"GP" and "NHS" are what the seeds are about: an answer need not repeat them. A rarer
    name the question asks about still counts when it is missing."""
    state = seed_assistant.state()
    navigating = scored_sentence(seed_assistant, "For how long have GP practices really been navigating the "
                                 "new NHS system?", "navigating the new system")
    assert "GP" not in navigating.sentence.text and "NHS" not in navigating.sentence.text
    assert navigating.features.missing_names == 0.0
    assert {"gp", "nhs"} <= state.answerer._common_terms() and "javid" not in state.answerer._common_terms()


def test_acronym_plurals_match_their_singular(seed_assistant):
    """"PCNs" in a sentence covers "PCN" in a question (Snowball alone leaves "pcns")."""
    covering = scored_sentence(seed_assistant, "What population does a PCN cover?", "PCNs as GP practices covering")
    assert covering.features.coverage > 0.3


def test_a_neighbour_that_gives_the_kind_asked_for_joins_the_answer(tmp_path, make_assistant, embedder):
    """The sentence that best matches "Who led ...?" may not name anyone; the sentence next
    to it that does completes the answer, though it shares no word with the question."""
    from rag import indexing
    from rag.settings import Settings

    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "hospital.txt").write_text(
        "The town's hospital reopened its emergency department last spring.\n\n"
        "The team that rebuilt the emergency department finished the work two years early and under budget.\n"
        "Priya Sharma was in charge of it.\n\n"
        "Parking at the hospital remains difficult for visitors.\n", encoding="utf-8")
    settings = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    indexing.build(settings, embedder)
    answer = make_assistant(settings).ask("Who led the team that rebuilt the emergency department?")
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert quotes[:2] == ["The team that rebuilt the emergency department finished the work two years early "
                          "and under budget.", "Priya Sharma was in charge of it."]
