"""Plain text and Markdown: every line as it is, numbered as editors number them."""

from __future__ import annotations

import re

from rag.loaders.base import SourceFile, document_from_lines, read_text, split_lines
from rag.types import Document


class TextLoader:
    suffixes = (".txt", ".md")

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        text = read_text(f)
        if text is None:
            return []
        return document_from_lines(f, [(n, line.rstrip()) for n, line in enumerate(split_lines(text), 1)], rules)
