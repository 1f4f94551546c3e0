"""The ``reader`` answerer (rag/answering/learned.py) over real files with the shipped model.

Its quality is measured in benchmarks/RESULTS.md ("The reader model"); these check what it
promises whatever the figures: probabilities, a shortlist, verbatim quotes, the sentence
before a pronoun, and an answer or a clear abstention for odd input.
"""

from __future__ import annotations

import pytest
from test_answering import check_citations


@pytest.fixture(scope="module")
def seed_assistant(seed_settings, seed_index_dir, make_assistant):
    assistant = make_assistant(seed_settings.replace(answerer="reader"))
    assistant.state()
    return assistant


def test_the_reader_reads_a_shortlist_and_scores_probabilities(seed_assistant):
    """Candidates are read in a shortlist; the answer's support is the best probability."""
    from rag.answering.learned import SHORTLIST
    from rag.types import Query

    state = seed_assistant.state()
    question = "Who chairs the Health and Social Care Committee?"
    query = Query(question=question, text=question, vector=seed_assistant.embedder.encode_query(question))
    hits = state.retriever.search(question, query.vector, 5)
    scored = state.answerer.score(query, hits)
    assert 0 < len(scored) <= SHORTLIST
    assert all(0.0 <= s.probability <= 1.0 for s in scored)
    assert [s.probability for s in scored] == sorted((s.probability for s in scored), reverse=True)
    assert "Jeremy Hunt" in scored[0].sentence.text
    assert state.answerer.answer(query, hits).support == round(scored[0].probability, 4)


def write_corpus(tmp_path, files: dict[str, str]):
    corpus = tmp_path / "articles"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


def test_a_sentence_that_answers_through_a_pronoun_is_quoted(tmp_path, make_assistant, embedder):
    """"He" is read with the sentence before it: the answer is found, and quoted verbatim."""
    from rag import indexing
    from rag.settings import Settings

    corpus = write_corpus(tmp_path, {"bridge.txt": (
        "The Tamar Bridge links Plymouth and Saltash across the river.\n\n"
        "Its designer was Sir Alexander Gibb, a Scottish civil engineer born in 1872. "
        "He also planned the docks at Rosyth before the First World War.\n\n"
        "Parking near the bridge remains difficult for visitors in summer.\n")})
    settings = Settings.load(corpus=corpus, index_dir=tmp_path / "index", answerer="reader")
    indexing.build(settings, embedder)
    answer = make_assistant(settings).ask("Which docks did Alexander Gibb plan?")
    assert not answer.abstained
    assert any("Rosyth" in c.quote for c in answer.citations)


@pytest.mark.parametrize("question", [
    "¿Quién fundó el servicio nacional de salud?",  # another language
    "NHS",  # one word
    "Sajid Javid",  # only a name
    "?!",
    "x" * 1990,
])
def test_odd_questions_get_an_answer_or_a_clear_abstention(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained or answer.sentences
    check_citations(answer)


def test_a_corpus_of_one_sentence_and_a_10000_character_passage(tmp_path, make_assistant, embedder):
    from rag import indexing
    from rag.settings import Settings

    corpus = write_corpus(tmp_path, {
        "one.txt": "The lighthouse at Smeaton's Tower was moved to Plymouth Hoe in 1882.\n",
                                     "long.txt": ("word " * 2000).strip() + "\n"})
    settings = Settings.load(corpus=corpus, index_dir=tmp_path / "index", answerer="reader")
    indexing.build(settings, embedder)
    assistant = make_assistant(settings)
    moved = assistant.ask("When was Smeaton's Tower moved to Plymouth Hoe?")
    assert not moved.abstained and "1882" in moved.sentences[0].text
    assert assistant.ask("What is the capital of Peru?").abstained
    assert assistant.ask("word word word?").abstained or assistant.ask("word word word?").sentences
