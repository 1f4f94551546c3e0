"""Quotes of a passage sentence (rag.answering.quotes): kept without asking the judge, so they
must leave out nothing that changes what is said."""

from __future__ import annotations

import pytest

from rag.answering.quotes import quotes

SENTENCE = "In contrast, integrated care systems (ICSs) are based on the principle of providers working together."


@pytest.mark.parametrize("claim, quoted", [
    ("Integrated care systems (ICSs) are based on the principle of providers working together.", True),
    ("Integrated care systems are based on the principle of providers working together.", True),
    ("Integrated care systems are not based on the principle of providers working together.", False),
    ("Integrated care systems are based on the principle of providers.", False),
    ("Providers working together.", False),  # too short to stand for the sentence
])
def test_a_quote_of_a_passage_sentence_is_its_words_in_order_less_asides(claim, quoted):
    assert quotes(claim, SENTENCE) == quoted


def test_a_quote_may_drop_a_tail_clause_only_when_it_changes_nothing():
    assert quotes("The contract was issued in March.", "The contract was issued in March, and the GPC objected.")
    assert not quotes("The contract was issued in March.", "The contract was issued in March, unless it was not.")
    assert not quotes("The system is fair to practices.", "Not that the system is fair to practices.")
