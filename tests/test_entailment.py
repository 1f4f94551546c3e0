"""The shipped entailment judge: what a broken export or a word-overlap shortcut would lose.

Real model files and ONNX Runtime; its figures on held-out pairs (MultiNLI dev_mismatched,
the flip set) are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import pytest

from rag.answering.entailment import CONTRADICTION, ENTAILMENT, LABELS, NEUTRAL, EntailmentModel, premise_text
from rag.settings import Settings

#: The issue's four sentences in their passages' own words that say otherwise, each with its passage.
FLIPS = [
    ("The contract for 2022/23 was issued without any agreement between the GPC and NHS England.",
     "The contract for 2022/23 was issued with the agreement of the GPC and NHS England.", CONTRADICTION),
    ("Forced nationalisation of general practice seems unlikely.",
     "Forced nationalisation of general practice seems likely.", None),
    ("General practice might be nationalised.", "General practice has been nationalised and made part of the NHS.",
     NEUTRAL),
    ("The move towards integrated care systems isn't proving beneficial for general practice.",
     "The move towards integrated care systems is proving beneficial for general practice.", CONTRADICTION),
]


@pytest.fixture(scope="module")
def judge():
    return EntailmentModel()


def test_the_check_uses_the_threshold_the_model_was_calibrated_with(judge):
    assert Settings().verify_threshold == judge.threshold == judge.meta["threshold"]
    assert judge.meta["labels"] == list(LABELS)


def test_a_sentence_entails_itself(judge):
    p = judge.probabilities([(FLIPS[1][0], FLIPS[1][0]), ("The Tamar Bridge opened to traffic in 1961.",
                                                           "The Tamar Bridge opened to traffic in 1961.")])
    assert (p[:, ENTAILMENT] >= judge.threshold).all()
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("premise, flipped, label", FLIPS)
def test_the_same_words_saying_otherwise_are_not_entailed(judge, premise, flipped, label):
    """Each was kept by the word-overlap check (support 0.77-0.94)."""
    [p] = judge.probabilities([(premise, flipped)])
    assert p[ENTAILMENT] < judge.threshold
    if label is not None:  # and where the model is sure, it says why
        assert p.argmax() == label


def test_the_sentence_before_is_read_first(judge):
    assert premise_text("He wrote it.", "Sajid Javid backed the report.") == \
        "Sajid Javid backed the report. He wrote it."
    [p] = judge.probabilities([(premise_text("He wrote the foreword.", "Sajid Javid backed the report."),
                                "Sajid Javid backed the report.")])
    assert p[ENTAILMENT] >= judge.threshold


def test_no_pairs_no_work(judge):
    assert judge.probabilities([]).shape == (0, 3)


@pytest.mark.parametrize("text", ["x " * 6000, "", "Ünïcödé — “quotes” 🙂 " * 50])
def test_long_empty_and_odd_text_is_read(judge, text):
    [p] = judge.probabilities([(text, text)])
    assert p.sum() == pytest.approx(1.0)
