"""Follow-up questions: make "and who floated that idea?" searchable on its own.

A short question that leans on the previous turn (a pronoun, "and ...", "what about
...") is searched together with the previous question, so retrieval sees the topic.
The question shown in the answer stays the one the user asked.
"""

from __future__ import annotations

import re

ANAPHORA = re.compile(
    r"\b(it|its|this|that|these|those|they|them|their|he|him|his|she|her|there|then|"
    r"the same|such|which one|the idea|the report|the plan)\b", re.IGNORECASE)
OPENERS = re.compile(r"^\s*(and|but|also|so|what about|how about|who else)\b", re.IGNORECASE)
MAX_FOLLOW_UP_WORDS = 12


def is_follow_up(question: str) -> bool:
    words = question.split()
    if len(words) <= 3:  # "Why?", "Since when?", "Which year?"
        return True
    return len(words) <= MAX_FOLLOW_UP_WORDS and bool(ANAPHORA.search(question) or OPENERS.match(question))


def standalone_question(question: str, history: list[str]) -> str:
    """The text to search for ``question``, given the user's earlier questions (oldest first)."""
    previous = [h.strip() for h in history if h and h.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1]} {question}"
