"""The evaluation's one error type, in a module of its own so every part can raise it."""

from __future__ import annotations

from rag.errors import RagError


class EvalError(RagError):
    """A question file, report or threshold the evaluation cannot use."""
