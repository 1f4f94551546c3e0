"""One battery for every answerer (rag.answering.ANSWERERS): the shape any answer must have.

Over a memory store built with the fake embedder, so no model is loaded. Quality is
measured elsewhere (tests/test_answering.py, rag eval); this checks the promises the
renderer, the server and the evaluation rely on.
"""

from __future__ import annotations

import pytest
from contract.test_store_contract import commit
from fakes import FakeEmbedder

from rag.answering import ANSWERERS, answerer_for
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.store.memory import MemoryBackend
from rag.types import Answer, AnswerDone, Query, SentenceEvent

FILES = {
    "notes/bridge.txt": ["The Tamar Bridge opened to traffic in 1961.",
                         "It carries the A38 between Plymouth and Saltash.",
                         "A toll is charged to cross it going east."],
    "notes/ferry.txt": ["The Torpoint Ferry crosses the Hamoaze on three chains.",
                        "Each ferry carries seventy cars at a time."],
}
QUESTIONS = ["When did the Tamar Bridge open?", "How many cars does each ferry carry?",
             "What is the capital of Peru?"]


@pytest.fixture(params=sorted(ANSWERERS))
def setup(request):
    backend = MemoryBackend()
    commit(backend, FILES)
    store = backend.open()
    settings = Settings.load(answerer=request.param)
    embedder = FakeEmbedder()
    return answerer_for(store, settings, embedder), Retriever.from_settings(store, settings), store, embedder


def ask(setup, question: str):
    answerer, retriever, _, embedder = setup
    query = Query(question=question, text=question, vector=embedder.encode_query(question))
    return answerer, query, retriever.search(question, query.vector, 3)


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_sentence_cites_what_is_there(setup, question):
    answerer, query, hits = ask(setup, question)
    answer = answerer.answer(query, hits)
    assert isinstance(answer, Answer) and answer.question == question
    ids = [c.id for c in answer.citations]
    assert ids == list(range(1, len(ids) + 1))
    if answer.abstained:
        assert answer.sentences == ()
    else:
        assert answer.sentences and all(s.citations and set(s.citations) <= set(ids) for s in answer.sentences)
    texts = {s.text for h in hits for s in setup[2].sentences(h.id)} | {
        n.text for h in hits for s in setup[2].sentences(h.id) for n in setup[2].neighbours(s.id)}
    for c in answer.citations:
        assert c.quote in texts and c.source in FILES and 1 <= c.start_line <= c.end_line


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_stream_is_the_answer_in_events(setup, question):
    answerer, query, hits = ask(setup, question)
    events = list(answerer.stream(query, hits))
    assert isinstance(events[-1], AnswerDone) and all(isinstance(e, SentenceEvent) for e in events[:-1])
    assert tuple(e.sentence for e in events[:-1]) == events[-1].answer.sentences
    assert events[-1].answer == answerer.answer(query, hits)


def test_no_passages_is_an_abstention(setup):
    answerer, query, _ = ask(setup, QUESTIONS[0])
    answer = answerer.answer(query, [])
    assert answer.abstained and answer.sentences == () and answer.citations == ()


def test_rank_reorders_the_hits(setup):
    answerer, query, hits = ask(setup, QUESTIONS[0])
    ranked = answerer.rank(query, hits)
    assert sorted(h.id for h in ranked) == sorted(h.id for h in hits)
    assert [h.rank for h in ranked] == list(range(1, len(hits) + 1))
