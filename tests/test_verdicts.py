"""Verdicts and the statements they assert (rag.answering.verdicts)."""

from __future__ import annotations

import pytest

from rag.answering.verdicts import is_verdict, says_no, statements


@pytest.mark.parametrize("text, no", [("Yes.", False), ("No.", True), ("Yes, it has.", False),
                                      ("No, it has not.", True), ("It hasn't.", True), ("Correct.", False),
                                      ("Sure!", False), ("It was.", False)])
def test_a_verdict_asserts_nothing_of_its_own(text, no):
    assert is_verdict(text) and says_no(text) == no


@pytest.mark.parametrize("text", ["The contract was issued.", "No contract was issued in 2022.",
                                  "I hope this helps.", ""])
def test_a_sentence_with_words_of_its_own_is_not_a_verdict(text):
    assert not is_verdict(text)


def test_a_yes_no_question_reads_as_a_statement_and_its_negation():
    yes, no = statements("Has the contract for 2022/23 been issued?")
    assert "The contract for 2022/23 has been issued." in yes
    assert "The contract for 2022/23 has not been issued." in no
    assert len(yes) == len(no) and not any(s.startswith("The has") for s in yes)  # a subject ends on a noun
    assert "The GPC did agree to it." in statements("Didn't the GPC agree to it?")[0]
    assert "The bridge cannot carry lorries." in statements("And can the bridge carry lorries?")[1]
    assert "Practices are likely to keep control." in statements("According to the article, are practices "
                                                                 "likely to keep control?")[0]


@pytest.mark.parametrize("question", ["Who issued the contract?", "When did it open?", "Contract?", ""])
def test_other_questions_have_no_statement(question):
    assert statements(question) == ([], [])
