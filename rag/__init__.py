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
    "Answer": "rag.types",
    "AnswerSentence": "rag.types",
    "Citation": "rag.types",
    "Hit": "rag.types",
    "Document": "rag.types",
    "Chunk": "rag.types",
    "Sentence": "rag.types",
    "Settings": "rag.settings",
    "RagError": "rag.errors",
    "IndexReport": "rag.indexing",
    "Renderer": "rag.rendering",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rag.assistant import Assistant as Assistant
    from rag.assistant import QuestionError as QuestionError
    from rag.errors import RagError as RagError
    from rag.indexing import IndexReport as IndexReport
    from rag.rendering import Renderer as Renderer
    from rag.settings import Settings as Settings
    from rag.types import Answer as Answer
    from rag.types import AnswerSentence as AnswerSentence
    from rag.types import Chunk as Chunk
    from rag.types import Citation as Citation
    from rag.types import Document as Document
    from rag.types import Hit as Hit
    from rag.types import Sentence as Sentence


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
