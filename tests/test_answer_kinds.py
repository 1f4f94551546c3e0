"""The kind of answer a question asks for, and whether a sentence gives it."""

from __future__ import annotations

import pytest

from rag.answering.kinds import gives, is_given_name, kinds_asked


@pytest.mark.parametrize("question, text, given", [
    # A count is not a year or a length of time.
    ("How many GP practices are there in Cheshire?", "In some areas there are 50 practices, 10 PCNs.", True),
    ("How many GP practices are there in Cheshire?", "It ran over an 18-month period.", False),
    ("How many nurses work in general practice?", "Interventions over the last 12-24 months.", False),
    ("number of PCNs in Cheshire", "The contract for 2022/23 has been issued.", False),
    ("How many aims do ICSs have?", "They exist to achieve four aims.", True),
    # A length of time for "how long" and "how many more years".
    ("For how many more years will this go on?", "This trend will continue for the next 2-3 years.", True),
    ("How long did the programme run?", "It was delivered in 2021.", False),
    # A time for "when": a year or a month, not the verb "may".
    ("When did the ICSs start?", "The ICSs may start to impose solutions.", False),
    ("When did the ICSs start?", "The ICSs started in July.", True),
    # A sum of money for "how much funding", "cost of".
    ("How much funding per patient does the PCN DES provide?", "Practices get £1.50 per patient.", True),
    ("How much funding per patient does the PCN DES provide?", "The PCN DES brings 30-50,000 people.", False),
    ("cost of the leadership programme", "It cost 2 million pounds.", True),
    # A name the question does not already say.
    ("What is the name of the Cheshire CCG?", "It is called West Cheshire CCG.", True),
    ("Name the chair of the GPC.", "It would be great to see the GPC working together.", False),
    # A person the question does not already name; other names are no answer.
    ("Who chairs the Health and Social Care Committee?", "The Committee is chaired by Jeremy Hunt.", True),
    ("Who chairs the GPC?", "It would be great to see the GPC, RCGP and NHS England working together.", False),
    ("Who is the chief executive of NHS England?", "ICS chief executives wrote to NHS England.", False),
    ("Who wrote the Fuller Report?", "The Fuller report introduces Integrated Neighbourhood Teams.", False),
    ("Who chaired the committee Jeremy Hunt sat on?", "Jeremy Hunt sat on it.", False),
    # A name after a title: "State Sajid" is no person, and must not hide "Sajid Javid".
    ("Which health secretary had radical ideas?", "Secretary of State Sajid Javid has radical ideas.", True),
])
def test_a_sentence_must_hold_the_kind_of_answer_asked_for(question, text, given):
    kinds = kinds_asked(question)
    assert kinds, question
    assert all(gives(kind, text, question) for kind in kinds) is given


def test_a_capitalised_everyday_word_is_not_a_given_name():
    """gender-guesser lists "General" as a name; the articles write "general" in lower case."""
    question = "Who chairs the inquiry?"
    text = "The inquiry into the Future of General Practice is chaired by the committee."
    assert is_given_name("General")
    assert gives(kinds_asked(question)[0], text, question)
    assert not gives(kinds_asked(question)[0], text, question, lowercase_words=frozenset({"general"}))


@pytest.mark.parametrize("question, kind", [
    ("Who chairs the GPC?", "person"),
    ("Who led the Fuller Report?", "person"),
    ("Who is the chief executive of NHS England?", "person"),
    ("Which health secretary floated the idea?", "person"),
    ("Who are the former and current Secretaries of State?", "person"),
    ("Who runs the ICS?", "new name"),
    ("What is the name of the inquiry?", "new name"),
    ("When was the Long Term Plan published?", "time"),
    ("What is the population of Cheshire?", "number"),
    ("What did the inquiry conclude and when was its report published?", "time"),
])
def test_what_a_question_asks_for(question, kind):
    assert [k.name for k in kinds_asked(question)] == [kind]


@pytest.mark.parametrize("question", ["What is integration?", "Who is the article written for?",
                                      "How much does general practice matter?", "Why did CCGs end?",
                                      "Who was the short leadership programme co-designed with?",
                                      "What could surgeries deliver when managers loosened their grip?"])
def test_open_questions_ask_for_no_particular_kind_of_answer(question):
    assert kinds_asked(question) == []
