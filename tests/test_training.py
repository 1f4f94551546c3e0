"""The reader's training helpers (training/): answer-span targets, the sample of extra articles,
the dev figures and the made-up traps.

Real tokenizer (the bundled model's) and real torch; training itself is measured in
benchmarks/RESULTS.md, not here.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

import reader as training  # noqa: E402
import squad_corpus  # noqa: E402
import traps  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from rag.answering.reader import TOKENIZER_FILE, prepare_tokenizer  # noqa: E402
from rag.embeddings import resolve_model  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return prepare_tokenizer(Tokenizer.from_file(str(resolve_model("all-MiniLM-L6-v2") / TOKENIZER_FILE)))


def spans(tokenizer, rows, answers):
    (_, _, encodings), = training.batches(tokenizer, rows, len(rows))
    starts, ends = training.span_targets(encodings, rows, answers)
    return [tokenizer.decode(e.ids[a:b + 1]) if a >= 0 else None
            for e, a, b in zip(encodings, starts.tolist(), ends.tolist())]


def test_the_answer_span_is_found_in_the_sentence_not_in_the_question_or_the_one_before(tokenizer):
    rows = [("When did the bridge open in 1961?", "The bridge opened in 1961 to traffic.", "It cost 1961 pounds.", 1)]
    assert spans(tokenizer, rows, [("1961",)]) == ["1961"]


def test_negatives_and_sentences_without_the_answer_text_have_no_span(tokenizer):
    rows = [("Who built it?", "Brunel built it.", "", 0),           # a negative, though it holds the text
            ("Who built it?", "It was built by its engineer.", "", 1)]  # a positive that paraphrases
    assert spans(tokenizer, rows, [("Brunel",), ("Brunel",)]) == [None, None]


def test_the_first_answer_text_the_sentence_holds_is_used(tokenizer):
    rows = [("How long is it?", "The span is about 300 metres long.", "", 1)]
    assert spans(tokenizer, rows, [("300 feet", "about 300 metres")]) == ["about 300 metres"]


def test_the_span_head_learns_only_from_positions_inside_the_sentence(tokenizer):
    rows = [("When?", "It opened in 1961.", "", 1), ("When?", "Nothing here.", "", 0)]
    (feed, _, encodings), = training.batches(tokenizer, rows, len(rows))
    starts, ends = training.span_targets(encodings, rows, [("1961",), ("1961",)])
    head = training.SpanHead(8)
    states = torch.randn(len(rows), feed["input_ids"].shape[1], 8, requires_grad=True)
    loss = head.loss(states, feed, starts, ends)
    loss.backward()
    assert loss.item() > 0
    assert states.grad[1].abs().sum() == 0  # the negative adds nothing
    question = feed["token_type_ids"][0] == 0
    assert states.grad[0][question].abs().sum() == 0  # nor do the question's tokens


def test_extra_articles_are_a_seeded_sample_that_never_includes_an_open_article():
    data = {t: {} for t in ("A", "B", "C", "D", *squad_corpus.TEST, *squad_corpus.CALIBRATION)}
    first = squad_corpus.sample_titles(data, 3)
    assert first == squad_corpus.sample_titles(data, 3)
    assert set(first) <= {"A", "B", "C", "D"} and len(first) == 3
    assert set(squad_corpus.sample_titles(data, 100)) == {"A", "B", "C", "D"}


def test_the_dev_figures_read_accuracy_separation_and_the_operating_point():
    questions = [{"question": f"q{i}", "impossible": i >= 10,
                  "pairs": [("right", "", int(i < 10)), ("wrong", "", 0)]} for i in range(20)]

    def score(question, pairs):  # answerable ones score high, and 8 of 10 on the right sentence
        i = int(question[1:])
        top = 0.9 if i < 10 else 0.2 + 0.02 * i
        return torch.tensor([top, 0.1] if i < 8 or i >= 10 else [0.1, top]).numpy()

    figures = training.judge(score, questions)
    assert figures["best_sentence_accuracy"] == 0.8
    assert figures["auc"] == 1.0 and figures["declined_at_answered_0.9"] == 1.0
    assert figures["right_at_answered_0.9"] == 0.8
    assert figures["summed_odds"]["auc"] == 1.0
    assert (figures["questions"], figures["unanswerable"]) == (20, 10)


def candidate(text: str, label: int = 0) -> dict:
    return {"id": text[:12], "text": text, "context": "", "label": label, "retrieved": True, "cosine": 0.5}


def answerable(question: str, gold: str, others: list[str], answers: list[str]) -> dict:
    return {"qid": "q1", "article": "A", "question": question, "answers": answers, "impossible": False,
            "candidates": [candidate(gold, 1)] + [candidate(t) for t in others]}


def test_a_trap_swaps_a_span_of_the_answering_sentence_for_one_from_elsewhere_and_answers_nothing():
    q = answerable("When did Lisbon build the bridge?", "Lisbon built the bridge in 1966.",
                   ["Porto is a city in the north.", "The river rises in Spain."], ["1966"])
    t = traps.trap(q, random.Random(0))
    assert t["impossible"] and t["answers"] == [] and not any(c["label"] for c in t["candidates"])
    assert t["trap"]["old"] in ("Lisbon", "bridge") and t["trap"]["new"] not in q["question"]
    assert t["question"] == q["question"].replace(t["trap"]["old"], t["trap"]["new"], 1)
    assert t["trap"]["new"] not in "Lisbon built the bridge in 1966."


def test_no_trap_when_the_new_span_may_answer_or_nothing_can_be_swapped():
    # The only other name stands beside the answer: the swapped question may be answered.
    risky = answerable("When did Lisbon open?", "Lisbon opened in 1966.", ["Porto opened in 1966 as well."], ["1966"])
    assert traps.trap(risky, random.Random(0)) is None
    # Nothing in the question is in the answering sentence.
    unrelated = answerable("What year was it?", "It opened in 1966.", ["Porto is north."], ["1966"])
    assert traps.trap(unrelated, random.Random(0)) is None
    # Unanswerable questions are not a source.
    assert traps.trap({**risky, "impossible": True}, random.Random(0)) is None


# -- the entailment judge's data (training/nli_data.py) ---------------------------------------
def test_nli_splits_keep_the_test_sets_out_and_no_pair_in_two_splits():
    import nli_data

    parts = nli_data.splits()
    tests = nli_data.test_pairs()
    held = {p[:2] for rows in tests.values() for p in rows}
    train, calibration = {p[:2] for p in parts["train"]}, {p[:2] for p in parts["calibration"]}
    assert not train & held and not calibration & held and not train & calibration
    assert len(tests["multinli_dev_mismatched"]) == 9832 and len(tests["negation_multinli"]) == 1500
    premises = {p[0] for p in parts["calibration"] if not p[0].endswith(" .")}  # MultiNLI's, not FEVER's
    assert not premises & {p[0] for p in parts["train"]}  # split by prompt: no premise on both sides


def test_rule_made_pairs_say_what_their_label_says():
    import nli_data

    train = [("The new bridge was opened with a ceremony in 1961, and it carries the A38.", "x", 0),
             ("Prices may rise after the embargo when Ann Smith meets Bob Jones.", "x", 0)]
    made = {(p, h): nli_data.LABELS[y] for p, h, y in nli_data.flips(train * 3, 60, seed=1)}
    assert made[(train[0][0], "The new bridge was opened without a ceremony in 1961, and it carries the A38.")] \
        == "contradiction"
    assert made[(train[0][0], "The new bridge was opened with a ceremony in 1961.")] == "entailment"
    assert made[(train[1][0], "Prices will rise after the embargo when Ann Smith meets Bob Jones.")] == "neutral"
    assert nli_data.negated("The bridge is open.") == "The bridge is not open."
    assert nli_data.negated("The bridge is not open.") is None
