"""The shipped reader model: present, intact, small, and telling answers from mentions.

Real model files and ONNX Runtime throughout; figures on held-out articles are in
benchmarks/RESULTS.md (this only checks behaviour a broken export would lose).
"""

from __future__ import annotations

import shutil

import pytest

from rag.answering.reader import MODEL_DIR, Reader, ReaderUnavailable


@pytest.fixture(scope="module")
def reader():
    return Reader()


def test_the_sentence_that_answers_scores_above_one_that_only_mentions(reader):
    p = reader.probabilities("When did the Tamar Bridge open to traffic?", [
        ("The Tamar Bridge opened to traffic in 1961.", ""),
        ("The Tamar Bridge carries the A38 between Plymouth and Saltash.", "The Tamar Bridge opened in 1961."),
        ("Parking near the bridge is difficult for visitors.", "")])
    assert p[0] > 0.5 and p[0] > p[1] and p[0] > p[2]


def test_the_sentence_before_tells_who_he_is(reader):
    """"He wrote the foreword" answers "Who wrote the foreword?" only with the sentence before."""
    question = "Who wrote the foreword to the Policy Exchange report?"
    with_context, without = reader.probabilities(question, [
        ("He happily wrote the foreword to the report.", "Policy Exchange's report was backed by Sajid Javid."),
        ("He happily wrote the foreword to the report.", "")])
    assert with_context > without


def test_an_off_topic_question_gets_a_low_probability(reader):
    p = reader.probabilities("What is the capital of Peru?", [("The Tamar Bridge opened to traffic in 1961.", "")])
    assert p[0] < 0.1


def test_no_pairs_no_work(reader):
    assert len(reader.probabilities("anything?", [])) == 0


@pytest.mark.parametrize("text", ["x " * 6000, "", "Ünïcödé — “quotes” 🙂 " * 50])
def test_long_empty_and_odd_text_is_read(reader, text):
    p = reader.probabilities("What does it say?", [(text, text)])
    assert 0.0 <= p[0] <= 1.0


@pytest.fixture
def copy(tmp_path):
    dest = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, dest)
    return dest


def test_a_model_not_yet_checksummed_loads_only_when_asked(copy, reader):
    """The training script scores its export before it writes meta.json: ``checked=False``."""
    (copy / "meta.json").unlink()
    with pytest.raises(ReaderUnavailable, match="missing"):
        Reader(copy)
    pairs = [("The bridge opened in 1961.", "")]
    fresh = Reader(copy, checked=False)
    assert fresh.meta == {}
    assert fresh.probabilities("When did the bridge open?", pairs) == pytest.approx(
        reader.probabilities("When did the bridge open?", pairs))
