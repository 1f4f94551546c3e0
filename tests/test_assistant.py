"""The Assistant composes what it is given: a memory store and a fake embedder, no model.

The end-to-end path with the real model is in tests/test_answering.py and tests/test_cli.py.
"""

from __future__ import annotations

import pytest
from fakes import FakeEmbedder

from rag.assistant import Assistant, QuestionError
from rag.rendering import SECTION_SEPARATOR, SENTENCE_SEPARATOR
from rag.settings import Settings
from rag.store.memory import MemoryBackend
from rag.types import AnswerDone, SentenceEvent


@pytest.fixture
def assistant(tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "bridge.txt").write_text("The Tamar Bridge opened to traffic in 1961.\n"
                                       "It carries the A38 between Plymouth and Saltash.\n", encoding="utf-8")
    (corpus / "ferry.txt").write_text("The Torpoint Ferry crosses the Hamoaze on three chains.\n", encoding="utf-8")
    return Assistant(Settings.load(corpus=corpus, store="memory"), embedder=FakeEmbedder(), backend=MemoryBackend())


def test_the_first_question_builds_the_store_and_answers_from_it(assistant):
    answer = assistant.ask("When did the Tamar Bridge open to traffic?")
    assert assistant.state().store.version.startswith("mem-")
    assert answer.citations and answer.citations[0].source == "notes/bridge.txt"
    assert answer.answer.startswith(answer.body) and answer.timings_ms["total"] > 0
    data = answer.to_dict()
    assert {"question", "answer", "abstained", "citations", "timings_ms", "sentences", "body"} <= set(data)


def test_the_stream_renders_to_the_same_answer(assistant):
    question = "When did the Tamar Bridge open to traffic?"
    events = list(assistant.stream(question))
    done = events[-1]
    assert isinstance(done, AnswerDone)
    sentences = [e.sentence for e in events if isinstance(e, SentenceEvent)]
    r = assistant.renderer
    body = SENTENCE_SEPARATOR.join(r.sentence(s) for s in sentences) if sentences else done.answer.body
    assert body + SECTION_SEPARATOR + r.sources(done.answer) == done.answer.answer
    assert done.answer.answer == assistant.ask(question).answer


def test_a_bad_question_fails_before_any_stream(assistant):
    with pytest.raises(QuestionError, match="empty"):
        assistant.stream("   ")


def test_search_index_and_info(assistant):
    hits = assistant.search("Torpoint Ferry", top_k=2)
    assert hits[0].chunk.source == "notes/ferry.txt" and [h.rank for h in hits] == [1, 2]
    report = assistant.index()
    assert report.reused == ["notes/bridge.txt", "notes/ferry.txt"] and not report.embedded
    info = assistant.info()
    assert info["store"] == "memory" and info["counts"]["chunks"] == 2 and info["stale"] is None
