"""What a question must be before anything is searched: text, not empty, not too long, no
control characters or half surrogate pairs; the same for each earlier question of a
conversation, whose error says which one it is (the server names that parameter).
"""

from __future__ import annotations

import unicodedata

from rag.errors import RagError


class QuestionError(RagError):
    """The question cannot be answered as given (empty, too long, control characters).

    ``earlier``: which of the earlier questions (the history) it is about; None for the question.
    """

    def __init__(self, message: str, earlier: int | None = None) -> None:
        super().__init__(message)
        self.earlier = earlier


def check_earlier(i: int, question: object, max_chars: int) -> str:
    """An earlier question checked as a question is, its error saying which one it is."""
    try:
        return check_question(question, max_chars)
    except QuestionError as e:
        raise QuestionError(f"earlier question {i + 1}: {e}", earlier=i) from None


def check_question(question: object, max_chars: int) -> str:
    """The question with its whitespace tidied, or a QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    bad = sorted({c for c in question if unicodedata.category(c) == "Cc" and c not in "\t\n\r"})
    if bad:
        raise QuestionError("the question contains control characters (" +
                            ", ".join(f"U+{ord(c):04X}" for c in bad[:3]) + ")")
    halves = sorted({c for c in question if unicodedata.category(c) == "Cs"})
    if halves:  # JSON's "\ud800" alone: no character, and nothing downstream can encode it
        raise QuestionError("the question contains half of a UTF-16 surrogate pair (" +
                            ", ".join(f"U+{ord(c):04X}" for c in halves[:3]) + "), which is not text")
    question = " ".join(question.split())
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is too long ({len(question)} characters; the limit is {max_chars})")
    return question
