"""Word (.docx): paragraphs, headings, lists and tables (placeholder until the Word loader lands)."""

from __future__ import annotations

import logging
import re

from rag.loaders.base import SourceFile
from rag.types import Document

log = logging.getLogger("rag")


class DocxLoader:
    suffixes = (".docx",)
    binary = True

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        log.warning("skipping %s: Word files are not read yet", f.source)
        return []
