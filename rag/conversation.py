"""Follow-up questions: make "and who floated that idea?" searchable on its own.

A short question that leans on the previous turn (a pronoun, "and ...", "what about
...") is searched together with the previous question, so retrieval sees the topic.
The question shown in the answer stays the one the user asked.
"""

from __future__ import annotations

import re

from rag.analysis import content_words

ANAPHORA = re.compile(
    r"\b(it|its|this|that|these|those|they|them|their|he|him|his|she|her|there|then|"
    r"the same|such|which one|the idea|the report|the plan)\b", re.IGNORECASE)
OPENERS = re.compile(r"^\s*(and|but|also|so|what about|how about|who else)\b", re.IGNORECASE)
#: Earlier questions one request may carry (``/api/ask`` and MCP refuse more; chat completions
#: use the last this many of a conversation's user messages).
MAX_HISTORY = 50
MAX_FOLLOW_UP_WORDS = 12
MAX_CHAIN = 3


def is_follow_up(question: str) -> bool:
    words = re.findall(r"\w+", question.lower())
    if not content_words(words):  # "Why?", "Since when?", "How so?"
        return True
    return len(words) <= MAX_FOLLOW_UP_WORDS and bool(ANAPHORA.search(question) or OPENERS.match(question))


def standalone_question(question: str, history: list[str]) -> str:
    """The text to search for ``question``, given the user's earlier questions (oldest first)."""
    previous = [h.strip() for h in history if h.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{_resolved(previous)} {question}"


def _resolved(previous: list[str]) -> str:
    """The last question made standalone: a follow-up of a follow-up keeps the question
    that set the topic ("What are PCNs?" / "How many people do they cover?" / "Who
    introduced them?"), up to MAX_CHAIN questions."""
    chain = [previous[-1]]
    for earlier in reversed(previous[:-1]):
        if len(chain) >= MAX_CHAIN or not is_follow_up(chain[0]):
            break
        chain.insert(0, earlier)
    return " ".join(chain)
