"""rag: grounded answers with line-level citations over a folder of articles.

    from rag import Assistant
    answer = Assistant().ask("What has replaced clinical commissioning groups?")

Names are imported lazily so ``import rag`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Assistant": "rag.assistant",
    "QuestionError": "rag.assistant",
    "Answer": "rag.answering",
    "Citation": "rag.answering",
    "Hit": "rag.retrieval",
    "Settings": "rag.settings",
    "RagError": "rag.errors",
    "Document": "rag.documents",
    "Chunk": "rag.chunking",
    "Sentence": "rag.chunking",
    "IndexReport": "rag.indexing",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rag.answering import Answer, Citation
    from rag.assistant import Assistant, QuestionError
    from rag.chunking import Chunk, Sentence
    from rag.documents import Document
    from rag.errors import RagError
    from rag.indexing import IndexReport
    from rag.retrieval import Hit
    from rag.settings import Settings


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
